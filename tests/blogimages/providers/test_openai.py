"""OpenAIProvider against a loopback server speaking the Images API, through the real SDK."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
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
from blogimages.providers.openai import OpenAIProvider, retry_after_seconds

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
            # The model listing has tests of its own (test_openai_today.py); here it would
            # only add a request before each one these tests count.
            options={"api_key": API_KEY, "base_url": httpserver.url_for("/v1"), "timeout": 5,
                     "read_model_list": False, **options},
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider) -> OpenAIProvider:
    return make_provider()


def gpt2(**fields) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse at dusk", "model": "gpt-image-2", **fields})


def answer(httpserver, body, *, status: int = 200, headers: dict | None = None) -> None:
    httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_json(
        body, status=status, headers=headers or {}
    )


# -- success ------------------------------------------------------------------------------


def test_gpt_image_2_sends_the_real_request_shape_and_reads_b64(httpserver, provider):
    answer(httpserver, images_response({"b64_json": b64(PNG)}), headers={"x-request-id": "req_123"})

    result = provider.run(gpt2(width=1536, height=864, quality="high", user="author-7"))

    request = sent(httpserver)
    assert request.method == "POST"
    assert request.path == "/v1/images/generations"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "OpenAI-Organization" not in request.headers
    # GPT image models always answer base64: response_format is never sent, nor style.
    assert sent_json(httpserver) == {
        "prompt": "a lighthouse at dusk",
        "model": "gpt-image-2",
        "n": 1,
        "size": "1536x864",
        "quality": "high",
        "user": "author-7",
    }
    [image] = result.images
    assert image.data == PNG
    assert image.mime_type == "image/png"
    assert image.seed is None
    assert image.revised_prompt == ""
    assert image.metadata["source"] == "b64_json"
    assert result.model == "gpt-image-2"
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
            prompt="a map of the harbour", model="gpt-image-2", width=1536, height=1024, n=2,
            quality="low", output_format="webp", extra={"background": "opaque"},
        )
    )

    body = sent_json(httpserver)
    assert body == {
        "prompt": "a map of the harbour",
        "model": "gpt-image-2",
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
    provider = make_provider(defaults={"model": "gpt-image-2.5-sunburst", "quality": "xhigh", "output_format": "webp"})
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    provider.run(GenerationRequest(prompt="a quiet harbour", output_format="jpeg"))

    body = sent_json(httpserver)
    assert (body["model"], body["quality"], body["output_format"]) == ("gpt-image-2.5-sunburst", "xhigh", "jpeg")


def test_a_data_url_prefix_on_b64_json_is_accepted(httpserver, provider):
    answer(httpserver, images_response({"b64_json": "data:image/png;base64," + b64(PNG)}))

    [image] = provider.run(gpt2()).images

    assert image.data == PNG


def test_organization_header_is_sent_when_configured(httpserver, make_provider):
    provider = make_provider(organization="org-blog")
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    provider.run(gpt2())

    assert sent(httpserver).headers["OpenAI-Organization"] == "org-blog"


# -- url answers ------------------------------------------------------------------------


def test_url_answer_is_downloaded_from_a_loopback_url(httpserver, make_provider):
    provider = make_provider(response_format="url")
    image_url = httpserver.url_for("/files/img-1.png") + "?sig=signed-token"
    answer(httpserver, images_response({"url": image_url, "revised_prompt": None}))
    httpserver.expect_oneshot_request("/files/img-1.png", method="GET").respond_with_data(
        PNG, content_type="image/png"
    )

    # Some gateways answer a GPT image model with a URL; it is fetched like any other.
    [image] = provider.run(GenerationRequest(prompt="a red kite", model="gpt-image-2")).images

    assert "response_format" not in sent_json(httpserver)
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
        provider.run(gpt2())
    assert len(httpserver.log) == 1


def test_url_download_follows_redirects_only_to_allowed_urls(httpserver, make_provider):
    provider = make_provider(response_format="url")
    answer(httpserver, images_response({"url": httpserver.url_for("/files/moved.png")}))
    httpserver.expect_oneshot_request("/files/moved.png").respond_with_response(
        Response(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    )

    with pytest.raises(ProviderRejected, match="169.254.169.254"):
        provider.run(gpt2())


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_url_download_stops_at_the_byte_cap(httpserver, make_provider, chunked):
    provider = make_provider(response_format="url", download_max_bytes=len(PNG) - 1)
    answer(httpserver, images_response({"url": httpserver.url_for("/files/big.png")}))
    body = (PNG[i : i + 16] for i in range(0, len(PNG), 16)) if chunked else PNG
    httpserver.expect_oneshot_request("/files/big.png").respond_with_response(
        Response(body, content_type="image/png")
    )

    with pytest.raises(ProviderRejected, match="byte limit") as caught:
        provider.run(gpt2())
    assert not caught.value.retryable


@pytest.mark.parametrize(("status", "error"), [(404, ProviderRejected), (503, ProviderServerError)])
def test_url_download_http_errors(httpserver, make_provider, status, error):
    provider = make_provider(response_format="url")
    answer(httpserver, images_response({"url": httpserver.url_for("/files/gone.png")}))
    httpserver.expect_oneshot_request("/files/gone.png").respond_with_data("nope", status=status)

    with pytest.raises(error) as caught:
        provider.run(gpt2())
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
        provider.run(gpt2())

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
        provider.run(gpt2())
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
        provider.run(gpt2())
    assert caught.value.retryable
    assert caught.value.status_code == status
    assert caught.value.retry_after == 3.0
    assert len(httpserver.log) == 1


def test_a_non_json_error_page_keeps_its_text(httpserver, provider):
    httpserver.expect_oneshot_request(GENERATIONS).respond_with_data(
        "<html>502 Bad Gateway</html>", status=502, content_type="text/html"
    )

    with pytest.raises(ProviderServerError, match="502 Bad Gateway"):
        provider.run(gpt2())


@pytest.mark.parametrize(
    ("model", "code", "message"),
    [
        ("gpt-image-2", "content_policy_violation",
         "Your request was rejected as a result of our safety system. Your prompt may contain text "
         "that is not allowed by our safety system."),
        ("gpt-image-2.5-flare", "moderation_blocked",
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
        provider.run(gpt2())
    assert not caught.value.retryable


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_permanent(httpserver, provider, status):
    answer(httpserver, error_body("Incorrect API key provided: sk-test***CRET.", code="invalid_api_key"), status=status)

    with pytest.raises(ProviderAuthError, match="Incorrect API key provided") as caught:
        provider.run(gpt2())
    assert not caught.value.retryable


# -- failures of transport and payload ------------------------------------------------------


def test_timeout_is_retryable(httpserver, make_provider):
    provider = make_provider(timeout=0.3)

    with stalled_endpoint(httpserver, GENERATIONS), pytest.raises(ProviderTimeout, match="no answer within 0.3 s"):
        provider.run(gpt2())


def test_connection_refused_is_retryable():
    provider = OpenAIProvider(
        alias="openai", options={"api_key": API_KEY, "base_url": f"http://127.0.0.1:{unused_port()}/v1"}
    )

    with pytest.raises(ProviderTimeout, match="connection to http://127.0.0.1:.* failed") as caught:
        provider.run(gpt2())
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
        provider.run(gpt2())
    assert caught.value.retryable


def test_non_image_bytes_pass_through_for_the_app_to_reject(httpserver, provider):
    answer(httpserver, images_response({"b64_json": b64(b"this is not an image")}))

    [image] = provider.run(gpt2()).images

    assert image.data == b"this is not an image"
    assert image.mime_type == "application/octet-stream"


# -- validation before any call -----------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (gpt2(n=11), "n=11 is not allowed; allowed: 1 to 10"),
        (gpt2(width=1000, height=1000), "size 1000x1000 is not allowed; allowed: 16 to 3840 px a side in steps of 16"),
        (gpt2(width=3200, height=1024), "aspect between 1:3 and 3:1"),
        (gpt2(width=3840, height=2400), "at most 8,294,400 pixels"),
        (gpt2(quality="hd"), "quality 'hd' is not allowed; choose one of: auto, low, medium, high"),
        (gpt2(quality="xhigh"), "quality 'xhigh' is not allowed"),
        (gpt2(style="vivid"), "does not take a style"),
        (gpt2(output_format="gif"), "choose one of: png, jpeg, webp"),
        (gpt2(extra={"steps": 4}), "does not take steps; extra parameters allowed: background, moderation, output_compression"),
        (gpt2(output_format="jpeg", extra={"background": "transparent"}), "transparent background needs png or webp"),
        (gpt2(extra={"moderation": "off"}), "moderation 'off' is not allowed; choose one of: auto, low"),
        (gpt2(output_format="webp", extra={"output_compression": 101}), "output_compression must be a whole number from 0 to 100"),
        (gpt2(extra={"output_compression": 50}), "output_compression needs jpeg or webp output"),
        (GenerationRequest(prompt="x" * 32001, model="gpt-image-2"), "at most 32000"),
        (gpt2(seed=42), "does not take a seed"),
        (gpt2(model="gpt-image-9"), "choose one of: gpt-image-2, gpt-image-2-2026-04-21, gpt-image-2.5-flare"),
    ],
    ids=["n", "size-multiple", "aspect", "pixels", "quality-hd", "xhigh-on-2", "style", "output-format", "extra",
         "transparent-jpeg", "moderation", "compression-range", "compression-png", "prompt-length", "seed", "model"],
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
        provider.run(gpt2())

    error = caught.value
    assert API_KEY not in str(error)
    assert API_KEY not in error.response
    assert API_KEY not in caplog.text
    assert "provider openai model gpt-image-2 failed" in caplog.text


# -- capabilities, prices, configuration --------------------------------------------------


def test_capabilities_per_model(provider):
    assert provider.default_model() == "gpt-image-2"
    assert provider.capabilities("gpt-image-2").max_n == 10
    assert provider.capabilities("gpt-image-2").qualities == ("auto", "low", "medium", "high")
    assert provider.capabilities("gpt-image-2.5-flare").qualities == ("auto", "low", "medium", "high", "xhigh", "max")
    assert provider.capabilities("gpt-image-2.6-flare").sizes == ((1024, 1024), (1536, 1024), (1024, 1536))
    assert not provider.capabilities("gpt-image-2").supports_seed
    assert "dall-e-3" not in provider.capabilities().models


@pytest.mark.parametrize(
    ("request_", "cost"),
    [
        # 4160 image tokens at $30/1M, plus the prompt's 5 text tokens at $5/1M.
        (gpt2(quality="high"), Decimal("0.124825")),
        # auto may pick high: the estimate assumes it does.
        (gpt2(), Decimal("0.124825")),
        (gpt2(quality="low", n=3), Decimal("0.024505")),
        (gpt2(quality="medium", width=1024, height=1536), Decimal("0.047545")),
        # A size off the table scales 1024x1024's tokens by the pixel count: 1056 * 2.
        (gpt2(quality="medium", width=2048, height=1024), Decimal("0.063385")),
    ],
)
def test_cost_estimates(provider, request_, cost):
    assert provider.estimate_cost(request_) == cost


def test_prices_option_overrides_the_table(make_provider):
    provider = make_provider(prices={"gpt-image-2": {"high:1024x1024": "0.10"}})

    assert provider.estimate_cost(gpt2(quality="high")) == Decimal("0.10")
    assert provider.estimate_cost(gpt2(model="gpt-image-2.5-flare", quality="low")) == Decimal("0.008185")


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
    assert provider.run(gpt2()).images
    assert provider.client is not first


def test_retry_after_ignores_garbage():
    assert retry_after_seconds({"retry-after-ms": "soon", "retry-after": "later"}) is None


def test_configured_through_the_registry(httpserver, settings):
    settings.BLOGIMAGES_PROVIDERS = {
        "openai": {
            "BACKEND": "blogimages.providers.openai.OpenAIProvider",
            "OPTIONS": {"api_key": API_KEY, "base_url": httpserver.url_for("/v1"), "timeout": 5,
                        "read_model_list": False},
        }
    }
    from blogimages.providers import get_provider

    provider = get_provider("openai")
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    result = provider.run(GenerationRequest(prompt="a harbour at dawn"))

    assert isinstance(provider, OpenAIProvider)
    assert result.model == "gpt-image-2"
    assert result.images[0].data == PNG
    assert sent(httpserver).headers["Authorization"] == f"Bearer {API_KEY}"


# -- streaming (partial images) ---------------------------------------------------------------


def sse(*events: tuple[str, dict]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def test_streaming_hands_each_partial_image_over_and_returns_the_completed_one(httpserver, provider):
    preview, final = image_bytes("PNG", (4, 4), "grey"), image_bytes("PNG", (8, 8), "teal")
    common = {"background": "opaque", "output_format": "png", "quality": "low", "size": "1024x1024",
              "created_at": 1764547200}
    usage = {"input_tokens": 5, "input_tokens_details": {"image_tokens": 0, "text_tokens": 5}, "output_tokens": 272,
             "total_tokens": 277}
    httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_response(Response(sse(
        ("image_generation.partial_image", {"type": "image_generation.partial_image", "b64_json": b64(preview),
                                            "partial_image_index": 0, **common}),
        ("image_generation.completed", {"type": "image_generation.completed", "b64_json": b64(final),
                                        "usage": usage, **common}),
    ), content_type="text/event-stream", headers={"x-request-id": "req_stream"}))
    partials = []
    result = provider.run(gpt2(quality="low"), on_partial=partials.append, partial_images=5)
    body = sent_json(httpserver)
    assert (body["stream"], body["partial_images"]) == (True, 3)  # at most what the model streams
    [partial] = partials
    assert (partial.index, partial.data, partial.mime_type, partial.metadata["size"]) == (
        0, preview, "image/png", "1024x1024")
    [image] = result.images
    assert image.data == final and image.metadata["quality"] == "low"
    assert result.usage == usage and result.request_id == "req_stream" and result.cost_basis == "usage"


def test_a_stream_without_a_completed_image_is_a_server_error(httpserver, provider):
    httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_response(Response(
        sse(("image_generation.partial_image", {"type": "image_generation.partial_image", "b64_json": b64(PNG),
                                                "partial_image_index": 0, "background": "opaque",
                                                "output_format": "png", "quality": "low", "size": "1024x1024",
                                                "created_at": 1})), content_type="text/event-stream"))
    with pytest.raises(ProviderServerError, match="without a completed image"):
        provider.run(gpt2(), on_partial=lambda image: None, partial_images=1)


def test_without_a_partial_callback_nothing_streams(httpserver, provider):
    answer(httpserver, images_response({"b64_json": b64(PNG)}))
    provider.run(gpt2(), partial_images=2)
    assert "stream" not in sent_json(httpserver)
