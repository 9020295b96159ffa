"""The reconciler without a worker, and what a request gets when a service is down.

The "service down" cases talk to a real Redis client pointed at a port nobody listens on.
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from blogimages import generation, reconcile, storage, tokens
from blogimages.models import GenerationBatch, ImageOutput, OutputStatus
from tests.blogimages.api.test_json import EDITOR_PERMS
from tests.factories import PostFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {**settings.CACHES, "down": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }}
    settings.BLOGIMAGES_RATE_LIMIT_STORAGE_URI = f"redis://127.0.0.1:{closed_port()}/0"
    settings.BLOGIMAGES_RATE_LIMITS = {"user_per_minute": 100, "token_per_minute": 100}
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"


def queued(recorder_prompt: str = "a harbour", **fields) -> ImageOutput:
    plan = generation.build_request(prompt_text=recorder_prompt, provider="test", overrides={"width": 64, "height": 64})
    [output] = generation.queue_outputs(plan, prompt=None)
    if fields:
        ImageOutput.objects.filter(pk=output.pk).update(**fields)
        output.refresh_from_db()
    return output


@pytest.mark.clock
def test_a_queued_image_whose_task_is_gone_is_queued_again_and_made_once(recorder, settings):
    with time_machine.travel(NOW, tick=False):
        lost = queued(task_id="gone", enqueued_at=NOW - timedelta(minutes=10))
        live = queued(task_id="live", enqueued_at=NOW - timedelta(seconds=5))
        fresh = queued()  # committed a moment ago: its publish is on the way

        dry = reconcile.reconcile(dry_run=True)
        assert dry.requeued == [lost.pk] and recorder.requests == []
        lost.refresh_from_db()
        assert lost.status == OutputStatus.QUEUED

        # Without a broker the re-queued task runs inline: the image is made, once.
        report = reconcile.reconcile()
        assert report.requeued == [lost.pk]
    lost.refresh_from_db(), live.refresh_from_db(), fresh.refresh_from_db()
    assert lost.status == OutputStatus.SUCCEEDED and lost.attempts == 1
    assert live.status == fresh.status == OutputStatus.QUEUED
    assert len(recorder.requests) == 1


@pytest.mark.clock
def test_a_stale_running_image_is_taken_over_through_the_claim(recorder, settings):
    settings.BLOGIMAGES_TASK_STALE_AFTER = 60
    with time_machine.travel(NOW, tick=False):
        stale = queued(status=OutputStatus.RUNNING, attempts=1, started_at=NOW - timedelta(minutes=5))
        busy = queued(status=OutputStatus.RUNNING, attempts=1, started_at=NOW - timedelta(seconds=10))
        report = reconcile.reconcile()
    assert report.taken_over == [stale.pk] and report.adopted == []
    stale.refresh_from_db(), busy.refresh_from_db()
    # Claimed by the reconciler (attempt 2), queued again, claimed by its task (attempt 3).
    assert (stale.status, stale.attempts) == (OutputStatus.SUCCEEDED, 3)
    assert (busy.status, busy.attempts) == (OutputStatus.RUNNING, 1)
    assert len(recorder.requests) == 1


def test_finished_rows_finalise_their_batch_and_running_rows_make_it_running(recorder):
    done = GenerationBatch.objects.create(post=PostFactory(), status="queued", total=1)
    going = GenerationBatch.objects.create(post=PostFactory(), status="queued", total=2)
    queued(batch=done, status=OutputStatus.FAILED, error="boom", finished_at=timezone.now())
    queued(batch=going, status=OutputStatus.RUNNING, started_at=timezone.now(), attempts=1)
    queued(batch=going, task_id="t", enqueued_at=timezone.now())

    report = reconcile.reconcile()
    done.refresh_from_db(), going.refresh_from_db()
    assert report.finalised_batches == [done.pk]
    assert (done.status, done.failed_count) == ("failed", 1) and done.finished_at
    assert going.status == "running" and going.started_at  # one row runs: the batch runs


@pytest.mark.clock
def test_command_reports_unowned_files_and_missing_files_and_fix_removes_only_unowned(recorder, settings,
                                                                                      _media_root):
    [made] = generation.generate(prompt="a lighthouse", provider="test", overrides={"width": 64, "height": 64})
    gone = generation.generate(prompt="a pier", provider="test", overrides={"width": 64, "height": 64})[0]
    storage.delete_files([gone.file.name])
    stray = Path(_media_root) / "blogimages" / "tests" / "stray-1a2b3c4d.png"
    stray.write_bytes(b"not ours")

    out = StringIO()
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):  # the stray file is old
        call_command("reconcile_images", "--dry-run", "--fix", stdout=out)
        assert stray.exists()
        text = out.getvalue()
        assert "1 file(s) no image owns (1 would be removed)" in text and "stray-1a2b3c4d.png" in text
        assert f"1 succeeded image(s) whose file is missing: {gone.pk}" in text

        call_command("reconcile_images", "--fix", stdout=StringIO())
    assert not stray.exists()
    assert (Path(_media_root) / made.file.name).exists() and (Path(_media_root) / made.sidecar.name).exists()


def test_an_image_stored_but_not_recorded_is_adopted_from_its_sidecar(recorder, settings, _media_root):
    """As after a database that stayed away past the retries: files and sidecar, row running."""
    [made] = generation.generate(prompt="a dune", provider="test", overrides={"width": 64, "height": 64})
    sidecar = json.loads(Path(_media_root, made.sidecar.name).read_text())
    ImageOutput.objects.filter(pk=made.pk).update(status=OutputStatus.RUNNING, file="", thumbnail="", sidecar="",
                                                  sha256="", started_at=timezone.now() - timedelta(hours=1))
    settings.BLOGIMAGES_TASK_STALE_AFTER = 60
    report = reconcile.reconcile()
    assert report.adopted == [made.pk] and report.unowned_files == []
    made.refresh_from_db()
    assert made.status == OutputStatus.SUCCEEDED and made.file.name == sidecar["file"]
    assert made.sha256 == sidecar["sha256"] and made.attempts == 2
    assert len(recorder.requests) == 1  # never asked again
    # Its times are those of the attempt that made it, not the adopting claim's.
    assert made.started_at == parse_datetime(sidecar["started_at"])
    assert made.finished_at == parse_datetime(sidecar["finished_at"]) and made.duration_ms >= 0


def test_a_cache_outage_is_a_503_with_retry_after_on_the_json_api_and_v1(client, cache_down, recorder):
    from django.contrib.auth.models import Permission

    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="blogimages",
                                                        codename__in=EDITOR_PERMS))
    _, raw = tokens.create_token(user)
    auth = {"Authorization": f"Bearer {raw}"}

    response = client.post("/api/images/generate", {"prompt": "x", "width": 32, "height": 32},
                           content_type="application/json", headers=auth)
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["code"] == "rate_limit_unavailable"

    response = client.post("/v1/images/generations", {"prompt": "x"}, content_type="application/json", headers=auth)
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert recorder.requests == [] and not ImageOutput.objects.exists()


def test_a_cache_outage_lets_requests_through_when_the_policy_allows(client, cache_down, recorder, settings):
    settings.BLOGIMAGES_RATE_LIMIT_ON_CACHE_ERROR = "allow"
    _, raw = tokens.create_token(UserFactory())
    response = client.post("/v1/images/generations", {"prompt": "x", "model": "test"},
                           content_type="application/json", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200, response.content
    assert len(recorder.requests) == 1


def test_a_batch_is_running_as_soon_as_one_of_its_images_is_claimed(recorder):
    batch = GenerationBatch.objects.create(post=PostFactory(), status="queued", total=2)
    first = queued(batch=batch)
    queued(batch=batch)
    assert generation.claim([first]) == [first]
    batch.refresh_from_db()
    assert batch.status == "running" and batch.started_at


def test_with_debug_off_an_unhandled_error_logs_its_traceback_and_request_id(settings):
    import logging

    from django.test import Client

    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.blogimages.broken_page_urls"
    [handler] = [h for h in logging.getLogger("django.request").handlers if h.get_name() == "console"]
    out = StringIO()
    old = handler.setStream(out)
    try:
        response = Client(raise_request_exception=False).get("/boom", headers={"X-Request-ID": "req-from-proxy-42"})
    finally:
        handler.setStream(old)
    assert response.status_code == 500 and response["X-Request-ID"] == "req-from-proxy-42"
    logged = out.getvalue()
    assert "ERROR django.request [req-from-proxy-42] Internal Server Error: /boom" in logged
    assert "Traceback (most recent call last)" in logged and "RuntimeError: a bug in a page" in logged


@pytest.fixture
def broker_down():
    """The Celery app publishing to a port nobody listens on, as with the broker down."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager, app.conf.broker_url = False, f"redis://127.0.0.1:{closed_port()}/0"
    app._pool, app.amqp._producer_pool = None, None
    yield
    app.conf.task_always_eager, app.conf.broker_url = saved
    app._pool, app.amqp._producer_pool = None, None


