"""Secrets a host echoes back never leave the provider: redacted before anything shortens them."""

import json
import logging

import pytest

from blogimages import generation
from blogimages.models import ImageOutput
from blogimages.providers.base import redact_secrets, secrets_in

KEY = "sk-proj-" + "Zq8vN3xLp0Rt7WbY2mKc5HsJ" * 2  # 56 characters
PASSWORD = "s3cret-webui-passw0rd"


def no_run_of(secret: str, text: str, run: int = 8) -> bool:
    return all(secret[i:i + run] not in text for i in range(len(secret) - run + 1))


@pytest.mark.parametrize("text", [
    f"bad key {KEY} given",
    f"{'x' * 490}{KEY}"[:500],  # cut at 500 characters, the key's tail gone
    f"Incorrect API key provided: {KEY[:20]}…{KEY[-10:]}",  # a host that "masks" the middle
    f"{KEY[:30]}\n{KEY[30:]}",  # split across lines
])
def test_every_run_of_eight_characters_of_a_secret_is_redacted(text):
    cleaned = redact_secrets(text, (KEY,))
    assert no_run_of(KEY, cleaned) and "[redacted]" in cleaned


def test_short_runs_and_ordinary_text_survive():
    assert redact_secrets("sk-proj is the prefix; Zq8vN3x", (KEY,)) == "sk-proj is the prefix; Zq8vN3x"
    assert redact_secrets("", (KEY,)) == "" and redact_secrets("plain", ()) == "plain"


def test_secrets_are_read_from_the_options():
    found = secrets_in({"api_key": KEY, "auth": f"admin:{PASSWORD}", "base_url": "http://x", "timeout": 5,
                        "token": "short"})
    assert KEY in found and PASSWORD in found and "http://x" not in found and "short" not in found


@pytest.fixture
def openai_echoing(settings, httpserver):
    """An OpenAI-compatible host whose error page echoes the key just past character 500."""
    page = "<html><body><h1>401 Unauthorized</h1><p>" + "x" * 480 + f" key={KEY} </p></body></html>"
    httpserver.expect_request("/v1/images/generations").respond_with_data(page, status=401,
                                                                          content_type="text/html")
    settings.BLOGIMAGES_PROVIDERS = {"openai": {"BACKEND": "blogimages.providers.openai.OpenAIProvider", "OPTIONS": {
        "api_key": KEY, "base_url": httpserver.url_for("/v1"), "timeout": 5}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "openai"


@pytest.fixture
def webui_echoing(settings, httpserver):
    # The password starts just before the 300 characters the error message keeps.
    body = {"error": "HTTPException", "detail": "x" * 255 + f" Incorrect password {PASSWORD} for admin"}
    httpserver.expect_request("/sdapi/v1/txt2img").respond_with_json(body, status=401)
    settings.BLOGIMAGES_PROVIDERS = {"sd": {"BACKEND": "blogimages.providers.automatic1111.Automatic1111Provider",
                                            "OPTIONS": {"base_url": httpserver.url_for(""),
                                                        "auth": f"admin:{PASSWORD}", "timeout": 5}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "sd"


@pytest.mark.django_db
@pytest.mark.parametrize("fixture, secret", [("openai_echoing", KEY), ("webui_echoing", PASSWORD)])
def test_an_echoed_secret_reaches_no_row_log_or_answer(request, fixture, secret, caplog, client):
    request.getfixturevalue(fixture)
    caplog.set_level(logging.DEBUG)
    [output] = generation.generate(prompt="A lighthouse", overrides={"width": 1024, "height": 1024})
    assert output.status == "failed" and "[redacted" in output.error  # (perhaps cut after redaction)
    row = ImageOutput.objects.filter(pk=output.pk).values().get()
    assert no_run_of(secret, json.dumps(row, default=str))
    assert no_run_of(secret, caplog.text)
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("reader", is_staff=True))
    assert no_run_of(secret, client.get(f"/api/images/{output.pk}").content.decode())
    assert no_run_of(secret, client.get(f"/images/{output.pk}/").content.decode())
