"""/v1 with today's OpenAI models behind it (the stand-in), through the real SDK: usage is
the upstream's, once, and a retired model is refused naming its replacement."""

from __future__ import annotations

import openai
import pytest

from blogimages import tokens
from tests.blogimages.providers.openai_standin import configure_app
from tests.factories import UserFactory


@pytest.fixture
def standin(httpserver, settings):
    yield configure_app(settings, httpserver)
    httpserver.check_assertions()


@pytest.fixture
def sdk(v1_sdk):
    _token, raw = tokens.create_token(UserFactory(username="scripter"), name="tests")
    return v1_sdk(raw)


@pytest.mark.django_db(transaction=True)
def test_v1_usage_for_n2_equals_what_the_upstream_reported(standin, sdk):
    result = sdk.images.generate(model="openai/gpt-image-2", prompt="a lighthouse at dusk", n=2,
                                 size="1024x1024", quality="medium")

    [upstream] = standin.usages
    assert upstream["output_tokens"] == 2112 and upstream["total_tokens"] == 2117
    assert result.usage.model_dump(exclude_none=True) == {
        "input_tokens": upstream["input_tokens"],
        "input_tokens_details": upstream["input_tokens_details"],
        "output_tokens": upstream["output_tokens"],
        "total_tokens": upstream["total_tokens"],
    }


@pytest.mark.django_db(transaction=True)
def test_v1_refuses_a_retired_model_naming_its_replacement(standin, sdk):
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.images.generate(model="dall-e-3", prompt="a lighthouse at dusk")

    assert caught.value.code == "model_not_found"
    assert "dall-e-3 was shut down on 2026-05-12; use gpt-image-2 instead" in caught.value.message
    assert standin.calls == []
