"""Prompt assistance: drafts and improvements as proposals, offline and through an LLM."""

from __future__ import annotations

import json

import pytest

from blogimages.assist import Proposal, differences, draft_for_slot, improve
from blogimages.models import ImagePrompt, LlmCall
from tests.blogimages.llms.chat_server import answer, completion, sent_json
from tests.factories import PostFactory, SectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def post():
    post = PostFactory(title="Coast", slug="coast", summary="A weekend by the sea")
    SectionFactory(post=post, key="intro", heading="Arriving", body="The harbour at dusk.")
    return post


def test_rules_drafts_from_the_section_template_and_saves_nothing(post):
    proposal = draft_for_slot(post, "intro")
    assert "Arriving" in proposal.description and "harbour at dusk" in proposal.description
    assert proposal.source.startswith("rules") and not ImagePrompt.objects.exists()


def test_rules_improve_moves_each_part_where_it_belongs():
    proposal = improve({"description": "a lighthouse at dusk, wide, without people", "style": "ink, ink, sepia",
                        "format": "", "negative_prompt": "text"})
    assert (proposal.description, proposal.style, proposal.format, proposal.negative_prompt) == (
        "a lighthouse at dusk, wide", "ink, sepia", "wide", "text, people")
    assert "“without people” moved to the negative prompt" in proposal.notes


def test_differences_name_the_words_taken_away_and_added():
    [change] = differences({"description": "a red boat", "style": "", "format": "", "negative_prompt": ""},
                           Proposal(description="a blue boat at sea"))
    assert (change.part, change.removed, change.added) == ("description", ("red",), ("blue", "at sea"))


@pytest.fixture
def llm(settings, httpserver):
    settings.BLOGIMAGES_LLMS = {"chat": {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
                                         "OPTIONS": {"base_url": httpserver.url_for("/v1"), "model": "m"}}}
    settings.BLOGIMAGES_DEFAULT_LLM = "chat"
    yield httpserver
    httpserver.check_assertions()


def test_an_llm_drafts_from_the_posts_title_summary_and_slot_text(post, llm):
    answer(llm, completion(json.dumps({"description": "a harbour at dusk, boats moored", "style": "watercolour",
                                       "format": "wide header", "negative_prompt": "text"})))
    proposal = draft_for_slot(post, "intro")
    assert proposal.parts() == {"description": "a harbour at dusk, boats moored", "style": "watercolour",
                                "format": "wide header", "negative_prompt": "text"}
    text = sent_json(llm)["messages"][1]["content"]
    assert "Coast" in text and "A weekend by the sea" in text and "The harbour at dusk." in text
    assert LlmCall.objects.get().purpose == "draft" and not ImagePrompt.objects.exists()


def test_an_llm_answer_without_a_description_is_an_error(post, llm):
    answer(llm, completion(json.dumps({"style": "x"})))
    with pytest.raises(Exception, match="no description"):
        draft_for_slot(post, "intro")


def test_the_develop_screen_shows_a_proposal_and_accepting_saves_it(client, post):
    from tests.blogimages.views.helpers import make_editor

    client.force_login(make_editor())
    page = client.post(f"/posts/{post.slug}/develop/sections/intro/improve/", {
        "description": "a lighthouse, without people", "style": "", "format": "", "negative_prompt": ""})
    html = page.content.decode()
    assert page.status_code == 200 and "nothing is saved until you accept" in html and "<ins>people</ins>" in html
    assert not ImagePrompt.objects.exists()
    client.post(f"/posts/{post.slug}/develop/sections/intro/prompt/", {
        "description": "a lighthouse", "style": "", "format": "", "negative_prompt": "people"})
    assert ImagePrompt.objects.get(post=post, section_key="intro").negative_prompt == "people"
    assert "Draft from the post" in client.get(f"/posts/{post.slug}/develop/").content.decode()
