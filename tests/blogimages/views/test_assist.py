"""Prompt assistance on the tester and the library form: proposals with their difference, nothing saved."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from blogimages.batches import build_section_prompt, find_slot
from blogimages.models import ImagePrompt, ImagePromptExample, LlmCall
from tests.blogimages.llms.chat_server import answer, completion, error_body, sent_json

from .helpers import HX

pytestmark = pytest.mark.django_db
URL = "/images/assist/"


def ask(client, action, target="tester-form", **fields):
    return client.post(URL, {"assist": action, "assist_target": target, **fields}, **HX)


def test_improve_shows_the_difference_and_saves_nothing(editor_client):
    assert reverse("blogimages:assist") == URL
    response = ask(editor_client, "improve", description="a lighthouse at dusk, without people", style="ink, ink")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert '<tr data-part="negative_prompt">' in html and "<ins>people</ins>" in html
    assert '<tr data-part="style">' in html and "repeated style words removed" in html
    assert 'data-part="description" rows="3">a lighthouse at dusk</textarea>' in html
    assert 'data-assist-accept="tester-form"' in html and "Then “Test” as usual" in html
    assert not ImagePrompt.objects.exists() and not ImagePromptExample.objects.exists()


def test_draft_from_the_tester_uses_its_post_and_section(editor_client, post):
    html = ask(editor_client, "draft", post=post.pk, section="intro", description="").content.decode()
    expected = build_section_prompt(post, find_slot(post, "intro"))
    assert "Drafted from “Coast”, slot intro" in html and "from the section template" in html
    assert f'data-part="description" rows="3">{expected.description}</textarea>' in html
    assert "<ins>" in html and not ImagePrompt.objects.exists()


def test_draft_from_the_library_form_uses_the_import_post_and_the_featured_slot(editor_client, post):
    html = ask(editor_client, "draft", target="example-form", import_post=post.pk).content.decode()
    expected = build_section_prompt(post, find_slot(post, "featured"))
    assert "slot featured" in html and f'rows="3">{expected.description}</textarea>' in html
    assert 'data-assist-accept="example-form"' in html and "Then “Save” as usual" in html


@pytest.mark.parametrize(("action", "fields", "reason"), [
    ("draft", {}, "Choose a post first"),
    ("draft", {"post": "999999"}, "That post does not exist"),
    ("draft", {"post": "x"}, "That post does not exist"),
    ("improve", {"description": "  "}, "Write a description first"),
    ("rewrite", {"description": "a boat"}, "Choose “Draft from the post” or “Improve”"),
])
def test_what_cannot_be_proposed_says_why(editor_client, post, action, fields, reason):
    html = ask(editor_client, action, **fields).content.decode()
    assert 'class="error-box" role="alert"' in html and reason in html and "data-assist-accept" not in html


def test_an_unknown_section_is_refused(editor_client, post):
    html = ask(editor_client, "draft", post=post.pk, section="nope").content.decode()
    assert "no image slot &#x27;nope&#x27;" in html


def test_without_javascript_it_is_a_page(editor_client):
    response = editor_client.post(URL, {"assist": "improve", "assist_target": "tester-form", "description": "a boat"})
    assert response.status_code == 200 and "<html" in response.content.decode()
    response = editor_client.post(URL, {"assist": "improve", "assist_target": "tester-form", "description": ""})
    assert response.status_code == 400


def test_it_needs_a_login(client):
    response = client.post(URL, {"assist": "improve", "assist_target": "tester-form", "description": "a boat"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_tester_and_the_library_form_offer_it(editor_client):
    for page, target in (("/images/test/", "tester-form"), ("/images/prompts/new/", "example-form")):
        html = editor_client.get(page).content.decode()
        assert f'hx-target="#assist-{target}"' in html and "Draft from the post" in html and ">Improve</button>" in html
        assert f'id="assist-{target}"' in html and "blogimages/assist.js" in html


@pytest.fixture
def llm(settings, httpserver):
    settings.BLOGIMAGES_LLMS = {"stand-in": {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
                                             "OPTIONS": {"base_url": httpserver.url_for("/v1"), "model": "chat-1"}}}
    settings.BLOGIMAGES_DEFAULT_LLM = "stand-in"
    yield httpserver
    httpserver.check_assertions()


def test_with_an_llm_improve_asks_for_the_four_parts(editor_client, llm):
    answer(llm, completion(json.dumps({"description": "a red lighthouse on a cliff at dusk", "style": "watercolour",
                                       "format": "wide header", "negative_prompt": "people, text"})))
    html = ask(editor_client, "improve", description="lighthouse", negative_prompt="people").content.decode()
    assert "Proposed by stand-in (chat-1)" in html and "<ins>watercolour</ins>" in html
    assert "<del>people</del>" in html and "<ins>people, text</ins>" in html
    body = sent_json(llm)
    assert body["response_format"] == {"type": "json_object"} and '"description": "lighthouse"' in body["messages"][1]["content"]
    assert LlmCall.objects.get().purpose == "improve" and not ImagePrompt.objects.exists()


def test_with_an_llm_a_failure_is_shown_with_its_reason(editor_client, llm, post):
    answer(llm, error_body("overloaded", type="server_error"), status=503)
    html = ask(editor_client, "draft", post=post.pk, section="intro").content.decode()
    assert "overloaded" in html and "error-box" in html
