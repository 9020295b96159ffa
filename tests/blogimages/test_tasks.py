"""Batches on a real Redis broker with a real Celery worker subprocess on PostgreSQL.

The worker calls a loopback host that speaks the OpenAI Images API (tests/fake_image_host.py)
through the real openai_compatible provider.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.db import connection

from blogimages import batches, reconcile
from blogimages.models import GenerationBatch, ImageOutput
from blogimages.tasks import generate_output
from tests.celery_worker import Worker
from tests.conftest import require_service
from tests.factories import PostFactory, SectionFactory
from tests.fake_image_host import FakeImageHost

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def services():
    if not os.environ.get("REDIS_URL"):
        require_service("Redis", "REDIS_URL is not set")
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "the worker subprocess needs a shared database (set DATABASE_URL)")


@pytest.fixture
def host():
    fake = FakeImageHost().start()
    yield fake
    fake.stop()


@pytest.fixture
def start_worker(services, settings, _media_root, tmp_path, request):
    """`start_worker(providers, **options)`: a real worker on a queue of its own serving
    `providers` (the test's settings and default queue follow it); stopped after the test,
    its log printed if the test failed."""
    from config.celery import app

    workers: list[Worker] = []

    def start(providers: dict, **kwargs) -> Worker:
        settings.BLOGIMAGES_PROVIDERS = providers
        settings.BLOGIMAGES_DEFAULT_PROVIDER = next(iter(providers))
        worker = Worker(providers=providers, media_root=_media_root, log_dir=tmp_path, **kwargs)
        app.conf.task_default_queue = worker.queue
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for worker in workers:
            print(worker.log())


@pytest.fixture
def make_worker(host, start_worker):
    """A worker calling the test's FakeImageHost (which outlives it)."""

    def make(*, max_concurrency=None, concurrency=4, **kwargs) -> Worker:
        options = {"max_concurrency": max_concurrency} if max_concurrency else {}
        return start_worker({"fake": host.provider_config(**options)}, concurrency=concurrency, **kwargs)

    return make


def make_post(*headings: str):
    post = PostFactory()
    for i, heading in enumerate(headings):
        SectionFactory(post=post, key=f"s{i}", heading=heading, body="")
    return post


def section_keys(post) -> list[str]:
    """Only the sections' slots: these tests are about workers, not about the post's own images."""
    return list(post.sections.values_list("key", flat=True))


def wait_for(batch: GenerationBatch, timeout: float = 60) -> GenerationBatch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch.refresh_from_db()
        if batch.is_finished:
            return batch
        time.sleep(0.1)
    raise AssertionError(f"batch {batch.pk} not finished after {timeout}s: {batch.status} "
                         f"{batch.succeeded_count}/{batch.failed_count}/{batch.total}")


def files_of(media_root: str, post) -> list[str]:
    folder = Path(media_root) / "blogimages" / "posts" / post.slug
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_full_batch(make_worker, host, _media_root):
    make_worker()
    post = make_post("Harbour at dusk", "Tide pools", "The lighthouse", "Seafood shack")
    started = batches.start_post_batch(post=post, overrides={"width": 256, "height": 256})
    batch = wait_for(started.batch)
    # Every slot: the featured and social images and the four sections.
    assert (batch.status, batch.succeeded_count, batch.failed_count, batch.total) == ("succeeded", 6, 0, 6)
    outputs = list(batch.outputs.all())
    assert all(o.status == "succeeded" and o.file.name.startswith(f"blogimages/posts/{post.slug}/") for o in outputs)
    assert len(files_of(_media_root, post)) == 6 * 3  # original, thumbnail, sidecar
    assert len(host.requests) == 6
    assert batch.started_at and batch.finished_at


def test_partially_failing_batch_is_not_retried_for_permanent_errors(make_worker, host):
    make_worker()
    post = make_post("A calm sea", "Something forbidden", "A quiet beach")
    batch = wait_for(batches.start_post_batch(post=post, sections=section_keys(post), overrides={"width": 256, "height": 256}).batch)
    assert (batch.status, batch.succeeded_count, batch.failed_count) == ("partially_failed", 2, 1)
    failed = batch.outputs.get(status="failed")
    assert "safety system" in failed.error and failed.attempts == 1
    assert sum("forbidden" in p for p in host.prompts()) == 1  # never retried

    # "Retry failed" re-queues only the failed image.
    assert batches.retry_failed(batch) == 1
    batch = wait_for(batch)
    assert batch.failed_count == 1 and batch.succeeded_count == 2
    assert sum("forbidden" in p for p in host.prompts()) == 2
    assert len(host.requests) == 4


def test_rate_limit_is_retried_after_retry_after(make_worker, host):
    make_worker()
    post = make_post("ratelimit me")
    batch = wait_for(batches.start_post_batch(post=post, sections=section_keys(post), overrides={"width": 256, "height": 256}).batch)
    assert batch.status == "succeeded"
    output = batch.outputs.get()
    assert output.attempts == 2
    first, second = host.requests
    assert first.body == second.body  # same prompt, same seed: the same image, asked again
    # The retry waited at least what the host's Retry-After asked for.
    assert second.at - first.at >= host.retry_after * 0.9


def test_redelivered_task_for_a_finished_image_does_nothing(make_worker, host):
    make_worker()
    post = make_post("Once only")
    batch = wait_for(batches.start_post_batch(post=post, sections=section_keys(post), overrides={"width": 256, "height": 256}).batch)
    output = batch.outputs.get()
    before = (output.sha256, output.attempts, output.finished_at)
    # The broker delivers the same task again (as after a lost ack).
    assert generate_output.apply_async((output.pk,)).get(timeout=30) == "finished"
    output.refresh_from_db()
    assert (output.sha256, output.attempts, output.finished_at) == before
    assert len(host.requests) == 1


def test_concurrent_starts_do_not_duplicate_work(make_worker, host):
    host.latency = 1.0
    make_worker()
    post = make_post("One", "Two")
    first = batches.start_post_batch(post=post, sections=section_keys(post), overrides={"width": 256, "height": 256})
    second = batches.start_post_batch(post=post, sections=section_keys(post), overrides={"width": 256, "height": 256})
    assert first.created and not second.created and second.batch.pk == first.batch.pk
    wait_for(first.batch)
    assert ImageOutput.objects.filter(post=post).count() == 2 and len(host.requests) == 2


def test_provider_concurrency_limit_holds_across_worker_threads(make_worker, host):
    host.latency = 0.3
    make_worker(max_concurrency=2, concurrency=6)
    post = make_post(*[f"Section {i}" for i in range(8)])
    batch = wait_for(batches.start_post_batch(post=post, sections=section_keys(post), overrides={"width": 256, "height": 256}).batch)
    assert batch.status == "succeeded" and batch.succeeded_count == 8
    assert host.max_in_flight == 2


def test_a_call_longer_than_the_staleness_keeps_its_claim(make_worker, host, _media_root, settings):
    # The call is held far past TASK_STALE_AFTER (2 s) while a duplicate task and the
    # reconciler try to take the image over; the heartbeat keeps the claim live, so the one
    # call finishes the image under its first attempt. Without it both took it over.
    host.hold()
    host.slow_seconds = 0
    settings.BLOGIMAGES_TASK_STALE_AFTER = 2  # the reconciler below, in this process
    make_worker(stale_after=2, visibility_timeout=3600)
    post = make_post("A slow moonrise")
    started = batches.start_post_batch(post=post, sections=section_keys(post), overrides={"width": 256, "height": 256})
    output = started.batch.outputs.get()

    deadline = time.monotonic() + 30
    while not host.requests and time.monotonic() < deadline:  # the provider call is in flight
        time.sleep(0.05)
    assert host.requests
    time.sleep(5)  # the claim is older than the staleness, more than twice over
    duplicate = generate_output.apply_async((output.pk,))  # as the broker re-delivers the task
    deadline = time.monotonic() + 30
    while not duplicate.ready() and len(host.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(host.requests) == 1, "the duplicate took the live claim over and called the provider again"
    assert duplicate.get(timeout=30) == "deferred"
    report = reconcile.reconcile()
    assert report.taken_over == [] and report.adopted == []
    output.refresh_from_db()
    assert (output.status, output.attempts) == ("running", 1)

    host.release()
    batch = wait_for(started.batch, timeout=60)
    output.refresh_from_db()
    assert batch.status == "succeeded" and output.status == "succeeded"
    assert output.attempts == 1 and len(host.requests) == 1
    assert len(files_of(_media_root, post)) == 3


def test_worker_killed_mid_task_image_completes_exactly_once(make_worker, host, _media_root):
    # The killed attempt's call is held in flight until the kill; the attempt that takes over
    # is answered at once. The dead worker's heartbeat died with it: its claim goes stale.
    host.hold()
    host.slow_seconds = 0
    worker = make_worker(stale_after=5, visibility_timeout=3)
    post = make_post("A slow sunrise")
    started = batches.start_post_batch(post=post, sections=section_keys(post), overrides={"width": 256, "height": 256})
    output = started.batch.outputs.get()

    deadline = time.monotonic() + 30
    while not host.requests and time.monotonic() < deadline:  # the provider call is in flight
        time.sleep(0.05)
    assert host.requests, worker.log()
    worker.kill()
    host.release()  # the dead attempt's call ends unanswered: its worker is gone
    output.refresh_from_db()
    assert output.status == "running" and output.attempts == 1

    worker.start()  # a new worker gets the re-delivered task and takes the stale image over
    batch = wait_for(started.batch, timeout=90)
    output.refresh_from_db()
    assert batch.status == "succeeded" and output.status == "succeeded"
    assert output.attempts == 2 and len(host.requests) == 2
    assert len(files_of(_media_root, post)) == 3  # one image stored once: original, thumbnail, sidecar


def test_worker_threads_keep_their_database_connections_between_tasks(make_worker, host):
    """CONN_MAX_AGE holds on a worker too: Celery's Django fixup closed every connection
    around every task (a new PostgreSQL connection per image) until CELERY_DB_REUSE_MAX."""
    worker = make_worker(concurrency=2)
    post = make_post("Harbour at dusk", "Tide pools", "The lighthouse", "Seafood shack", "Nets", "Gulls")
    batch = wait_for(batches.start_post_batch(post=post, sections=section_keys(post),
                                              overrides={"width": 256, "height": 256}).batch)
    assert batch.succeeded_count == 6
    deadline = time.monotonic() + 30
    while worker.log().count(" succeeded in ") < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        [kept] = cursor.fetchone()
    # Each pool thread that ran a task still holds its connection, idle, for the next one
    # (beside at most one of the worker's own threads): not one per image.
    assert 1 <= kept <= 3
