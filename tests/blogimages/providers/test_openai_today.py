"""OpenAIProvider against the stand-in that speaks today's API (gpt-image-2, usage, retired
models answering 404 model_not_found), through the real SDK."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import time_machine
from PIL import Image

from blogimages.exceptions import ModelRetired, ProviderBadRequest, UnsupportedFeature
from blogimages.providers.base import GenerationRequest
from blogimages.providers.openai import OpenAIProvider

from .openai_server import API_KEY, unused_port
from .openai_standin import OpenAIStandIn

GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"


@pytest.fixture
def standin(httpserver):
    yield OpenAIStandIn(httpserver)
    httpserver.check_assertions()


@pytest.fixture
def make_provider(httpserver):
    made: list[OpenAIProvider] = []

    def make(**options) -> OpenAIProvider:
        provider = OpenAIProvider(
            alias="openai", options={"api_key": API_KEY, "base_url": httpserver.url_for("/v1"), "timeout": 5, **options}
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.size


# -- generate ------------------------------------------------------------------------------


def test_the_default_is_gpt_image_2_and_the_cost_comes_from_usage(standin, make_provider):
    provider = make_provider()

    result = provider.run(GenerationRequest(prompt="a lighthouse at dusk", width=1536, height=864, quality="high"))

    [call] = standin.calls
    assert call.path == GENERATIONS
    assert call.params == {"prompt": "a lighthouse at dusk", "model": "gpt-image-2", "n": 1, "size": "1536x864",
                           "quality": "high"}
    [image] = result.images
    assert png_size(image.data) == (1536, 864)
    assert result.usage["output_tokens_details"] == {"image_tokens": 5265, "text_tokens": 0}
    # 5 text tokens at $5/1M + 5265 image tokens at $30/1M - image output is not priced as text.
    assert (result.cost, result.cost_basis) == (Decimal("0.157975"), "usage")


def test_auto_quality_is_estimated_high_but_priced_at_what_the_api_used(standin, make_provider):
    provider = make_provider()
    request = GenerationRequest(prompt="a lighthouse at dusk", n=2)

    result = provider.run(request)

    assert provider.estimate_cost(provider.prepare(request)) == Decimal("0.249625")  # 2 x high, the worst case
    assert result.usage["output_tokens"] == 2112  # the stand-in's auto is medium: 2 x 1056
    assert (result.cost, result.cost_basis) == (Decimal("0.063385"), "usage")


def test_without_usage_the_cost_is_the_estimate_marked_so(httpserver, make_provider):
    OpenAIStandIn(httpserver, usage=False)
    result = make_provider().run(GenerationRequest(prompt="a lighthouse at dusk", quality="low"))

    assert result.usage == {}
    assert (result.cost, result.cost_basis) == (Decimal("0.008185"), "estimate")


def test_usage_without_an_output_breakdown_prices_all_output_as_image_tokens(httpserver, make_provider):
    OpenAIStandIn(httpserver, output_tokens_details=False)
    result = make_provider().run(GenerationRequest(prompt="a lighthouse at dusk", quality="low"))

    assert "output_tokens_details" not in result.usage
    assert result.cost == Decimal("0.008185")  # 272 x $30/1M + 5 x $5/1M


def test_the_stand_in_refuses_what_the_real_api_refuses(standin, make_provider):
    """generate() skips our validation: the stand-in's own rules answer, as OpenAI would."""
    provider = make_provider()
    cases = [
        (GenerationRequest(prompt="x", model="gpt-image-2", width=1200, height=630), "divisible by 16"),
        (GenerationRequest(prompt="x", model="gpt-image-2", quality="hd"), "Invalid value: 'hd'"),
        (GenerationRequest(prompt="x", model="gpt-image-2", style="vivid"), "Unknown parameter: 'style'"),
        (GenerationRequest(prompt="x", model="gpt-image-2.6-flare", width=1536, height=864), "Supported sizes are"),
    ]
    for request, message in cases:
        with pytest.raises(ProviderBadRequest, match=message) as caught:
            provider.generate(request)
        assert caught.value.status_code == 400


