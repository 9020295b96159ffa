"""Prompt assistance on the tester and the library form, and the alt text page, in a real browser."""

import pytest
from playwright.sync_api import expect

from .axe import serious_violations
from .conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_improve_on_the_tester_fills_the_form_only_when_used(page):
    from blogimages.models import ImageOutput, ImagePrompt

    prompts = ImagePrompt.objects.count()
    log_in(page)
    page.goto("/images/test/")
    form = page.locator("#tester-form")
    form.locator("#id_description").fill("a lighthouse at dusk, without people")
    form.get_by_role("button", name="Improve").click()
    proposal = page.locator("#assist-tester-form .assist-proposal")
    expect(proposal.locator("tr[data-part=negative_prompt] ins")).to_have_text("people")
    expect(proposal.get_by_label("Proposed description")).to_have_value("a lighthouse at dusk")
    # Shown, not used: the form still holds what the author wrote.
    expect(form.locator("#id_description")).to_have_value("a lighthouse at dusk, without people")
    proposal.get_by_label("Proposed description").fill("a lighthouse at dusk, seen from the sea")
    screenshot(page, "tester-improve-proposal", phone=False)
    assert serious_violations(page) == []
    proposal.get_by_role("button", name="Use this proposal").click()
    expect(form.locator("#id_description")).to_have_value("a lighthouse at dusk, seen from the sea")
    expect(form.locator("#id_negative_prompt")).to_have_value("people")
    expect(page.locator("[data-assist-used]")).to_contain_text("nothing is saved")
    assert ImagePrompt.objects.count() == prompts and not ImageOutput.objects.filter(
        prompt__description__contains="seen from the sea").exists()


def test_draft_from_the_post_on_the_library_form(page):
    from blogimages.models import ImagePromptExample

    examples = ImagePromptExample.objects.count()
    log_in(page)
    page.goto("/images/prompts/new/")
    form = page.locator("#example-form")
    form.locator("summary", has_text="Import the description").click()
    form.get_by_label("Post", exact=True).select_option(index=1)
    form.get_by_role("button", name="Draft from the post").click()
    proposal = page.locator("#assist-example-form .assist-proposal")
    expect(proposal.locator("h3")).to_contain_text("Drafted from")
    drafted = proposal.get_by_label("Proposed description").input_value()
    assert drafted
    proposal.get_by_role("button", name="Use this proposal").click()
    expect(form.locator("#id_description")).to_have_value(drafted)
    assert ImagePromptExample.objects.count() == examples
    expect(page.locator("#assist-example-form .assist-proposal")).to_have_count(0)


def test_the_alt_text_page_approves_an_image(page):
    from blogimages import generation
    from blogimages.models import AltTextStatus
    from posts.models import Post

    post = Post.objects.get(slug="a-weekend-on-the-coast")
    [image] = generation.generate(prompt="a red lighthouse at dusk", post=post, section_key="arrival",
                                  overrides={"width": 640, "height": 360})
    log_in(page)
    page.goto("/images/")
    page.get_by_role("button", name="Alt text to approve").click()
    expect(page.get_by_role("heading", name="Images missing approved alt text")).to_be_visible()
    item = page.locator(f"#alt-item-{image.pk}")
    item.get_by_label("Alt text").fill("A red lighthouse on the cliff at dusk")
    screenshot(page, "alt-text-missing")
    assert serious_violations(page) == []
    item.get_by_role("button", name="Save alt text").click()
    expect(item.get_by_role("status")).to_have_text("Saved.")
    image.refresh_from_db()
    assert image.alt_status == AltTextStatus.APPROVED and image.alt_text == "A red lighthouse on the cliff at dusk"
