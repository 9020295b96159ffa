"""/v1/images/edits and /v1/images/variations: the real openai SDK against the live server,
Open WebUI's exact edit request, and bad input answered in OpenAI's error shape with
nothing stored."""

import asyncio
import base64
import io
import re
import uuid

import numpy
import openai
import pytest
import requests
from PIL import Image

from blogimages import generation, tokens
from blogimages.models import ImageOutput
from tests.blogimages.providers.openai_standin import configure_app
from tests.factories import UserFactory

from .test_openai import assert_error

pytestmark = pytest.mark.django_db

URL = "/v1/images/edits"
W, H = 256, 192


def png(size=(W, H), color=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def mask_png(size=(W, H), box=(0, 0, W // 2, H)) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def rgb(data: bytes) -> numpy.ndarray:
    with Image.open(io.BytesIO(data)) as opened:
        return numpy.asarray(opened.convert("RGB"))


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"


@pytest.fixture
def token():
    return tokens.create_token(UserFactory(username="editor-bot"), name="tests")


def sdk(live_server, raw):
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=raw, max_retries=0)


@pytest.mark.django_db(transaction=True)
def test_sdk_images_edit_with_a_mask_returns_a_derived_card(live_server, token):
    source = png()
    result = sdk(live_server, token[1]).images.edit(
        image=("source.png", source, "image/png"), mask=("mask.png", mask_png(), "image/png"),
        prompt="A harbour at night", model="cards", response_format="b64_json")
    [item] = result.data
    edited = base64.b64decode(item.b64_json)
    assert rgb(edited).shape == (H, W, 3)
    # The unmasked right half is the source's, pixel for pixel; the left half was redrawn.
    assert numpy.array_equal(rgb(edited)[:, W // 2:], rgb(source)[:, W // 2:])
    assert not numpy.array_equal(rgb(edited)[:, : W // 2], rgb(source)[:, : W // 2])
    [row] = ImageOutput.objects.all()
    assert row.derivation == "edit" and row.api_token_id == token[0].pk and row.created_by == token[0].user
    assert result.model_extra["blogimages"]["images"][0]["id"] == row.pk


@pytest.mark.django_db(transaction=True)
def test_sdk_edit_with_several_images_and_a_url_answer(live_server, token):
    result = sdk(live_server, token[1]).images.edit(image=[("a.png", png(), "image/png")], prompt="Brighter",
                                                    model="cards", n=2, response_format="url")
    assert len(result.data) == 2 and all(item.url.startswith(live_server.url) for item in result.data)
    # cards takes no reference images: two files are refused with the reason, nothing stored.
    with pytest.raises(openai.BadRequestError, match="takes none"):
        sdk(live_server, token[1]).images.edit(image=[("a.png", png(), "image/png"), ("b.png", png(), "image/png")],
                                               prompt="x", model="cards")
    assert ImageOutput.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_sdk_create_variation_keeps_the_cards_text_with_new_seeds(live_server, token, settings):
    [card] = generation.generate(prompt="Tide pools", provider="cards", overrides={"width": W, "height": H})
    with card.file.open("rb") as handle:
        data = handle.read()
    result = sdk(live_server, token[1]).images.create_variation(image=("card.png", data, "image/png"), n=2,
                                                                model="cards", response_format="b64_json")
    assert len(result.data) == 2
    rows = ImageOutput.objects.filter(derivation="edit").order_by("pk")
    assert [r.prompt_text for r in rows] == ["Tide pools", "Tide pools"]  # read from the file's provenance
    assert len({r.seed for r in rows}) == 2


@pytest.mark.django_db(transaction=True)
def test_open_webuis_exact_edit_request(live_server, token):
    """What backend/open_webui/routers/images.py (image_edits, engine "openai") sends: a
    multipart form with model, prompt, n, size, background and response_format as strings,
    the image as `image` (one) or `image[]` (several) named <uuid>.<ext>, Bearer auth."""
    form = {"model": "cards", "prompt": "Make it autumn", "n": "1", "size": f"{W}x{H}",
            "response_format": "b64_json"}
    files = [("image", (f"{uuid.uuid4()}.png", io.BytesIO(png()), "image/png"))]
    response = requests.post(f"{live_server.url}/v1/images/edits", data=form, files=files,
                             headers={"Authorization": f"Bearer {token[1]}"}, timeout=30)
    assert response.status_code == 200, response.text
    [item] = response.json()["data"]
    assert rgb(base64.b64decode(item["b64_json"])).shape == (H, W, 3)
    # With background (Open WebUI sends it when set): cards has no background choice.
    response = requests.post(f"{live_server.url}/v1/images/edits", data={**form, "background": "transparent"},
                             files=[("image", ("x.png", io.BytesIO(png()), "image/png"))],
                             headers={"Authorization": f"Bearer {token[1]}"}, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["param"] == "background"



async def open_webui_generation(base_url: str, api_key: str, *, model: str, prompt: str, n: int = 1,
                                size: str | None = None, params: dict | None = None, user=None,
                                api_version: str = "") -> list[tuple[bytes, str]]:
    """backend/open_webui/routers/images.py (image_generations, engine "openai"), the request
    and the reading of its answer as it is written there: aiohttp, Bearer auth and a JSON
    Content-Type (plus the X-OpenWebUI-User-* headers with ENABLE_FORWARD_USER_INFO_HEADERS),
    `?api-version=` when one is configured, a body of model, prompt, n and size, no
    `response_format` for a model matching IMAGE_URL_RESPONSE_MODELS_REGEX_PATTERN
    (`^gpt-image`), IMAGES_OPENAI_API_PARAMS merged last. Each `data` item: a truthy `url` is
    fetched with the same headers minus Content-Type and must answer an image/* type; else
    `b64_json` is decoded as it is (no data: prefix, so labelled image/png)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    if user is not None:
        from urllib.parse import quote
        headers = {**headers, "X-OpenWebUI-User-Name": quote(user["name"], safe=" "),
                   "X-OpenWebUI-User-Id": user["id"], "X-OpenWebUI-User-Email": user["email"],
                   "X-OpenWebUI-User-Role": user["role"]}
    url = f"{base_url}/images/generations"
    if api_version:
        url = f"{url}?api-version={api_version}"
    data = {"model": model, "prompt": prompt, "n": n, **({"size": size} if size else {}),
            **({} if re.match(r"^gpt-image", model) else {"response_format": "b64_json"}), **(params or {})}
    images = []
    async with aiohttp.ClientSession(trust_env=True) as session:
        async with session.post(url=url, json=data, headers=headers) as r:
            r.raise_for_status()
            res = await r.json(content_type=None)
        for image in res["data"]:
            if image_url := image.get("url", None):
                async with session.get(image_url, headers={k: v for k, v in headers.items()
                                                            if k != "Content-Type"}) as fetched:
                    fetched.raise_for_status()
                    content_type = fetched.headers.get("content-type", "")
                    assert content_type.split("/")[0] == "image", content_type
                    images.append((await fetched.read(), content_type))
            else:
                images.append((base64.b64decode(image["b64_json"]), "image/png"))
    return images


OPEN_WEBUI_USER = {"name": "Ada Lovelace", "id": "8f1c2c9e-5b7a-4d1e-9f0a-2f6d1c3b4a5e",
                   "email": "ada@example.com", "role": "user"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", ["1024x1024", "auto"])
def test_open_webuis_exact_gpt_image_generation_request(live_server, token, httpserver, settings, size):
    """Open WebUI's generation request for a `gpt-image-*` model (no response_format, its
    user headers, its api-version query, IMAGES_OPENAI_API_PARAMS) gets base64 it decodes
    to the stored PNG; the openai provider (its loopback stand-in) made the image."""
    standin = configure_app(settings, httpserver)
    [(data, content_type)] = asyncio.run(open_webui_generation(
        live_server.url + "/v1", token[1], model="gpt-image-2", prompt="A lighthouse at dusk", size=size,
        params={"quality": "low"}, user=OPEN_WEBUI_USER, api_version="2025-04-01-preview"))
    output = ImageOutput.objects.get()
    with output.file.open("rb") as fh:
        assert data == fh.read()
    assert content_type == "image/png" and Image.open(io.BytesIO(data)).format == "PNG"
    assert (output.provider, output.model, output.width, output.height) == ("openai", "gpt-image-2", 1024, 1024)
    assert output.api_token_id == token[0].pk
    [call] = standin.calls
    assert call.params["quality"] == "low" and "response_format" not in call.params
    # "auto" reaches OpenAI as "auto" (it picks the size; the stand-in's pick is 1024x1024).
    assert call.params["size"] == size
    httpserver.check_assertions()


@pytest.mark.django_db(transaction=True)
def test_open_webui_fetches_a_url_answer_with_its_own_headers(live_server, token, httpserver, settings):
    """With BLOGIMAGES_V1_DEFAULT_RESPONSE_FORMAT=url Open WebUI fetches the link, sending its
    Bearer token and user headers along, and keeps it only with an image/* content type."""
    configure_app(settings, httpserver)
    settings.BLOGIMAGES_V1_DEFAULT_RESPONSE_FORMAT = "url"
    [(data, content_type)] = asyncio.run(open_webui_generation(
        live_server.url + "/v1", token[1], model="gpt-image-2", prompt="A lighthouse at dusk", size="1024x1024",
        user=OPEN_WEBUI_USER))
    output = ImageOutput.objects.get()
    with output.file.open("rb") as fh:
        assert data == fh.read()
    assert content_type == "image/png"


@pytest.mark.django_db(transaction=True)
def test_open_webuis_default_size_for_gpt_image_2_is_refused_naming_size(live_server, token, httpserver, settings):
    """Open WebUI's default IMAGE_SIZE is 512x512, below gpt-image-2's smallest image (as at
    OpenAI): a 400 naming `size`, and no provider call, nothing stored."""
    import aiohttp

    standin = configure_app(settings, httpserver)
    with pytest.raises(aiohttp.ClientResponseError) as caught:
        asyncio.run(open_webui_generation(live_server.url + "/v1", token[1], model="gpt-image-2", prompt="x",
                                          size="512x512"))
    assert caught.value.status == 400
    response = requests.post(f"{live_server.url}/v1/images/generations", timeout=30,
                             headers={"Authorization": f"Bearer {token[1]}"},
                             json={"model": "gpt-image-2", "prompt": "x", "n": 1, "size": "512x512"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "size"
    assert "512x512" in response.json()["error"]["message"]
    assert standin.calls == [] and ImageOutput.objects.count() == 0


def post(client, raw, data, files):
    payload = dict(data)
    for name, value in files:
        payload.setdefault(name, [])
        payload[name].append(value)
    return client.post(URL, data=payload, headers={"Authorization": f"Bearer {raw}"})


def upload(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/png")


def bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("data, files, status, param", [
    ({"prompt": "x", "model": "cards"}, [("mask", ("m.png", mask_png()))], 400, "image"),
    ({"model": "cards"}, [("image", ("a.png", png()))], 400, "prompt"),
    ({"prompt": "x", "model": "cards"}, [("image", ("a.png", b"not an image"))], 400, "image"),
    ({"prompt": "x", "model": "cards"}, [("image", ("a.png", bomb()))], 400, "image"),
    ({"prompt": "x", "model": "cards"}, [("image", ("a.png", png())), ("mask", ("m.png", mask_png((64, 64))))],
     400, "mask"),
    ({"prompt": "x", "model": "cards"}, [("image", ("a.png", png())), ("mask", ("m.png", png()))], 400, "mask"),
    ({"prompt": "x", "model": "cards"}, [("image[]", (f"{i}.png", png())) for i in range(17)], 400, "image"),
    ({"prompt": "x", "model": "cards", "n": "11"}, [("image", ("a.png", png()))], 400, "n"),
    ({"prompt": "x", "model": "cards", "input_fidelity": "max"}, [("image", ("a.png", png()))], 400,
     "input_fidelity"),
    ({"prompt": "x", "model": "cards", "bogus": "1"}, [("image", ("a.png", png()))], 400, "bogus"),
    ({"prompt": "x", "model": "test"}, [("image", ("a.png", png()))], 400, "model"),
    ({"prompt": "x", "model": "nope"}, [("image", ("a.png", png()))], 404, "model"),
])
def test_bad_input_is_an_openai_error_and_nothing_is_stored(client, token, settings, data, files, status, param):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
    }
    response = post(client, token[1], data, [(name, upload(*value)) for name, value in files])
    assert_error(response, status, param=param)
    assert ImageOutput.objects.count() == 0


def test_json_bodies_and_missing_tokens_are_refused(client, token):
    response = client.post(URL, data={"prompt": "x"}, content_type="application/json",
                           headers={"Authorization": f"Bearer {token[1]}"})
    assert_error(response, 400, param="image", code="invalid_content_type")
    response = client.post(URL, data={"prompt": "x", "image": upload("a.png", png())})
    assert_error(response, 401, code="invalid_api_key")
    assert client.get(URL, headers={"Authorization": f"Bearer {token[1]}"}).status_code == 405
