"""Image chat pages and the chat service: threads, turns, the shown prompt, use in slot, LLM tool calls."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from blogimages import chat
from blogimages.models import ChatMessage, ChatThread, ImageOutput, LlmCall, OutputStatus
from posts.models import Section
from tests.blogimages.llms.chat_server import answer, completion, error_body, sent_json, tool_call
from tests.factories import UserFactory

from .helpers import HX

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _commit(django_capture_on_commit_callbacks, monkeypatch):
    """Images are queued on commit; here each turn's tasks run when its transaction would commit."""
    real_send = chat.send_message

    def send(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return real_send(*args, **kwargs)

    monkeypatch.setattr(chat, "send_message", send)


def say(client, thread, text, **headers):
    return client.post(reverse("blogimages:chat_messages", args=[thread.pk]), {"message": text}, **headers)


def test_a_post_to_the_list_creates_a_thread_and_opens_it(editor_client, editor):
    response = editor_client.post(reverse("blogimages:chat_list"), {"title": "Covers"})
    thread = ChatThread.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/images/chat/{thread.pk}/"
    assert (thread.user, thread.title) == (editor, "Covers")
    page = editor_client.get(f"/images/chat/{thread.pk}/").content.decode()
    assert "offline, deterministic interpreter, not an AI model" in page and 'name="message"' in page


def test_the_done_when_conversation_offline(editor_client, editor, post):
    response = editor_client.get(f"/posts/{post.slug}/develop/intro/chat/")
    thread = ChatThread.objects.get()
    assert response["Location"] == f"/images/chat/{thread.pk}/"
    assert (thread.post, thread.slot_key, thread.title) == (post, "intro", "Coast — Arriving")
    assert (thread.state["width"], thread.state["height"]) == (1536, 864)  # the section slot's size

    say(editor_client, thread, "a red lighthouse at dusk")
    say(editor_client, thread, "wider, and without people")
    first, second = ChatMessage.objects.filter(thread=thread, role="assistant").order_by("pk")
    assert first.prompt["description"] == "a red lighthouse at dusk"
    assert (first.prompt["width"], first.prompt["height"]) == (1536, 864)
    assert (second.prompt["width"], second.prompt["height"]) == (1536, 656)
    assert second.prompt["negative_prompt"] == "people" and second.prompt["seed"] == first.prompt["seed"]
    assert second.notes == ["wider: 1536×656", "negative prompt: people"]
    [image1], [image2] = first.outputs.all(), second.outputs.all()
    assert image1.status == image2.status == OutputStatus.SUCCEEDED
    assert (image2.width, image2.height) == (1536, 656) and image2.negative_prompt == "people"
    assert (image2.post, image2.section_key) == (post, "intro")

    page = editor_client.get(f"/images/chat/{thread.pk}/").content.decode()
    assert "1536×656" in page and "a red lighthouse at dusk" in page and "Use in Arriving" in page

    response = editor_client.post(reverse("blogimages:chat_use", args=[thread.pk, image2.pk]))
    assert response.status_code == 302
    chosen = Section.objects.get(post=post, key="intro").chosen_image
    assert chosen is not None and chosen.derived_from_id in (None, image2.pk) and chosen.width == 1536


def test_an_htmx_message_shows_both_messages_at_once_and_the_answer_is_fetched(editor_client, editor,
                                                                               django_capture_on_commit_callbacks):
    thread = chat.thread_create(user=editor)
    response = say(editor_client, thread, "a blue boat", **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.count('class="chat-message') == 2 and "a blue boat" in html
    pending = ChatMessage.objects.get(thread=thread, role="assistant")
    url = reverse("blogimages:chat_message", args=[thread.pk, pending.pk])
    # Nothing answered yet: the offline interpreter does not stream, so the message fetches its answer.
    assert pending.status == ChatMessage.Status.PENDING and not ImageOutput.objects.exists()
    assert f'hx-get="{url}" hx-trigger="load"' in html and "data-stream=" not in html and "data-size" not in html

    with django_capture_on_commit_callbacks(execute=True):
        fetched = editor_client.get(url, **HX).content.decode()
    pending.refresh_from_db()
    assert pending.status == ChatMessage.Status.DONE and 'data-size' in fetched and "hx-trigger" not in \
        fetched.split("<header")[0]
    assert pending.outputs.get().status == OutputStatus.SUCCEEDED
    # Fetching it again answers nothing twice.
    editor_client.get(url, **HX)
    assert ImageOutput.objects.count() == 1 and ChatMessage.objects.filter(role="assistant").count() == 1


@pytest.mark.clock
def test_a_message_another_request_is_answering_is_polled_and_given_up_when_stale(editor_client, editor, clock):
    thread = chat.thread_create(user=editor)
    _, pending = chat.post_message(thread, text="a blue boat")
    ChatMessage.objects.filter(pk=pending.pk).update(status=ChatMessage.Status.ANSWERING)
    url = reverse("blogimages:chat_message", args=[thread.pk, pending.pk])
    html = editor_client.get(url, **HX).content.decode()
    assert f'hx-get="{url}" hx-trigger="every 1s"' in html and not ImageOutput.objects.exists()
    clock.shift(chat.ANSWER_STALE_SECONDS - 1)
    assert "every 1s" in editor_client.get(url, **HX).content.decode()
    clock.shift(2)
    html = editor_client.get(url, **HX).content.decode()
    pending.refresh_from_db()
    assert pending.status == ChatMessage.Status.DONE and pending.error == chat.INTERRUPTED
    assert chat.INTERRUPTED in html and "hx-trigger" not in html.split("<header")[0]


def test_someone_elses_message_is_not_found(client, editor):
    thread = chat.thread_create(user=editor)
    _, pending = chat.post_message(thread, text="a blue boat")
    client.force_login(UserFactory(username="other"))
    for name in ("blogimages:chat_message", "blogimages:chat_stream"):
        assert client.get(reverse(name, args=[thread.pk, pending.pk])).status_code == 404
    pending.refresh_from_db()
    assert pending.status == ChatMessage.Status.PENDING


def test_an_empty_message_is_refused_and_nothing_is_stored(editor_client, editor):
    thread = chat.thread_create(user=editor)
    assert say(editor_client, thread, "   ", **HX).status_code == 422
    assert not ChatMessage.objects.exists()


def test_a_refused_request_keeps_the_message_and_says_why(editor):
    thread = chat.thread_create(user=editor)
    thread.state = {**thread.state, "width": 10, "height": 10}  # below what any provider makes
    thread.save()
    reply = chat.send_message(thread, text="a red lighthouse", user=editor)
    assert ChatMessage.objects.get(role="user").text == "a red lighthouse"
    assert "cards" in reply.error and not ImageOutput.objects.exists() and reply.outputs.count() == 0


def test_threads_are_private(client, editor, post):
    thread = chat.thread_create(user=editor, title="mine")
    other = UserFactory(username="other")
    client.force_login(other)
    assert client.get(f"/images/chat/{thread.pk}/").status_code == 404
    assert say(client, thread, "hello").status_code == 404
    assert client.post(reverse("blogimages:chat_delete", args=[thread.pk])).status_code == 404


def test_rename_search_and_delete(editor_client, editor):
    thread = chat.thread_create(user=editor)
    say(editor_client, thread, "a lighthouse in fog")
    assert ChatThread.objects.get().title == "a lighthouse in fog"  # the first message names it
    editor_client.post(reverse("blogimages:chat_rename", args=[thread.pk]), {"title": "Lighthouse cover"})
    assert ChatThread.objects.get().title == "Lighthouse cover"
    chat.thread_create(user=editor, title="Harbour")
    found = editor_client.get("/images/chat/", {"q": "fog"}).content.decode()
    assert "Lighthouse cover" in found and "Harbour" not in found
    made = ImageOutput.objects.count()
    editor_client.post(reverse("blogimages:chat_delete", args=[thread.pk]))
    assert not ChatThread.objects.filter(pk=thread.pk).exists() and ImageOutput.objects.count() == made


def test_another_one_keeps_the_prompt_and_changes_the_seed(editor):
    thread = chat.thread_create(user=editor)
    first = chat.send_message(thread, text="a red lighthouse at dusk", user=editor)
    again = chat.send_message(thread, text="another one", user=editor)
    assert again.prompt["text"] == first.prompt["text"] and again.prompt["seed"] != first.prompt["seed"]
    assert again.outputs.get().seed == again.prompt["seed"]


def test_like_n_refers_to_the_threads_images(editor):
    thread = chat.thread_create(user=editor)
    chat.send_message(thread, text="a blue boat", user=editor)
    chat.send_message(thread, text="a red lighthouse", user=editor)
    reply = chat.send_message(thread, text="like #1 but at night", user=editor)
    assert reply.prompt["text"].startswith("a blue boat") and "at night" in reply.prompt["style"]


@pytest.fixture
def tool_llm(settings, httpserver):
    settings.BLOGIMAGES_LLMS = {"stand-in": {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
                                             "OPTIONS": {"base_url": httpserver.url_for("/v1"), "model": "chat-1"}}}
    settings.BLOGIMAGES_DEFAULT_LLM = "stand-in"
    yield httpserver
    httpserver.check_assertions()


def test_with_an_llm_tool_calls_decide_to_generate(editor, post, tool_llm):
    thread = chat.thread_for_slot(user=editor, post=post, slot_key="intro")
    answer(tool_llm, completion("Drawing it.", tool_calls=[tool_call("generate_image", {
        "description": "a red lighthouse at dusk", "width": 1536, "height": 864})]))
    answer(tool_llm, completion(None, tool_calls=[tool_call("generate_image", {
        "description": "a red lighthouse at dusk", "negative_prompt": "people", "width": 1536, "height": 656})]))
    first = chat.send_message(thread, text="a red lighthouse at dusk", user=editor)
    second = chat.send_message(thread, text="wider, and without people", user=editor)
    assert (first.prompt["width"], first.prompt["height"]) == (1536, 864) and first.text == "Drawing it."
    assert (second.prompt["width"], second.prompt["height"], second.prompt["negative_prompt"]) == (1536, 656, "people")
    assert second.outputs.get().width == 1536 and second.llm_call.purpose == "chat"
    assert second.notes[0].startswith("stand-in called generate_image(")
    body = sent_json(tool_llm, 1)
    assert body["tools"][0]["function"]["name"] == "generate_image"
    # The model sees the conversation so far, with the prompt each image was made with.
    assert "a red lighthouse at dusk" in json.dumps(body["messages"]) and "1536x864" in json.dumps(body["messages"])


def test_with_an_llm_a_question_gets_an_answer_and_no_image(editor, tool_llm):
    thread = chat.thread_create(user=editor)
    answer(tool_llm, completion("Dusk light is warm and low; try 'golden hour'."))
    reply = chat.send_message(thread, text="what light suits a lighthouse?", user=editor)
    assert reply.text.startswith("Dusk light") and reply.outputs.count() == 0 and not ImageOutput.objects.exists()
    assert LlmCall.objects.get().input_tokens == 120


def test_an_llm_failure_is_the_answer_with_its_reason(editor, tool_llm):
    thread = chat.thread_create(user=editor)
    answer(tool_llm, error_body("overloaded", type="server_error"), status=503)
    reply = chat.send_message(thread, text="a boat", user=editor)
    assert "overloaded" in reply.error and ChatMessage.objects.filter(role="user", text="a boat").exists()


def test_develop_screen_links_each_slot_to_its_chat(editor_client, post):
    page = editor_client.get(f"/posts/{post.slug}/develop/").content.decode()
    assert f'href="/posts/{post.slug}/develop/intro/chat/"' in page and "Refine in chat" in page


def test_an_unknown_slot_has_no_chat(editor_client, post):
    assert editor_client.get(f"/posts/{post.slug}/develop/nope/chat/").status_code == 404
