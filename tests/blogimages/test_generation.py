import hashlib
import io
import json
from decimal import Decimal

import pytest
from django.db import IntegrityError
from PIL import Image

from blogimages import generation
from blogimages.exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    UnsupportedFeature,
)
from blogimages.models import ImageOutput, ImagePrompt
from blogimages.storage import get_storage
from tests.conftest import png_bytes
from tests.factories import ImageSettingFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db


def stored_names(media_root) -> list[str]:
    import os

    found = []
    for root, _dirs, files in os.walk(media_root):
        found += [os.path.relpath(os.path.join(root, f), media_root) for f in files]
    return sorted(found)


def test_generate_stores_original_thumbnail_sidecar_and_row(recorder, _media_root):
    user = UserFactory()
    setting = ImageSettingFactory(width=640, height=480, steps=20)
    [out] = generation.generate(prompt="A lighthouse at dusk", setting=setting, user=user)

    out.refresh_from_db()
    assert out.status == "succeeded" and out.error == ""
    assert (out.width, out.height) == (640, 480)
    assert out.created_by == user and out.prompt.author == user
    data = out.file.read()
    assert out.sha256 == hashlib.sha256(data).hexdigest() and out.bytes == len(data)
    assert out.file.name.startswith("blogimages/tests/") and out.file.name.endswith(f"-a-lighthouse-at-dusk-{out.short_id}.png")
    assert out.thumbnail.name == out.file.name[:-4] + ".thumb.webp"
    assert out.sidecar.name == out.file.name[:-4] + ".json"
    with Image.open(out.thumbnail) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) <= 384
    sidecar = json.loads(out.sidecar.read())
    assert sidecar["sha256"] == out.sha256
    assert sidecar["prompt"] == "A lighthouse at dusk"
    assert sidecar["parameters"]["steps"] == 20 and sidecar["seed"] == out.seed
    assert out.queued_at <= out.started_at <= out.finished_at
    assert out.provider_ms is not None and out.cost_estimate == Decimal("0.04")
    # The request the provider saw carries the setting and the fixed seed.
    [request] = recorder.requests
    assert (request.width, request.height, request.steps, request.seed) == (640, 480, 20, out.seed)
    assert len(stored_names(_media_root)) == 3


def test_n_images_get_consecutive_seeds_and_one_provider_call(recorder):
    outputs = generation.generate(prompt="Waves", overrides={"seed": 41, "width": 32, "height": 32}, n=3)
    assert [o.seed for o in outputs] == [41, 42, 43]
    assert len({o.sha256 for o in outputs}) == 3
    assert len(recorder.requests) == 1 and recorder.requests[0].n == 3


def test_random_seed_is_fixed_before_the_call_and_recorded(recorder):
    [out] = generation.generate(prompt="Waves", overrides={"width": 32, "height": 32})
    assert out.seed is not None and recorder.requests[0].seed == out.seed
    assert out.setting_snapshot["seed"] == out.seed


def test_post_images_go_to_the_post_folder(recorder):
    post = PostFactory(slug="my-trip")
    [out] = generation.generate(prompt="Harbour", post=post, section_key="arrival", overrides={"width": 32, "height": 32})
    assert out.file.name == f"blogimages/posts/my-trip/arrival-{out.short_id}.png"
    assert json.loads(out.sidecar.read())["post"] == "my-trip"


def test_prompt_parts_reach_the_provider(recorder):
    prompt = ImagePrompt(description="A fox", style="watercolor", format="square", negative_prompt="text")
    generation.generate(prompt=prompt, overrides={"width": 32, "height": 32})
    [request] = recorder.requests
    assert request.prompt == "A fox. watercolor. square"
    assert (request.prompt_description, request.prompt_style, request.prompt_format) == ("A fox", "watercolor", "square")
    assert request.negative_prompt == "text"


@pytest.mark.parametrize(
    "error, fragment",
    [
        (ProviderRateLimited("Rate limit reached", retry_after=20, status_code=429), "Rate limit reached (HTTP 429)"),
        (ProviderServerError("upstream exploded", status_code=503), "upstream exploded"),
        (ProviderTimeout("timed out after 120 s"), "timed out after 120 s"),
        (ContentRefused("Your request was rejected by the safety system", status_code=400), "safety system"),
    ],
)
def test_provider_error_gives_failed_output_with_reason_and_no_files(recorder, _media_root, error, fragment):
    recorder.script(error)
    [out] = generation.generate(prompt="Anything", overrides={"width": 32, "height": 32})
    out.refresh_from_db()
    assert out.status == "failed"
    assert fragment in out.error and out.error.startswith("test: ")
    assert not out.file and stored_names(_media_root) == []


def test_non_image_bytes_fail_cleanly(recorder, _media_root):
    recorder.script(b"<html>Service unavailable</html>")
    [out] = generation.generate(prompt="Anything", overrides={"width": 32, "height": 32})
    assert out.status == "failed" and "not a valid image" in out.error
    assert stored_names(_media_root) == []


