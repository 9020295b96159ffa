import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clock import (  # noqa: F401  (pytest finds hooks and fixtures by name here)
    _clock_for_marked_tests,
    clock,
    pytest_addoption,
    pytest_configure,
    pytest_report_header,
    pytest_unconfigure,
)

IN_CI = bool(os.environ.get("CI"))
ROOT = Path(__file__).resolve().parents[1]


def require_service(name: str, reason: str) -> None:
    """In CI a missing service is a failure; on a laptop the test is skipped with the reason."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test writes its files into its own temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from django.core.files.storage import storages

    # STORAGES instances cache their location; drop them so the new MEDIA_ROOT applies.
    storages._storages = {}
    yield settings.MEDIA_ROOT
    storages._storages = {}


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(settings):
    """Each test counts requests under its own keys: user ids repeat across tests, and the
    cache (Redis in CI) outlives them, so shared counters would leak one test's requests
    into the next one's limits."""
    import uuid

    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"


@pytest.fixture
def recorder(settings):
    """Make the recording provider the default ("test") beside the real cards provider."""
    settings.BLOGIMAGES_PROVIDERS = {
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "test"
    from blogimages.providers import providers

    return providers["test"]


def png_bytes(width: int = 32, height: int = 24, color=(200, 30, 30), fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _celery_inline(request):
    """Tasks run inline in every test except those that start a real worker."""
    from config.celery import app

    eager = "celery_worker" not in request.keywords
    saved = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager, app.conf.task_default_queue = saved


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """One SQLite database migrated by `manage.py migrate` in a subprocess with the site's own
    settings, once per session (a migrate costs 3-7 s). Tests that run the CLI as a program
    start from a copy of it: `copy_migrated_sqlite(migrated_sqlite, tmp_path / "cli.sqlite3")`."""
    path = tmp_path_factory.mktemp("migrated-sqlite") / "template.sqlite3"
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=f"sqlite:///{path}", DJANGO_SETTINGS_MODULE="config.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    return path


def copy_migrated_sqlite(template: Path, target: Path) -> Path:
    shutil.copyfile(template, target)
    return target


@pytest.fixture(autouse=True)
def _live_server_requests_end(request):
    """After a test on the live server, wait (briefly) for the threads that served it: each
    holds a database connection of its own (CONN_MAX_AGE keeps it) until its client hangs
    up, and one still open when the session ends stops the test database from being dropped
    ("being accessed by other users"). A client nobody closed hangs up when it is collected."""
    yield
    if "live_server" not in request.fixturenames:
        return
    import gc
    import threading
    import time

    gc.collect()
    deadline = time.monotonic() + 5
    # socketserver.ThreadingMixIn names each request's thread after its target.
    while time.monotonic() < deadline and any(
            thread.name.endswith("(process_request_thread)") for thread in threading.enumerate()):
        time.sleep(0.02)


@pytest.fixture
def v1_sdk(live_server):
    """`v1_sdk(raw_token)`: the OpenAI SDK pointed at this site's /v1 on the live server,
    closed after the test: an open client keeps its keep-alive socket, and with it the live
    server's thread serving it and that thread's database connection (see above)."""
    import openai

    made: list[openai.OpenAI] = []

    def make(api_key: str, **options) -> openai.OpenAI:
        client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=api_key, max_retries=0, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
