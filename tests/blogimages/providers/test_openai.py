"""OpenAIProvider against a loopback server speaking the Images API, through the real SDK."""

from __future__ import annotations

import io
import logging
import random
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
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
    UnsupportedFeature,
)
from blogimages.providers.base import GenerationRequest
from blogimages.providers.openai import VARIATION_MAX_BYTES, OpenAIProvider, retry_after_seconds, variation_png

from .openai_server import (
    API_KEY,
    GENERATIONS,
    b64,
    error_body,
    image_bytes,
    images_response,
    sent,
    sent_json,
    stalled_endpoint,
    unused_port,
)

PNG = image_bytes("PNG")


@pytest.fixture(autouse=True)
def _no_unexpected_requests(httpserver):
    yield
    httpserver.check_assertions()


@pytest.fixture
def make_provider(httpserver):
    made: list[OpenAIProvider] = []

    def make(**options) -> OpenAIProvider:
        provider = OpenAIProvider(
            alias="openai",
            options={"api_key": API_KEY, "base_url": httpserver.url_for("/v1"), "timeout": 5, **options},
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider) -> OpenAIProvider:
    return make_provider()


def dalle3(**fields) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse at dusk", "model": "dall-e-3", **fields})


def answer(httpserver, body, *, status: int = 200, headers: dict | None = None) -> None:
    httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_json(
        body, status=status, headers=headers or {}
    )


# -- success ------------------------------------------------------------------------------


def test_dalle3_sends_the_real_request_shape_and_reads_b64(httpserver, provider):
    answer(
        httpserver,
        images_response({"b64_json": b64(PNG), "revised_prompt": "A tall lighthouse at dusk."}),
        headers={"x-request-id": "req_123"},
    )

    result = provider.run(dalle3(width=1792, height=1024, quality="hd", style="natural", user="author-7"))

    request = sent(httpserver)
    assert request.method == "POST"
    assert request.path == "/v1/images/generations"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "OpenAI-Organization" not in request.headers
    assert sent_json(httpserver) == {
        "prompt": "a lighthouse at dusk",
        "model": "dall-e-3",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "natural",
        "user": "author-7",
        "response_format": "b64_json",
    }
    [image] = result.images
    assert image.data == PNG
    assert image.mime_type == "image/png"
    assert image.seed is None
    assert image.revised_prompt == "A tall lighthouse at dusk."
    assert image.metadata["source"] == "b64_json"
    assert result.model == "dall-e-3"
    assert result.request_id == "req_123"


def test_gpt_image_never_gets_response_format_or_style_and_records_usage(httpserver, provider):
    webp = image_bytes("WEBP")
    usage = {
        "input_tokens": 50,
        "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
        "output_tokens": 50,
        "total_tokens": 100,
    }
    answer(
        httpserver,
        images_response(
            {"b64_json": b64(webp)}, {"b64_json": b64(webp)},
            background="opaque", output_format="webp", size="1536x1024", quality="low", usage=usage,
        ),
    )

    result = provider.run(
        GenerationRequest(
            prompt="a map of the harbour", model="gpt-image-1", width=1536, height=1024, n=2,
            quality="low", output_format="webp", extra={"background": "opaque"},
        )
    )

    body = sent_json(httpserver)
    assert body == {
        "prompt": "a map of the harbour",
        "model": "gpt-image-1",
        "n": 2,
        "size": "1536x1024",
        "quality": "low",
        "output_format": "webp",
        "background": "opaque",
    }
    assert [image.mime_type for image in result.images] == ["image/webp", "image/webp"]
    assert result.usage == usage
    assert result.images[1].metadata == {
        "index": 1, "source": "b64_json", "created": 1713833628, "size": "1536x1024",
        "quality": "low", "background": "opaque", "output_format": "webp",
    }


def test_provider_defaults_fill_what_the_request_leaves_empty(httpserver, make_provider):
    provider = make_provider(defaults={"model": "dall-e-3", "quality": "hd", "style": "natural"})
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    provider.run(GenerationRequest(prompt="a quiet harbour", style="vivid"))

    body = sent_json(httpserver)
    assert (body["model"], body["quality"], body["style"]) == ("dall-e-3", "hd", "vivid")