def test_truncated_image_fails_cleanly(recorder, _media_root):
    recorder.script(png_bytes(200, 200)[:-200])
    [out] = generation.generate(prompt="Anything", overrides={"width": 32, "height": 32})
    assert out.status == "failed" and "unusable image" in out.error
    assert stored_names(_media_root) == []


def test_decompression_bomb_is_refused(recorder, settings, _media_root):
    settings.BLOGIMAGES_MAX_IMAGE_PIXELS = 100 * 100
    recorder.script(png_bytes(200, 200))
    [out] = generation.generate(prompt="Anything", overrides={"width": 32, "height": 32})
    assert out.status == "failed" and "at most 10,000 are accepted" in out.error
    assert stored_names(_media_root) == []


def test_unexpected_provider_exception_still_fails_the_output(recorder):
    recorder.script(RuntimeError("bug in backend"))
    [out] = generation.generate(prompt="Anything", overrides={"width": 32, "height": 32})
    assert out.status == "failed" and "RuntimeError: bug in backend" in out.error


def test_invalid_request_raises_before_anything_is_stored(recorder):
    with pytest.raises(UnsupportedFeature, match="size 8x8 is not allowed"):
        generation.generate(prompt="x", overrides={"width": 8, "height": 8})
    with pytest.raises(UnsupportedFeature, match="n=11"):
        generation.generate(prompt="x", n=11)
    with pytest.raises(UnsupportedFeature, match="quality 'ultra' is not allowed; choose one of: standard, hd"):
        generation.generate(prompt="x", overrides={"quality": "ultra"})
    with pytest.raises(InvalidProviderError, match="'nope' is not configured"):
        generation.generate(prompt="x", provider="nope")
    assert ImageOutput.objects.count() == 0 and recorder.requests == []


def _one_result():
    return generation.GenerationResult(
        images=(generation.GeneratedImage(data=png_bytes(), mime_type="image/png"),), model="m"
    )


def test_database_failure_after_writing_removes_the_files(recorder, _media_root, monkeypatch):
    # A database failure after the files are written must not leave orphans behind.
    def broken_finish(output, fields):
        raise IntegrityError("simulated")

    plan = generation.build_request(prompt_text="x", overrides={"width": 32, "height": 32})
    [out] = generation.claim(generation.queue_outputs(plan, prompt=None))
    monkeypatch.setattr(generation, "_finish", broken_finish)
    result = _one_result()
    with pytest.raises(IntegrityError):
        generation.store_image(out, result.images[0], result)
    assert stored_names(_media_root) == []


def test_an_attempt_that_lost_its_claim_stores_nothing(recorder, _media_root):
    plan = generation.build_request(prompt_text="x", overrides={"width": 32, "height": 32})
    [out] = generation.claim(generation.queue_outputs(plan, prompt=None))
    # Another worker took the image over (a newer attempt): this attempt's result is void.
    ImageOutput.objects.filter(pk=out.pk).update(attempts=out.attempts + 1)
    result = _one_result()
    with pytest.raises(generation.LostClaim):
        generation.store_image(out, result.images[0], result)
    assert stored_names(_media_root) == []
    assert ImageOutput.objects.get(pk=out.pk).status == "running"


def test_finished_images_are_not_claimed_again(recorder):
    [out] = generation.generate(prompt="x", overrides={"width": 32, "height": 32})
    assert generation.execute([out]) == [] and len(recorder.requests) == 1


