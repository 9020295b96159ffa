"""The style guide joins every post generation, visibly, never the saved prompt, and can be left out."""

from __future__ import annotations

import pytest

from blogimages import batches, generation
from blogimages.models import ImagePrompt, StyleGuide
from blogimages.style_guide import apply
from tests.factories import PostFactory, SectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def guide():
    return StyleGuide.objects.create(style_words="flat illustration", palette="teal and sand", mood="calm",
                                     never_show="text, logos", slot_defaults={"social": {"format": "bold and simple"}})


@pytest.fixture
def post():
    post = PostFactory(slug="coast")
    SectionFactory(post=post, key="intro", heading="Arriving", body="The harbour at dusk.")
    return post


def test_apply_adds_the_guides_part_and_marks_it(guide):
    guided = apply(ImagePrompt(description="a lighthouse", style="ink"), guide=guide, slot_kind="social")
    assert guided.prompt.style == "ink, flat illustration, teal and sand palette, calm mood"
    assert guided.prompt.negative_prompt == "text, logos" and guided.prompt.format == "bold and simple"
    assert guided.marks == {"name": "Blog style guide", "style": "flat illustration, teal and sand palette, calm mood",
                            "format": "bold and simple", "negative_prompt": "text, logos"}


def test_without_a_negative_prompt_never_show_becomes_avoid_words(guide):
    guided = apply(ImagePrompt(description="a lighthouse"), guide=guide, takes_negative=False)
    assert guided.prompt.style.endswith("avoid text, logos") and guided.prompt.negative_prompt == ""


def test_a_post_generation_uses_it_and_keeps_the_mark_but_not_the_saved_prompt(guide, post):
    prompt = batches.save_section_prompt(post, "intro", description="a red lighthouse")
    [output] = generation.generate(prompt=prompt, post=post, section_key="intro", overrides={"width": 320, "height": 180})
    assert "flat illustration" in output.prompt_text
    assert output.setting_snapshot["style_guide"]["style"].startswith("flat illustration")
    prompt.refresh_from_db()
    assert prompt.style == "" and prompt.negative_prompt == ""  # the author's prompt is untouched


def test_it_can_be_left_out_of_a_run_and_is_off_when_disabled(guide, post):
    [off] = generation.generate(prompt="a red lighthouse", post=post, section_key="intro", use_style_guide=False,
                                overrides={"width": 320, "height": 180})
    assert off.prompt_text == "a red lighthouse" and "style_guide" not in off.setting_snapshot
    guide.enabled = False
    guide.save()
    [disabled] = generation.generate(prompt="a red lighthouse", post=post, section_key="intro",
                                     overrides={"width": 320, "height": 180})
    assert disabled.prompt_text == "a red lighthouse"


def test_images_outside_a_post_are_not_styled(guide):
    [output] = generation.generate(prompt="a red lighthouse", overrides={"width": 320, "height": 180})
    assert output.prompt_text == "a red lighthouse"


def test_a_batch_applies_slot_kind_defaults(guide, post):
    plan = batches.plan_post_batch(post=post, sections=["social", "intro"])
    by_key = {item.section.key: item.plan for item in plan.sections}
    assert by_key["social"].style_guide["format"] == "bold and simple"
    assert "format" not in by_key["intro"].style_guide
    off = batches.plan_post_batch(post=post, sections=["social"], use_style_guide=False)
    assert off.sections[0].plan.style_guide is None


def test_editors_page_saves_the_guide_and_the_plan_marks_its_part(client, post):
    from tests.blogimages.views.helpers import make_editor

    client.force_login(make_editor())
    assert client.get("/images/style-guide/").status_code == 200
    client.post("/images/style-guide/", {"name": "House look", "enabled": "on", "style_words": "linocut",
                                         "palette": "", "mood": "", "never_show": "text"})
    assert StyleGuide.objects.get().style_words == "linocut"
    plan = client.get(f"/posts/{post.slug}/develop/generate/").content.decode()
    assert "style guide: linocut" in plan and "Leave the style guide (“House look”) out of this run" in plan
    off = client.get(f"/posts/{post.slug}/develop/generate/", {"skip_style_guide": "on"}).content.decode()
    assert "style guide: linocut" not in off


