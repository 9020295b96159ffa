"""The chat's answers streamed as server-sent events from an LLM that streams (the stand-in's SSE)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from blogimages import chat
from blogimages.models import ChatMessage, ImageOutput, LlmCall, OutputStatus
from tests.blogimages.llms.chat_server import CHAT, chunk, error_body, sse

from .helpers import HX

pytestmark = pytest.mark.django_db

USAGE = {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102}


@pytest.fixture
def streaming_llm(settings, httpserver):
    settings.BLOGIMAGES_LLMS = {"stand-in": {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
                                             "OPTIONS": {"base_url": httpserver.url_for("/v1"), "model": "chat-1"}}}
    settings.BLOGIMAGES_DEFAULT_LLM = "stand-in"
    yield httpserver
    httpserver.check_assertions()


def stream_answer(httpserver, *chunks):
    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_response(sse(*chunks))


def drawing(description: str, width: int, height: int):
    arguments = json.dumps({"description": description, "width": width, "height": height})
    return (
        chunk({"role": "assistant", "content": ""}), chunk({"content": "Drawing "}), chunk({"content": "it now."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "generate_image", "arguments": arguments[:12]}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[12:]}}]}),
        chunk({}, finish_reason="tool_calls"), chunk(None, usage=USAGE),
    )


def events(response) -> list[tuple[str, dict]]:
    """The SSE body parsed as a browser's EventSource would: (event, data) pairs; comments skipped."""
    assert response["Content-Type"] == "text/event-stream" and response["Cache-Control"] == "no-cache"
    body = b"".join(response.streaming_content).decode()
    parsed = []
    for block in body.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if lines:
            fields = dict(line.split(": ", 1) for line in lines)
            parsed.append((fields.get("event", "message"), json.loads(fields["data"])))
    return parsed


def send(client, thread, text):
    response = client.post(reverse("blogimages:chat_messages", args=[thread.pk]), {"message": text}, **HX)
    assert response.status_code == 200
    return response.content.decode(), ChatMessage.objects.filter(thread=thread, role="assistant").latest("pk")


def test_the_answer_streams_in_and_ends_with_the_finished_message(editor_client, editor, streaming_llm,
                                                                   django_capture_on_commit_callbacks):
    thread = chat.thread_create(user=editor)
    html, pending = send(editor_client, thread, "a red lighthouse at dusk")
    stream_url = reverse("blogimages:chat_stream", args=[thread.pk, pending.pk])
    poll_url = reverse("blogimages:chat_message", args=[thread.pk, pending.pk])
    # The page gets the unanswered message at once, pointed at its stream, with a polling fallback.
    assert f'data-stream="{stream_url}" data-poll="{poll_url}"' in html and "is writing" in html
    assert not streaming_llm.log and pending.status == ChatMessage.Status.PENDING

    stream_answer(streaming_llm, *drawing("a red lighthouse at dusk", 1536, 864))
    with django_capture_on_commit_callbacks(execute=True):
        got = events(editor_client.get(stream_url))
    assert [e for e in got if e[0] == "text"] == [("text", {"text": "Drawing "}), ("text", {"text": "it now."})]
    # Between the words and the image: what it is doing now.
    assert got[2] == ("status", {"text": "Making the image (1536×864)…"})
    name, data = got[-1]
    assert name == "done" and len(got) == 4
    assert 'data-status="done"' in data["html"] and "1536×864" in data["html"] and "Drawing it now." in data["html"]
    pending.refresh_from_db()
    assert pending.status == ChatMessage.Status.DONE and pending.text == "Drawing it now."
    assert pending.outputs.get().status == OutputStatus.SUCCEEDED and pending.prompt["width"] == 1536
    call = LlmCall.objects.get()
    assert (call.input_tokens, call.output_tokens, call.purpose) == (90, 12, "chat") and pending.llm_call == call
    assert json.loads(streaming_llm.log[0][0].get_data())["stream"] is True


def test_a_streamed_question_is_answered_in_words_only(editor_client, editor, streaming_llm):
    thread = chat.thread_create(user=editor)
    _, pending = send(editor_client, thread, "what light suits a lighthouse?")
    stream_answer(streaming_llm, chunk({"content": "Dusk light "}), chunk({"content": "is warm."}),
                  chunk({}, finish_reason="stop"))
    got = events(editor_client.get(reverse("blogimages:chat_stream", args=[thread.pk, pending.pk])))
    assert [d["text"] for e, d in got if e == "text"] == ["Dusk light ", "is warm."]
    assert got[-1][0] == "done" and "Dusk light is warm." in got[-1][1]["html"]
    assert not ImageOutput.objects.exists()
    # The host reported no usage and the stand-in has no price: recorded as unknown, not as free.
    call = LlmCall.objects.get()
    assert (call.input_tokens, call.cost, call.error) == (0, None, "")


def test_a_failing_llm_ends_the_stream_with_its_reason(editor_client, editor, streaming_llm):
    thread = chat.thread_create(user=editor)
    _, pending = send(editor_client, thread, "a boat")
    streaming_llm.expect_oneshot_request(CHAT, method="POST").respond_with_json(
        error_body("overloaded", type="server_error"), status=503)
    got = events(editor_client.get(reverse("blogimages:chat_stream", args=[thread.pk, pending.pk])))
    assert [e for e, _ in got] == ["done"] and "overloaded" in got[0][1]["html"]
    pending.refresh_from_db()
    assert pending.status == ChatMessage.Status.DONE and "overloaded" in pending.error
    assert ChatMessage.objects.filter(role="user", text="a boat").exists() and LlmCall.objects.get().error


def test_a_stream_opened_twice_answers_once(editor_client, editor, streaming_llm):
    thread = chat.thread_create(user=editor)
    _, pending = send(editor_client, thread, "what light suits a lighthouse?")
    url = reverse("blogimages:chat_stream", args=[thread.pk, pending.pk])
    ChatMessage.objects.filter(pk=pending.pk).update(status=ChatMessage.Status.ANSWERING)
    # Another request holds it: this one tells the page to poll instead.
    assert events(editor_client.get(url)) == [("wait", {})]
    ChatMessage.objects.filter(pk=pending.pk).update(status=ChatMessage.Status.DONE, text="Warm light.")
    # Answered already (EventSource reconnected): the finished message at once, no second call.
    got = events(editor_client.get(url))
    assert [e for e, _ in got] == ["done"] and "Warm light." in got[0][1]["html"] and not streaming_llm.log


def test_a_backend_that_does_not_stream_is_polled(editor_client, editor, settings, streaming_llm):
    settings.BLOGIMAGES_LLMS["stand-in"]["OPTIONS"]["streaming"] = False
    thread = chat.thread_create(user=editor)
    html, pending = send(editor_client, thread, "hello")
    assert "data-stream=" not in html and 'hx-trigger="load"' in html
