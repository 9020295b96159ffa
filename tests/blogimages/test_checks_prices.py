"""`manage.py check` (blogimages.W005) names what a provider or LLM cannot price while a budget
is set, since such a request is refused (budgets.PriceUnknown) before any provider is called:
the operator hears of it before a user is refused. Free and fully priced backends are quiet."""

from __future__ import annotations

import pytest
from django.core import checks

from blogimages.checks import check_prices_under_budget

pytestmark = pytest.mark.django_db

COMPATIBLE = "blogimages.providers.openai_compatible.OpenAICompatibleProvider"
# Nothing listens here: the configured model list means the host is never asked.
HOST = "http://127.0.0.1:9/v1"


def host(**options):
    return {"BACKEND": COMPATIBLE, "OPTIONS": {"base_url": HOST, "models": ["flux-dev"], **options}}


@pytest.fixture
def configure(settings):
    def configure(providers=None, *, llms=None, budgets=None):
        settings.BLOGIMAGES_PROVIDERS = {
            "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}}, **(providers or {}),
        }
        settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"
        settings.BLOGIMAGES_LLMS = {"rules": {"BACKEND": "blogimages.llms.rules.RulesLLM", "OPTIONS": {}},
                                    **(llms or {})}
        settings.BLOGIMAGES_DEFAULT_LLM = "rules"
        settings.BLOGIMAGES_BUDGETS = {"global_daily": "5"} if budgets is None else budgets
        return check_prices_under_budget()

    return configure


def test_a_host_without_prices_is_named_with_the_fix(configure):
    [warning] = configure({"flux": host()})

    assert warning.id == "blogimages.W005"
    assert "Provider 'flux' has no price for flux-dev (any size or quality)" in warning.msg
    assert "refused (price_unknown)" in warning.msg
    assert 'OPTIONS["prices"] = {"flux-dev": {"*": 0.04' in warning.hint
    assert '{"*": 0} if it is free' in warning.hint


def test_a_list_keyed_by_quality_names_auto_and_no_quality(configure):
    [warning] = configure({"flux": host(qualities=["auto", "hd"], prices={"flux-dev": {"hd:*": "0.05"}})})

    assert "flux-dev (quality 'auto', quality none given)" in warning.msg
    assert "'hd'" not in warning.msg


def test_a_default_quality_prices_the_requests_that_give_none(configure):
    [warning] = configure({"flux": host(qualities=["auto", "hd"], prices={"flux-dev": {"hd:*": "0.05"}},
                                        defaults={"quality": "hd"})})

    assert "flux-dev (quality 'auto')" in warning.msg


def test_a_list_keyed_by_size_names_the_sizes_it_lacks(configure):
    # No size list: the host takes a range, probed at its default and a social card's fitted size.
    [warning] = configure({"flux": host(prices={"flux-dev": {"*:1024x1024": "0.04"}})})

    assert "flux-dev (size 1216x640)" in warning.msg


def test_every_offered_model_is_judged(configure):
    [warning] = configure({"flux": host(models=["flux-dev", "flux-pro"], prices={"flux-dev": {"*": "0.03"}})})

    assert "flux-pro (any size or quality)" in warning.msg
    assert "flux-dev" not in warning.msg


@pytest.mark.parametrize("providers", [
    {"flux": host(prices={"flux-dev": {"*": "0.04"}})},
    {"flux": host(qualities=["auto", "hd"], prices={"*": {"*": "0.04", "hd:*": "0.08"}})},
    {"flux": host(prices={"*": {"*": 0}})},  # a free host, said so
    # OpenAI's own table prices every model, size and quality (token prices, `auto` estimated high).
    {"openai": {"BACKEND": "blogimages.providers.openai.OpenAIProvider",
                "OPTIONS": {"api_key": "sk-test", "read_model_list": False}}},
    {},  # the local cards provider lists {"*": 0}
], ids=["priced", "priced-by-quality", "free-host", "openai-table", "local"])
def test_fully_priced_or_free_providers_are_quiet(configure, providers):
    assert configure(providers) == []


def test_without_a_budget_nothing_is_refused_and_nothing_is_said(configure):
    assert configure({"flux": host()}, llms={"gateway": {
        "BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
        "OPTIONS": {"base_url": HOST, "model": "llama-4"}}}, budgets={"user_daily": None}) == []


def test_a_user_budget_alone_is_a_budget(configure):
    [warning] = configure({"flux": host()}, budgets={"user_monthly": "20"})

    assert warning.id == "blogimages.W005"


def test_an_llm_without_prices_is_named_and_a_priced_or_offline_one_is_not(configure):
    gateway = {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
               "OPTIONS": {"base_url": HOST, "model": "llama-4", "vision_model": "llava"}}
    priced = {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
              "OPTIONS": {"base_url": HOST, "model": "llama-4", "prices": {"llama-4": {"input": 1, "output": 2}}}}

    [warning] = configure(llms={"gateway": gateway, "priced": priced})

    assert warning.id == "blogimages.W005"
    assert "LLM 'gateway' has no price for llama-4, llava" in warning.msg
    assert 'OPTIONS["prices"] = {"llama-4": {"input"' in warning.hint


def test_manage_py_check_reports_it(configure):
    configure({"flux": host()})

    found = [message for message in checks.run_checks() if message.id == "blogimages.W005"]

    assert len(found) == 1 and "'flux'" in found[0].msg