def test_a_data_url_prefix_on_b64_json_is_accepted(httpserver, provider):
    answer(httpserver, images_response({"b64_json": "data:image/png;base64," + b64(PNG)}))

    [image] = provider.run(dalle3()).images

    assert image.data == PNG


def test_organization_header_is_sent_when_configured(httpserver, make_provider):
    provider = make_provider(organization="org-blog")
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    provider.run(dalle3())

    assert sent(httpserver).headers["OpenAI-Organization"] == "org-blog"


# -- url answers ------------------------------------------------------------------------


def test_url_answer_is_downloaded_from_a_loopback_url(httpserver, make_provider):
    provider = make_provider(response_format="url")
    image_url = httpserver.url_for("/files/img-1.png") + "?sig=signed-token"
    answer(httpserver, images_response({"url": image_url, "revised_prompt": None}))
    httpserver.expect_oneshot_request("/files/img-1.png", method="GET").respond_with_data(
        PNG, content_type="image/png"
    )

    [image] = provider.run(GenerationRequest(prompt="a red kite", model="dall-e-2", width=512, height=512)).images

    assert sent_json(httpserver)["response_format"] == "url"
    assert image.data == PNG
    assert image.mime_type == "image/png"
    # The signed query is a credential of sorts: it is not kept.
    assert image.metadata["url"] == httpserver.url_for("/files/img-1.png")
    download = sent(httpserver, 1)
    assert "Authorization" not in download.headers


def test_url_download_refuses_plain_http_to_a_remote_host(httpserver, make_provider):
    provider = make_provider(response_format="url")
    answer(httpserver, images_response({"url": "http://images.example.com/a.png"}))

    with pytest.raises(ProviderRejected, match="only https or a loopback"):
        provider.run(dalle3())
    assert len(httpserver.log) == 1


def test_url_download_follows_redirects_only_to_allowed_urls(httpserver, make_provider):
    provider = make_provider(response_format="url")
    answer(httpserver, images_response({"url": httpserver.url_for("/files/moved.png")}))
    httpserver.expect_oneshot_request("/files/moved.png").respond_with_response(
        Response(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    )

    with pytest.raises(ProviderRejected, match="169.254.169.254"):
        provider.run(dalle3())


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_url_download_stops_at_the_byte_cap(httpserver, make_provider, chunked):
    provider = make_provider(response_format="url", download_max_bytes=len(PNG) - 1)
    answer(httpserver, images_response({"url": httpserver.url_for("/files/big.png")}))
    body = (PNG[i : i + 16] for i in range(0, len(PNG), 16)) if chunked else PNG
    httpserver.expect_oneshot_request("/files/big.png").respond_with_response(
        Response(body, content_type="image/png")
    )

    with pytest.raises(ProviderRejected, match="byte limit") as caught:
        provider.run(dalle3())
    assert not caught.value.retryable


@pytest.mark.parametrize(("status", "error"), [(404, ProviderRejected), (503, ProviderServerError)])
def test_url_download_http_errors(httpserver, make_provider, status, error):
    provider = make_provider(response_format="url")
    answer(httpserver, images_response({"url": httpserver.url_for("/files/gone.png")}))
    httpserver.expect_oneshot_request("/files/gone.png").respond_with_data("nope", status=status)

    with pytest.raises(error) as caught:
        provider.run(dalle3())
    assert caught.value.status_code == status


# -- failures the server reports ----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: now
        ({}, None),
    ],
)
def test_rate_limit_is_retryable_with_its_retry_after(httpserver, provider, headers, retry_after):
    answer(
        httpserver,
        error_body("Rate limit reached for images per minute.", type="requests", code="rate_limit_exceeded"),
        status=429,
        headers={"x-request-id": "req_429", **headers},
    )

    with pytest.raises(ProviderRateLimited) as caught:
        provider.run(dalle3())

    error = caught.value
    assert error.retryable
    assert error.retry_after == retry_after
    assert "Rate limit reached for images per minute." in str(error)
    assert (error.status_code, error.code, error.request_id) == (429, "rate_limit_exceeded", "req_429")
    assert "rate_limit_exceeded" in error.response
    # max_retries defaults to 0: the task layer retries, the SDK must not.
    assert len(httpserver.log) == 1


