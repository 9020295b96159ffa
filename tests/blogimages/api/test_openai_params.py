"""/v1's GPT image options: sent to a provider that takes them (the openai provider against
its loopback stand-in, through the real SDK), accepted and listed as ignored where they mean
nothing, refused only where the provider cannot honour them."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from blogimages import tokens
from blogimages.api.openai import IGNORED_HEADER
from blogimages.models import ImageOutput
from tests.blogimages.providers.openai_standin import configure_app
from tests.factories import UserFactory

URL = "/v1/images/generations"


@pytest.fixture
def standin(httpserver, settings):
    yield configure_app(settings, httpserver)
    httpserver.check_assertions()


@pytest.fixture
def raw_token():
    return tokens.create_token(UserFactory(username="scripter"), name="tests")[1]


def call(client, body, raw):
    return client.post(URL, data=json.dumps(body), content_type="application/json",
                       headers={"Authorization": f"Bearer {raw}"})


def ignored(response) -> list[str]:
    value = response.get(IGNORED_HEADER)
    return [] if value is None else [name.strip() for name in value.split(",")]


@pytest.mark.django_db(transaction=True)
def test_the_sdk_sends_every_gpt_image_option_to_openai(standin, v1_sdk, raw_token):
    client = v1_sdk(raw_token)
    raw = client.images.with_raw_response.generate(
        model="openai/gpt-image-2", prompt="a paper boat", size="1024x1024", background="transparent",
        moderation="low", output_format="webp", output_compression=80, quality="low",
        safety_identifier="end-user-7",
    )
    result = raw.parse()
    [call_] = standin.calls
    sent = call_.params
    assert (sent["background"], sent["moderation"], sent["output_compression"], sent["output_format"]) == (
        "transparent", "low", 80, "webp")
    assert sent["user"] == "end-user-7" and sent["quality"] == "low"
    assert IGNORED_HEADER not in raw.headers
    # Echoed as OpenAI's ImagesResponse does.
    assert (result.background, result.size, result.quality) == ("transparent", "1024x1024", "low")
    assert base64.b64decode(result.data[0].b64_json)[:4] == b"\x89PNG"  # the stand-in paints png


@pytest.mark.django_db(transaction=True)
def test_size_auto_reaches_a_gpt_image_model_and_the_size_it_picks_is_kept(standin, v1_sdk, raw_token):
    standin.auto_size = (1536, 1024)  # OpenAI chose a wide image for this prompt
    client = v1_sdk(raw_token)
    result = client.images.generate(model="openai/gpt-image-2", prompt="a wide harbour at dusk", size="auto",
                                    quality="low")
    [call_] = standin.calls
    assert call_.params["size"] == "auto"
    output = ImageOutput.objects.get()
    assert (output.width, output.height) == (1536, 1024) and result.size == "1536x1024"
    # Reserved for the largest size auto may pick: 408 low-quality image tokens (1024x1024 is 272).
    assert output.cost_estimate == Decimal("0.0123")


@pytest.mark.django_db
def test_size_auto_is_the_default_size_of_a_provider_that_takes_no_auto(client, raw_token, standin):
    from blogimages.providers import get_provider

    response = call(client, {"model": "cards", "prompt": "Harbour", "size": "auto"}, raw_token)
    assert response.status_code == 200, response.content
    output = ImageOutput.objects.get()
    assert (output.width, output.height) == get_provider("cards").capabilities("").default_size
    assert "size" not in output.setting_snapshot["extra"]


@pytest.mark.django_db
def test_meaningless_values_are_accepted_and_listed(client, raw_token, standin):
    response = call(client, {"model": "cards", "prompt": "Harbour", "size": "256x256", "background": "opaque",
                             "moderation": "low", "output_compression": 50, "input_fidelity": "high",
                             "partial_images": 2, "quality": "high"}, raw_token)
    assert response.status_code == 200, response.content
    assert ignored(response) == ["quality", "background", "moderation", "output_compression", "input_fidelity",
                                 "partial_images"]
    body = response.json()
    assert (body["background"], body["size"], body["output_format"], body["quality"]) == (
        "opaque", "256x256", "png", "auto")
    output = ImageOutput.objects.get()
    assert output.setting_snapshot["extra"] == {}  # nothing the cards renderer would not understand
    assert standin.calls == []


@pytest.mark.django_db
def test_openai_ignores_compression_for_png_and_fidelity_for_generations(client, raw_token, standin):
    response = call(client, {"model": "gpt-image-2", "prompt": "Harbour", "size": "1024x1024",
                             "output_compression": 50, "input_fidelity": "low", "background": "auto"}, raw_token)
    assert response.status_code == 200, response.content
    assert ignored(response) == ["output_compression", "input_fidelity"]
    [sent] = standin.calls
    assert sent.params["background"] == "auto"
    assert "output_compression" not in sent.params and "input_fidelity" not in sent.params
    body = response.json()
    # What the upstream said it made, as OpenAI's own answer gives it.
    assert (body["background"], body["quality"]) == ("opaque", "medium")


@pytest.mark.django_db
@pytest.mark.parametrize("body, message", [
    ({"model": "cards", "background": "transparent"}, "cannot make a transparent background"),
    ({"model": "gpt-image-2", "background": "transparent", "output_format": "jpeg"}, "needs output_format"),
])
def test_only_an_impossible_background_is_refused(client, raw_token, standin, body, message):
    response = call(client, {"prompt": "Harbour", **body}, raw_token)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == ("background", "unsupported_value",
                                                              "invalid_request_error")
    assert message in error["message"]
    assert standin.calls == [] and not ImageOutput.objects.exists()


@pytest.mark.django_db
def test_stream_false_and_nulls_are_plain_requests(client, raw_token, standin):
    response = call(client, {"model": "cards", "prompt": "x", "size": "64x64", "stream": False,
                             "background": None, "moderation": None}, raw_token)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert IGNORED_HEADER not in response
