"""The `openai` LLM backend against a loopback server speaking Chat Completions, via the real SDK."""

from __future__ import annotations

import base64

import pytest

from blogimages.exceptions import (
    ContentRefused,
    ModelRetired,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnreachable,
    UnsupportedFeature,
)
from blogimages.llms import CompletionRequest, ImageInput, Message, Tool
from blogimages.llms.openai import OpenAILLM
from tests.blogimages.providers.openai_server import stalled_endpoint, unused_port

from .chat_server import API_KEY, CHAT, answer, chunk, completion, error_body, sent_json, sse, tool_call

GENERATE = Tool(name="generate_image", description="Make an image.", parameters={
    "type": "object", "properties": {"description": {"type": "string"}, "width": {"type": "integer"}},
    "required": ["description"],
})


@pytest.fixture(autouse=True)
def _no_unexpected_requests(httpserver):
    yield
    httpserver.check_assertions()


@pytest.fixture
def make_llm(httpserver):
    def make(**options):
        return OpenAILLM(alias="openai", options={
            "api_key": API_KEY, "base_url": httpserver.url_for("/v1"), "model": "gpt-6.1-terra",
            "vision_model": "gpt-6.1-sol", "timeout": 5, **options,
        })
    return make


def ask(text: str = "Hello", **kwargs) -> CompletionRequest:
    return CompletionRequest(messages=[Message(role="system", content="Be brief."), Message(role="user", content=text)],
                             **kwargs)


def test_a_text_answer_with_its_usage_and_request_id(httpserver, make_llm):
    answer(httpserver, completion("A lighthouse, red, at dusk."))
    result = make_llm().complete(ask("Describe it", max_tokens=200, temperature=0.2))
    assert result.text == "A lighthouse, red, at dusk."
    assert (result.usage.input_tokens, result.usage.output_tokens) == (120, 30)
    assert result.request_id == "req-chat-1"
    assert result.model == "gpt-6.1-terra" and result.tool_calls == []
    request = httpserver.log[0][0]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent_json(httpserver) == {
        "model": "gpt-6.1-terra",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Describe it"}],
        "max_completion_tokens": 200, "temperature": 0.2,
    }


def test_tool_calls_are_sent_and_read_back(httpserver, make_llm):
    answer(httpserver, completion(None, tool_calls=[tool_call("generate_image", {"description": "a red lighthouse",
                                                                                  "width": 1536})]))
    result = make_llm().complete(ask("a red lighthouse", tools=[GENERATE]))
    assert [(c.id, c.name, dict(c.arguments)) for c in result.tool_calls] == [
        ("call_1", "generate_image", {"description": "a red lighthouse", "width": 1536})]
    assert result.finish_reason == "tool_calls" and result.text == ""
    body = sent_json(httpserver)
    assert body["tools"] == [{"type": "function", "function": {
        "name": "generate_image", "description": "Make an image.", "parameters": dict(GENERATE.parameters)}}]
    assert body["tool_choice"] == "auto"


def test_a_tool_result_goes_back_in_the_conversation(httpserver, make_llm):
    from blogimages.llms import ToolCall

    answer(httpserver, completion("Here it is."))
    call = ToolCall(id="call_9", name="generate_image", arguments={"description": "x"})
    make_llm().complete(CompletionRequest(messages=[
        Message(role="user", content="x"), Message(role="assistant", tool_calls=[call]),
        Message(role="tool", tool_call_id="call_9", content='{"image": 3}')], tools=[GENERATE]))
    messages = sent_json(httpserver)["messages"]
    assert messages[1]["tool_calls"] == [{"id": "call_9", "type": "function",
                                          "function": {"name": "generate_image", "arguments": '{"description": "x"}'}}]
    assert messages[2] == {"role": "tool", "tool_call_id": "call_9", "content": '{"image": 3}'}


def test_malformed_tool_arguments_are_a_retryable_error(httpserver, make_llm):
    answer(httpserver, completion(None, tool_calls=[tool_call("generate_image", '{"description": ')]))
    with pytest.raises(ProviderServerError, match="not JSON") as info:
        make_llm().complete(ask(tools=[GENERATE]))
    assert info.value.retryable


def test_streamed_text_arrives_piece_by_piece(httpserver, make_llm):
    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_response(sse(
        chunk({"role": "assistant", "content": ""}), chunk({"content": "A red "}), chunk({"content": "lighthouse."}),
        chunk({}, finish_reason="stop"),
        chunk(None, usage={"prompt_tokens": 50, "completion_tokens": 4, "total_tokens": 54}),
    ))
    pieces: list[str] = []
    result = make_llm().complete(ask(), on_text=pieces.append)
    assert pieces == ["A red ", "lighthouse."]
    assert result.text == "A red lighthouse." and result.streamed
    assert (result.usage.input_tokens, result.usage.output_tokens) == (50, 4)
    assert result.request_id == "req-stream-1"
    body = sent_json(httpserver)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_streamed_tool_calls_are_assembled_from_their_deltas(httpserver, make_llm):
    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_response(sse(
        chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_7", "type": "function",
                                                     "function": {"name": "generate_image", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"descrip'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'tion": "a dog"}'}}]}),
        chunk({}, finish_reason="tool_calls"),
    ))
    result = make_llm().complete(ask(tools=[GENERATE]), on_text=lambda text: None)
    assert [(c.id, c.name, dict(c.arguments)) for c in result.tool_calls] == [
        ("call_7", "generate_image", {"description": "a dog"})]
    assert result.usage is None


def test_images_go_to_the_vision_model_as_data_urls(httpserver, make_llm):
    answer(httpserver, completion("A red lighthouse on a cliff at dusk"))
    png = b"\x89PNG\r\n\x1a\n-test-bytes"
    make_llm().complete(CompletionRequest(messages=[
        Message(role="user", content="Alt text?", images=[ImageInput(data=png, mime_type="image/png")])]))
    body = sent_json(httpserver)
    assert body["model"] == "gpt-6.1-sol"
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Alt text?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
    ]


