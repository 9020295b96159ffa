"""stream=true through the real SDK's `images.generate(..., stream=True)` iterator: OpenAI's
events, partial images forwarded from the openai provider (against its loopback stand-in),
the final image from others, and refusals still answered as JSON errors."""

from __future__ import annotations

import base64
import io

import openai
import pytest
import requests
from PIL import Image

from blogimages import tokens
from blogimages.models import ImageOutput, OutputStatus
from tests.blogimages.providers.openai_server import API_KEY, unused_port
from tests.blogimages.providers.openai_standin import configure_app
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def raw_token():
    return tokens.create_token(UserFactory(username="streamer"), name="tests")[1]


@pytest.fixture
def sdk(live_server, raw_token):
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=raw_token, max_retries=0)


@pytest.fixture
def standin(httpserver, settings):
    yield configure_app(settings, httpserver)
    httpserver.check_assertions()


def stored(output: ImageOutput) -> bytes:
    with output.file.open("rb") as fh:
        return fh.read()


def test_a_provider_without_previews_streams_its_final_image(sdk, live_server, raw_token):
    events = list(sdk.images.generate(model="cards", prompt="A lighthouse at dusk", size="256x256", stream=True))
    assert [event.type for event in events] == ["image_generation.completed"]
    [done] = events
    output = ImageOutput.objects.get()
    assert output.status == OutputStatus.SUCCEEDED and base64.b64decode(done.b64_json) == stored(output)
    assert (done.size, done.output_format, done.background, done.quality) == ("256x256", "png", "opaque", "auto")
    assert done.usage.total_tokens == 0 and isinstance(done.created_at, int)
    # What the wire carried: server-sent events with OpenAI's event names.
    raw = requests.post(live_server.url + "/v1/images/generations", timeout=30,
                        headers={"Authorization": f"Bearer {raw_token}"},
                        json={"model": "cards", "prompt": "x", "size": "64x64", "stream": True})
    assert raw.headers["Content-Type"] == "text/event-stream" and raw.headers["x-request-id"].startswith("req_")
    assert raw.text.startswith("event: image_generation.completed\ndata: {")


def test_openai_partial_images_are_forwarded_then_the_stored_image(sdk, standin):
    events = list(sdk.images.generate(model="openai/gpt-image-2", prompt="A paper boat", size="1024x1024",
                                         quality="low", stream=True, partial_images=2))
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    with Image.open(io.BytesIO(base64.b64decode(events[0].b64_json))) as preview:
        assert preview.size == (256, 256)  # the stand-in's preview, passed on as it was
    [call] = standin.calls
    assert call.params["stream"] is True and call.params["partial_images"] == 2
    done = events[-1]
    output = ImageOutput.objects.get()
    assert base64.b64decode(done.b64_json) == stored(output)  # the stored file, provenance and all
    [upstream] = standin.usages
    assert done.usage.output_tokens == upstream["output_tokens"] and done.usage.total_tokens == upstream["total_tokens"]
    assert (done.size, done.quality, done.background) == ("1024x1024", "low", "opaque")
    assert output.cost_basis == "usage"


def test_a_refused_stream_is_a_json_error_before_any_event(sdk, settings):
    settings.BLOGIMAGES_RATE_LIMITS = {"token_per_minute": 1}
    list(sdk.images.generate(model="cards", prompt="one", size="64x64", stream=True))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.images.generate(model="cards", prompt="two", size="64x64", stream=True)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["x-ratelimit-limit-requests"] == "1"
    assert ImageOutput.objects.count() == 1


