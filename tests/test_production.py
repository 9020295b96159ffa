"""The site as production runs it: gunicorn with config/gunicorn.conf.py, DEBUG off, a real
secret key, collected static files served by whitenoise, private media."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_gunicorn(tmp_path, extra_args=(), **extra_env):
    """The site under gunicorn (config/gunicorn.conf.py, 2 workers), DEBUG off; yields
    (base URL, API token, log file). `extra_args` go on gunicorn's command line."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "BLOGIMAGES_"))}
    env.update(DJANGO_SECRET_KEY="production-like-" + "k" * 40, DJANGO_SETTINGS_MODULE="config.settings",
               DATABASE_URL=f"sqlite:///{tmp_path / 'site.sqlite3'}", MEDIA_ROOT=str(tmp_path / "media"),
               REDIS_URL="", DJANGO_ALLOWED_HOSTS="127.0.0.1", STATIC_ROOT=str(tmp_path / "static"), **extra_env)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    subprocess.run([*manage, "collectstatic", "--noinput", "--verbosity", "0"], cwd=ROOT, env=env, check=True,
                   timeout=300)
    subprocess.run([*manage, "shell", "-c", "from django.contrib.auth.models import User; "
                    "User.objects.create_user('scripter')"], cwd=ROOT, env=env, check=True, timeout=60)
    token = subprocess.run([*manage, "create_api_token", "scripter"], cwd=ROOT, env=env, check=True, timeout=60,
                           capture_output=True, text=True).stdout.strip()
    port = free_port()
    env.update({"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2", "GUNICORN_TIMEOUT": "60",
                **{key: value for key, value in extra_env.items() if key.startswith("GUNICORN_")}})
    log = tmp_path / "gunicorn.log"
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", *extra_args,
                             "config.wsgi"], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(base + "/v1/models", timeout=5)
                break
            except requests.RequestException:
                if proc.poll() is not None:
                    pytest.fail(f"gunicorn exited: {log.read_text(errors='replace')}")
                time.sleep(0.1)
        yield base, token, log
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    # One server for the module: collectstatic (hashing and compressing every file) takes seconds.
    with running_gunicorn(tmp_path_factory.mktemp("production")) as server:
        yield server


def test_v1_url_answers_download_under_gunicorn_with_debug_off(gunicorn):
    base, token, _log = gunicorn
    response = requests.post(base + "/v1/images/generations", timeout=60, headers={"Authorization": f"Bearer {token}"},
                             json={"prompt": "A lake at dawn", "model": "cards", "size": "512x512",
                                   "response_format": "url"})
    assert response.status_code == 200, response.text
    url = response.json()["data"][0]["url"]
    assert url.startswith(base + "/images/media/")
    image = requests.get(url, timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    name = url.rsplit("/", 1)[1]
    assert requests.get(url[: -len(name)] + "x" + name, timeout=10).status_code == 403
    # Nothing is served from /media/ with DEBUG off: only the signed links reach files.
    assert requests.get(base + "/media/", timeout=10).status_code == 404


def test_a_held_connection_takes_a_thread_not_a_worker(gunicorn):
    """A chat answer streaming as server-sent events (or a slow client) keeps its connection open.
    Three connections that never finish their request are more than the two workers: with the
    `sync` worker class the next request would wait for one of them to time out (60 s here)."""
    base, _token, _log = gunicorn
    host, port = base.removeprefix("http://").split(":")
    held = []
    try:
        for _ in range(3):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the blank line never comes
            held.append(sock)
        answer = requests.get(base + "/accounts/login/", timeout=10)
        assert answer.status_code == 200
    finally:
        for sock in held:
            sock.close()


def test_the_worker_class_defaults_to_threads(monkeypatch):
    import runpy

    for name in ("GUNICORN_WORKER_CLASS", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert (conf["worker_class"], conf["threads"]) == ("gthread", 4)
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    monkeypatch.setenv("GUNICORN_WORKER_CLASS", "sync")
    conf = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert (conf["worker_class"], conf["threads"]) == ("sync", 8)


def test_static_files_come_hashed_and_compressed_from_whitenoise_and_access_lines_name_the_request(gunicorn):
    base, _token, log = gunicorn
    page = requests.get(base + "/accounts/login/", timeout=10)
    assert page.status_code == 200
    css = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page.text)
    assert css, "the login page links a hashed stylesheet (manifest storage)"
    static = requests.get(base + css.group(1), timeout=10, headers={"Accept-Encoding": "gzip"})
    assert static.status_code == 200 and static.headers["Content-Encoding"] == "gzip"
    assert "max-age=315360000" in static.headers["Cache-Control"] and "immutable" in static.headers["Cache-Control"]
    request_id = page.headers["X-Request-ID"]
    for _ in range(50):  # the access line is written once the response is sent
        if f"request_id={request_id}" in log.read_text(errors="replace"):
            break
        time.sleep(0.1)
    assert '"GET /accounts/login/ HTTP/1.1" 200' in log.read_text() and f"request_id={request_id}" in log.read_text()


def test_the_python_requests_example_gets_base64_by_default(gunicorn, tmp_path):
    """The issue's `requests` example, with only a token added."""
    base, token, _log = gunicorn
    response = requests.post(base + "/v1/images/generations", headers={"Authorization": f"Bearer {token}"},
                             json={"prompt": "A lake at dawn", "model": "cards", "size": "512x512"}, timeout=60)
    data = response.json()
    import base64

    for i, img in enumerate(data["data"]):
        if img["b64_json"]:
            (tmp_path / f"lake_{i}.png").write_bytes(base64.b64decode(img["b64_json"]))
    assert (tmp_path / "lake_0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(data["created"], int)
    assert json.loads(json.dumps(data["usage"]))["total_tokens"] == 0


def test_the_rate_limit_holds_across_two_workers_with_redis(tmp_path):
    """50 requests from 8 threads, spread over 2 gunicorn workers, one user: exactly the
    configured 20 a minute get through, the rest are 429s with Retry-After and the limits."""
    url = os.environ.get("REDIS_URL")
    if not url:
        require_service("Redis", "REDIS_URL is not set")
    prefix = f"test-rl-gunicorn-{time.time_ns()}"  # the counters outlive the run in Redis
    # Each access line names the worker's pid, to show both workers answered.
    with running_gunicorn(tmp_path, ["--access-logformat", "access %(p)s %(s)s"],
                          BLOGIMAGES_RATE_LIMIT_STORAGE_URI=url, BLOGIMAGES_RATE_LIMIT_KEY_PREFIX=prefix,
                          BLOGIMAGES_RATE_LIMIT_USER_PER_MINUTE="20",
                          BLOGIMAGES_RATE_LIMIT_TOKEN_PER_MINUTE="none") as (base, token, log):
        def one(_index):
            return requests.post(base + "/v1/images/generations", headers={"Authorization": f"Bearer {token}"},
                                 json={"prompt": "A lake at dawn", "model": "cards", "size": "64x64"}, timeout=60)

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(one, range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 20 + [429] * 30, statuses
    for response in responses:
        assert response.headers["x-ratelimit-limit-requests"] == "20"
        if response.status_code == 429:
            error = response.json()["error"]
            assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            assert response.headers["x-ratelimit-remaining-requests"] == "0"
            assert response.headers["x-ratelimit-reset-requests"] == response.headers["Retry-After"] + "s"
    # Both workers answered generations, so the limit was shared, not counted per process.
    lines = [line.split() for line in log.read_text(errors="replace").splitlines() if line.startswith("access ")]
    served = {parts[1] for parts in lines if parts[2] in ("200", "429")}
    assert len(served) == 2, lines