def test_images_without_a_vision_model_are_refused_before_any_call(httpserver, make_llm):
    llm = make_llm(vision_model="")
    with pytest.raises(UnsupportedFeature, match="cannot look at images"):
        llm.complete(CompletionRequest(messages=[Message(role="user", content="?", images=[ImageInput(data=b"x")])]))
    assert httpserver.log == []


def test_json_output_asks_for_a_json_object(httpserver, make_llm):
    answer(httpserver, completion('{"description": "a lighthouse"}'))
    result = make_llm().complete(ask(json_output=True))
    assert result.json() == {"description": "a lighthouse"}
    assert sent_json(httpserver)["response_format"] == {"type": "json_object"}


def test_a_refusal_is_refused_content(httpserver, make_llm):
    answer(httpserver, completion(None, refusal="I can't help with that."))
    with pytest.raises(ContentRefused, match="can't help") as info:
        make_llm().complete(ask())
    assert not info.value.retryable


def test_a_streamed_refusal_is_refused_content(httpserver, make_llm):
    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_response(sse(
        chunk({"role": "assistant", "refusal": "I can't "}), chunk({"refusal": "do that."}),
        chunk({}, finish_reason="stop")))
    with pytest.raises(ContentRefused, match="I can't do that"):
        make_llm().complete(ask(), on_text=lambda text: None)


def test_a_content_filter_stop_is_refused_content(httpserver, make_llm):
    answer(httpserver, completion("", finish_reason="content_filter"))
    with pytest.raises(ContentRefused):
        make_llm().complete(ask())


def test_429_is_retryable_with_its_retry_after(httpserver, make_llm):
    answer(httpserver, error_body("Rate limit reached", type="requests", code="rate_limit_exceeded"), status=429,
           headers={"retry-after": "7"})
    with pytest.raises(ProviderRateLimited, match="Rate limit reached") as info:
        make_llm().complete(ask())
    assert info.value.retryable and info.value.retry_after == 7 and info.value.status_code == 429


def test_429_for_exhausted_quota_is_permanent(httpserver, make_llm):
    answer(httpserver, error_body("You exceeded your current quota", type="insufficient_quota",
                                  code="insufficient_quota"), status=429)
    with pytest.raises(ProviderAuthError, match="quota") as info:
        make_llm().complete(ask())
    assert not info.value.retryable


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(httpserver, make_llm, status):
    answer(httpserver, error_body("The server had an error", type="server_error"), status=status)
    with pytest.raises(ProviderServerError) as info:
        make_llm().complete(ask())
    assert info.value.retryable and info.value.status_code == status


def test_400_is_a_permanent_bad_request_naming_the_problem(httpserver, make_llm):
    answer(httpserver, error_body("Invalid value for 'max_completion_tokens'"), status=400)
    with pytest.raises(ProviderBadRequest, match="max_completion_tokens") as info:
        make_llm().complete(ask())
    assert not info.value.retryable and info.value.request_id == "req-chat-1"


def test_401_never_shows_the_key(httpserver, make_llm):
    answer(httpserver, error_body(f"Incorrect API key provided: {API_KEY}", code="invalid_api_key"), status=401)
    with pytest.raises(ProviderAuthError) as info:
        make_llm().complete(ask())
    assert API_KEY not in str(info.value) and API_KEY not in info.value.response
    assert "[redacted]" in str(info.value)


def test_a_silent_server_is_a_timeout(httpserver, make_llm):
    with stalled_endpoint(httpserver, CHAT):
        with pytest.raises(ProviderTimeout, match="no answer within 0.3 s") as info:
            make_llm(timeout=0.3).complete(ask())
    assert info.value.retryable


def test_nobody_listening_is_unreachable():
    llm = OpenAILLM(alias="openai", options={"api_key": API_KEY, "model": "gpt-6.1-terra",
                                             "base_url": f"http://127.0.0.1:{unused_port()}/v1", "timeout": 2})
    with pytest.raises(ProviderUnreachable, match="connection to http://127.0.0.1"):
        llm.complete(ask())


def test_a_model_openai_shut_down_is_refused_before_any_call(httpserver, make_llm):
    with pytest.raises(ModelRetired, match="gpt-5.3-chat-latest was shut down.*gpt-5.6-terra"):
        make_llm(model="gpt-5.3-chat-latest").complete(ask())
    assert httpserver.log == []


def test_check_names_missing_and_deprecated_models(make_llm):
    assert make_llm().check() == []
    assert make_llm(model="").check() == ["LLM 'openai' has no model (OPENAI_LLM_MODEL)."]
    assert make_llm(model="gpt-5-mini").check() == [
        "LLM 'openai': gpt-5-mini shuts down on 2026-12-11; use gpt-6.1-terra."]


def test_prices_from_the_options_price_the_usage(make_llm):
    from decimal import Decimal

    from blogimages.llms import Usage

    llm = make_llm(prices={"gpt-6.1-terra": {"input": "2", "output": "12"}})
    assert llm.cost_from_usage("gpt-6.1-terra", Usage(input_tokens=1_000_000, output_tokens=500_000)) == Decimal("8")
    assert llm.cost_from_usage("unknown-model", Usage(input_tokens=10, output_tokens=10)) is None
    estimate = llm.estimate_cost(ask("x" * 400, max_tokens=1000))
    # (9 + 400 characters) / 4 + 1 = 103 input tokens, and every one of the 1000 output tokens it may write.
    assert estimate == (Decimal(103) * 2 + Decimal(1000) * 12) / Decimal(1_000_000)
