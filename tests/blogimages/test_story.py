"""Story mode: a post's slots made as one series — one style, a seed family, the guide's references."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from blogimages import batches
from blogimages.models import ImageOutput, ImagePrompt, StyleGuide
from tests.factories import PostFactory, SectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def post():
    post = PostFactory(slug="coast", title="Coast", summary="A weekend by the sea")
    SectionFactory(post=post, key="intro", heading="Arriving", body="The harbour at dusk.")
    SectionFactory(post=post, key="pools", heading="Tide pools", body="Starfish and crabs.")
    ImagePrompt.objects.create(post=post, section_key="featured", description="a coastline", style="linocut, teal")
    ImagePrompt.objects.create(post=post, section_key="pools", description="tide pools", style="neon photo")
    return post


def test_the_slots_share_one_style_and_a_seed_family(post):
    plan = batches.plan_post_batch(post=post, story=True, n_per_section=2)
    keys = [item.section.key for item in plan.sections]
    sheet = batches.story_sheet(post, [item.prompt for item in plan.sections])
    assert sheet["style"] == "linocut, teal"  # the first slot with a style: the featured image's
    for index, item in enumerate(plan.sections):
        story = item.plan.style_guide["story"]
        assert item.plan.request.prompt_style == "linocut, teal"
        assert item.plan.request.seed == sheet["seed"] + index * 2 == story["seed"]
        assert (story["index"], story["of"], story["seed_family"]) == (index + 1, len(keys), sheet["seed"])
    # The slot's saved prompt keeps its own style: story mode changes only this run.
    assert ImagePrompt.objects.get(post=post, section_key="pools").style == "neon photo"


def test_the_family_is_fixed_by_the_post_unless_a_seed_is_given(post):
    first = [i.plan.request.seed for i in batches.plan_post_batch(post=post, story=True).sections]
    again = [i.plan.request.seed for i in batches.plan_post_batch(post=post, story=True).sections]
    given = [i.plan.request.seed for i in batches.plan_post_batch(post=post, story=True,
                                                                 overrides={"seed": 1000}).sections]
    assert first == again and given == list(range(1000, 1000 + len(given)))
    other = PostFactory(slug="other")
    assert batches.story_sheet(other, [])["seed"] != batches.story_sheet(post, [])["seed"]


def test_without_story_mode_each_slot_keeps_its_own_style_and_seed(post):
    plan = batches.plan_post_batch(post=post)
    styles = {item.section.key: item.plan.request.prompt_style for item in plan.sections}
    assert styles["pools"] == "neon photo" and all("story" not in (i.plan.style_guide or {}) for i in plan.sections)


def test_a_started_story_keeps_its_marks_and_the_guides_references(post, django_capture_on_commit_callbacks):
    from blogimages import generation

    guide = StyleGuide.objects.create(style_words="soft grain")
    [reference] = generation.generate(prompt="a reference", overrides={"width": 256, "height": 256})
    guide.reference_images.set([reference])
    with django_capture_on_commit_callbacks(execute=True):
        started = batches.start_post_batch(post=post, story=True)
    outputs = list(ImageOutput.objects.filter(batch=started.batch).order_by("pk"))
    assert outputs and all(o.status == "succeeded" for o in outputs)
    seeds = [o.seed for o in outputs]
    assert seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    marks = outputs[0].setting_snapshot["style_guide"]
    assert marks["story"]["index"] == 1 and "soft grain" in marks["style"]
    # cards takes no references: said, not silently dropped (a provider that does gets them: test_style_guide).
    assert marks["references_skipped"].startswith("cards takes no reference images")


def test_the_develop_screen_and_the_cli_offer_it(post, client):
    from tests.blogimages.views.helpers import make_editor

    client.force_login(make_editor())
    page = client.get(f"/posts/{post.slug}/develop/generate/", {"story": "on", "regenerate_all": "on"})
    html = page.content.decode()
    assert 'name="story" id="story-mode" checked' in html and "data-story" in html and "story 1/" in html
    out = io.StringIO()
    call_command("generate_post_images", post.slug, "--story", "--yes", stdout=out)
    batch_outputs = ImageOutput.objects.filter(post=post).order_by("pk")
    assert batch_outputs.count() == len(batches.plan_post_batch(post=post).sections)
    assert all(o.setting_snapshot["style_guide"]["story"]["style"] == "linocut, teal" for o in batch_outputs)