@pytest.mark.django_db(transaction=True)  # the publish runs on commit
def test_broker_down_the_json_api_answers_503_and_the_batch_waits_for_the_queue(client, broker_down, recorder,
                                                                                 settings):
    from django.contrib.auth.models import Permission

    from tests.factories import SectionFactory

    settings.BLOGIMAGES_RATE_LIMITS = {}
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="blogimages"))
    _, raw = tokens.create_token(user)
    post = PostFactory()
    SectionFactory(post=post, key="s0", heading="Fog", body="")

    response = client.post(f"/api/posts/{post.slug}/generate_images", {"slots": ["s0"]},
                           content_type="application/json", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "60" and response.json()["code"] == "queue_unavailable"
    [output] = ImageOutput.objects.filter(post=post)
    assert output.status == OutputStatus.QUEUED and output.error.startswith("Waiting for the queue")
    assert recorder.requests == []


@pytest.mark.django_db(transaction=True)
def test_broker_down_generate_all_shows_an_inline_message_and_a_second_click_duplicates_nothing(
        client, broker_down, recorder):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from tests.factories import SectionFactory

    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="change_imageoutput"))
    client.force_login(user)
    post = PostFactory()
    SectionFactory(post=post, key="s0", heading="Fog", body="")
    url = reverse("posts:generate_all", kwargs={"slug": post.slug})

    for _ in range(2):
        response = client.post(url, {"regenerate_all": "on"})
        assert response.status_code == 200
        assert "The task queue is not reachable right now" in response.content.decode()
    waiting = ImageOutput.objects.filter(post=post)
    assert waiting.count() == len(set(waiting.values_list("section_key", flat=True)))  # one per slot, not two
    assert set(waiting.values_list("status", flat=True)) == {OutputStatus.QUEUED}
    assert recorder.requests == []


