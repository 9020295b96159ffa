"""Benchmark POST /v1/images/generations in front of a zero-latency upstream, side by side
with the LiteLLM proxy in front of the same upstream, in one run.

    .venv/bin/python bench/api.py [--requests 200] [--concurrency 4] [--servers runserver,gunicorn]
                                  [--litellm /work/venv-litellm/bin/litellm] [--model upstream|cards]
                                  [--rounds 1]

The upstream is an OpenAI-style images endpoint in a process of its own that answers every
request at once with the same 256x256 base64 PNG. `upstream direct` is that endpoint called
straight; each of our servers reaches it as the `openai_compatible` provider (model
`flat-1`); with `--litellm PATH` (the `litellm` command of a venv that has the proxy, never
this project's requirements) the LiteLLM proxy, `--num_workers 2` like gunicorn's `-w 2`, is
given the same upstream as `openai/flat-1`. Every row gets the same body (`model`, `prompt`,
`size`; no `response_format`, which LiteLLM refuses for a non-DALL·E name) and prints
requests per second, median / p95 latency, the median latency added over the upstream
direct, and the server's CPU per request (its whole process session, from /proc: the
upstream's CPU is not in it). `--model cards` benches the offline cards renderer instead
(no upstream, no LiteLLM row).

Each of our servers gets a fresh temporary SQLite database and media folder (migrated, with
a user and an API token) and listens on a free loopback port. Every server is started first
and stays up; then each round measures them in turn (the upstream first, the others in an
order that alternates from round to round): a few warm-up requests, then a bounded number
from a small thread pool. On a machine whose speed moves from minute to minute, only a pair
measured in the same round compares: each round prints its own ratios, and with
`--rounds` above 1 the medians and ranges close the run. It prints figures and
asserts nothing about time. Rate limits are switched off for the run; nothing leaves 127.0.0.1.
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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BODY = {"model": "cards", "size": "256x256", "response_format": "b64_json"}
# In front of the upstream: what every row (upstream, ours, LiteLLM) is sent.
UPSTREAM_MODEL = "flat-1"
UPSTREAM_BODY = {"model": UPSTREAM_MODEL, "size": "256x256"}
LITELLM_KEY = "sk-bench-only"


def serve_upstream(port: int) -> None:
    """The zero-latency upstream: every POST gets the same ImagesResponse, at once."""
    import base64
    import io
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), "teal").save(buffer, format="PNG")
    answer = json.dumps({"created": 1_796_083_200, "data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}],
                         "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}}).encode()
    listing = json.dumps({"object": "list", "data": [
        {"id": UPSTREAM_MODEL, "object": "model", "created": 1_796_083_200, "owned_by": "bench"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real API
        # Headers and body go out in two writes: with Nagle's algorithm on, the body waited
        # for the client's delayed ACK, and "zero latency" took 44 ms per request.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:
            pass

        def reply(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.reply(answer)

        def do_GET(self) -> None:
            self.reply(listing)

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(workdir: Path, upstream: str = "") -> dict[str, str]:
    env = dict(os.environ)
    if upstream:
        env.update({"OPENAI_COMPATIBLE_BASE_URL": f"{upstream}/v1", "OPENAI_COMPATIBLE_MODELS": UPSTREAM_MODEL,
                    "OPENAI_COMPATIBLE_MAX_CONCURRENCY": "16"})
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


def wait_until_up(base: str, token: str, process: subprocess.Popen, timeout: float = 120) -> None:
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


def fire(base: str, token: str, *, count: int, concurrency: int, time_limit: float,
         body: dict | None = None) -> dict[str, float]:
    """`count` requests from `concurrency` threads (each with its own connection), stopping
    early at `time_limit` seconds. Latencies of successful requests only."""
    body_fields = body or BODY
    local = threading.local()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    stop_at = time.monotonic() + time_limit

    def one(index: int) -> tuple[float, int]:
        if time.monotonic() > stop_at:
            return 0.0, -1
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        data = json.dumps({**body_fields, "prompt": f"Benchmark card number {index}"})
        started = time.perf_counter()
        response = session.post(f"{base}/v1/images/generations", data=data, headers=headers, timeout=60)
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


@dataclass
class Server:
    label: str
    process: subprocess.Popen
    base: str
    token: str
    body: dict


def measure(server: Server, *, count: int, concurrency: int, warmup: int, time_limit: float) -> dict[str, float]:
    """Warm up, then fire `count` requests; adds the server session's CPU per request."""
    fire(server.base, server.token, count=warmup, concurrency=concurrency, time_limit=time_limit, body=server.body)
    cpu_before = session_cpu_seconds(server.process.pid)
    result = fire(server.base, server.token, count=count, concurrency=concurrency, time_limit=time_limit,
                  body=server.body)
    cpu = session_cpu_seconds(server.process.pid) - cpu_before
    result["cpu_ms"] = cpu * 1000 / max(1, result["ok"] + result["errors"])
    return result