def test_exhausted_quota_is_permanent(httpserver, provider):
    answer(
        httpserver,
        error_body("You exceeded your current quota.", type="insufficient_quota", code="insufficient_quota"),
        status=429,
    )

    with pytest.raises(ProviderAuthError, match="You exceeded your current quota") as caught:
        provider.run(dalle3())
    assert not caught.value.retryable


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(httpserver, provider, status):
    answer(
        httpserver,
        error_body("The server had an error while processing your request.", type="server_error"),
        status=status,
        headers={"retry-after": "3"},
    )

    with pytest.raises(ProviderServerError, match="The server had an error") as caught:
        provider.run(dalle3())
    assert caught.value.retryable
    assert caught.value.status_code == status
    assert caught.value.retry_after == 3.0
    assert len(httpserver.log) == 1


def test_a_non_json_error_page_keeps_its_text(httpserver, provider):
    httpserver.expect_oneshot_request(GENERATIONS).respond_with_data(
        "<html>502 Bad Gateway</html>", status=502, content_type="text/html"
    )

    with pytest.raises(ProviderServerError, match="502 Bad Gateway"):
        provider.run(dalle3())


@pytest.mark.parametrize(
    ("model", "code", "message"),
    [
        ("dall-e-3", "content_policy_violation",
         "Your request was rejected as a result of our safety system. Your prompt may contain text "
         "that is not allowed by our safety system."),
        ("gpt-image-1", "moderation_blocked",
         "Your request was rejected by the safety system. safety_violations=[violence]."),
    ],
)
def test_content_policy_refusal_is_permanent_and_keeps_the_message(httpserver, provider, model, code, message):
    answer(httpserver, error_body(message, type="image_generation_user_error", code=code), status=400)

    with pytest.raises(ContentRefused) as caught:
        provider.run(GenerationRequest(prompt="something refused", model=model))

    error = caught.value
    assert not error.retryable
    assert message in str(error)
    assert (error.status_code, error.code) == (400, code)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_client_errors_are_bad_requests(httpserver, provider, status):
    answer(httpserver, error_body("Invalid size for this model.", code="invalid_value"), status=status)

    with pytest.raises(ProviderBadRequest, match="Invalid size for this model") as caught:
        provider.run(dalle3())
    assert not caught.value.retryable


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_permanent(httpserver, provider, status):
    answer(httpserver, error_body("Incorrect API key provided: sk-test***CRET.", code="invalid_api_key"), status=status)

    with pytest.raises(ProviderAuthError, match="Incorrect API key provided") as caught:
        provider.run(dalle3())
    assert not caught.value.retryable


# -- failures of transport and payload ------------------------------------------------------


def test_timeout_is_retryable(httpserver, make_provider):
    provider = make_provider(timeout=0.3)

    with stalled_endpoint(httpserver, GENERATIONS), pytest.raises(ProviderTimeout, match="no answer within 0.3 s"):
        provider.run(dalle3())


def test_connection_refused_is_retryable():
    provider = OpenAIProvider(
        alias="openai", options={"api_key": API_KEY, "base_url": f"http://127.0.0.1:{unused_port()}/v1"}
    )

    with pytest.raises(ProviderTimeout, match="connection to http://127.0.0.1:.* failed") as caught:
        provider.run(dalle3())
    assert isinstance(caught.value, ProviderUnavailable)
    provider.close()


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ('{"created": 1, "data": [', "application/json", "not valid JSON"),
        ("<html>maintenance</html>", "text/html", "not JSON"),
        ('{"created": 1}', "application/json", "no images"),
        ('{"created": 1, "data": []}', "application/json", "no images"),
        ('{"created": 1, "data": [{"revised_prompt": "x"}]}', "application/json", "neither b64_json nor url"),
        ('{"created": 1, "data": [{"b64_json": "not*base64!"}]}', "application/json", "malformed image data"),
    ],
    ids=["truncated-json", "html", "no-data", "empty-data", "no-image-field", "bad-base64"],
)
def test_malformed_answers_are_server_errors(httpserver, provider, body, content_type, message):
    httpserver.expect_oneshot_request(GENERATIONS).respond_with_data(body, content_type=content_type)

    with pytest.raises(ProviderServerError, match=message) as caught:
        provider.run(dalle3())
    assert caught.value.retryable