def test_beat_runs_the_reconciler_every_minute(recorder):
    from config.celery import app

    entry = app.conf.beat_schedule["blogimages-reconcile"]
    assert entry["schedule"] == 60.0
    task = app.tasks[entry["task"]]
    lost = queued(task_id="gone", enqueued_at=timezone.now() - timedelta(hours=1))
    assert task.apply().get() == {"requeued": 1, "taken_over": 0, "adopted": 0}
    lost.refresh_from_db()
    assert lost.status == OutputStatus.SUCCEEDED


def test_check_warns_when_a_provider_call_may_outlast_the_visibility_timeout(settings):
    """The heartbeat keeps a live claim live, but Redis still hands a copy of a task that runs
    past its visibility timeout to another worker, again every timeout."""
    from blogimages.checks import check_visibility_timeout_outlasts_provider_calls as check

    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "slow": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {"timeout": 1200}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"
    settings.BLOGIMAGES_TASK_STALE_AFTER = 900  # below the call: renewed by the heartbeat, no warning
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1000}
    [warning] = check()
    assert warning.id == "blogimages.W004"
    assert warning.msg.startswith("Provider 'slow': a call may last 1200 s, but the broker's visibility timeout is 1000 s")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    assert check() == []
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1000}
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"  # RabbitMQ does not redeliver a live task
    assert check() == []