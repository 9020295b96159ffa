"""BLOGIMAGES_LLMS and the handler: built like the providers, reset by override_settings."""

from __future__ import annotations

import pytest

from blogimages.llms import InvalidLLMError, get_llm, llms
from blogimages.llms.openai import OpenAILLM
from blogimages.llms.rules import RulesLLM


def test_rules_is_the_default_and_says_it_is_no_model():
    llm = get_llm()
    assert isinstance(llm, RulesLLM)
    assert llm.capabilities().offline and not llm.capabilities().tools
    assert "not an AI model" in llm.label


def test_unknown_alias_names_the_configured_ones():
    with pytest.raises(InvalidLLMError, match="'gpt' is not configured; configured: rules"):
        get_llm("gpt")


def test_settings_changes_rebuild_the_registry(settings):
    settings.BLOGIMAGES_LLMS = {"chat": {"BACKEND": "blogimages.llms.openai.OpenAILLM",
                                         "OPTIONS": {"api_key": "k", "model": "gpt-6.1-terra"}}}
    settings.BLOGIMAGES_DEFAULT_LLM = "chat"
    assert isinstance(get_llm(), OpenAILLM) and get_llm().model == "gpt-6.1-terra"
    assert llms.aliases() == ["chat"]


def test_a_backend_that_cannot_be_imported_is_a_configuration_error(settings):
    settings.BLOGIMAGES_LLMS = {"x": {"BACKEND": "blogimages.llms.nowhere.LLM"}}
    with pytest.raises(InvalidLLMError, match="could not import"):
        get_llm("x")
    settings.BLOGIMAGES_LLMS = {"x": {"OPTIONS": {}}}
    with pytest.raises(InvalidLLMError, match="has no BACKEND"):
        get_llm("x")


def test_the_environment_offers_a_backend_only_with_its_settings(monkeypatch):
    from config import settings as config

    for name in ("OPENAI_API_KEY", "OPENAI_LLM_MODEL", "LLM_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert list(config._llms_from_env()) == ["rules"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert list(config._llms_from_env()) == ["rules"]  # a key alone names no model
    monkeypatch.setenv("OPENAI_LLM_MODEL", "gpt-6.1-terra")
    monkeypatch.setenv("OPENAI_LLM_VISION_MODEL", "gpt-6.1-sol")
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("LLM_MODEL", "llama3.2")
    monkeypatch.setenv("LLM_VISION_MODEL", "llava")
    built = config._llms_from_env()
    assert built["openai"]["OPTIONS"]["model"] == "gpt-6.1-terra"
    assert built["openai"]["OPTIONS"]["vision_model"] == "gpt-6.1-sol"
    assert built["openai_compatible"]["OPTIONS"] == {"base_url": "http://127.0.0.1:11434/v1", "api_key": "",
                                                     "model": "llama3.2", "vision_model": "llava"}
