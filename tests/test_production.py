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

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    # One server for the module: collectstatic (hashing and compressing every file) takes seconds.
    tmp_path = tmp_path_factory.mktemp("production")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "BLOGIMAGES_"))}
    env.update(DJANGO_SECRET_KEY="production-like-" + "k" * 40, DJANGO_SETTINGS_MODULE="config.settings",
               DATABASE_URL=f"sqlite:///{tmp_path / 'site.sqlite3'}", MEDIA_ROOT=str(tmp_path / "media"),
               REDIS_URL="", DJANGO_ALLOWED_HOSTS="127.0.0.1", STATIC_ROOT=str(tmp_path / "static"))
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    subprocess.run([*manage, "collectstatic", "--noinput", "--verbosity", "0"], cwd=ROOT, env=env, check=True,
                   timeout=300)
    subprocess.run([*manage, "shell", "-c", "from django.contrib.auth.models import User; "
                    "User.objects.create_user('scripter')"], cwd=ROOT, env=env, check=True, timeout=60)
    token = subprocess.run([*manage, "create_api_token", "scripter"], cwd=ROOT, env=env, check=True, timeout=60,
                           capture_output=True, text=True).stdout.strip()
    port = free_port()
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2", GUNICORN_TIMEOUT="60")
    log = tmp_path / "gunicorn.log"
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
                            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
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
    assert f'"GET /accounts/login/ HTTP/1.1" 200' in log.read_text() and f"request_id={request_id}" in log.read_text()


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
