"""In CI the suite must really run on PostgreSQL and Redis; a missing service is a failure."""

import os

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import require_service


@pytest.mark.django_db
def test_database_is_postgresql_when_configured():
    if not os.environ.get("DATABASE_URL"):
        require_service("PostgreSQL", "DATABASE_URL is not set")
    assert connection.vendor == "postgresql"


def test_redis_broker_is_used_when_configured():
    if not os.environ.get("REDIS_URL"):
        require_service("Redis", "REDIS_URL is not set")
    import redis

    assert settings.CELERY_BROKER_URL == os.environ["REDIS_URL"]
    assert settings.CELERY_TASK_ALWAYS_EAGER is False
    try:
        assert redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis at REDIS_URL does not answer: {exc}")


def test_embedded_default_runs_tasks_inline(monkeypatch):
    # Re-read the settings module without service variables: SQLite and eager Celery.
    import importlib

    import config.settings as site_settings

    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    try:
        fresh = importlib.reload(site_settings)
        assert fresh.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
        assert fresh.CELERY_TASK_ALWAYS_EAGER is True
        assert "cards" in fresh.BLOGIMAGES_PROVIDERS and fresh.BLOGIMAGES_DEFAULT_PROVIDER == "cards"
    finally:
        monkeypatch.undo()
        importlib.reload(site_settings)


def test_embedded_sqlite_writes_ahead(monkeypatch, tmp_path):
    # The embedded default journals to a write-ahead log (readers never wait for the writer,
    # no fsync per commit); a DATABASE_URL that names its own init_command keeps it.
    import importlib
    import sqlite3

    import config.settings as site_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'site.sqlite3'}")
    try:
        options = importlib.reload(site_settings).DATABASES["default"]["OPTIONS"]
        with sqlite3.connect(tmp_path / "site.sqlite3") as db:
            db.executescript(options["init_command"])
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite3'}?init_command=PRAGMA%20foreign_keys%3DON")
        assert importlib.reload(site_settings).DATABASES["default"]["OPTIONS"]["init_command"] == "PRAGMA foreign_keys=ON"
    finally:
        monkeypatch.undo()
        importlib.reload(site_settings)
