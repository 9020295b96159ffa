"""GeminiProvider against a loopback stand-in of the Gemini API, through the real google-genai SDK."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from decimal import Decimal

import pytest
from PIL import Image
from werkzeug import Response

from blogimages.exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
    UnsupportedFeature,
)
from blogimages.providers.base import GenerationRequest
from blogimages.providers.gemini import GeminiProvider

from .gemini_server import (
    API_KEY,
    GeminiStandIn,
    error_body,
    image_answer,
    png,
    quota_error,
    usage_metadata,
)
from .openai_server import unused_port


@pytest.fixture
def stand_in(httpserver) -> GeminiStandIn:
    return GeminiStandIn(httpserver)


@pytest.fixture
def make_provider(stand_in):
    made: list[GeminiProvider] = []

    def make(**options) -> GeminiProvider:
        provider = GeminiProvider(
            alias="gemini", options={"api_key": API_KEY, "base_url": stand_in.base_url, "timeout": 5, **options}
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider) -> GeminiProvider:
    return make_provider()


def ask(**fields) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse at dusk", **fields})


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# -- success ------------------------------------------------------------------------------


def test_generate_sends_the_real_request_shape_and_reads_inline_data(stand_in, provider):
    result = provider.run(ask())

    [body] = stand_in.requests
    assert body["contents"] == [{"parts": [{"text": "a lighthouse at dusk"}], "role": "user"}]
    assert body["generationConfig"] == {
        "candidateCount": 1,
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
    }
    assert stand_in.headers[0]["X-Goog-Api-Key"] == API_KEY
    assert result.model == "gemini-3.1-flash-image"
    assert result.request_id == "resp-1"
    [image] = result.images
    assert image.mime_type == "image/png"
    assert opened(image.data).size == (1024, 1024)
    assert image.metadata["generated_size"] == "1024x1024" and "fit" not in image.metadata


def test_usage_is_recorded_in_openai_shape_and_priced_by_token_type(stand_in, provider):
    result = provider.run(ask())

    usage = result.usage
    prompt_tokens = len("a lighthouse at dusk") // 4 + 1
    assert usage["calls"] == 1
    assert usage["input_tokens"] == prompt_tokens
    assert usage["input_tokens_details"] == {"text_tokens": prompt_tokens, "image_tokens": 0}
    assert usage["output_tokens"] == 1120 + 180  # the image and the thinking
    assert usage["output_tokens_details"] == {"text_tokens": 180, "image_tokens": 1120}
    assert usage["total_tokens"] == prompt_tokens + 1120 + 180
    # 3.1 Flash Image: text in $0.50, text/thinking out $3, image out $60 per 1M tokens.
    expected = (prompt_tokens * Decimal("0.50") + 180 * Decimal("3.00") + 1120 * Decimal("60")) / 1_000_000
    assert Decimal(usage["cost_usd"]) == expected.quantize(Decimal("0.0001"))
    assert usage["cost_basis"] == "usage"
    # The same price from the record alone (the hook the base class calls to price a result).
    assert provider.cost_from_usage(ask(model=result.model), usage) == Decimal(usage["cost_usd"])
    assert provider.cost_from_usage(ask(model=result.model), {"calls": 1}) is None
    json.dumps(usage)  # stored in a JSONField as it is


def test_n_images_are_n_calls_with_usage_counted_once(stand_in, provider):
    result = provider.run(ask(n=3))

    assert len(stand_in.requests) == 3
    assert all(r["generationConfig"]["candidateCount"] == 1 for r in stand_in.requests)
    assert len(result.images) == 3
    assert [image.metadata["index"] for image in result.images] == [0, 1, 2]
    assert result.request_id == "resp-1,resp-2,resp-3"
    assert result.usage["calls"] == 3
    assert result.usage["output_tokens_details"]["image_tokens"] == 3 * 1120


def test_a_failed_later_call_keeps_the_images_already_made(stand_in, provider, caplog):
    stand_in.then_answer(image_answer(png((1024, 1024)), model="gemini-3.1-flash-image",
                                      usage=usage_metadata(prompt_tokens=6, image_tokens=1120)))
    stand_in.then_answer(error_body(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"),
                         status=503)

    result = provider.run(ask(n=3))

    assert len(stand_in.requests) == 2  # no third call after a failure
    assert len(result.images) == 1
    assert result.usage["calls"] == 1
    assert "call 2 of 3 failed, keeping 1 image(s)" in caplog.text


@pytest.mark.parametrize(
    ("model", "size", "aspect", "tier", "generated"),
    [
        ("gemini-3.1-flash-image", (1200, 630), "16:9", "1K", "1376x768"),
        ("gemini-3.1-flash-image", (1600, 900), "16:9", "2K", "2752x1536"),
        ("gemini-3.1-flash-image", (1080, 1350), "4:5", "2K", "1856x2304"),
        ("gemini-3.1-flash-image", (500, 2000), "1:4", "1K", "512x2048"),
        ("gemini-3-pro-image", (500, 2000), "9:16", "2K", "1536x2752"),
        ("gemini-3-pro-image", (2560, 1080), "21:9", "2K", "3168x1344"),
        ("gemini-2.5-flash-image", (1600, 900), "16:9", "", "1344x768"),
    ],
    ids=["social-card", "demo-1600x900", "portrait-4:5", "tall-flash", "tall-pro", "ultrawide", "old-flash-upscale"],
)
def test_the_requested_size_maps_to_the_nearest_aspect_and_is_fitted_exactly(
    stand_in, provider, model, size, aspect, tier, generated
):
    result = provider.run(ask(model=model, width=size[0], height=size[1]))

    image_config = stand_in.requests[0]["generationConfig"]["imageConfig"]
    assert image_config.get("aspectRatio") == aspect
    assert image_config.get("imageSize", "") == tier  # 2.5 Flash takes no imageSize
    [image] = result.images
    picture = opened(image.data)
    assert picture.size == size and picture.format == "PNG"
    assert image.metadata["generated_size"] == generated
    assert image.metadata["requested_size"] == f"{size[0]}x{size[1]}"
    assert image.metadata["fit"] == "centre-crop+resize"
    # A centre crop keeps the middle of the picture (the stand-in paints it orange).
    assert picture.convert("RGB").getpixel((size[0] // 2, size[1] // 2)) == (255, 165, 0)


def test_extra_pins_the_aspect_and_the_tier(stand_in, provider):
    provider.run(ask(width=1024, height=1024, extra={"aspect_ratio": "4:3", "image_size": "2K"}))

    assert stand_in.requests[0]["generationConfig"]["imageConfig"] == {"aspectRatio": "4:3", "imageSize": "2K"}


def test_interim_thought_images_are_skipped_and_text_is_kept(stand_in, provider):
    final = png((1024, 1024), color="navy")
    stand_in.then_answer(image_answer(final, model="gemini-3-pro-image", text="Here is your lighthouse.",
                                      thought_image=png((1024, 1024), color="gray")))

    [image] = provider.run(ask(model="gemini-3-pro-image")).images

    assert image.data == final
    assert image.metadata["text"] == "Here is your lighthouse."


def test_a_jpeg_answer_keeps_its_type(stand_in, provider):
    buffer = io.BytesIO()
    Image.new("RGB", (1376, 768), "teal").save(buffer, format="JPEG")
    stand_in.then_answer(image_answer(buffer.getvalue(), model="gemini-3.1-flash-image", mime_type="image/jpeg"))

    [image] = provider.run(ask(width=1200, height=630)).images

    assert image.mime_type == "image/jpeg"
    assert opened(image.data).format == "JPEG" and opened(image.data).size == (1200, 630)


# -- reference images (edits) ---------------------------------------------------------------


def test_edit_sends_reference_images_inline_before_the_prompt(stand_in, provider):
    source = png((640, 480), color="white")
    style = png((256, 256), color="black")

    result = provider.edit(ask(prompt="make the sky stormy", width=640, height=480), images=[source, style])

    [content] = stand_in.requests[0]["contents"]
    inline = [part.get("inlineData") or part.get("inline_data") for part in content["parts"][:2]]
    # The SDK sends URL-safe base64, which the API accepts as well as the standard alphabet.
    assert [base64.urlsafe_b64decode(part["data"]) for part in inline] == [source, style]
    assert [part.get("mimeType") or part.get("mime_type") for part in inline] == ["image/png", "image/png"]
    assert content["parts"][2] == {"text": "make the sky stormy"}
    assert stand_in.requests[0]["generationConfig"]["imageConfig"]["aspectRatio"] == "4:3"
    assert opened(result.images[0].data).size == (640, 480)
    assert result.usage["input_tokens_details"]["image_tokens"] == 2 * 560


def test_reference_limits_are_checked_before_any_call(stand_in, provider):
    assert provider.max_reference_images("gemini-2.5-flash-image") == 3
    assert provider.max_reference_images("gemini-3-pro-image") == 14

    with pytest.raises(UnsupportedFeature, match="4 reference images given; gemini-2.5-flash-image takes at most 3"):
        provider.edit(ask(model="gemini-2.5-flash-image"), images=[png((8, 8))] * 4)
    with pytest.raises(UnsupportedFeature, match="reference image 2 is not a PNG, JPEG or WebP image"):
        provider.edit(ask(), images=[png((8, 8)), b"GIF89a not really"])
    with pytest.raises(UnsupportedFeature, match="an edit needs at least one image"):
        provider.edit(ask(), images=[])
    assert stand_in.requests == []


# -- safety ---------------------------------------------------------------------------------


def test_a_blocked_prompt_is_content_refused(stand_in, provider):
    stand_in.then_answer({
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "The prompt was blocked."},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": "gemini-3.1-flash-image", "responseId": "resp-blocked",
    })

    with pytest.raises(ContentRefused, match=r"blocked by Gemini's safety system \(PROHIBITED_CONTENT\)") as caught:
        provider.run(ask())
    assert not caught.value.retryable
    assert caught.value.code == "PROHIBITED_CONTENT"
    assert caught.value.request_id == "resp-blocked"


@pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT"])
def test_a_safety_finish_reason_without_an_image_is_content_refused(stand_in, provider, reason):
    stand_in.then_answer({
        "candidates": [{"finishReason": reason, "index": 0}],
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": "gemini-3.1-flash-image",
    })

    with pytest.raises(ContentRefused, match=reason) as caught:
        provider.run(ask())
    assert not caught.value.retryable
    assert caught.value.code == reason


def test_a_text_only_answer_is_a_permanent_failure_that_keeps_the_text(stand_in, provider):
    stand_in.then_answer({
        "candidates": [{"content": {"parts": [{"text": "Which lighthouse do you mean?"}], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "modelVersion": "gemini-3.1-flash-image",
    })

    with pytest.raises(ProviderBadRequest, match="answered without an image .*Which lighthouse do you mean"):
        provider.run(ask())


def test_a_refusal_in_words_is_content_refused(stand_in, provider):
    stand_in.then_answer({
        "candidates": [{
            "content": {"parts": [{"text": "I can't make that image: it goes against the safety guidelines."}],
                        "role": "model"},
            "finishReason": "NO_IMAGE", "index": 0,
        }],
    })

    with pytest.raises(ContentRefused, match="NO_IMAGE"):
        provider.run(ask())


# -- errors from the API ---------------------------------------------------------------------


def test_quota_429_is_retryable_with_the_retry_info_delay(stand_in, provider):
    stand_in.then_answer(quota_error("32s"), status=429)

    with pytest.raises(ProviderRateLimited, match=r"retry after 32 s.*You exceeded your current quota") as caught:
        provider.run(ask())
    assert caught.value.retryable
    assert caught.value.retry_after == 32.0
    assert caught.value.status_code == 429 and caught.value.code == "RESOURCE_EXHAUSTED"


def test_429_without_retry_info_uses_the_retry_after_header(stand_in, provider):
    stand_in.then_answer(error_body(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"),
                         status=429, headers={"Retry-After": "7"})

    with pytest.raises(ProviderRateLimited) as caught:
        provider.run(ask())
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("status", "rpc", "message"),
    [
        (500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                          "https://developers.generativeai.google/guide/troubleshooting"),
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
    ],
)
def test_server_errors_are_retryable(stand_in, provider, status, rpc, message):
    stand_in.then_answer(error_body(status, message, rpc), status=status)

    with pytest.raises(ProviderServerError, match="server error: " + message[:20]) as caught:
        provider.run(ask())
    assert caught.value.retryable and caught.value.status_code == status


def test_a_bad_key_is_permanent_and_never_echoed(stand_in, make_provider, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "AIzaSy-wrong-key-0000000000000"
    provider = make_provider(api_key=wrong)

    with pytest.raises(ProviderAuthError, match="authentication failed: API key not valid") as caught:
        provider.run(ask())

    assert not caught.value.retryable
    assert caught.value.status_code == 400  # Google answers a bad key with 400 API_KEY_INVALID
    assert wrong not in str(caught.value) and wrong not in caught.value.response
    assert wrong not in caplog.text


def test_a_key_echoed_by_a_proxy_is_redacted(stand_in, provider, caplog):
    caplog.set_level(logging.DEBUG)
    stand_in.then_answer(error_body(403, f"Key {API_KEY} has no access to this model.", "PERMISSION_DENIED"),
                         status=403)

    with pytest.raises(ProviderAuthError, match="permission denied") as caught:
        provider.run(ask())

    assert API_KEY not in str(caught.value) and API_KEY not in caught.value.response
    assert API_KEY not in caplog.text
    assert "[redacted]" in str(caught.value)


def test_an_unknown_model_is_a_bad_request(stand_in, make_provider):
    provider = make_provider(models=["gemini-9-image"])

    with pytest.raises(ProviderBadRequest, match="models/gemini-9-image is not found") as caught:
        provider.run(ask(model="gemini-9-image"))
    assert caught.value.status_code == 404 and not caught.value.retryable


def test_an_invalid_argument_is_a_bad_request(stand_in, provider):
    stand_in.then_answer(error_body(400, "Request contains an invalid argument.", "INVALID_ARGUMENT"), status=400)

    with pytest.raises(ProviderBadRequest, match="bad request: Request contains an invalid argument"):
        provider.run(ask())


# -- transport and payload failures ----------------------------------------------------------


def test_timeout_is_retryable(stand_in, make_provider):
    provider = make_provider(timeout=0.5, models=["gemini-3.1-flash-image"])
    release = threading.Event()

    def stall(request, payload):
        release.wait(10)
        return Response("{}", content_type="application/json")

    stand_in.then_handle(stall)
    try:
        with pytest.raises(ProviderTimeout, match="no answer within 0.5 s") as caught:
            provider.run(ask())
    finally:
        release.set()
    assert isinstance(caught.value, ProviderUnavailable)


def test_connection_refused_is_retryable():
    provider = GeminiProvider(alias="gemini", options={"api_key": API_KEY,
                                                       "base_url": f"http://127.0.0.1:{unused_port()}"})
    try:
        with pytest.raises(ProviderTimeout, match=r"connection to http://127.0.0.1:\d+ failed") as caught:
            provider.run(ask())
    finally:
        provider.close()
    assert caught.value.retryable
    # The listing failed too: the built-in models were offered meanwhile.
    assert provider.capabilities().models == ("gemini-3.1-flash-image", "gemini-3-pro-image", "gemini-2.5-flash-image")


@pytest.mark.parametrize(
    ("body", "content_type", "error", "message"),
    [
        ('{"candidates": [', "application/json", ProviderServerError, "not valid JSON"),
        ("{}", "application/json", ProviderServerError, "no candidates"),
        ('{"candidates": [{"finishReason": "STOP", "index": 0}]}', "application/json", ProviderServerError,
         "no image"),
        ('{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "not*base64!"}}]}}]}',
         "application/json", ProviderServerError, "not valid JSON"),
    ],
    ids=["truncated-json", "empty-object", "no-parts", "bad-base64"],
)
def test_malformed_answers_are_server_errors(stand_in, provider, body, content_type, error, message):
    stand_in.then_answer(body, content_type=content_type)

    with pytest.raises(error, match=message) as caught:
        provider.run(ask())
    assert caught.value.retryable


def test_non_image_bytes_pass_through_for_the_app_to_reject(stand_in, provider):
    stand_in.then_answer(image_answer(b"this is not an image", model="gemini-3.1-flash-image"))

    [image] = provider.run(ask(width=1200, height=630)).images

    assert image.data == b"this is not an image"
    assert image.mime_type == "application/octet-stream"
    assert "generated_size" not in image.metadata


# -- validation before any call ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ask(n=5), "n=5 is not allowed; allowed: 1 to 4"),
        (ask(width=5000, height=1000), "size 5000x1000 is not allowed; allowed: 64 to 4096 px a side"),
        (ask(negative_prompt="fog"), "does not take a negative prompt"),
        (ask(seed=3), "does not take a seed"),
        (ask(model="gemini-9-image"), "choose one of: gemini-3.1-flash-image, gemini-3-pro-image, gemini-2.5-flash"),
        (ask(extra={"steps": 4}), "does not take steps; extra parameters allowed: aspect_ratio, image_size"),
        (ask(model="gemini-3-pro-image", extra={"aspect_ratio": "1:8"}), "aspect ratio '1:8' is not offered"),
        (ask(model="gemini-2.5-flash-image", extra={"image_size": "2K"}), "none \\(this model has one resolution\\)"),
        (ask(output_format="webp"), "output format 'webp' is not offered"),
    ],
    ids=["n", "size", "negative", "seed", "model", "extra", "aspect", "tier", "format"],
)
def test_invalid_requests_fail_before_any_generation_call(stand_in, provider, request_, message):
    with pytest.raises(UnsupportedFeature, match=message):
        provider.run(request_)
    assert stand_in.requests == []


def test_every_problem_is_named_at_once(stand_in, provider):
    with pytest.raises(UnsupportedFeature, match="n=9 is not allowed.*; this model does not take steps"):
        provider.run(ask(n=9, extra={"steps": 4}))


# -- models, capabilities, prices, configuration -----------------------------------------------


def test_models_come_from_the_api_and_are_cached(stand_in, provider):
    caps = provider.capabilities()
    provider.capabilities("gemini-3-pro-image")

    # Text and Imagen models are not offered; the listing is asked once.
    assert caps.models == ("gemini-3.1-flash-image", "gemini-3-pro-image", "gemini-2.5-flash-image")
    assert stand_in.list_calls == 1
    assert caps.default_model == "gemini-3.1-flash-image"
    assert caps.allows_size(1200, 630) and not caps.allows_size(4097, 1000)


def test_configured_models_are_used_without_asking(stand_in, make_provider):
    provider = make_provider(models=["gemini-3-pro-image"])

    assert provider.capabilities().models == ("gemini-3-pro-image",)
    assert provider.default_model() == "gemini-3-pro-image"
    assert stand_in.list_calls == 0


def test_native_sizes_are_exposed_per_model(provider):
    assert (1376, 768) in provider.native_sizes("gemini-3.1-flash-image")
    assert (5504, 3072) in provider.native_sizes("gemini-3-pro-image")
    assert provider.native_sizes("gemini-2.5-flash-image")[0] == (1024, 1024)
    assert len(provider.native_sizes("gemini-2.5-flash-image")) == 10


@pytest.mark.parametrize(
    ("request_", "cost"),
    [
        (ask(), "0.0672"),                                    # 1120 tokens x $60/1M + the prompt
        (ask(n=2), "0.1344"),
        (ask(model="gemini-3-pro-image", width=3000, height=3000), "0.2400"),  # 4K: 2000 tokens x $120/1M
        (ask(model="gemini-2.5-flash-image"), "0.0387"),
    ],
)
def test_cost_estimates_before_a_call(provider, request_, cost):
    assert provider.estimate_cost(request_) == Decimal(cost)


def test_an_answer_without_usage_is_priced_by_estimate(stand_in, provider):
    stand_in.then_answer(image_answer(png((1024, 1024)), model="gemini-3.1-flash-image"))

    usage = provider.run(ask()).usage

    assert usage == {"calls": 1, "cost_usd": "0.0672", "cost_basis": "estimate"}


def test_prices_option_overrides_the_table_and_unknown_models_are_unpriced(make_provider):
    provider = make_provider(prices={"gemini-3.1-flash-image": {"image_output": "30"}}, models=["gemini-x-image"])

    assert provider.estimate_cost(ask(model="gemini-3.1-flash-image")) == Decimal("0.0336")
    assert provider.estimate_cost(ask(model="gemini-x-image")) is None


def test_a_provider_without_a_key_cannot_be_built():
    with pytest.raises(InvalidProviderError, match="no api_key configured"):
        GeminiProvider(alias="gemini", options={})


def test_registered_from_the_environment_only_when_the_key_is_set(monkeypatch):
    import importlib

    import config.settings as site_settings

    try:
        monkeypatch.delenv("GEMINI_API_KEY", raising=False)
        assert "gemini" not in importlib.reload(site_settings).BLOGIMAGES_PROVIDERS
        monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
        monkeypatch.setenv("GEMINI_BASE_URL", "http://127.0.0.1:9/")
        entry = importlib.reload(site_settings).BLOGIMAGES_PROVIDERS["gemini"]
        assert entry["BACKEND"] == "blogimages.providers.gemini.GeminiProvider"
        assert entry["OPTIONS"]["api_key"] == API_KEY
        assert entry["OPTIONS"]["base_url"] == "http://127.0.0.1:9/"
    finally:
        monkeypatch.undo()
        importlib.reload(site_settings)


def test_configured_through_the_registry(stand_in, settings):
    settings.BLOGIMAGES_PROVIDERS = {
        "gemini": {"BACKEND": "blogimages.providers.gemini.GeminiProvider",
                   "OPTIONS": {"api_key": API_KEY, "base_url": stand_in.base_url, "timeout": 5}},
    }
    from blogimages.providers import get_provider

    provider = get_provider("gemini")
    result = provider.run(ask(width=1200, height=630))

    assert isinstance(provider, GeminiProvider)
    assert opened(result.images[0].data).size == (1200, 630)



def test_the_apps_edit_sends_the_source_then_the_references_inline(stand_in, provider):
    from blogimages.providers.base import EditRequest

    source, style = png((640, 480), color="white"), png((256, 256), color="black")
    caps = provider.capabilities("gemini-2.5-flash-image")
    assert caps.supports_edit and not caps.supports_mask and caps.max_references == 2
    result = provider.run_edit(EditRequest(request=ask(prompt="stormy sky", width=640, height=480,
                                                       model="gemini-2.5-flash-image"),
                                           image=source, references=(style,)))
    [content] = stand_in.requests[0]["contents"]
    inline = [part.get("inlineData") or part.get("inline_data") for part in content["parts"][:2]]
    assert [base64.urlsafe_b64decode(part["data"]) for part in inline] == [source, style]
    assert content["parts"][2] == {"text": "stormy sky"}
    assert opened(result.images[0].data).size == (640, 480)
    with pytest.raises(UnsupportedFeature, match="does not take a mask"):
        provider.run_edit(EditRequest(request=ask(width=640, height=480), image=source, mask=png((640, 480))))
    assert len(stand_in.requests) == 1