def test_non_image_bytes_pass_through_for_the_app_to_reject(httpserver, provider):
    answer(httpserver, images_response({"b64_json": b64(b"this is not an image")}))

    [image] = provider.run(dalle3()).images

    assert image.data == b"this is not an image"
    assert image.mime_type == "application/octet-stream"


# -- validation before any call -----------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (dalle3(n=2), "n=2 is not allowed; allowed: 1 to 1"),
        (dalle3(width=512, height=512), "size 512x512 is not allowed; allowed: 1024x1024, 1792x1024, 1024x1792"),
        (dalle3(quality="ultra"), "quality 'ultra' is not allowed; choose one of: standard, hd"),
        (GenerationRequest(prompt="x", model="gpt-image-1", style="vivid"), "does not take a style"),
        (GenerationRequest(prompt="x", model="gpt-image-1", output_format="gif"), "choose one of: png, jpeg, webp"),
        (GenerationRequest(prompt="x", model="gpt-image-1", extra={"steps": 4}),
         "does not take steps; extra parameters allowed: background, moderation, output_compression"),
        (GenerationRequest(prompt="x" * 1001, model="dall-e-2", width=256, height=256), "at most 1000"),
        (dalle3(seed=42), "does not take a seed"),
        (dalle3(model="dall-e-4"), "choose one of: dall-e-2, dall-e-3, gpt-image-1"),
    ],
    ids=["dalle3-n", "size", "quality", "style-on-gpt-image", "output-format", "extra", "prompt-length", "seed",
         "model"],
)
def test_invalid_requests_fail_before_any_http_call(httpserver, provider, request_, message):
    with pytest.raises(UnsupportedFeature, match=message.replace("(", r"\(")):
        provider.run(request_)
    assert httpserver.log == []


# -- secrets --------------------------------------------------------------------------------


def test_the_api_key_never_appears_in_errors_or_logs(httpserver, provider, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="blogimages")
    # A careless host echoing the whole key back must not get it into our messages.
    answer(httpserver, error_body(f"Incorrect API key provided: {API_KEY}.", code="invalid_api_key"), status=401)

    with pytest.raises(ProviderAuthError) as caught:
        provider.run(dalle3())

    error = caught.value
    assert API_KEY not in str(error)
    assert API_KEY not in error.response
    assert API_KEY not in caplog.text
    assert "provider openai model dall-e-3 failed" in caplog.text


# -- capabilities, prices, configuration --------------------------------------------------


def test_capabilities_per_model(provider):
    assert provider.default_model() == "dall-e-3"
    assert provider.capabilities("dall-e-2").max_n == 10
    assert provider.capabilities("gpt-image-1").qualities == ("low", "medium", "high", "auto")
    assert provider.capabilities("dall-e-3").styles == ("vivid", "natural")
    assert not provider.capabilities("gpt-image-1").supports_seed


@pytest.mark.parametrize(
    ("request_", "cost"),
    [
        (dalle3(quality="hd", width=1792, height=1024), Decimal("0.120")),
        (dalle3(), Decimal("0.040")),
        (GenerationRequest(prompt="x", model="dall-e-2", width=256, height=256, n=3), Decimal("0.048")),
        (GenerationRequest(prompt="x", model="gpt-image-1", quality="auto"), Decimal("0.167")),
        (GenerationRequest(prompt="x", model="gpt-image-1", quality="low", width=1024, height=1536), Decimal("0.016")),
    ],
)
def test_cost_estimates(provider, request_, cost):
    assert provider.estimate_cost(request_) == cost