def test_delete_removes_files_after_commit(recorder, _media_root, django_capture_on_commit_callbacks):
    [out] = generation.generate(prompt="x", overrides={"width": 32, "height": 32})
    assert len(stored_names(_media_root)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        out.delete()
    assert stored_names(_media_root) == []


def test_fewer_images_than_asked_fails_the_rest(recorder):
    class Short(type(recorder)):
        def generate(self, request):
            result = super().generate(request)
            return generation.GenerationResult(images=result.images[:1], model=result.model)

    plan = generation.build_request(prompt_text="x", overrides={"width": 32, "height": 32}, n=2)
    plan = generation.Plan(provider=Short(alias="test"), request=plan.request)
    outputs = generation.queue_outputs(plan, prompt=None)
    generation.execute(outputs, plan=plan)
    assert [o.status for o in outputs] == ["succeeded", "failed"]
    assert "returned 1 image(s) for 2 requested" in outputs[1].error


def test_execute_can_requeue_on_retryable_errors(recorder):
    plan = generation.build_request(prompt_text="x", overrides={"width": 32, "height": 32})
    [out] = generation.queue_outputs(plan, prompt=None)
    recorder.script(ProviderRateLimited("slow down", retry_after=3))
    with pytest.raises(ProviderRateLimited):
        generation.execute([out], raise_retryable=True)
    out.refresh_from_db()
    assert out.status == "queued" and "slow down" in out.error and out.attempts == 1
    # The retry rebuilds the request from the stored snapshot: same seed, same size.
    generation.execute([out], raise_retryable=True)
    out.refresh_from_db()
    assert out.status == "succeeded" and out.attempts == 2
    assert recorder.requests[0].seed == recorder.requests[1].seed == out.seed


def test_provider_defaults_sit_under_setting_and_overrides(recorder, settings):
    settings.BLOGIMAGES_PROVIDERS["test"]["OPTIONS"] = {"defaults": {"steps": 11, "quality": "hd"}}
    from blogimages.providers import providers

    providers.reset()
    plan = generation.build_request(prompt_text="x", setting=ImageSettingFactory(steps=22), overrides={"width": 32, "height": 32})
    assert plan.request.steps == 22 and plan.request.quality == "hd"
    assert plan.cost_estimate == Decimal("0.08")


def test_files_are_saved_through_the_storage_api(recorder):
    [out] = generation.generate(prompt="x", overrides={"width": 32, "height": 32})
    assert get_storage().exists(out.file.name)
    with Image.open(io.BytesIO(get_storage().open(out.file.name).read())) as image:
        assert image.size == (32, 32)


def test_submit_queues_and_runs_inline_without_a_broker(recorder, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outputs = generation.submit(prompt="Queued", overrides={"width": 32, "height": 32}, n=2)
    for output in outputs:
        output.refresh_from_db()
    assert [o.status for o in outputs] == ["succeeded", "succeeded"]
    assert len(recorder.requests) == 2 and {r.n for r in recorder.requests} == {1}


def test_submit_leaves_outputs_queued_until_commit(recorder, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outputs = generation.submit(prompt="Queued", overrides={"width": 32, "height": 32})
    assert outputs[0].status == "queued" and len(callbacks) == 1 and recorder.requests == []


@pytest.mark.clock
def test_budget_refuses_before_the_provider_is_called(recorder, settings):
    from blogimages.budgets import BudgetExceeded

    user = UserFactory()
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.10"}
    generation.generate(prompt="x", overrides={"width": 32, "height": 32}, n=2, user=user)  # $0.08
    with pytest.raises(BudgetExceeded, match=r"over your daily budget \(\$0.10, \$0.08 already spent, \$0.02 left\)"):
        generation.generate(prompt="x", overrides={"width": 32, "height": 32}, user=user)
    assert len(recorder.requests) == 1
    # Another user has their own budget; a global one covers everybody.
    generation.generate(prompt="x", overrides={"width": 32, "height": 32}, user=UserFactory())
    settings.BLOGIMAGES_BUDGETS = {"global_monthly": "0.15"}
    with pytest.raises(BudgetExceeded, match="the site's monthly budget"):
        generation.generate(prompt="x", overrides={"width": 32, "height": 32}, user=UserFactory())


def test_stored_files_carry_their_provenance(recorder):
    from blogimages.imaging.provenance import read_provenance

    prompt = ImagePrompt(description='A <fox> & "hound"', negative_prompt="blur")
    [out] = generation.generate(prompt=prompt, overrides={"width": 32, "height": 32, "steps": 9})
    info = read_provenance(out.file.read())
    assert info["prompt"] == 'A <fox> & "hound"' and info["negative_prompt"] == "blur"
    assert info["provider"] == "test" and info["model"] == "recorder" and str(info["seed"]) == str(out.seed)
    assert info["digital_source_type"].endswith("trainedAlgorithmicMedia")
    # The recorded hash is of the stored bytes (with the provenance inside).
    out.file.seek(0)
    assert hashlib.sha256(out.file.read()).hexdigest() == out.sha256


def test_failure_kind_is_recorded_for_callers(recorder):
    recorder.script(ContentRefused("refused by the safety system", status_code=400, code="content_policy_violation"))
    [out] = generation.generate(prompt="x", overrides={"width": 32, "height": 32})
    assert out.provider_metadata["error"] == {
        "type": "ContentRefused", "retryable": False, "status_code": 400, "code": "content_policy_violation",
    }


def test_inline_generation_fails_cleanly_when_the_provider_never_frees_a_slot(recorder, settings):
    from blogimages.concurrency import provider_slot

    settings.REDIS_URL = ""
    recorder.max_concurrency, recorder.timeout = 1, 0.2
    with provider_slot(recorder):  # someone else holds the only slot
        [out] = generation.generate(prompt="x", overrides={"width": 32, "height": 32})
    out.refresh_from_db()
    assert out.status == "failed" and "slot" in out.error and recorder.requests == []


def test_an_answer_of_another_size_than_asked_is_fitted_and_both_sizes_recorded(recorder):
    from blogimages.providers.testing import solid_png

    recorder.script(solid_png(100, 50, 1))
    [output] = generation.generate(prompt="a wide answer", provider="test", overrides={"width": 64, "height": 64})
    output.refresh_from_db()
    assert output.status == "succeeded" and (output.width, output.height) == (64, 64)
    assert output.provider_metadata["generated_size"] == "100x50"
    assert output.provider_metadata["requested_size"] == "64x64"