def test_a_provider_failure_is_an_error_and_a_failed_image(sdk, settings):
    settings.BLOGIMAGES_PROVIDERS = {"openai": {
        "BACKEND": "blogimages.providers.openai.OpenAIProvider",
        "OPTIONS": {"api_key": API_KEY, "base_url": f"http://127.0.0.1:{unused_port()}/v1", "timeout": 5,
                    "read_model_list": False}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "openai"
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.images.generate(model="gpt-image-2", prompt="doomed", size="1024x1024", stream=True, partial_images=1)
    assert caught.value.status_code == 502 and caught.value.code == "provider_error"
    assert "connection to" in caught.value.message
    output = ImageOutput.objects.get()
    assert output.status == OutputStatus.FAILED and "connection to" in output.error and not output.file


def test_an_upstream_error_after_the_previews_ends_the_stream_with_an_error_event(sdk, standin):
    standin.stream_error = "The image could not be finished."
    stream = sdk.images.generate(model="gpt-image-2", prompt="A paper boat", size="1024x1024", stream=True,
                                 partial_images=1)
    first = next(iter(stream))
    assert first.type == "image_generation.partial_image"  # forwarded before the failure was known
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert "could not be finished" in caught.value.message
    output = ImageOutput.objects.get()
    assert output.status == OutputStatus.FAILED and "could not be finished" in output.error and not output.file


# -- /v1/images/edits with stream=true ------------------------------------------------------------


def png(size=(1024, 1024), color=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_edit_without_previews_streams_its_final_image(sdk, live_server, raw_token):
    stream = sdk.images.edit(image=("a.png", png((256, 192)), "image/png"), prompt="Make it autumn", model="cards",
                             stream=True)
    events = list(stream)
    assert [event.type for event in events] == ["image_edit.completed"]
    [done] = events
    output = ImageOutput.objects.get()
    assert output.derivation == "edit" and output.status == OutputStatus.SUCCEEDED
    assert base64.b64decode(done.b64_json) == stored(output)
    assert (done.size, done.output_format, done.background) == ("256x192", "png", "opaque")
    # The wire: OpenAI's edit event names (image_edit_completed_event.py).
    raw = requests.post(live_server.url + "/v1/images/edits", timeout=30, headers={"Authorization": f"Bearer {raw_token}"},
                        data={"model": "cards", "prompt": "x", "stream": "true"},
                        files=[("image", ("a.png", io.BytesIO(png((64, 64))), "image/png"))])
    assert raw.headers["Content-Type"] == "text/event-stream"
    assert raw.text.startswith("event: image_edit.completed\ndata: {")


def test_openai_edit_previews_are_forwarded_then_the_stored_image(sdk, standin):
    events = list(sdk.images.edit(image=("a.png", png(), "image/png"), prompt="A paper boat", model="gpt-image-2",
                                  size="1024x1024", quality="low", stream=True, partial_images=2))
    assert [e.type for e in events] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    with Image.open(io.BytesIO(base64.b64decode(events[0].b64_json))) as preview:
        assert preview.size == (256, 256)  # the stand-in's preview, passed on as it was
    [call] = standin.calls
    assert call.path == "/v1/images/edits"
    assert call.params["stream"] is True and call.params["partial_images"] == 2
    output = ImageOutput.objects.get()
    assert output.derivation == "edit" and base64.b64decode(events[-1].b64_json) == stored(output)
    [upstream] = standin.usages
    assert events[-1].usage.total_tokens == upstream["total_tokens"]


def test_a_refused_edit_stream_is_a_json_error_before_any_event(sdk, settings):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.edit(image=("a.png", b"not an image", "image/png"), prompt="x", model="cards", stream=True)
    assert caught.value.status_code == 400 and caught.value.param == "image"
    settings.BLOGIMAGES_RATE_LIMITS = {"token_per_minute": 1}
    list(sdk.images.edit(image=("a.png", png((64, 64)), "image/png"), prompt="one", model="cards", stream=True))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.images.edit(image=("a.png", png((64, 64)), "image/png"), prompt="two", model="cards", stream=True)
    assert caught.value.code == "rate_limit_exceeded"
    assert ImageOutput.objects.count() == 1


def test_an_edit_stream_error_after_the_previews_is_an_error_event(sdk, standin):
    standin.stream_error = "The edit could not be finished."
    stream = sdk.images.edit(image=("a.png", png(), "image/png"), prompt="A paper boat", model="gpt-image-2",
                             size="1024x1024", stream=True, partial_images=1)
    iterator = iter(stream)
    assert next(iterator).type == "image_edit.partial_image"
    with pytest.raises(openai.APIError) as caught:
        list(iterator)
    assert "could not be finished" in caught.value.message
    output = ImageOutput.objects.get()
    assert output.status == OutputStatus.FAILED and "could not be finished" in output.error and not output.file


def test_a_bad_stream_value_is_a_400(client, raw_token):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post("/v1/images/edits", headers={"Authorization": f"Bearer {raw_token}"},
                           data={"model": "cards", "prompt": "x", "stream": "maybe",
                                 "image": SimpleUploadedFile("a.png", png((64, 64)), content_type="image/png")})
    assert response.status_code == 400 and response.json()["error"]["param"] == "stream"
    assert ImageOutput.objects.count() == 0


# -- ComfyUI previews as partial images -----------------------------------------------------------


@pytest.fixture
def comfy(settings):
    from tests.blogimages.providers.comfy_standin import FakeComfy, comfy_providers

    server = FakeComfy().start()
    settings.BLOGIMAGES_PROVIDERS = comfy_providers(server, alias="comfyui", timeout=10)
    yield server
    server.stop()


def test_comfyui_previews_stream_as_partial_images(sdk, comfy):
    from tests.blogimages.providers.comfy_standin import Behaviour

    comfy.behave(Behaviour(steps=6))
    events = list(sdk.images.generate(model="comfyui", prompt="A lighthouse at dusk", size="512x512", stream=True,
                                      partial_images=2))
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    sent = {step: image for _client, step, image in comfy.previews_sent}
    # After steps 2 and 4 of 6: ComfyUI's JPEG previews, byte for byte.
    assert [base64.b64decode(e.b64_json) for e in events[:2]] == [sent[2], sent[4]]
    assert [(e.partial_image_index, e.output_format, e.size) for e in events[:2]] == [
        (0, "jpeg", "512x512"), (1, "jpeg", "512x512")]
    output = ImageOutput.objects.get()
    assert output.provider == "comfyui" and base64.b64decode(events[-1].b64_json) == stored(output)


def test_comfyui_without_partial_images_streams_only_the_final_image(sdk, comfy):
    events = list(sdk.images.generate(model="comfyui", prompt="A lighthouse at dusk", size="512x512", stream=True))
    assert [e.type for e in events] == ["image_generation.completed"]
    assert comfy.previews_sent  # ComfyUI sent them; nobody asked for them