def test_a_slot_chat_shows_the_guides_part_of_what_was_sent(guide, post, django_capture_on_commit_callbacks):
    from blogimages import chat
    from tests.factories import UserFactory

    user = UserFactory()
    thread = chat.thread_for_slot(user=user, post=post, slot_key="intro")
    with django_capture_on_commit_callbacks(execute=True):
        reply = chat.send_message(thread, text="a red lighthouse at dusk", user=user)
    assert "flat illustration" in reply.prompt["text"] and reply.prompt["negative_prompt"] == "text, logos"
    assert reply.prompt["style_guide"]["negative_prompt"] == "text, logos"
    assert reply.outputs.get().prompt_text == reply.prompt["text"]


# -- reference images -------------------------------------------------------------------------

@pytest.fixture
def references(guide):
    made = [generation.generate(prompt=f"reference {i}", overrides={"width": 256, "height": 256})[0] for i in (1, 2)]
    guide.reference_images.set(made)
    return made


@pytest.fixture
def gemini(settings, httpserver):
    from tests.blogimages.providers.gemini_server import API_KEY, GeminiStandIn

    stand_in = GeminiStandIn(httpserver)
    settings.BLOGIMAGES_PROVIDERS = {
        **settings.BLOGIMAGES_PROVIDERS,
        "gemini": {"BACKEND": "blogimages.providers.gemini.GeminiProvider",
                   "OPTIONS": {"api_key": API_KEY, "base_url": stand_in.base_url, "timeout": 5}},
    }
    return stand_in


def test_a_provider_that_takes_references_gets_the_guides_images_inline(guide, references, post, gemini):
    import base64

    [output] = generation.generate(prompt="a lighthouse", provider="gemini", post=post, section_key="intro",
                                   overrides={"width": 1024, "height": 1024})
    output.refresh_from_db()
    assert output.status == "succeeded"
    assert output.setting_snapshot["style_guide"]["references"] == [r.pk for r in references]
    assert "reference_images" not in output.setting_snapshot  # bytes never go into the JSON
    [content] = gemini.requests[0]["contents"]
    inline = [part.get("inlineData") or part.get("inline_data") for part in content["parts"][:2]]
    sent = [base64.urlsafe_b64decode(part["data"]) for part in inline]
    expected = []
    for reference in references:
        with reference.file.open("rb") as fh:
            expected.append(fh.read())
    assert sent == expected and "a lighthouse" in content["parts"][2]["text"]


def test_more_references_than_the_model_takes_are_cut_and_said(guide, references, post, gemini, monkeypatch):
    from blogimages.providers.gemini import GeminiProvider

    monkeypatch.setattr(GeminiProvider, "reference_limit", lambda self, model="": 1)
    plan = generation.plan_for_prompt(ImagePrompt(description="a lighthouse"), provider="gemini", post=post,
                                      slot_key="intro", overrides={"width": 1024, "height": 1024})
    assert plan.style_guide["references"] == [references[0].pk]
    assert "takes at most 1; 1 not sent" in plan.style_guide["references_skipped"]


def test_a_provider_without_references_is_told_so_not_sent_them(guide, references, post):
    [output] = generation.generate(prompt="a lighthouse", post=post, section_key="intro",
                                   overrides={"width": 320, "height": 180})
    marks = output.setting_snapshot["style_guide"]
    assert "references" not in marks
    assert marks["references_skipped"] == "cards takes no reference images; 2 of the style guide's not sent"


def test_a_reference_deleted_after_queueing_is_left_out(guide, references, post, gemini):
    from blogimages.models import ImageOutput

    outputs = generation.submit(prompt="a lighthouse", provider="gemini", post=post, section_key="intro",
                                overrides={"width": 1024, "height": 1024})
    # Not run yet (no commit in this test's transaction): take one reference away first.
    ImageOutput.objects.filter(pk=references[0].pk).delete()
    generation.execute(outputs)
    outputs[0].refresh_from_db()
    assert outputs[0].status == "succeeded"
    [content] = gemini.requests[0]["contents"]
    assert sum(1 for part in content["parts"] if part.get("inlineData") or part.get("inline_data")) == 1
