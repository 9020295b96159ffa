"""OpenAI image edits (POST /v1/images/edits, multipart) through the real SDK against the
stand-in, and the app's edit path on top: paste-back of the unmasked pixels."""

from __future__ import annotations

import io
import os

import numpy
import pytest
from PIL import Image

from blogimages import editing
from blogimages.exceptions import UnsupportedFeature
from blogimages.models import ImageOutput, OutputStatus
from blogimages.providers.base import EditRequest, GenerationRequest
from blogimages.providers.openai import OpenAIProvider

from .openai_server import API_KEY
from .openai_standin import OpenAIStandIn, configure_app

EDITS = "/v1/images/edits"
W, H = 1024, 768


def source_png() -> bytes:
    picture = Image.new("RGB", (W, H))
    picture.putdata([((x // 4) % 256, (y // 3) % 256, 90) for y in range(H) for x in range(W)])
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def mask_png(box=(100, 100, 400, 300), size=(W, H)) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def rgb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


@pytest.fixture
def standin(httpserver):
    yield OpenAIStandIn(httpserver)
    httpserver.check_assertions()


@pytest.fixture
def provider(httpserver):
    made = OpenAIProvider(alias="openai", options={"api_key": API_KEY, "base_url": httpserver.url_for("/v1"),
                                                    "timeout": 5})
    yield made
    made.close()


def test_capabilities_say_what_gpt_image_edits_take(provider):
    caps = provider.capabilities("gpt-image-2")
    assert caps.supports_edit and caps.supports_mask and caps.max_references == 15 and not caps.supports_strength


def test_an_edit_sends_the_images_and_the_mask_as_multipart(standin, provider):
    source, refs, mask = source_png(), [OpenAIStandIn.png(512, 512), OpenAIStandIn.png(640, 480)], mask_png()
    request = GenerationRequest(prompt="put a boat in the bay", model="gpt-image-2", width=W, height=H, n=2,
                                quality="low", output_format="png")
    result = provider.run_edit(EditRequest(request=request, image=source, mask=mask, references=tuple(refs),
                                           input_fidelity="high"))
    [call] = standin.calls
    assert call.path == EDITS
    assert call.params == {"prompt": "put a boat in the bay", "model": "gpt-image-2", "n": 2, "size": "1024x768",
                           "quality": "low", "output_format": "png"}
    # Several images go as image[] (the SDK's array form), the source first; the mask as `mask`.
    assert call.files["image[]"] == [source, *refs]
    assert call.files["mask"] == [mask]
    assert len(result.images) == 2 and result.cost_basis == "usage"
    assert result.usage["input_tokens_details"]["image_tokens"] == 1536 * 3


def test_one_image_goes_as_image(standin, provider):
    request = GenerationRequest(prompt="brighter", model="gpt-image-2", width=W, height=H)
    provider.run_edit(EditRequest(request=request, image=source_png()))
    [call] = standin.calls
    assert list(call.files) == ["image"]


def test_the_stand_in_refuses_a_mask_of_another_size_like_openai(standin, provider):
    from blogimages.exceptions import ProviderBadRequest

    request = GenerationRequest(prompt="x", model="gpt-image-2", width=W, height=H)
    with pytest.raises(ProviderBadRequest, match="same dimensions"):
        provider.run_edit(EditRequest(request=request, image=source_png(), mask=mask_png(size=(512, 512))))


def test_sixteen_references_are_refused_before_any_request(standin, provider):
    request = GenerationRequest(prompt="x", model="gpt-image-2", width=W, height=H)
    with pytest.raises(UnsupportedFeature, match="16 reference image.*at most 15"):
        provider.run_edit(EditRequest(request=request, image=source_png(),
                                      references=(OpenAIStandIn.png(64, 64),) * 16))
    assert standin.calls == []


# -- the app's edit path with OpenAI --------------------------------------------------------


@pytest.mark.django_db
def test_a_masked_edit_keeps_every_unmasked_pixel_of_the_source(settings, httpserver):
    standin = configure_app(settings, httpserver)
    source, mask = source_png(), mask_png()
    [edited] = editing.edit(image=source, mask=mask, prompt="a boat in the bay", provider="openai")
    edited.refresh_from_db()
    assert edited.status == OutputStatus.SUCCEEDED, edited.error
    assert edited.derivation == "edit" and edited.provider_metadata["pasted_back"] is True
    assert standin.calls[-1].files["mask"] == [mask]
    with edited.file.open("rb") as handle:
        result = rgb(handle.read())
    original = rgb(source)
    keep = numpy.ones((H, W), dtype=bool)
    keep[100:300, 100:400] = False
    # Compare the pixel arrays outside the mask: identical; inside: the provider's (teal).
    assert numpy.array_equal(numpy.asarray(result)[keep], numpy.asarray(original)[keep])
    assert not numpy.array_equal(numpy.asarray(result)[~keep], numpy.asarray(original)[~keep])
    assert result.getpixel((200, 200)) == (0, 128, 128)


@pytest.mark.django_db
def test_paste_back_can_be_turned_off(settings, httpserver):
    configure_app(settings, httpserver)
    settings.BLOGIMAGES_EDIT_PASTE_BACK = False
    [edited] = editing.edit(image=source_png(), mask=mask_png(), prompt="a boat", provider="openai")
    edited.refresh_from_db()
    assert edited.status == OutputStatus.SUCCEEDED, edited.error
    assert "pasted_back" not in edited.provider_metadata
    with edited.file.open("rb") as handle:
        result = rgb(handle.read())
    assert result.getpixel((900, 700)) == (255, 165, 0)  # the stand-in's orange, not the source


@pytest.mark.django_db
def test_a_refused_edit_leaves_a_failed_image_with_the_reason(settings, httpserver):
    configure_app(settings, httpserver)
    settings.BLOGIMAGES_PROVIDERS["openai"]["OPTIONS"]["api_key"] = "sk-wrong-key-for-tests"
    [edited] = editing.edit(image=source_png(), prompt="a boat", provider="openai")
    edited.refresh_from_db()
    assert edited.status == OutputStatus.FAILED and "Incorrect API key" in edited.error
    assert not edited.file.name and ImageOutput.objects.count() == 1


@pytest.mark.django_db
def test_an_edit_over_budget_is_refused_before_any_call_with_nothing_stored(settings, httpserver):
    from blogimages.budgets import BudgetExceeded

    standin = configure_app(settings, httpserver)
    settings.BLOGIMAGES_BUDGETS = {"global_daily": "0.0001"}
    with pytest.raises(BudgetExceeded):
        editing.edit(image=source_png(), mask=mask_png(), prompt="a boat", provider="openai")
    assert standin.calls == [] and ImageOutput.objects.count() == 0
    assert not os.path.exists(os.path.join(settings.MEDIA_ROOT, "blogimages", "edits"))