@contextmanager
def serving(kind: str, upstream: str = "") -> Iterator[Server]:
    """One of our servers on a fresh site, up and answering, for the block."""
    labels = {"runserver": "runserver (threaded, dev server)", "gunicorn": "gunicorn -w 2 -k gthread --threads 4"}
    with tempfile.TemporaryDirectory(prefix=f"bench-api-{kind}-") as tmp:
        env = site_env(Path(tmp), upstream)
        token = prepare_site(env)
        port = free_port()
        process = subprocess.Popen(server_command(kind, port), cwd=ROOT, env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base, token, process)
            yield Server(labels.get(kind, kind), process, base, token, UPSTREAM_BODY if upstream else BODY)
        finally:
            stop(process)


def start_upstream() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([PYTHON, str(Path(__file__).resolve()), "--serve-upstream", str(port)], cwd=ROOT,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base, "upstream", process, timeout=30)
    return process, base


@contextmanager
def serving_litellm(litellm: str, upstream: str) -> Iterator[Server]:
    """The LiteLLM proxy (2 workers) with one model: `openai/flat-1` at the upstream."""
    with tempfile.TemporaryDirectory(prefix="bench-api-litellm-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(json.dumps({  # JSON is YAML
            "model_list": [{"model_name": UPSTREAM_MODEL, "litellm_params": {
                "model": f"openai/{UPSTREAM_MODEL}", "api_base": f"{upstream}/v1", "api_key": "upstream-key"}}],
            "general_settings": {"master_key": LITELLM_KEY},
            "litellm_settings": {"telemetry": False},
        }))
        # No database, no Redis: the proxy with a master key and one model, nothing else.
        env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")}
        env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION"})
        port = free_port()
        log = Path(tmp) / "litellm.log"
        with log.open("wb") as output:
            process = subprocess.Popen([litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                                        "--num_workers", "2"], cwd=tmp, env=env, start_new_session=True,
                                       stdout=output, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_up(base, LITELLM_KEY, process)
            except RuntimeError:
                print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
                raise
            yield Server(f"LiteLLM proxy {litellm_version(litellm)} --num_workers 2", process, base, LITELLM_KEY,
                         UPSTREAM_BODY)
        finally:
            stop(process)


def litellm_version(litellm: str) -> str:
    python = Path(litellm).resolve().parent / "python"
    try:
        done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                              capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return "?"
    return done.stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="Requests per server (default 200).")
    parser.add_argument("--concurrency", type=int, default=4, help="Client threads (default 4).")
    parser.add_argument("--warmup", type=int, default=8, help="Requests before measuring (default 8).")
    parser.add_argument("--time-limit", type=float, default=180.0, help="Seconds per server at most (default 180).")
    parser.add_argument("--servers", default="runserver,gunicorn", help="Comma-separated: runserver, gunicorn.")
    parser.add_argument("--model", choices=("upstream", "cards"), default="upstream",
                        help="upstream: openai_compatible in front of the zero-latency upstream (default); "
                             "cards: the offline renderer.")
    parser.add_argument("--litellm", default="", metavar="PATH",
                        help="The `litellm` command of a venv with the proxy: adds its row (upstream only).")
    parser.add_argument("--rounds", type=int, default=1,
                        help="Measure every server this many times, alternating their order (default 1); "
                             "medians and ranges close the run.")
    parser.add_argument("--serve-upstream", type=int, default=0, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    if args.litellm and not os.access(args.litellm, os.X_OK):
        parser.error(f"--litellm {args.litellm}: not an executable")

    upstream_process = upstream = None
    if args.model == "upstream":
        upstream_process, upstream = start_upstream()
    what = (f"model={UPSTREAM_MODEL} (openai_compatible → zero-latency upstream) size=256x256"
            if upstream else "model=cards size=256x256 response_format=b64_json")
    print(f"POST /v1/images/generations  {what}  {args.requests} requests, concurrency {args.concurrency}, "
          f"{os.cpu_count()} CPU(s), {args.rounds} round(s) alternating the servers' order")
    print(f"load average at start {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    options = {"count": args.requests, "concurrency": args.concurrency, "warmup": args.warmup,
               "time_limit": args.time_limit}
    # name -> one result per round
    rows: dict[str, list[dict[str, float]]] = {}
    servers: dict[str, Server] = {}  # their labels outlive the processes, for the summary
    try:
        with ExitStack() as stack:
            if upstream:
                servers["upstream"] = Server("upstream direct (no proxy)", upstream_process, upstream, "upstream",
                                             UPSTREAM_BODY)
            for kind in [s.strip() for s in args.servers.split(",") if s.strip()]:
                servers[kind] = stack.enter_context(serving(kind, upstream or ""))
            if upstream and args.litellm:
                servers["litellm"] = stack.enter_context(serving_litellm(args.litellm, upstream))
            for round_ in range(args.rounds):
                print(f"\nround {round_ + 1}")
                print(f"{'server':<38} {'ok':>5} {'err':>4} {'req/s':>7} {'median ms':>10} {'p95 ms':>8} "
                      f"{'added ms':>9} {'CPU ms/req':>11}")
                # The upstream first (the floor of this round), then ours and LiteLLM alternating.
                others = [name for name in servers if name != "upstream"]
                order = (["upstream"] if "upstream" in servers else []) + (others if round_ % 2 == 0
                                                                           else others[::-1])
                results = {name: measure(servers[name], **options) for name in order}
                baseline = results["upstream"]["median_ms"] if "upstream" in results else float("nan")
                for name in servers:
                    result = results[name]
                    result["added_ms"] = result["median_ms"] - baseline
                    rows.setdefault(name, []).append(result)
                    print(f"{servers[name].label:<38} {result['ok']:>5} {result['errors']:>4} {result['rps']:>7.1f} "
                          f"{result['median_ms']:>10.1f} {result['p95_ms']:>8.1f} {result['added_ms']:>9.1f} "
                          f"{result['cpu_ms']:>11.1f}"
                          + (f"  ({result['skipped']} not sent: time limit)" if result["skipped"] else ""), flush=True)
                if "gunicorn" in results and "litellm" in results:
                    print(ratio_line([results["gunicorn"]], [results["litellm"]]))
            if upstream and not args.litellm:
                print("LiteLLM proxy: not run (pass --litellm PATH to its `litellm` command)")
    finally:
        if upstream_process is not None:
            stop(upstream_process)
    print(f"load average at end {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    if args.rounds > 1:
        print(f"\nover {args.rounds} rounds, median (min-max):")
        for name, results in rows.items():
            added = [r["added_ms"] for r in results if r["added_ms"] == r["added_ms"]]  # no upstream: NaN
            print(f"{servers[name].label:<38} req/s {spread([r['rps'] for r in results], 1)}  "
                  f"CPU ms/req {spread([r['cpu_ms'] for r in results], 1)}"
                  + (f"  added ms {spread(added, 1)}" if added else ""))
        if "gunicorn" in rows and "litellm" in rows:
            print(ratio_line(rows["gunicorn"], rows["litellm"]))


def spread(values: list[float], digits: int) -> str:
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"
            if len(values) > 1 else f"{values[0]:.{digits}f}")


def ratio_line(ours: list[dict[str, float]], theirs: list[dict[str, float]]) -> str:
    """Issue 17's targets: CPU/request at most 2x LiteLLM's, req/s at least 0.5x LiteLLM's (each
    round's ratio from the same round's pair)."""
    cpu = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(ours, theirs, strict=True) if b["cpu_ms"]]
    rps = [a["rps"] / b["rps"] for a, b in zip(ours, theirs, strict=True) if b["rps"]]
    if not cpu or not rps:
        return "gunicorn vs LiteLLM: no ratio (LiteLLM answered nothing)"
    return (f"gunicorn vs LiteLLM: CPU/request {spread(cpu, 2)}x (target <= 2), "
            f"req/s {spread(rps, 2)}x (target >= 0.5)")


if __name__ == "__main__":
    main()
