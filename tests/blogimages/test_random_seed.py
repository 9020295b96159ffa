"""A seed of −1 means "random" (AUTOMATIC1111's and many OpenAI clients' convention): no
seed, from every face (/v1, the JSON API, the CLI, the tester and setting forms), so a
provider that takes no seed is not refused for it. Against a loopback OpenAI-compatible
host (tests/fake_image_host.py) configured without seeds."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from blogimages import tokens
from blogimages.forms import TesterForm
from blogimages.forms_admin import ImageSettingForm
from blogimages.models import ImageOutput, OutputStatus
from blogimages.providers.base import MAX_SEED_64
from tests.blogimages.api.test_json import Api
from tests.factories import UserFactory
from tests.fake_image_host import FakeImageHost

pytestmark = pytest.mark.django_db


@pytest.fixture
def seedless(settings):
    """`flux` takes no seed; `cards` does."""
    host = FakeImageHost().start()
    settings.BLOGIMAGES_PROVIDERS = {
        "flux": host.provider_config(supports_seed=False),
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "flux"
    settings.BLOGIMAGES_RATE_LIMITS = {}
    yield host
    host.stop()


@pytest.fixture
def raw_token():
    return tokens.create_token(UserFactory(is_staff=True, is_superuser=True), name="tests")[1]


def v1(client, raw_token, body):
    return client.post("/v1/images/generations", data=json.dumps(body), content_type="application/json",
                       headers={"Authorization": f"Bearer {raw_token}"})


def test_v1_takes_minus_one_as_no_seed_for_a_provider_without_seeds(client, raw_token, seedless):
    response = v1(client, raw_token, {"model": "flux/flux-test", "prompt": "a lighthouse", "size": "256x256",
                                      "seed": -1, "response_format": "b64_json"})

    assert response.status_code == 200, response.content
    [sent] = [seen.body for seen in seedless.requests]
    assert "seed" not in sent
    assert ImageOutput.objects.get().status == OutputStatus.SUCCEEDED
    # A real seed is still refused for it, with the reason.
    refused = v1(client, raw_token, {"model": "flux/flux-test", "prompt": "x", "size": "256x256", "seed": 5})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "seed"


def test_v1_minus_one_on_a_seeded_provider_draws_and_records_a_seed(client, raw_token, seedless):
    response = v1(client, raw_token, {"model": "cards", "prompt": "a lighthouse", "size": "64x64", "seed": -1,
                                      "response_format": "b64_json"})
    assert response.status_code == 200, response.content
    output = ImageOutput.objects.get()
    assert output.seed is not None and output.seed >= 0


def test_the_json_api_takes_minus_one_as_no_seed(client, raw_token, seedless):
    response = Api(client, raw_token).post("/images/generate", {"prompt": "a lighthouse", "provider": "flux",
                                                                "width": 256, "height": 256, "seed": -1})
    assert response.status_code == 201, response.content
    assert "seed" not in seedless.requests[0].body


def test_the_cli_takes_minus_one_as_no_seed(seedless, capsys):
    call_command("generate_image", "a lighthouse", "--provider", "flux", "--size", "256x256", "--seed", "-1")
    assert "1 of 1 image(s)" in capsys.readouterr().out
    assert "seed" not in seedless.requests[0].body


def test_the_tester_form_takes_minus_one_as_no_seed_and_64_bit_seeds(seedless):
    form = TesterForm(data={"description": "a lighthouse", "provider": "flux", "n": 1, "seed": "-1"})
    assert form.is_valid(), form.errors
    assert "seed" not in form.overrides()

    big = TesterForm(data={"description": "a lighthouse", "provider": "cards", "n": 1, "seed": str(MAX_SEED_64)})
    assert big.is_valid(), big.errors
    assert big.overrides()["seed"] == MAX_SEED_64
    assert not TesterForm(data={"description": "x", "n": 1, "seed": "-2"}).is_valid()


def test_the_setting_form_saves_minus_one_as_a_blank_seed(seedless):
    form = ImageSettingForm(data={"name": "random", "provider": "flux", "width": 256, "height": 256, "seed": "-1",
                                  "extra_settings": "{}", "fallbacks": "[]"})
    assert form.is_valid(), form.errors
    assert form.save().seed is None
    assert not ImageSettingForm(data={"name": "bad", "provider": "cards", "width": 64, "height": 64, "seed": "-2",
                                      "extra_settings": "{}", "fallbacks": "[]"}).is_valid()