def test_a_retired_model_the_server_is_sent_answers_404_model_not_found(standin, make_provider):
    with pytest.raises(ProviderBadRequest, match="The model `dall-e-3` has been deprecated") as caught:
        make_provider().generate(GenerationRequest(prompt="x", model="dall-e-3"))
    assert (caught.value.status_code, caught.value.code) == (404, "model_not_found")


# -- retirement ------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "message"), [
    ("dall-e-3", "openai: model dall-e-3 was shut down on 2026-05-12; use gpt-image-2 instead."),
    ("gpt-image-1", "openai: model gpt-image-1 was shut down on 2026-10-23; use gpt-image-2.5-sunburst instead."),
    ("gpt-image-1.5", "openai: model gpt-image-1.5 was shut down on 2026-12-01; use gpt-image-2.6-sunburst instead."),
])
@pytest.mark.clock
@time_machine.travel("2026-12-01 12:00Z", tick=False)  # gpt-image-1.5's shutdown day
def test_a_retired_model_is_refused_in_one_line_before_any_request(standin, make_provider, model, message):
    with pytest.raises(ModelRetired) as caught:
        make_provider().run(GenerationRequest(prompt="a lighthouse at dusk", model=model))

    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert standin.calls == []


@pytest.mark.clock
def test_a_shutdown_date_the_host_lists_retires_a_model_the_table_calls_active(httpserver, make_provider):
    standin = OpenAIStandIn(httpserver, shutdown_dates={"gpt-image-2.6-flare": "2026-11-30",
                                                        "gpt-image-2.5-flare": "2027-01-20"})
    provider = make_provider()
    with time_machine.travel("2026-12-01 12:00Z", tick=False):
        with pytest.raises(ModelRetired, match="gpt-image-2.6-flare was shut down on 2026-11-30; use gpt-image-2"):
            provider.run(GenerationRequest(prompt="x", model="gpt-image-2.6-flare"))
        assert "gpt-image-2.6-flare" not in provider.capabilities().models
        soon = provider.lifecycle("gpt-image-2.5-flare")
        assert (soon.status, soon.soon()) == ("deprecated", True)
        provider.run(GenerationRequest(prompt="x", model="gpt-image-2.5-flare"))
    assert [c.params["model"] for c in standin.calls] == ["gpt-image-2.5-flare"]
    # Asked once, then cached.
    assert standin.model_listings == 1


