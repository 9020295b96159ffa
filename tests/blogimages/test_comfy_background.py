"""ComfyUI batches and abandoned prompts in the background (tasks, the reconciler), against
the loopback ComfyUI of tests/blogimages/providers/comfy_standin.py; tasks run inline."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image

from blogimages import generation, reconcile
from blogimages.conf import blogimages_settings
from blogimages.models import ImageOutput, OutputStatus
from blogimages.providers import get_provider
from blogimages.providers.base import GenerationRequest
from blogimages.storage import get_storage
from blogimages.tasks import generate_output
from tests.blogimages.providers.comfy_standin import Behaviour, FakeComfy, comfy_providers, pixels_for

SIZE = {"width": 64, "height": 64}


@pytest.fixture
def fake(settings):
    server = FakeComfy().start()
    settings.BLOGIMAGES_PROVIDERS = comfy_providers(server)
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "comfy"
    yield server
    server.stop()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def stored_pixels(output: ImageOutput) -> bytes:
    with get_storage().open(output.file.name, "rb") as handle:
        return pixels(handle.read())


def made_by_comfy(seed: int, index: int) -> bytes:
    return pixels(pixels_for(seed, index, SIZE["width"], SIZE["height"]))


@pytest.mark.django_db
def test_a_background_batch_of_four_is_one_comfyui_run_and_each_row_keeps_its_own_image(
        fake, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outputs = generation.submit(prompt="a lighthouse", provider="comfy", n=4, overrides={**SIZE, "seed": 42})

    # One task per image was run; the first made the whole batch in one /prompt.
    assert len(fake.calls("POST", "/prompt")) == 1
    [sent] = fake.calls("POST", "/prompt")
    assert sent["prompt"]["5"]["inputs"]["batch_size"] == 4 and sent["prompt"]["3"]["inputs"]["seed"] == 42
    rows = sorted(ImageOutput.objects.filter(pk__in=[o.pk for o in outputs]), key=lambda o: o.pk)
    assert [o.status for o in rows] == [OutputStatus.SUCCEEDED] * 4
    assert [o.attempts for o in rows] == [1] * 4
    for index, row in enumerate(rows):
        assert (row.seed, row.provider_metadata["batch_index"], row.provider_metadata["batch_size"]) == (42, index, 4)
        assert row.setting_snapshot["extra"]["batch_index"] == index
        assert stored_pixels(row) == made_by_comfy(42, index)
    assert len({stored_pixels(row) for row in rows}) == 4

    # Image 3 made again from what its row recorded: the same pixels, in one more run.
    plan = generation.Plan(provider=get_provider("comfy"),
                           request=generation.request_from_snapshot(rows[2].setting_snapshot))
    [again] = generation.queue_outputs(plan, prompt=rows[2].prompt)
    generation.execute([again])
    again.refresh_from_db()
    assert stored_pixels(again) == stored_pixels(rows[2])
    assert len(fake.calls("POST", "/prompt")) == 2


@pytest.mark.django_db
def test_the_rest_of_a_half_finished_batch_is_one_run_of_that_batch(fake):
    plan = generation.build_request(prompt_text="a lighthouse", provider="comfy", n=4, overrides={**SIZE, "seed": 7})
    rows = generation.queue_outputs(plan, prompt=None)
    # Images 1 and 3 are already final (made, or failed for good): 2 and 4 are left.
    ImageOutput.objects.filter(pk__in=[rows[0].pk, rows[2].pk]).update(status=OutputStatus.FAILED,
                                                                       error="made elsewhere")

    assert generate_output.apply((rows[1].pk,)).get() == OutputStatus.SUCCEEDED
    assert generate_output.apply((rows[3].pk,)).get() == "finished"  # made by the first task

    [sent] = fake.calls("POST", "/prompt")
    assert sent["prompt"]["5"]["inputs"]["batch_size"] == 4  # image k of 4 is only made in a batch of 4
    second, fourth = ImageOutput.objects.get(pk=rows[1].pk), ImageOutput.objects.get(pk=rows[3].pk)
    assert (second.provider_metadata["batch_index"], fourth.provider_metadata["batch_index"]) == (1, 3)
    assert stored_pixels(second) == made_by_comfy(7, 1) and stored_pixels(fourth) == made_by_comfy(7, 3)


@pytest.mark.django_db
def test_the_prompt_id_is_on_the_row_before_the_prompt_is_sent(fake):
    plan = generation.build_request(prompt_text="a lighthouse", provider="comfy", overrides=SIZE)
    [row] = generation.queue_outputs(plan, prompt=None)
    [claimed] = generation.claim([row])
    seen_at_record: list[tuple[dict, int]] = []
    writer = generation.progress_writer([claimed], alias="comfy")
    record = writer.submitted

    def submitted(job):
        record(job)
        stored = ImageOutput.objects.get(pk=row.pk).provider_metadata.get("job")
        seen_at_record.append((stored, len(fake.calls("POST", "/prompt"))))

    writer.submitted = submitted
    result = get_provider("comfy").run(plan.request, progress=writer)

    [(stored, prompts_before)] = seen_at_record
    assert prompts_before == 0  # written first, sent after
    assert stored == {"provider": "comfy", "prompt_id": result.request_id}
    assert fake.calls("POST", "/prompt")[0]["prompt_id"] == result.request_id


@pytest.mark.django_db(transaction=True)
def test_the_reconciler_cancels_the_prompt_of_a_stale_running_image_and_only_that_one(fake, settings):
    """The worker here is a thread that stays alive; the killed-worker case with a real
    Celery worker is in test_comfy_worker.py."""
    fake.behave(Behaviour(hold=True, steps=2))
    plan = generation.build_request(prompt_text="a lighthouse", provider="comfy", overrides=SIZE)
    [row] = generation.queue_outputs(plan, prompt=None)
    def work() -> None:
        try:
            generation.execute([row], plan=plan)
        finally:
            connection.close()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    _wait_until(lambda: fake.running is not None)
    ours = fake.running.prompt_id
    other = fake_prompt(fake, "someone-else")  # another client's prompt, queued behind ours
    assert ImageOutput.objects.get(pk=row.pk).provider_metadata["job"] == {"provider": "comfy", "prompt_id": ours}
    ImageOutput.objects.filter(pk=row.pk).update(
        started_at=timezone.now() - timedelta(seconds=blogimages_settings.TASK_STALE_AFTER + 60))
    assert fake.calls("POST", "/interrupt") == [] and fake.calls("POST", "/queue") == []

    report = reconcile.reconcile()

    assert report.taken_over == [row.pk] and report.cancelled == [row.pk]
    assert fake.calls("POST", "/interrupt")[0] == {"prompt_id": ours}
    assert fake.calls("POST", "/queue")[0] == {"delete": [ours]}
    assert all(body == {"prompt_id": ours} for body in fake.calls("POST", "/interrupt"))
    assert all(other not in (body.get("delete") or ()) for body in fake.calls("POST", "/queue"))
    worker.join(20)
    _wait_until(lambda: other in fake.history)
    assert fake.history[ours]["status"]["status_str"] == "error"  # interrupted
    assert fake.history[other]["status"]["status_str"] == "success"  # theirs ran
    # Queued again (inline here) and made once, by the attempt the reconciler started.
    row.refresh_from_db()
    assert row.status == OutputStatus.SUCCEEDED and row.attempts == 3
    assert "job" not in row.provider_metadata


def fake_prompt(fake: FakeComfy, client_id: str) -> str:
    import requests

    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "other"}}}
    answer = requests.post(f"{fake.url}/prompt", json={"prompt": graph, "client_id": client_id}, timeout=5)
    answer.raise_for_status()
    return answer.json()["prompt_id"]


def _wait_until(condition, timeout: float = 20) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_comfyui_cancel_job_without_a_prompt_id_asks_nothing(fake):
    assert get_provider("comfy").cancel_job({}) is False
    assert fake.requests == []


def test_a_request_reaches_the_provider_as_image_k_only_when_it_is_alone(fake):
    rows = [ImageOutput(pk=i, setting_snapshot={"seed": 1, "extra": {"batch_index": i, "batch_size": 4}})
            for i in (1, 3)]
    single = GenerationRequest(prompt="x", n=1, seed=1, extra={"batch_index": 1, "batch_size": 4})
    plan = generation.Plan(provider=get_provider("comfy"), request=single)
    request, indexes = generation.call_request(plan, rows)
    assert (request.n, dict(request.extra), indexes) == (4, {}, [1, 3])
    request, indexes = generation.call_request(plan, rows[1:])
    assert (request.n, dict(request.extra), indexes) == (1, {"batch_index": 3, "batch_size": 4}, [3])


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_task_that_takes_over_a_stale_claim_cancels_the_dead_attempts_prompt(fake):
    """A killed worker's message comes back to another worker before the reconciler runs:
    the task takes the stale claim over, and stops what the dead attempt left running."""
    fake.behave(Behaviour(hold=True))
    left_running = fake_prompt(fake, "the-dead-worker")
    _wait_until(lambda: fake.running is not None and fake.running.prompt_id == left_running)
    plan = generation.build_request(prompt_text="a lighthouse", provider="comfy", overrides=SIZE)
    [row] = generation.queue_outputs(plan, prompt=None)
    stale = timezone.now() - timedelta(seconds=blogimages_settings.TASK_STALE_AFTER + 60)
    ImageOutput.objects.filter(pk=row.pk).update(status=OutputStatus.RUNNING, attempts=1, started_at=stale,
                                                 provider_metadata={"job": {"provider": "comfy",
                                                                            "prompt_id": left_running}})

    assert generate_output.apply((row.pk,)).get() == OutputStatus.SUCCEEDED

    assert fake.calls("POST", "/interrupt") == [{"prompt_id": left_running}]
    assert fake.calls("POST", "/queue") == [{"delete": [left_running]}]
    assert fake.history[left_running]["status"]["status_str"] == "error"
    row.refresh_from_db()
    assert row.attempts == 2 and "job" not in row.provider_metadata
