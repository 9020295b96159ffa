"""Fallback across providers: a setting's, a provider alias's or the CLI's list of aliases,
tried in order through the one generation path, against real loopback stand-ins (an
AUTOMATIC1111 WebUI on pytest-httpserver, the ComfyUI of comfy_standin) and a port nobody
listens on."""

from __future__ import annotations

import json
import socket

import pytest
from django.core.management import call_command
from PIL import Image

from blogimages import generation
from blogimages.exceptions import InvalidProviderError
from blogimages.models import ImageSetting, OutputStatus
from tests.blogimages.providers.comfy_standin import CHECKPOINTS, Behaviour, FakeComfy
from tests.blogimages.providers.test_automatic1111 import SAMPLERS, SCHEDULERS, SD_MODELS

pytestmark = pytest.mark.django_db


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def comfy():
    server = FakeComfy().start()
    yield server
    server.stop()


@pytest.fixture
def configure(settings, comfy):
    def configure(*, sd_url: str, sd_options: dict | None = None) -> None:
        settings.BLOGIMAGES_PROVIDERS = {
            "sd": {"BACKEND": "blogimages.providers.automatic1111.Automatic1111Provider",
                   "OPTIONS": {"base_url": sd_url, "timeout": 3, "connect_timeout": 1, **(sd_options or {})}},
            "comfyui": {"BACKEND": "blogimages.providers.comfyui.ComfyUIProvider",
                        "OPTIONS": {"base_url": comfy.url, "checkpoint": CHECKPOINTS[0], "poll_interval": 0.01,
                                    "timeout": 10}},
            "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        }
        settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"

    return configure


@pytest.fixture
def webui(httpserver):
    for path, listing in (("/sdapi/v1/sd-models", SD_MODELS), ("/sdapi/v1/samplers", SAMPLERS),
                          ("/sdapi/v1/schedulers", SCHEDULERS)):
        httpserver.expect_request(path, method="GET").respond_with_json(listing)
    return httpserver


def test_a_setting_falls_back_to_cards_when_the_sd_host_is_down(configure):
    configure(sd_url=f"http://127.0.0.1:{unused_port()}")
    setting = ImageSetting.objects.create(name="sd-then-cards", provider="sd", width=1200, height=630, steps=30,
                                          sampler="Euler a", fallbacks=["sd", "cards"])

    [output] = generation.generate(prompt="a lighthouse at dusk", setting=setting)

    assert output.status == OutputStatus.SUCCEEDED, output.error
    assert output.provider == "cards"
    fallback = output.provider_metadata["fallback"]
    assert fallback["provider"] == "cards"
    assert [(t["provider"], t["type"]) for t in fallback["tried"]] == [("sd", "ProviderUnreachable")]
    assert "could not connect" in fallback["tried"][0]["error"]
    assert fallback["dropped"] == ["steps", "sampler"]  # cards takes neither
    # Asked at 1200x630: sd would have made 1200x632 and cropped; cards makes it exactly.
    assert (output.width, output.height) == (1200, 630)
    assert output.setting_snapshot["provider"] == "cards"
    assert output.setting_snapshot["fallback_from"]["provider"] == "sd"
    sidecar = json.loads(output.sidecar.open("rb").read())
    assert sidecar["provider"] == "cards" and sidecar["provider_metadata"]["fallback"]["tried"][0]["provider"] == "sd"


def test_a_failing_webui_hands_the_request_to_comfyui_with_the_size_translated(configure, webui, comfy):
    webui.expect_request("/sdapi/v1/txt2img", method="POST").respond_with_json(
        {"error": "OutOfMemoryError", "detail": "", "body": "", "errors": "CUDA out of memory"}, status=500)
    configure(sd_url=webui.url_for("/").rstrip("/"), sd_options={"fallbacks": ["comfyui"]})

    [output] = generation.generate(prompt="a lighthouse at dusk", provider="sd",
                                   overrides={"width": 200, "height": 130, "seed": 7, "sampler": "Euler a"})

    assert output.status == OutputStatus.SUCCEEDED, output.error
    assert output.provider == "comfyui"
    [tried] = output.provider_metadata["fallback"]["tried"]
    assert (tried["provider"], tried["type"], tried["retryable"]) == ("sd", "ProviderServerError", True)
    sent = comfy.calls("POST", "/prompt")[0]["prompt"]
    # 130 is not a multiple of 8: ComfyUI made the nearest shape it can, then it was cropped.
    assert (sent["5"]["inputs"]["width"] % 8, sent["5"]["inputs"]["height"] % 8) == (0, 0)
    assert sent["3"]["inputs"]["seed"] == 7
    assert (output.width, output.height) == (200, 130)
    assert "sampler" in output.provider_metadata["fallback"]["dropped"]


def test_a_content_refusal_never_falls_through(configure, webui, comfy):
    webui.expect_request("/sdapi/v1/txt2img", method="POST").respond_with_json(
        {"error": "HTTPException", "detail": "NSFW content detected by the safety filter"}, status=400)
    configure(sd_url=webui.url_for("/").rstrip("/"))

    [output] = generation.generate(prompt="x", provider="sd", overrides={"width": 64, "height": 64,
                                                                         "fallbacks": ["comfyui", "cards"]})

    assert output.status == OutputStatus.FAILED and output.provider == "sd"
    assert "content filter" in output.error
    assert comfy.calls("POST", "/prompt") == []


def test_a_cancel_in_comfyui_stops_the_chain(configure, comfy):
    configure(sd_url="http://127.0.0.1:9")
    comfy.behave(Behaviour(outcome="interrupt"))

    [output] = generation.generate(prompt="x", provider="comfyui", overrides={"width": 64, "height": 64,
                                                                              "fallbacks": ["cards"]})

    assert output.status == OutputStatus.FAILED and "cancelled" in output.error
    assert output.provider == "comfyui"


def test_every_provider_failing_says_why_each_did(configure, comfy):
    configure(sd_url=f"http://127.0.0.1:{unused_port()}")
    comfy.history_faults = ["401"]  # the proxy in front of ComfyUI refuses us mid-run

    [output] = generation.generate(prompt="x", provider="sd", overrides={
        "width": 64, "height": 64, "fallbacks": ["comfyui"]})

    assert output.status == OutputStatus.FAILED
    assert output.error.startswith("every provider failed: sd: ")
    assert "; then comfyui: checking progress failed: 401" in output.error
    tried = output.provider_metadata["fallback"]["tried"]
    assert [(t["provider"], t["type"]) for t in tried] == [("sd", "ProviderUnreachable"),
                                                           ("comfyui", "ProviderAuthError")]


def test_the_cli_takes_fallbacks_and_says_which_provider_made_the_image(configure, capsys):
    configure(sd_url=f"http://127.0.0.1:{unused_port()}")

    call_command("generate_image", "a lighthouse", "--provider", "sd", "--size", "64x64",
                 "--fallback", "comfyui", "--fallback", "cards")
    out = capsys.readouterr().out

    assert "1 of 1 image(s)" in out
    assert "made by fallback comfyui after sd: " in out and "could not connect" in out


def test_an_unknown_fallback_alias_is_refused_before_anything_is_stored(configure):
    configure(sd_url="http://127.0.0.1:9")
    with pytest.raises(InvalidProviderError):
        generation.build_request(prompt_text="x", provider="sd", overrides={"fallbacks": ["nope"]})


def test_the_stored_file_of_a_fallback_is_a_real_image(configure):
    configure(sd_url=f"http://127.0.0.1:{unused_port()}")
    [output] = generation.generate(prompt="x", provider="sd", overrides={"width": 64, "height": 64,
                                                                         "fallbacks": ["cards"]})
    with Image.open(output.file.open("rb")) as image:
        assert image.size == (64, 64)


@pytest.fixture
def cheap_then_dear(settings):
    """A $0.01 ComfyUI nobody answers for, falling back to the $0.04 recording provider."""
    settings.BLOGIMAGES_PROVIDERS = {
        "cheap": {"BACKEND": "blogimages.providers.comfyui.ComfyUIProvider",
                  "OPTIONS": {"base_url": f"http://127.0.0.1:{unused_port()}", "checkpoint": CHECKPOINTS[0],
                              "connect_timeout": 1, "timeout": 3, "prices": {"*": "0.01"}, "fallbacks": ["test"]}},
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cheap"
    settings.BLOGIMAGES_RATE_LIMITS = {}
    from blogimages.providers import providers

    return providers["test"]


def test_the_budget_reserves_the_costliest_provider_of_the_chain(cheap_then_dear, settings):
    from blogimages.budgets import BudgetExceeded, spent
    from tests.factories import UserFactory

    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.03"}  # the first provider fits, its fallback does not
    user = UserFactory()
    plan = generation.build_request(prompt_text="x", provider="cheap", overrides={"width": 64, "height": 64})
    assert plan.cost_per_image == generation.Decimal("0.04")

    with pytest.raises(BudgetExceeded, match=r"about \$0.04"):
        generation.generate(prompt="x", provider="cheap", overrides={"width": 64, "height": 64}, user=user)
    assert cheap_then_dear.requests == []  # refused before any provider was asked
    assert spent(user=user, period="daily") == 0


def test_a_fallback_within_the_budget_spends_what_it_cost(cheap_then_dear, settings):
    from blogimages.budgets import spent
    from tests.factories import UserFactory

    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.05"}
    user = UserFactory()

    [output] = generation.generate(prompt="x", provider="cheap", overrides={"width": 64, "height": 64}, user=user)

    assert output.status == OutputStatus.SUCCEEDED and output.provider == "test"
    assert spent(user=user, period="daily") == generation.Decimal("0.04")
    with pytest.raises(generation.budgets.BudgetExceeded):  # 0.04 spent: not another 0.04
        generation.generate(prompt="x", provider="cheap", overrides={"width": 64, "height": 64}, user=user)


def test_a_free_first_provider_that_succeeds_spends_nothing_of_its_fallbacks_reservation(settings, comfy):
    settings.BLOGIMAGES_PROVIDERS = {
        "comfyui": {"BACKEND": "blogimages.providers.comfyui.ComfyUIProvider",
                    "OPTIONS": {"base_url": comfy.url, "checkpoint": CHECKPOINTS[0], "poll_interval": 0.01,
                                "timeout": 10, "fallbacks": ["test"]}},
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "comfyui"
    settings.BLOGIMAGES_RATE_LIMITS = {}
    from blogimages.budgets import spent
    from tests.factories import UserFactory

    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.05"}
    user = UserFactory()
    [output] = generation.generate(prompt="x", provider="comfyui", overrides={"width": 64, "height": 64}, user=user)

    assert output.status == OutputStatus.SUCCEEDED and output.provider == "comfyui"
    assert output.cost_estimate == generation.Decimal("0.04")  # reserved: what the fallback would cost
    assert output.cost == 0  # what the call cost settles it
    assert spent(user=user, period="daily") == 0