def test_prices_option_overrides_the_table(make_provider):
    provider = make_provider(prices={"dall-e-3": {"hd:1024x1024": "0.10"}})

    assert provider.estimate_cost(dalle3(quality="hd")) == Decimal("0.10")
    assert provider.estimate_cost(dalle3(quality="standard")) == Decimal("0.040")


@pytest.mark.parametrize(
    ("options", "message"),
    [({"api_key": ""}, "no api_key"), ({"api_key": API_KEY, "response_format": "base64"}, "response_format")],
)
def test_configuration_that_cannot_work_is_refused(options, message):
    with pytest.raises(InvalidProviderError, match=message):
        OpenAIProvider(alias="openai", options=options)


def test_close_releases_the_client_and_the_next_call_builds_a_new_one(httpserver, provider):
    first = provider.client
    provider.close()
    assert first.is_closed()

    answer(httpserver, images_response({"b64_json": b64(PNG)}))
    assert provider.run(dalle3()).images
    assert provider.client is not first


def test_retry_after_ignores_garbage():
    assert retry_after_seconds({"retry-after-ms": "soon", "retry-after": "later"}) is None


def test_configured_through_the_registry(httpserver, settings):
    settings.BLOGIMAGES_PROVIDERS = {
        "openai": {
            "BACKEND": "blogimages.providers.openai.OpenAIProvider",
            "OPTIONS": {"api_key": API_KEY, "base_url": httpserver.url_for("/v1"), "timeout": 5},
        }
    }
    from blogimages.providers import get_provider

    provider = get_provider("openai")
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    result = provider.run(GenerationRequest(prompt="a harbour at dawn"))

    assert isinstance(provider, OpenAIProvider)
    assert result.model == "dall-e-3"
    assert result.images[0].data == PNG
    assert sent(httpserver).headers["Authorization"] == f"Bearer {API_KEY}"


# -- variations (POST /v1/images/variations) ------------------------------------------------

VARIATIONS = "/v1/images/variations"
SQUARE_PNG = image_bytes("PNG", size=(256, 256))
# openai 3.x marks images.create_variation @deprecated("deprecated") (dall-e-2 is on its way
# out); the endpoint still answers, so the warning is expected here and nowhere else.
sdk_deprecated = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


def answer_variations(httpserver, body, *, status: int = 200, headers: dict | None = None) -> None:
    httpserver.expect_oneshot_request(VARIATIONS, method="POST").respond_with_json(
        body, status=status, headers=headers or {}
    )


def sent_image(request) -> Image.Image:
    """The `image` file part of a multipart request, decoded."""
    upload = request.files["image"]
    picture = Image.open(io.BytesIO(upload.read()))
    picture.load()
    return picture


@sdk_deprecated
def test_variation_sends_a_multipart_request_and_reads_b64(httpserver, provider):
    first, second = image_bytes("PNG", (256, 256), "navy"), image_bytes("PNG", (256, 256), "olive")
    answer_variations(
        httpserver, images_response({"b64_json": b64(first)}, {"b64_json": b64(second)}),
        headers={"x-request-id": "req_var"},
    )

    result = provider.create_variation(image=SQUARE_PNG, n=2, model="dall-e-2", size="256x256")

    request = sent(httpserver)
    assert (request.method, request.path) == ("POST", VARIATIONS)
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert request.form.to_dict() == {"model": "dall-e-2", "n": "2", "size": "256x256", "response_format": "b64_json"}
    assert list(request.files) == ["image"]
    upload = request.files["image"]
    assert (upload.filename, upload.mimetype) == ("image.png", "image/png")
    data = upload.read()
    # A square PNG under 4 MB goes as it is.
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data == SQUARE_PNG
    assert [image.data for image in result.images] == [first, second]
    for index, image in enumerate(result.images):
        assert image.mime_type == "image/png"
        assert image.seed is None
        assert image.metadata["variation"] is True
        assert (image.metadata["index"], image.metadata["source"]) == (index, "b64_json")
    assert (result.model, result.request_id) == ("dall-e-2", "req_var")


