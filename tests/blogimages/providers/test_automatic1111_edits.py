"""AUTOMATIC1111 img2img / inpainting and the extras upscaler against a loopback server that
answers /sdapi/v1/img2img and /sdapi/v1/extra-single-image as the WebUI does (reference §2):
base64 JSON in, base64 images and a JSON-string `info` out, 404 "Init image not found"."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image
from werkzeug import Request, Response

from blogimages.exceptions import UnsupportedFeature
from blogimages.providers.base import EditRequest, GenerationRequest

from .test_automatic1111 import SAMPLERS, SCHEDULERS, SD_MODELS, TITLE, b64, make_provider, png, requests_to

__all__ = ["make_provider"]  # a fixture, used by name

UPSCALERS = [
    {"name": "None", "model_name": None, "model_path": None, "model_url": None, "scale": 4},
    {"name": "Lanczos", "model_name": None, "model_path": None, "model_url": None, "scale": 4},
    {"name": "R-ESRGAN 4x+", "model_name": "RealESRGAN_x4plus", "model_path": "/models/x4.pth",
     "model_url": None, "scale": 4},
]


def decode(value: str) -> Image.Image:
    if value.startswith("data:"):
        value = value.partition(",")[2]
    return Image.open(io.BytesIO(base64.b64decode(value)))


def img2img(request: Request) -> Response:
    body = request.get_json()
    if not body.get("init_images"):
        return Response(json.dumps({"error": "HTTPException", "detail": "Init image not found", "body": "",
                                    "errors": ""}), status=404, content_type="application/json")
    init = decode(body["init_images"][0])
    if "mask" in body:
        mask = decode(body["mask"])
        if mask.size != init.size:
            return Response(json.dumps({"error": "ValueError", "detail": "", "body": "",
                                        "errors": "images do not match"}), status=500,
                            content_type="application/json")
    size = (body.get("width", 512), body.get("height", 512))
    images = [png("blue", size) for _ in range(body.get("batch_size", 1))]
    info = {"seed": body.get("seed", 7), "all_seeds": [body.get("seed", 7) + i for i in range(len(images))],
            "all_prompts": [body["prompt"]] * len(images), "denoising_strength": body.get("denoising_strength"),
            "sd_model_name": "sd_xl_base_1.0", "index_of_first_image": 0}
    return Response(json.dumps({"images": [b64(i) for i in images], "parameters": body, "info": json.dumps(info)}),
                    content_type="application/json")


def extras(request: Request) -> Response:
    body = request.get_json()
    image = decode(body["image"])
    factor = body.get("upscaling_resize", 2)
    bigger = image.convert("RGB").resize((int(image.width * factor), int(image.height * factor)))
    buffer = io.BytesIO()
    bigger.save(buffer, "PNG")
    return Response(json.dumps({"html_info": f"<p>{body.get('upscaler_1')}</p>", "image": b64(buffer.getvalue())}),
                    content_type="application/json")


@pytest.fixture
def sd_server(httpserver):
    for path, listing in (("/sdapi/v1/sd-models", SD_MODELS), ("/sdapi/v1/samplers", SAMPLERS),
                          ("/sdapi/v1/schedulers", SCHEDULERS), ("/sdapi/v1/upscalers", UPSCALERS)):
        httpserver.expect_request(path, method="GET").respond_with_json(listing)
    httpserver.expect_request("/sdapi/v1/img2img", method="POST").respond_with_handler(img2img)
    httpserver.expect_request("/sdapi/v1/extra-single-image", method="POST").respond_with_handler(extras)
    return httpserver


def mask_png(size=(72, 64)) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 16, 16))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def test_an_inpaint_sends_init_image_mask_strength_and_the_checkpoint(sd_server, make_provider):
    provider = make_provider()
    source = png("red", (72, 64))
    request = GenerationRequest(prompt="a red boat", model="sd_xl_base_1.0", width=72, height=64, n=2, seed=5)
    result = provider.run_edit(EditRequest(request=request, image=source, mask=mask_png(), strength=0.4))
    [sent] = requests_to(sd_server, "/sdapi/v1/img2img")
    body = sent.get_json()
    assert base64.b64decode(body["init_images"][0]) == source
    assert body["denoising_strength"] == 0.4
    assert body["inpainting_fill"] == 1 and body["mask_blur"] == 4
    assert body["override_settings"] == {"sd_model_checkpoint": TITLE}
    assert (body["width"], body["height"], body["batch_size"], body["seed"]) == (72, 64, 2, 5)
    # A1111's mask: white = inpaint, black = keep (our mask's transparent corner is white).
    mask = decode(body["mask"]).convert("L")
    assert mask.getpixel((4, 4)) == 255 and mask.getpixel((40, 40)) == 0
    assert [image.seed for image in result.images] == [5, 6]


def test_img2img_without_a_mask_sends_no_mask_and_the_default_denoise(sd_server, make_provider):
    provider = make_provider()
    request = GenerationRequest(prompt="watercolour", width=72, height=64)
    provider.run_edit(EditRequest(request=request, image=png("red", (72, 64))))
    body = requests_to(sd_server, "/sdapi/v1/img2img")[0].get_json()
    assert "mask" not in body and body["denoising_strength"] == 0.75


def test_a_reference_image_is_refused_before_any_request(sd_server, make_provider):
    provider = make_provider()
    request = GenerationRequest(prompt="x", width=72, height=64)
    with pytest.raises(UnsupportedFeature, match="this model takes none"):
        provider.run_edit(EditRequest(request=request, image=png(), references=(png(),)))
    assert requests_to(sd_server, "/sdapi/v1/img2img") == []


def test_upscaling_uses_a_listed_upscaler(sd_server, make_provider):
    provider = make_provider()
    assert provider.upscalers() == ("Lanczos", "R-ESRGAN 4x+")
    data = provider.upscale_image(png("red", (16, 12)), factor=2, upscaler="R-ESRGAN 4x+")
    assert Image.open(io.BytesIO(data)).size == (32, 24)
    body = requests_to(sd_server, "/sdapi/v1/extra-single-image")[0].get_json()
    assert body["upscaler_1"] == "R-ESRGAN 4x+" and body["upscaling_resize"] == 2 and body["resize_mode"] == 0
    with pytest.raises(UnsupportedFeature, match="choose one of: Lanczos, R-ESRGAN 4x"):
        provider.upscale_image(png(), factor=2, upscaler="SwinIR 4x")


@pytest.mark.django_db
def test_derive_upscales_through_the_providers_upscaler(sd_server, settings):
    from blogimages import derive, generation

    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "sd": {"BACKEND": "blogimages.providers.automatic1111.Automatic1111Provider",
               "OPTIONS": {"base_url": sd_server.url_for("/").rstrip("/"), "timeout": 5}},
    }
    [card] = generation.generate(prompt="Harbour", provider="cards", overrides={"width": 80, "height": 64})
    bigger = derive.upscale_output(card, factor=2, provider="sd", upscaler="R-ESRGAN 4x+")
    assert (bigger.width, bigger.height) == (160, 128) and bigger.derivation == "upscale"
    assert bigger.provider_metadata["upscaler"] == "R-ESRGAN 4x+"
    assert requests_to(sd_server, "/sdapi/v1/extra-single-image")
    with pytest.raises(UnsupportedFeature, match="cards: this provider has no upscaler"):
        derive.upscale_output(card, factor=2, provider="cards")
