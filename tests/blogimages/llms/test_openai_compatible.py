"""The `openai_compatible` LLM backend (Ollama, vLLM, LocalAI, LiteLLM) through the real SDK."""

from __future__ import annotations

import pytest

from blogimages.exceptions import InvalidProviderError, ProviderServerError, UnsupportedFeature
from blogimages.llms import CompletionRequest, ImageInput, Message, Tool
from blogimages.llms.openai_compatible import OpenAICompatibleLLM

from .chat_server import CHAT, answer, chunk, completion, sent_json, sse


@pytest.fixture(autouse=True)
def _no_unexpected_requests(httpserver):
    yield
    httpserver.check_assertions()


def make(httpserver, **options):
    return OpenAICompatibleLLM(alias="local", options={"base_url": httpserver.url_for("/v1"), "model": "llama3.2",
                                                       "timeout": 5, **options})


def test_an_ollama_style_answer_with_max_tokens_and_no_openai_key(httpserver, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-real-openai-key-never-sent")
    answer(httpserver, completion("ok", model="llama3.2"))
    result = make(httpserver).complete(CompletionRequest(messages=[Message(role="user", content="hi")], max_tokens=64))
    assert result.text == "ok"
    body = sent_json(httpserver)
    assert body["max_tokens"] == 64 and "max_completion_tokens" not in body and body["model"] == "llama3.2"
    assert "sk-the-real-openai-key" not in httpserver.log[0][0].headers.get("Authorization", "")


def test_the_hosts_key_is_sent_when_given(httpserver):
    answer(httpserver, completion("ok"))
    make(httpserver, api_key="litellm-key-123456789").complete(
        CompletionRequest(messages=[Message(role="user", content="hi")]))
    assert httpserver.log[0][0].headers["Authorization"] == "Bearer litellm-key-123456789"


def test_a_host_without_usage_answers_with_none(httpserver):
    answer(httpserver, completion("ok", usage=False))
    result = make(httpserver).complete(CompletionRequest(messages=[Message(role="user", content="hi")]))
    assert result.usage is None


def test_streaming_and_tools_through_a_compatible_host(httpserver):
    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_response(sse(
        chunk({"role": "assistant", "content": "Making "}), chunk({"content": "it."}),
        chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                               "function": {"name": "generate_image", "arguments": '{"description": "a boat"}'}}]}),
        chunk({}, finish_reason="tool_calls")))
    tool = Tool(name="generate_image", description="", parameters={"type": "object", "properties": {}})
    seen = []
    result = make(httpserver).complete(
        CompletionRequest(messages=[Message(role="user", content="a boat")], tools=[tool]), on_text=seen.append)
    assert seen == ["Making ", "it."] and result.tool_calls[0].arguments == {"description": "a boat"}


def test_a_host_that_does_not_stream_is_asked_without_streaming(httpserver):
    answer(httpserver, completion("whole answer"))
    seen = []
    result = make(httpserver, streaming=False).complete(
        CompletionRequest(messages=[Message(role="user", content="hi")]), on_text=seen.append)
    assert result.text == "whole answer" and seen == [] and "stream" not in sent_json(httpserver)


def test_vision_follows_the_vision_model(httpserver):
    answer(httpserver, completion("a cat"))
    request = CompletionRequest(messages=[Message(role="user", content="?", images=[ImageInput(data=b"png")])])
    with pytest.raises(UnsupportedFeature):
        make(httpserver).complete(request)
    make(httpserver, vision_model="llava").complete(request)
    assert sent_json(httpserver)["model"] == "llava"


def test_tools_can_be_switched_off_for_hosts_without_them(httpserver):
    tool = Tool(name="t", description="", parameters={"type": "object"})
    with pytest.raises(UnsupportedFeature, match="cannot call tools"):
        make(httpserver, tools=False).complete(CompletionRequest(messages=[Message(role="user", content="x")],
                                                                 tools=[tool]))


def test_a_502_from_the_gateway_is_retryable(httpserver):
    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_data("Bad Gateway", status=502)
    with pytest.raises(ProviderServerError) as info:
        make(httpserver).complete(CompletionRequest(messages=[Message(role="user", content="x")]))
    assert info.value.retryable and "Bad Gateway" in str(info.value)


def test_a_base_url_is_required():
    with pytest.raises(InvalidProviderError, match="LLM_BASE_URL"):
        OpenAICompatibleLLM(alias="local", options={"model": "x"})
    assert OpenAICompatibleLLM(alias="local", options={"base_url": "http://127.0.0.1:1/v1"}).check() == [
        "LLM 'local' has no model (LLM_MODEL)."]