@sdk_deprecated
def test_variation_url_answer_is_downloaded(httpserver, make_provider):
    provider = make_provider(response_format="url")
    image_url = httpserver.url_for("/files/var-1.png") + "?sig=signed-token"
    answer_variations(httpserver, images_response({"url": image_url}))
    httpserver.expect_oneshot_request("/files/var-1.png", method="GET").respond_with_data(
        SQUARE_PNG, content_type="image/png"
    )

    [image] = provider.create_variation(image=SQUARE_PNG, n=1, size="512x512").images

    assert sent(httpserver).form["response_format"] == "url"
    assert sent(httpserver).form["size"] == "512x512"
    assert image.data == SQUARE_PNG
    assert image.metadata["variation"] is True
    assert image.metadata["source"] == "url"
    assert image.metadata["url"] == httpserver.url_for("/files/var-1.png")
    assert "Authorization" not in sent(httpserver, 1).headers


@sdk_deprecated
def test_variation_content_policy_refusal(httpserver, provider):
    message = "Your request was rejected as a result of our safety system."
    answer_variations(
        httpserver, error_body(message, type="image_generation_user_error", code="content_policy_violation"),
        status=400,
    )

    with pytest.raises(ContentRefused) as caught:
        provider.create_variation(image=SQUARE_PNG)

    assert message in str(caught.value)
    assert (caught.value.status_code, caught.value.code) == (400, "content_policy_violation")
    assert not caught.value.retryable


@sdk_deprecated
def test_variation_rate_limit_keeps_its_retry_after(httpserver, provider):
    answer_variations(
        httpserver,
        error_body("Rate limit reached for images per minute.", type="requests", code="rate_limit_exceeded"),
        status=429, headers={"retry-after": "7", "x-request-id": "req_429"},
    )

    with pytest.raises(ProviderRateLimited) as caught:
        provider.create_variation(image=SQUARE_PNG, n=3)

    error = caught.value
    assert error.retryable
    assert (error.retry_after, error.status_code, error.request_id) == (7.0, 429, "req_429")
    assert len(httpserver.log) == 1


