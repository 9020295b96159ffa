"""llm_complete: budget before the call, usage recorded and priced after, failures recorded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from blogimages.budgets import BudgetExceeded, check_budget, spent
from blogimages.exceptions import ProviderRateLimited
from blogimages.llm_calls import llm_complete, llm_stream
from blogimages.llms import CompletionRequest, Message
from blogimages.models import CostBasis, LlmCall
from tests.blogimages.llms.chat_server import answer, completion, error_body
from tests.factories import UserFactory

# Spend is counted in today's window: the call and the check must see the same day.
pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def chat_llm(settings, httpserver):
    settings.BLOGIMAGES_LLMS = {
        "rules": {"BACKEND": "blogimages.llms.rules.RulesLLM"},
        "chat": {"BACKEND": "blogimages.llms.openai.OpenAILLM", "OPTIONS": {
            "api_key": "sk-test", "base_url": httpserver.url_for("/v1"), "model": "gpt-6.1-terra",
            "prices": {"gpt-6.1-terra": {"input": "2", "output": "12"}}}},
    }
    return "chat"


def hello(max_tokens: int = 100) -> CompletionRequest:
    return CompletionRequest(messages=[Message(role="user", content="hello")], max_tokens=max_tokens)


def test_usage_is_recorded_and_priced(chat_llm, httpserver):
    user = UserFactory()
    answer(httpserver, completion("hi", usage={"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}))
    result, call = llm_complete(hello(), alias=chat_llm, user=user, purpose="chat")
    assert result.text == "hi"
    call.refresh_from_db()
    assert (call.input_tokens, call.output_tokens, call.user, call.purpose) == (1000, 500, user, "chat")
    assert call.cost == Decimal("0.008000") and call.cost_basis == CostBasis.USAGE  # 1000×2 + 500×12 per 1M
    assert call.request_id == "req-chat-1"
    assert spent(user=user, period="daily") == Decimal("0.008000")


def test_a_host_without_usage_is_charged_its_estimate(chat_llm, httpserver):
    answer(httpserver, completion("hi", usage=False))
    _, call = llm_complete(hello(max_tokens=1000), alias=chat_llm)
    assert call.cost_basis == CostBasis.ESTIMATE and call.cost == Decimal("0.012004")  # 2 in + 1000 out tokens


def test_budgets_refuse_an_llm_call_that_would_exceed_them(chat_llm, httpserver, settings):
    user = UserFactory()
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.01"}
    with pytest.raises(BudgetExceeded, match="your daily budget"):
        llm_complete(hello(max_tokens=1000), alias=chat_llm, user=user)  # 1000 output tokens: $0.012 at most
    assert httpserver.log == [] and not LlmCall.objects.exists()


def test_llm_spend_counts_against_image_budgets_too(chat_llm, httpserver, settings):
    user = UserFactory()
    answer(httpserver, completion("hi", usage={"prompt_tokens": 0, "completion_tokens": 750, "total_tokens": 750}))
    llm_complete(hello(), alias=chat_llm, user=user)  # $0.009
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.01"}
    check_budget(user=user, cost=Decimal("0.001"))
    with pytest.raises(BudgetExceeded):
        check_budget(user=user, cost=Decimal("0.002"))


def test_a_failed_call_is_recorded_with_its_reason_and_costs_nothing(chat_llm, httpserver):
    answer(httpserver, error_body("slow down", code="rate_limit_exceeded"), status=429)
    with pytest.raises(ProviderRateLimited):
        llm_complete(hello(), alias=chat_llm, purpose="draft")
    call = LlmCall.objects.get()
    assert "slow down" in call.error and call.cost is None and call.purpose == "draft"


def test_the_offline_rules_cost_nothing():
    result, call = llm_complete(hello())
    assert call.alias == "rules" and call.cost is None and "offline" in result.text


def test_a_streamed_call_yields_its_pieces_then_records_and_prices_it(chat_llm, httpserver):
    from tests.blogimages.llms.chat_server import CHAT, chunk, sse

    user = UserFactory()
    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_response(sse(
        chunk({"content": "A red "}), chunk({"content": "lighthouse."}), chunk({}, finish_reason="stop"),
        chunk(None, usage={"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500})))
    got = list(llm_stream(hello(), alias=chat_llm, user=user, purpose="chat"))
    assert got[:2] == ["A red ", "lighthouse."] and len(got) == 3
    completion_, call = got[2]
    assert completion_.text == "A red lighthouse." and completion_.streamed
    assert call.cost == Decimal("0.008000") and call.cost_basis == CostBasis.USAGE and call.user == user


def test_a_backend_that_does_not_stream_yields_only_its_answer(chat_llm, httpserver, settings):
    import json as json_

    settings.BLOGIMAGES_LLMS["chat"]["OPTIONS"]["streaming"] = False
    answer(httpserver, completion("hi"))
    [(result, call)] = list(llm_stream(hello(), alias=chat_llm))
    assert result.text == "hi" and not result.streamed and call.input_tokens == 120
    assert "stream" not in json_.loads(httpserver.log[0][0].get_data())


def test_a_streamed_call_is_refused_over_budget_and_a_failed_one_recorded(chat_llm, httpserver, settings):
    user = UserFactory()
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.01"}
    with pytest.raises(BudgetExceeded):
        next(llm_stream(hello(max_tokens=1000), alias=chat_llm, user=user))
    assert httpserver.log == [] and not LlmCall.objects.exists()
    settings.BLOGIMAGES_BUDGETS = {}
    answer(httpserver, error_body("slow down", type="rate_limit_exceeded"), status=429, headers={"retry-after": "7"})
    with pytest.raises(ProviderRateLimited):
        list(llm_stream(hello(), alias=chat_llm, user=user))
    assert "slow down" in LlmCall.objects.get().error
