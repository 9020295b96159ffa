"""Benchmark POST /v1/images/generations (cards, 256x256, b64_json) on the development
server and under gunicorn.

    .venv/bin/python bench/api.py [--requests 200] [--concurrency 4] [--servers runserver,gunicorn]

Each server gets a fresh temporary SQLite database and media folder (migrated, with a user
and an API token), listens on a free loopback port, is warmed up, then receives a bounded
number of requests from a small thread pool; the script prints requests per second and
median / p95 latency for each, then stops the server. It prints figures and asserts
nothing about time. Rate limits are switched off for the run; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BODY = {"model": "cards", "size": "256x256", "response_format": "b64_json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "REDIS_URL": "",  # the embedded default: SQLite, inline tasks, local-memory cache
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or f"bench-only-{os.urandom(24).hex()}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "BLOGIMAGES_LOG_LEVEL": "WARNING",
        "BLOGIMAGES_DEFAULT_PROVIDER": "cards",
        **{f"BLOGIMAGES_RATE_LIMIT_{name}": "none"
           for name in ("USER_PER_MINUTE", "USER_PER_DAY", "TOKEN_PER_MINUTE", "TOKEN_PER_DAY")},
    })
    for name in ("BLOGIMAGES_BUDGET_USER_DAILY", "BLOGIMAGES_BUDGET_USER_MONTHLY",
                 "BLOGIMAGES_BUDGET_GLOBAL_DAILY", "BLOGIMAGES_BUDGET_GLOBAL_MONTHLY"):
        env.pop(name, None)
    return env


def prepare_site(env: dict[str, str]) -> str:
    """Migrate a fresh database, create a user and return a new API token."""
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    create_user = ("from django.contrib.auth import get_user_model; "
                   "get_user_model().objects.create_user('bench', password=None)")
    subprocess.run([*manage, "shell", "-v0", "-c", create_user], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    done = subprocess.run([*manage, "create_api_token", "bench", "--name", "bench"], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def server_command(kind: str, port: int) -> list[str]:
    if kind == "runserver":
        return [PYTHON, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{port}", "--noreload"]
    if kind == "gunicorn":
        return [PYTHON, "-m", "gunicorn", "config.wsgi", "-w", "2", "-k", "gthread", "--threads", "4",
                "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    raise ValueError(kind)


def wait_until_up(base: str, token: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if requests.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {token}"}, timeout=10).ok:
                return
        except requests.RequestException:  # not listening yet, or still loading
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not come up in time")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def session_cpu_seconds(sid: int) -> float:
    """CPU (user + system) used so far by every live process of the server's session (the
    master and its workers), from /proc: what the server spent, not the client."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def fire(base: str, token: str, *, count: int, concurrency: int, time_limit: float) -> dict[str, float]:
    """`count` requests from `concurrency` threads (each with its own connection), stopping
    early at `time_limit` seconds. Latencies of successful requests only."""
    local = threading.local()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    stop_at = time.monotonic() + time_limit

    def one(index: int) -> tuple[float, int]:
        if time.monotonic() > stop_at:
            return 0.0, -1
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body = json.dumps({**BODY, "prompt": f"Benchmark card number {index}"})
        started = time.perf_counter()
        response = session.post(f"{base}/v1/images/generations", data=body, headers=headers, timeout=60)
        elapsed = time.perf_counter() - started
        if response.ok and not response.json()["data"][0]["b64_json"]:
            return elapsed, 599
        return elapsed, response.status_code

    latencies: list[float] = []
    errors = skipped = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in as_completed([pool.submit(one, i) for i in range(count)]):
            elapsed, status = future.result()
            if status == -1:
                skipped += 1
            elif status == 200:
                latencies.append(elapsed)
            else:
                errors += 1
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "ok": len(latencies), "errors": errors, "skipped": skipped, "wall_s": wall,
        "rps": len(latencies) / wall if wall else 0.0,
        "median_ms": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p95_ms": ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000 if ordered else float("nan"),
    }


def bench(kind: str, *, count: int, concurrency: int, warmup: int, time_limit: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-api-{kind}-") as tmp:
        env = site_env(Path(tmp))
        token = prepare_site(env)
        port = free_port()
        process = subprocess.Popen(server_command(kind, port), cwd=ROOT, env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base, token, process)
            fire(base, token, count=warmup, concurrency=concurrency, time_limit=time_limit)
            cpu_before = session_cpu_seconds(process.pid)
            result = fire(base, token, count=count, concurrency=concurrency, time_limit=time_limit)
            cpu = session_cpu_seconds(process.pid) - cpu_before
            result["cpu_ms"] = cpu * 1000 / max(1, result["ok"] + result["errors"])
            return result
        finally:
            stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="Requests per server (default 200).")
    parser.add_argument("--concurrency", type=int, default=4, help="Client threads (default 4).")
    parser.add_argument("--warmup", type=int, default=8, help="Requests before measuring (default 8).")
    parser.add_argument("--time-limit", type=float, default=180.0, help="Seconds per server at most (default 180).")
    parser.add_argument("--servers", default="runserver,gunicorn", help="Comma-separated: runserver, gunicorn.")
    args = parser.parse_args()

    print(f"POST /v1/images/generations  model=cards size=256x256 response_format=b64_json  "
          f"{args.requests} requests, concurrency {args.concurrency}, {os.cpu_count()} CPU(s)")
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'server':<34} {'ok':>5} {'err':>4} {'req/s':>7} {'median ms':>10} {'p95 ms':>8} {'CPU ms/req':>11}")
    labels = {"runserver": "runserver (threaded, dev server)", "gunicorn": "gunicorn -w 2 -k gthread --threads 4"}
    for kind in [s.strip() for s in args.servers.split(",") if s.strip()]:
        result = bench(kind, count=args.requests, concurrency=args.concurrency, warmup=args.warmup,
                       time_limit=args.time_limit)
        print(f"{labels.get(kind, kind):<34} {result['ok']:>5} {result['errors']:>4} {result['rps']:>7.1f} "
              f"{result['median_ms']:>10.1f} {result['p95_ms']:>8.1f} {result['cpu_ms']:>11.1f}"
              + (f"  ({result['skipped']} not sent: time limit)" if result["skipped"] else ""))


if __name__ == "__main__":
    main()