@pytest.mark.clock
@pytest.mark.django_db
def test_check_warns_about_a_default_model_shutting_down_within_90_days(httpserver, settings):
    from blogimages.checks import check_model_lifecycles

    OpenAIStandIn(httpserver, shutdown_dates={"gpt-image-2": "2027-02-01"})
    settings.BLOGIMAGES_PROVIDERS = {"openai": {"BACKEND": "blogimages.providers.openai.OpenAIProvider", "OPTIONS": {
        "api_key": API_KEY, "base_url": httpserver.url_for("/v1")}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "openai"
    with time_machine.travel("2026-12-01 12:00Z", tick=False):
        [warning] = check_model_lifecycles()
        assert warning.id == "blogimages.W002"
        assert warning.msg == "Provider 'openai': the default model gpt-image-2 is deprecated and shuts down on 2027-02-01."
    settings.BLOGIMAGES_PROVIDERS = {**settings.BLOGIMAGES_PROVIDERS}  # a fresh provider, a fresh listing
    with time_machine.travel("2026-10-01 12:00Z", tick=False):
        assert check_model_lifecycles() == []  # 123 days away: not yet worth a warning


def test_an_unreachable_model_list_leaves_the_table_in_charge():
    provider = OpenAIProvider(alias="openai", options={"api_key": API_KEY,
                                                       "base_url": f"http://127.0.0.1:{unused_port()}/v1"})
    try:
        assert provider.lifecycle("gpt-image-2").status == "active"
        assert provider.lifecycle("dall-e-2").retired
        assert provider.default_model() == "gpt-image-2"
    finally:
        provider.close()


# -- "more like this": an edit with the image as its reference --------------------------


def test_variations_are_an_edit_with_the_image_as_reference(standin, make_provider):
    provider = make_provider()
    source = OpenAIStandIn.png(1536, 1024)

    result = provider.create_variation(image=source, n=2, model="gpt-image-2", size="1536x1024",
                                       prompt="a lighthouse at dusk")

    [call] = standin.calls
    assert call.path == EDITS
    assert call.params == {"prompt": "a lighthouse at dusk", "model": "gpt-image-2", "n": 2, "size": "1536x1024"}
    # gpt-image-2 always keeps the reference's detail: input_fidelity must be left out.
    assert "input_fidelity" not in call.params
    assert call.files["image"] == [source]
    assert [png_size(image.data) for image in result.images] == [(1536, 1024), (1536, 1024)]
    assert all(image.metadata["variation"] for image in result.images)
    assert result.usage["input_tokens_details"]["image_tokens"] == 1536
    assert result.cost_basis == "usage" and result.cost > 0


def test_variations_take_the_providers_defaults_and_are_priced_like_a_generation(httpserver, make_provider):
    # No usage in the answer: the cost is the estimate, from a price list keyed by quality.
    standin = OpenAIStandIn(httpserver, usage=False)
    provider = make_provider(defaults={"quality": "low"},
                             prices={"*": {"high:*": "0.20", "low:*": "0.01"}})

    generated = provider.run(GenerationRequest(prompt="a lighthouse at dusk", model="gpt-image-2",
                                               width=1024, height=1024))
    varied = provider.create_variation(image=OpenAIStandIn.png(1024, 1024), n=2, model="gpt-image-2",
                                       size="1024x1024", prompt="a lighthouse at dusk")

    generate_call, variation_call = standin.calls
    assert generate_call.params["quality"] == variation_call.params["quality"] == "low"
    assert (generated.cost, generated.cost_basis) == (Decimal("0.01"), "estimate")
    assert (varied.cost, varied.cost_basis) == (Decimal("0.02"), "estimate")
    assert varied.provider_ms is not None and all(image.metadata["variation"] for image in varied.images)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "dall-e-2"}, "model dall-e-2 was shut down on 2026-05-12; use gpt-image-2 instead."),
    ({"model": "gpt-image-9"}, "model 'gpt-image-9' does not make variations"),
    ({"n": 11}, "n=11 is not allowed"),
    ({"size": "1200x630"}, "size 1200x630 is not allowed"),
    ({"image": b"GIF89a not really"}, "must be a png, webp or jpeg"),
])
def test_invalid_variations_fail_before_any_request(standin, make_provider, kwargs, message):
    arguments = {"image": OpenAIStandIn.png(1024, 1024), "n": 1, "model": "gpt-image-2", "size": "1024x1024",
                 **kwargs}
    with pytest.raises(UnsupportedFeature, match=message.replace("(", r"\(")):
        make_provider().create_variation(**arguments)
    assert standin.calls == []


def test_openai_compatible_hosts_offer_no_variations(httpserver):
    from blogimages.derive import _provider_variation_method
    from blogimages.providers.openai_compatible import OpenAICompatibleProvider

    host = OpenAICompatibleProvider(alias="local", options={"base_url": httpserver.url_for("/v1"),
                                                            "models": ["gpt-image-2"]})
    try:
        # derive.variations then re-runs the prompt with new seeds instead.
        assert _provider_variation_method(host, "gpt-image-2") is None
        with pytest.raises(UnsupportedFeature, match="offers no image variations"):
            host.create_variation(image=OpenAIStandIn.png(1024, 1024), model="gpt-image-2")
        # A host's model named like a retired OpenAI one is the host's business.
        assert host.lifecycle("dall-e-3") is None
        assert httpserver.log == []
    finally:
        host.close()
