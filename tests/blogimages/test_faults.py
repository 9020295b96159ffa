"""Infrastructure faults with a real worker: PostgreSQL connections dropped, Redis killed
mid-batch and restarted, the broker down at start. Each ends with every row final, the
counts matching, the files consistent and no provider call beyond the retry policy.

PostgreSQL and Redis only (the worker is a subprocess sharing the test database); the
Redis that is killed is the test's own, on a free port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from blogimages import batches, reconcile
from blogimages.exceptions import QueueUnavailable
from blogimages.models import ImageOutput
from tests.blogimages.test_tasks import (
    files_of,
    host,
    make_post,
    make_worker,
    section_keys,
    services,
    start_worker,
    wait_for,
)
from tests.celery_worker import wait_until
from tests.conftest import require_service

__all__ = ["host", "make_worker", "services", "start_worker"]  # fixtures used by name below

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

SIZE = {"width": 256, "height": 256}


def terminate_other_backends() -> int:
    """pg_terminate_backend on every other connection to the test database (the worker's)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def allow_connections(allowed: bool) -> None:
    """Open or close the test database to new connections (from the maintenance database:
    PostgreSQL refuses this on the database one is connected to)."""
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         password=db["PASSWORD"] or None, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{db["NAME"]}" WITH ALLOW_CONNECTIONS {"true" if allowed else "false"}')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of the test's own, without persistence (as the issue's fault had it)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), timeout=10, what="redis-server up")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture
def own_redis(services, tmp_path, monkeypatch, settings):
    """The test's own Redis as broker, cache and lease store of the worker and this process."""
    if not shutil.which("redis-server"):
        require_service("redis-server", "the fault tests start and kill their own Redis")
    from config.celery import app

    server = OwnRedis(tmp_path)
    monkeypatch.setenv("REDIS_URL", server.url)  # inherited by the worker subprocess
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # this fault is about Redis as the broker
    old = app.conf.broker_url
    _point_broker(app, server.url)
    settings.REDIS_URL = server.url
    yield server
    _point_broker(app, old)
    server.kill()


def _point_broker(app, url: str) -> None:
    # Drop the references only: kombu keeps the pools per URL, and the other tests'
    # pool must still be open when they get it back.
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def outputs_of(post) -> list[ImageOutput]:
    return list(ImageOutput.objects.filter(post=post).order_by("pk"))


def test_database_connections_dropped_mid_task_lose_no_image(make_worker, host, _media_root):
    host.latency = 2.0
    make_worker(concurrency=4)
    post = make_post("Harbour", "Tide pools", "Lighthouse", "Shack")
    started = batches.start_post_batch(post=post, sections=section_keys(post), overrides=SIZE)
    wait_until(lambda: len(host.requests) == 4, what="four provider calls in flight")

    assert terminate_other_backends() >= 1  # the worker's connections, mid-call

    batch = wait_for(started.batch, timeout=60)
    assert (batch.status, batch.succeeded_count, batch.failed_count) == ("succeeded", 4, 0)
    assert [o.attempts for o in outputs_of(post)] == [1, 1, 1, 1]
    assert len(host.requests) == 4  # no image asked twice
    assert len(files_of(_media_root, post)) == 4 * 3


def test_database_gone_longer_than_the_retries_is_adopted_from_the_sidecar(make_worker, host, _media_root,
                                                                            settings):
    host.latency = 2.0
    worker = make_worker(concurrency=2)
    post = make_post("A quiet beach")
    started = batches.start_post_batch(post=post, sections=section_keys(post), overrides=SIZE)
    wait_until(lambda: len(host.requests) == 1, what="the provider call in flight")
    try:
        allow_connections(False)
        terminate_other_backends()
        wait_until(lambda: "adopts it from its sidecar" in worker.log(), timeout=30, what="final write given up")
    finally:
        allow_connections(True)
    [output] = outputs_of(post)
    assert output.status == "running"  # the row could not be written ...
    assert len(files_of(_media_root, post)) == 3  # ... but the paid-for image is kept

    settings.BLOGIMAGES_TASK_STALE_AFTER = 0.5
    time.sleep(0.6)
    report = reconcile.reconcile()
    assert report.adopted == [output.pk] and not report.taken_over

    output.refresh_from_db()
    batch = wait_for(started.batch, timeout=10)
    assert (batch.status, output.status, output.attempts) == ("succeeded", "succeeded", 2)
    assert output.file.name and output.sha256 and output.sidecar.name
    assert len(host.requests) == 1  # the provider was not called again
    assert len(files_of(_media_root, post)) == 3


def test_redis_killed_mid_batch_and_restarted(own_redis, make_worker, host, _media_root, settings):
    own_redis.start()
    host.latency = 3.0
    make_worker(concurrency=4, max_concurrency=4)
    post = make_post(*[f"Section {i}" for i in range(6)])
    started = batches.start_post_batch(post=post, sections=section_keys(post), overrides=SIZE)
    wait_until(lambda: len(host.requests) == 4, what="four provider calls in flight")

    own_redis.kill()  # the 2 queued messages vanish with its memory
    wait_until(lambda: ImageOutput.objects.filter(post=post, status="succeeded").count() == 4, timeout=30,
               what="the in-flight images stored despite Redis being gone")
    own_redis.start()

    settings.BLOGIMAGES_QUEUE_LOST_AFTER = 0  # their tasks are gone: no need to wait two minutes here
    report = reconcile.reconcile()
    assert len(report.requeued) == 2 and not report.queue_error

    batch = wait_for(started.batch, timeout=90)
    assert (batch.status, batch.succeeded_count, batch.failed_count) == ("succeeded", 6, 0)
    assert len(host.requests) == 6  # each image asked once
    assert len(files_of(_media_root, post)) == 6 * 3


def test_broker_down_at_start_fails_fast_and_the_batch_runs_once_it_is_back(own_redis, make_worker, host,
                                                                             _media_root, settings):
    settings.BLOGIMAGES_PROVIDERS = {"fake": host.provider_config()}  # what the worker will have
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "fake"
    post = make_post("Morning fog", "Evening tide")
    began = time.monotonic()
    with pytest.raises(QueueUnavailable, match="queue is not reachable"):
        batches.start_post_batch(post=post, sections=section_keys(post), overrides=SIZE)
    print(f"start with the broker down failed after {time.monotonic() - began:.1f} s")
    waiting = outputs_of(post)
    assert [(o.status, o.task_id, o.enqueued_at) for o in waiting] == [("queued", "", None)] * 2

    # A second start while it is still down names the same outage, and duplicates nothing.
    with pytest.raises(CommandError, match="queue is not reachable"):
        call_command("generate_post_images", post.slug, "--yes", "--slots", "s0,s1")
    assert len(outputs_of(post)) == 2

    own_redis.start()
    make_worker()
    settings.BLOGIMAGES_QUEUE_LOST_AFTER = 0
    assert sorted(reconcile.reconcile().requeued) == [o.pk for o in waiting]
    batch = wait_for(waiting[0].batch, timeout=60)
    assert (batch.status, batch.succeeded_count) == ("succeeded", 2)
    assert len(host.requests) == 2 and len(files_of(_media_root, post)) == 2 * 3

    # After the outage "Generate all" works again.
    again = batches.start_post_batch(post=post, sections=section_keys(post), overrides=SIZE)
    assert again.created and wait_for(again.batch).status == "succeeded"
    assert len(host.requests) == 4
