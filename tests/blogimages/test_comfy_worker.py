"""A real Celery worker (subprocess, real Redis broker, the test PostgreSQL) driving the
loopback ComfyUI of comfy_standin: a worker killed mid-prompt and the reconciler after it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from blogimages import generation, reconcile
from blogimages.conf import blogimages_settings
from blogimages.models import ImageOutput, OutputStatus
from tests.blogimages.providers.comfy_standin import CHECKPOINTS, Behaviour, FakeComfy
from tests.blogimages.test_comfy_background import fake_prompt
from tests.blogimages.test_tasks import services, start_worker
from tests.celery_worker import wait_until

__all__ = ["services", "start_worker"]  # fixtures, used by name

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def comfy():
    fake = FakeComfy().start()
    yield fake
    fake.stop()  # after the workers calling it have stopped


@pytest.fixture
def comfy_workers(comfy, start_worker):
    providers = {"comfy": {"BACKEND": "blogimages.providers.comfyui.ComfyUIProvider",
                           "OPTIONS": {"base_url": comfy.url, "checkpoint": CHECKPOINTS[0], "poll_interval": 0.05,
                                       "timeout": 120}}}
    # Each worker a new process on the same queue: a task left by a killed one reaches the next.
    queue = f"blogimages-test-comfy-{time.monotonic_ns()}"
    return comfy, lambda: start_worker(providers, concurrency=2, queue=queue)


def test_a_killed_workers_prompt_is_cancelled_on_comfyui_by_the_reconciler(comfy_workers):
    fake, start = comfy_workers
    fake.behave(Behaviour(hold=True, steps=3))  # ours runs until something stops it
    worker = start()
    [output] = generation.submit(prompt="a lighthouse", provider="comfy", overrides={"width": 64, "height": 64})
    wait_until(lambda: fake.running is not None, timeout=60, what="our prompt running on ComfyUI")
    ours = fake.running.prompt_id
    other = fake_prompt(fake, "someone-else")  # another client's prompt, waiting behind ours
    output.refresh_from_db()
    assert output.status == OutputStatus.RUNNING
    assert output.provider_metadata["job"] == {"provider": "comfy", "prompt_id": ours}

    worker.kill()  # SIGKILL: no finally, no cancel from the worker
    assert fake.calls("POST", "/interrupt") == [] and fake.calls("POST", "/queue") == []
    assert fake.running is not None and fake.running.prompt_id == ours  # still running on ComfyUI
    ImageOutput.objects.filter(pk=output.pk).update(
        started_at=timezone.now() - timedelta(seconds=blogimages_settings.TASK_STALE_AFTER + 60))

    report = reconcile.reconcile()

    assert report.taken_over == [output.pk] and report.cancelled == [output.pk]
    assert fake.calls("POST", "/interrupt") == [{"prompt_id": ours}]
    assert fake.calls("POST", "/queue") == [{"delete": [ours]}]
    wait_until(lambda: other in fake.history, timeout=60, what="the other client's prompt finished")
    assert fake.history[ours]["status"]["status_str"] == "error"  # interrupted, not finished
    assert fake.history[other]["status"]["status_str"] == "success"

    # The image was queued again; a new worker makes it once.
    start()
    wait_until(lambda: ImageOutput.objects.get(pk=output.pk).status == OutputStatus.SUCCEEDED,
               timeout=60, what="the image made by the new worker")
    output.refresh_from_db()
    assert output.attempts == 3  # the killed attempt, the reconciler's take-over, the new one
    assert len(fake.calls("POST", "/prompt")) == 3  # ours, the other client's, the new attempt's


def test_a_background_batch_on_a_real_worker_is_one_comfyui_run(comfy_workers):
    fake, start = comfy_workers
    start()
    outputs = generation.submit(prompt="a lighthouse", provider="comfy", n=4,
                                overrides={"width": 64, "height": 64, "seed": 5})
    ids = [o.pk for o in outputs]
    wait_until(lambda: ImageOutput.objects.filter(pk__in=ids, status=OutputStatus.SUCCEEDED).count() == 4,
               timeout=60, what="four images made")
    assert len(fake.calls("POST", "/prompt")) == 1
    rows = ImageOutput.objects.filter(pk__in=ids).order_by("pk")
    assert [row.provider_metadata["batch_index"] for row in rows] == [0, 1, 2, 3]
    assert {row.attempts for row in rows} == {1}
