"""OpenAICompatibleProvider against a loopback FLUX-style host, through the real openai SDK.

Shapes: OpenAI's ImagesResponse plus the near-compatible variants of reference/providers.md
section 4 (Together: no `created`, `index`/`type` per item, `response_format: base64`;
LocalAI: URL answers pointing at the host itself, `{"error": {"code": 500, ...}}`).
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from blogimages.exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    UnsupportedFeature,
)
from blogimages.providers.base import GenerationRequest
from blogimages.providers.openai import OpenAIProvider
from blogimages.providers.openai_compatible import OpenAICompatibleProvider

from .openai_server import (
    API_KEY,
    GENERATIONS,
    MODELS,
    b64,
    error_body,
    image_bytes,
    images_response,
    sent,
    sent_json,
    stalled_endpoint,
)

PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")
FLUX = "black-forest-labs/FLUX.1-schnell"


@pytest.fixture(autouse=True)
def _no_unexpected_requests(httpserver):
    yield
    httpserver.check_assertions()


@pytest.fixture
def make_provider(httpserver):
    made: list[OpenAICompatibleProvider] = []

    def make(**options) -> OpenAICompatibleProvider:
        provider = OpenAICompatibleProvider(
            alias="flux",
            options={
                "api_key": API_KEY,
                "base_url": httpserver.url_for("/v1"),
                "models": [FLUX, "black-forest-labs/FLUX.1-dev"],
                "timeout": 5,
                **options,
            },
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider) -> OpenAICompatibleProvider:
    return make_provider()


def answer(httpserver, body, *, status: int = 200, headers: dict | None = None) -> None:
    httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_json(
        body, status=status, headers=headers or {}
    )


def flux(**fields) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a fox in the snow", **fields})


# -- success ------------------------------------------------------------------------------


def test_diffusion_parameters_go_through_extra_body(httpserver, make_provider):
    provider = make_provider(supports_negative_prompt=True, extra_body={"disable_safety_checker": False})
    answer(httpserver, images_response({"b64_json": b64(PNG)}), headers={"x-request-id": "host-req-1"})

    result = provider.run(
        flux(
            width=1360, height=768, steps=4, seed=1234, guidance_scale=3.5, negative_prompt="blurry",
            output_format="png", extra={"aspect_ratio": "16:9"},
        )
    )

    request = sent(httpserver)
    assert (request.method, request.path) == ("POST", "/v1/images/generations")
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent_json(httpserver) == {
        "prompt": "a fox in the snow",
        "model": FLUX,  # the first configured model is the default
        "n": 1,
        "size": "1360x768",
        "response_format": "b64_json",
        "output_format": "png",
        "disable_safety_checker": False,
        "negative_prompt": "blurry",
        "steps": 4,
        "seed": 1234,
        "guidance_scale": 3.5,
        "aspect_ratio": "16:9",
    }
    [image] = result.images
    assert (image.data, image.mime_type, image.seed) == (PNG, "image/png", 1234)
    assert (result.model, result.request_id) == (FLUX, "host-req-1")


def test_together_style_answer(httpserver, make_provider):
    """Together: `response_format: base64`, no `created`, items with index/type and seeds."""
    provider = make_provider(response_format="base64")
    httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_json(
        {
            "id": "gen-1",
            "model": FLUX,
            "object": "list",
            "data": [
                {"index": 0, "b64_json": "data:image/jpeg;base64," + b64(JPEG), "type": "b64_json", "seed": 77},
                {"index": 1, "b64_json": b64(JPEG), "type": "b64_json", "seed": 78},
            ],
        }
    )

    result = provider.run(flux(n=2, seed=77))

    assert sent_json(httpserver)["response_format"] == "base64"
    assert [image.seed for image in result.images] == [77, 78]
    assert [image.mime_type for image in result.images] == ["image/jpeg", "image/jpeg"]
    assert result.images[1].metadata["type"] == "b64_json"


def test_seeds_of_a_batch_are_unknown_unless_the_host_reports_them(httpserver, provider):
    answer(httpserver, images_response({"b64_json": b64(PNG)}, {"b64_json": b64(PNG)}))

    result = provider.run(flux(n=2, seed=5))

    assert [image.seed for image in result.images] == [None, None]


def test_localai_style_url_answer_on_the_host_itself(httpserver, make_provider):
    provider = make_provider(response_format="url")
    answer(httpserver, images_response({"url": httpserver.url_for("/generated-images/b641.png")}))
    httpserver.expect_oneshot_request("/generated-images/b641.png", method="GET").respond_with_data(
        PNG, content_type="image/png"
    )

    [image] = provider.run(flux()).images

    assert image.data == PNG
    assert image.metadata["source"] == "url"


def test_a_keyless_host_gets_no_credentials_of_openai(httpserver, make_provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-real-openai-key-0000000000")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-real")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-real")
    provider = make_provider(api_key="")
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    provider.run(flux())

    headers = sent(httpserver).headers
    assert "Authorization" not in headers
    assert "OpenAI-Organization" not in headers
    assert "OpenAI-Project" not in headers
    assert provider.check() == []  # a local host without keys is normal


def test_a_remote_host_without_a_key_is_reported():
    provider = OpenAICompatibleProvider(alias="flux", options={"base_url": "https://flux.example.com/v1"})

    assert provider.check() == ["no api_key: requests to https://flux.example.com/v1 are sent without credentials"]


# -- capabilities -------------------------------------------------------------------------


def test_models_come_from_the_server_when_not_configured(httpserver, make_provider):
    provider = make_provider(models=[])
    httpserver.expect_oneshot_request(MODELS, method="GET").respond_with_json(
        {
            "object": "list",
            "data": [
                {"id": "flux-schnell", "object": "model", "created": 0, "owned_by": "local"},
                {"id": "sdxl", "object": "model", "created": 0, "owned_by": "local"},
            ],
        }
    )

    caps = provider.capabilities()
    again = provider.capabilities("sdxl")  # cached: the oneshot handler would refuse a second call

    assert caps.models == again.models == ("flux-schnell", "sdxl")
    assert caps.default_model == "flux-schnell"
    assert sent(httpserver).headers["Authorization"] == f"Bearer {API_KEY}"
    with pytest.raises(UnsupportedFeature, match="choose one of: flux-schnell, sdxl"):
        provider.run(flux(model="dall-e-3"))


def test_a_server_without_a_model_list_accepts_any_model(httpserver, make_provider, caplog):
    provider = make_provider(models=[])
    httpserver.expect_oneshot_request(MODELS, method="GET").respond_with_json(error_body("Not Found"), status=404)
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    with caplog.at_level(logging.WARNING, logger="blogimages"):
        result = provider.run(flux(model="any/model"))

    assert sent_json(httpserver, 1)["model"] == "any/model"
    assert result.model == "any/model"
    assert "could not list models" in caplog.text
    # The failure is remembered for a while rather than asked again on every call.
    assert provider.capabilities().models == ()


def test_capabilities_are_built_once_per_listed_model_and_follow_a_list_that_arrives_later(
        httpserver, make_provider, monkeypatch):
    provider = make_provider(models=[], prices={FLUX: {"1024x1024": "0.003"}})
    httpserver.expect_oneshot_request(MODELS, method="GET").respond_with_data("no such route", status=404)
    before = provider.capabilities()
    assert before.models == () and provider.capabilities() is before
    # Any name a request sends is answered but not kept: the cache does not grow with them.
    for name in ("a", "b", "c"):
        assert provider.capabilities(name).models == ()
    assert len(provider._capabilities) == 1

    # The host lists its models once the retry delay has passed: the capabilities say so.
    monkeypatch.setattr("blogimages.providers.openai_compatible.MODEL_DISCOVERY_RETRY_SECONDS", 0)
    httpserver.expect_oneshot_request(MODELS, method="GET").respond_with_json(
        {"object": "list", "data": [{"id": FLUX, "object": "model", "created": 0, "owned_by": "local"}]})
    listed = provider.capabilities(FLUX)
    assert listed.models == (FLUX,) and listed.default_model == FLUX
    assert listed.prices == {"1024x1024": Decimal("0.003")}
    assert provider.capabilities(FLUX) is listed
    assert provider.capabilities() is not before and provider.capabilities().models == (FLUX,)


def test_with_no_model_known_the_host_picks_and_says_which(httpserver, make_provider):
    provider = make_provider(models=[])
    httpserver.expect_oneshot_request(MODELS, method="GET").respond_with_data("no such route", status=404)
    answer(httpserver, {"model": "flux-local", "data": [{"url": "data:image/png;base64," + b64(PNG)}]})

    result = provider.run(flux())

    assert "model" not in sent_json(httpserver, 1)
    assert result.model == "flux-local"
    assert result.images[0].data == PNG
    assert result.images[0].metadata["source"] == "data_url"


def test_configured_sizes_are_the_only_sizes(make_provider, httpserver):
    provider = make_provider(sizes=["1024x1024", "1360x768"])

    with pytest.raises(UnsupportedFeature, match="allowed: 1024x1024, 1360x768"):
        provider.run(flux(width=512, height=512))
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (flux(width=1000, height=1000), "allowed: 256 to 2048 px a side in steps of 16"),
        (flux(n=5), "allowed: 1 to 4"),
        (flux(negative_prompt="blurry"), "does not take a negative prompt"),
        (flux(quality="hd"), "does not take a quality"),
    ],
)
def test_invalid_requests_fail_before_any_http_call(httpserver, provider, request_, message):
    with pytest.raises(UnsupportedFeature, match=message):
        provider.run(request_)
    assert httpserver.log == []


def test_unsupported_host_parameters_are_refused(make_provider, httpserver):
    provider = make_provider(supports_seed=False, supports_steps=False)

    with pytest.raises(UnsupportedFeature, match="does not take a seed; this model does not take a step count"):
        provider.run(flux(seed=1, steps=4))
    assert httpserver.log == []


def test_prices_from_configuration(make_provider):
    provider = make_provider(prices={"*": {"*": "0.003"}, "black-forest-labs/FLUX.1-dev": {"*": "0.025"}})

    assert provider.estimate_cost(flux(n=2)) == Decimal("0.006")
    assert provider.estimate_cost(flux(model="black-forest-labs/FLUX.1-dev")) == Decimal("0.025")
    assert make_provider().estimate_cost(flux()) is None


def test_a_base_url_is_required():
    with pytest.raises(InvalidProviderError, match="no base_url"):
        OpenAICompatibleProvider(alias="flux", options={"api_key": API_KEY})


def test_a_malformed_size_list_is_refused():
    with pytest.raises(InvalidProviderError, match="'big' is not WIDTHxHEIGHT"):
        OpenAICompatibleProvider(alias="flux", options={"base_url": "http://127.0.0.1:1/v1", "sizes": ["big"]})


# -- failures -----------------------------------------------------------------------------


def test_rate_limit_with_retry_after(httpserver, provider):
    answer(httpserver, error_body("Too many requests", type="rate_limit"), status=429, headers={"retry-after": "12"})

    with pytest.raises(ProviderRateLimited, match="Too many requests") as caught:
        provider.run(flux())
    assert caught.value.retry_after == 12.0


def test_localai_style_server_error(httpserver, provider):
    answer(httpserver, {"error": {"code": 500, "message": "invalid value for 'size'", "type": ""}}, status=500)

    with pytest.raises(ProviderServerError, match="invalid value for 'size'") as caught:
        provider.run(flux())
    assert caught.value.code == "500"


def test_timeout(httpserver, make_provider):
    provider = make_provider(timeout=0.3)

    with stalled_endpoint(httpserver, GENERATIONS), pytest.raises(ProviderTimeout):
        provider.run(flux())


def test_malformed_json(httpserver, provider):
    httpserver.expect_oneshot_request(GENERATIONS).respond_with_data(
        '{"data": [{"b64_json": ', content_type="application/json"
    )

    with pytest.raises(ProviderServerError, match="not valid JSON"):
        provider.run(flux())


def test_non_image_bytes_pass_through(httpserver, provider):
    answer(httpserver, images_response({"b64_json": b64(b"<html>error</html>")}))

    [image] = provider.run(flux()).images

    assert image.data == b"<html>error</html>"
    assert image.mime_type == "application/octet-stream"


def test_content_policy_refusal(httpserver, provider):
    message = "Your prompt was flagged by the safety checker."
    answer(httpserver, error_body(message, code="content_policy_violation"), status=400)

    with pytest.raises(ContentRefused, match=message):
        provider.run(flux())


def test_a_plain_host_400_is_a_bad_request(httpserver, provider):
    answer(httpserver, {"detail": "steps must be <= 12 for FLUX.1-schnell"}, status=400)

    with pytest.raises(ProviderBadRequest, match="steps must be <= 12"):
        provider.run(flux(steps=50))


def test_it_shares_the_openai_plumbing():
    assert issubclass(OpenAICompatibleProvider, OpenAIProvider)
    assert OpenAICompatibleProvider.generate is OpenAIProvider.generate
    assert OpenAICompatibleProvider.translate_error is OpenAIProvider.translate_error


def test_configured_through_the_registry(httpserver, settings):
    settings.BLOGIMAGES_PROVIDERS = {
        "openai_compatible": {
            "BACKEND": "blogimages.providers.openai_compatible.OpenAICompatibleProvider",
            "OPTIONS": {"base_url": httpserver.url_for("/v1"), "api_key": API_KEY, "models": [FLUX], "timeout": 5},
        }
    }
    from blogimages.providers import get_provider

    provider = get_provider("openai_compatible")
    answer(httpserver, images_response({"b64_json": b64(PNG)}))

    result = provider.run(flux(steps=4))

    assert isinstance(provider, OpenAICompatibleProvider)
    assert result.images[0].data == PNG
    assert sent_json(httpserver)["steps"] == 4