@sdk_deprecated
def test_variation_malformed_answer_is_a_server_error(httpserver, provider):
    httpserver.expect_oneshot_request(VARIATIONS).respond_with_data('{"created": 1}', content_type="application/json")

    with pytest.raises(ProviderServerError, match="no images"):
        provider.create_variation(image=SQUARE_PNG)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "dall-e-3"}, "model 'dall-e-3' does not make variations; choose one of: dall-e-2"),
        ({"model": "gpt-image-1"}, "model 'gpt-image-1' does not make variations"),
        ({"n": 11}, "n=11 is not allowed; allowed: 1 to 10"),
        ({"n": 0}, "n=0 is not allowed"),
        ({"size": "300x300"}, "size '300x300' is not allowed; allowed: 256x256, 512x512, 1024x1024"),
        ({"size": "1792x1024"}, "size '1792x1024' is not allowed"),
        ({"image": b"definitely not an image"}, "not a readable image"),
        ({"image": PNG[: len(PNG) // 2]}, "not a readable image"),
    ],
    ids=["dall-e-3", "gpt-image-1", "n-11", "n-0", "size-300", "size-dalle3", "not-an-image", "truncated-png"],
)
def test_invalid_variations_fail_before_any_http_call(httpserver, provider, kwargs, message):
    with pytest.raises(UnsupportedFeature, match=message):
        provider.create_variation(**{"image": SQUARE_PNG, **kwargs})
    assert httpserver.log == []


@sdk_deprecated
def test_a_non_square_jpeg_is_sent_as_a_square_png(httpserver, provider):
    jpeg = image_bytes("JPEG", size=(300, 200), color="orange")
    answer_variations(httpserver, images_response({"b64_json": b64(SQUARE_PNG)}))

    provider.create_variation(image=jpeg, n=1, size="256x256")

    upload = sent(httpserver).files["image"]
    assert upload.mimetype == "image/png"
    picture = Image.open(io.BytesIO(upload.read()))
    assert (picture.format, picture.size, picture.mode) == ("PNG", (200, 200), "RGB")


def test_an_oversized_image_is_downscaled_to_1024_under_4_mb():
    # Noise does not compress: 1200x1200 RGB is over 4 MB as a PNG, 1024x1024 is not.
    noisy = Image.frombytes("RGB", (1200, 1200), random.Random(7).randbytes(1200 * 1200 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG", compress_level=1)
    assert buffer.tell() >= VARIATION_MAX_BYTES

    png = variation_png(buffer.getvalue())

    assert len(png) < VARIATION_MAX_BYTES
    picture = Image.open(io.BytesIO(png))
    assert (picture.format, picture.size) == ("PNG", (1024, 1024))


def test_transparency_survives_the_conversion():
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 20), (255, 0, 0, 0)).save(buffer, format="WEBP", lossless=True)

    picture = Image.open(io.BytesIO(variation_png(buffer.getvalue())))

    assert (picture.format, picture.size, picture.mode) == ("PNG", (20, 20), "RGBA")


def test_openai_compatible_hosts_offer_no_variations(httpserver):
    from blogimages.derive import _provider_variation_method
    from blogimages.providers.openai_compatible import OpenAICompatibleProvider

    host = OpenAICompatibleProvider(alias="local", options={"base_url": httpserver.url_for("/v1"), "models": ["dall-e-2"]})
    try:
        # derive.variations then re-runs the prompt instead of calling a missing endpoint.
        assert _provider_variation_method(host, "dall-e-2") is None
        with pytest.raises(UnsupportedFeature, match="offers no image variations"):
            host.create_variation(image=SQUARE_PNG)
        assert httpserver.log == []
    finally:
        host.close()
    openai_backend = OpenAIProvider(alias="openai", options={"api_key": API_KEY})
    assert _provider_variation_method(openai_backend, "dall-e-2") == openai_backend.create_variation
    assert _provider_variation_method(openai_backend, "dall-e-3") is None


@sdk_deprecated
@pytest.mark.django_db
def test_derive_variations_of_an_openai_image_use_the_variations_endpoint(httpserver, settings):
    from blogimages import derive
    from tests.blogimages.test_review import make_image, make_user

    settings.BLOGIMAGES_PROVIDERS = {
        "openai": {
            "BACKEND": "blogimages.providers.openai.OpenAIProvider",
            "OPTIONS": {"api_key": API_KEY, "base_url": httpserver.url_for("/v1"), "timeout": 5},
        }
    }
    httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_json(
        images_response({"b64_json": b64(image_bytes("PNG", (256, 256), "teal"))})
    )
    original = make_image(provider="openai", size=(256, 256), overrides={"model": "dall-e-2"})
    assert (original.provider, original.model) == ("openai", "dall-e-2")
    answer_variations(
        httpserver,
        images_response({"b64_json": b64(image_bytes("PNG", (256, 256), "navy"))},
                        {"b64_json": b64(image_bytes("PNG", (256, 256), "olive"))}),
        headers={"x-request-id": "req_var"},
    )

    new = derive.variations(original, n=2, user=make_user(staff=True))

    assert [sent(httpserver, i).path for i in range(len(httpserver.log))] == [GENERATIONS, VARIATIONS]
    request = sent(httpserver, 1)
    assert request.form.to_dict() == {"model": "dall-e-2", "n": "2", "size": "256x256", "response_format": "b64_json"}
    assert sent_image(request).format == "PNG"
    assert len(new) == 2
    for item in new:
        assert (item.status, item.derivation, item.derived_from, item.provider, item.model) == (
            "succeeded", "variation", original, "openai", "dall-e-2")
        assert (item.width, item.height) == (256, 256)
        assert item.setting_snapshot["variation_of"] == str(original.uid)
    assert len({item.sha256 for item in new}) == 2
    assert original.events.get(action="variation").data["method"] == "provider"
