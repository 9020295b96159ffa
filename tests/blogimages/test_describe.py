"""Alt text from the image: a vision LLM on a loopback server (real SDK), offline without one, and the command."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import CommandError, call_command

from blogimages import generation
from blogimages.describe import describe, suggest_description
from blogimages.models import AltTextStatus, ImageOutput, LlmCall
from tests.blogimages.llms.chat_server import answer, completion, error_body, sent_json
from tests.factories import PostFactory, SectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def section_image():
    post = PostFactory(title="Coast", slug="coast")
    SectionFactory(post=post, key="intro", heading="Arriving", body="The harbour as the lighthouse came on.")
    [output] = generation.generate(prompt="a red lighthouse at dusk", post=post, section_key="intro",
                                   overrides={"width": 320, "height": 180})
    output.refresh_from_db()
    return output


@pytest.fixture
def vision(settings, httpserver):
    settings.BLOGIMAGES_LLMS = {
        "rules": {"BACKEND": "blogimages.llms.rules.RulesLLM"},
        "vision": {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
                   "OPTIONS": {"base_url": httpserver.url_for("/v1"), "model": "chat-1", "vision_model": "see-1"}},
    }
    yield httpserver
    httpserver.check_assertions()


def said(**fields) -> dict:
    return completion(json.dumps(fields))


def test_the_image_and_its_slot_text_go_to_the_vision_model(section_image, vision):
    answer(vision, said(alt="Image of a red lighthouse at dusk above a harbour, sign reading HARBOUR",
                        caption="The lighthouse comes on.", social="A weekend on the coast.", decorative=False))
    found = suggest_description(section_image, llm="vision")
    assert found.alt == "A red lighthouse at dusk above a harbour, sign reading HARBOUR"  # never "Image of"
    section_image.refresh_from_db()
    assert (section_image.alt_text, section_image.alt_status) == (found.alt, AltTextStatus.SUGGESTED)
    assert section_image.caption == "The lighthouse comes on."
    assert section_image.provider_metadata["described"]["social"] == "A weekend on the coast."
    body = sent_json(vision)
    assert body["model"] == "see-1" and body["response_format"] == {"type": "json_object"}
    user = body["messages"][1]["content"]
    assert "The harbour as the lighthouse came on." in user[0]["text"] and "Arriving" in user[0]["text"]
    with section_image.file.open("rb") as fh:
        assert user[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(fh.read()).decode()
    assert "at most 125 characters" in body["messages"][0]["content"]
    assert LlmCall.objects.get().purpose == "describe"


def test_long_alt_text_is_cut_to_125_characters(section_image, vision):
    answer(vision, said(alt="A lighthouse " * 20, caption="", social="", decorative=False))
    assert len(describe(section_image, llm="vision").alt) <= 125


def test_a_decorative_image_gets_an_empty_alt_and_the_flag(section_image, vision):
    answer(vision, said(alt="orange shapes", caption="", social="", decorative=True))
    suggest_description(section_image, llm="vision")
    section_image.refresh_from_db()
    assert section_image.alt_text == "" and section_image.decorative


def test_an_approved_alt_text_is_never_changed(section_image, vision):
    ImageOutput.objects.filter(pk=section_image.pk).update(alt_text="Mine", alt_status=AltTextStatus.APPROVED)
    section_image.refresh_from_db()
    assert suggest_description(section_image, llm="vision") is None
    assert ImageOutput.objects.get(pk=section_image.pk).alt_text == "Mine" and vision.log == []


def test_an_answer_that_is_not_json_changes_nothing(section_image, vision):
    before = section_image.alt_text
    answer(vision, completion("A lighthouse."))
    with pytest.raises(Exception, match="not JSON"):
        suggest_description(section_image, llm="vision")
    assert ImageOutput.objects.get(pk=section_image.pk).alt_text == before


def test_without_a_vision_model_the_offline_suggestion_stays(section_image):
    # A cards image shows its own words: those are its offline alt text.
    assert describe(section_image).alt == generation.suggested_alt_text(section_image)
    assert describe(section_image).source == "offline" and "red" in describe(section_image).alt.lower()


def test_the_command_fills_every_image_of_a_post_missing_approved_alt(section_image, vision):
    other = generation.generate(prompt="a blue boat", overrides={"width": 320, "height": 180})[0]
    ImageOutput.objects.filter(pk=section_image.pk).update(alt_text="")
    answer(vision, said(alt="A red lighthouse at dusk", caption="", social="", decorative=False))
    out, err = io.StringIO(), io.StringIO()
    call_command("describe_images", "--missing", "--post", "coast", "--llm", "vision", stdout=out, stderr=err)
    assert "Describing 1 image(s) with vision (chat-1)" in out.getvalue()
    assert "[##############################] 1/1 described" in out.getvalue()
    assert ImageOutput.objects.get(pk=section_image.pk).alt_text == "A red lighthouse at dusk"
    assert ImageOutput.objects.get(pk=other.pk).alt_text == other.alt_text  # not in the post: untouched
    assert "Editors approve them at /images/alt-text/?post=coast" in out.getvalue()


def test_the_command_reports_failures_and_still_describes_the_rest(section_image, vision):
    generation.generate(prompt="a blue boat", post=section_image.post, section_key="intro",
                        overrides={"width": 320, "height": 180})
    answer(vision, error_body("overloaded", type="server_error"), status=503)
    answer(vision, said(alt="A blue boat", caption="", social="", decorative=False))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 image"):
        call_command("describe_images", "--post", "coast", "--llm", "vision", stdout=io.StringIO(), stderr=err)
    assert "overloaded" in err.getvalue()
    assert ImageOutput.objects.filter(alt_text="A blue boat").count() == 1


def test_the_command_offline_says_so(section_image):
    out = io.StringIO()
    call_command("describe_images", "--missing", stdout=out)
    assert "offline from the prompts (rules has no vision model)" in out.getvalue()


def test_unknown_llm_or_post_is_a_clear_error(section_image):
    with pytest.raises(CommandError, match="'nope' is not configured"):
        call_command("describe_images", "--llm", "nope")
    with pytest.raises(CommandError, match="No post with the slug 'missing'"):
        call_command("describe_images", "--post", "missing")
