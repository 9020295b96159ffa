"""The author's pages in a real browser: log in, the prompt library and tester, the gallery, the develop screen."""

import pytest
from playwright.sync_api import expect

from blogimages import generation
from blogimages.models import ImageOutput, ReviewStatus

from .conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_log_in_and_every_page(page):
    page.goto("/images/prompts/")
    expect(page).to_have_url("/accounts/login/?next=/images/prompts/")
    screenshot(page, "login")
    log_in(page)
    expect(page.get_by_role("heading", name="Your posts")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Gallery").click()
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    for name in ("Prompt library", "Gallery", "Posts", "Admin"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    screenshot(page, "gallery-empty")

    nav.get_by_role("link", name="Prompt library").click()
    expect(page.get_by_role("heading", name="Prompt library")).to_be_visible()
    expect(page.get_by_role("link", name="Section cover")).to_be_visible()
    screenshot(page, "prompt-library")

    page.goto("/images/compare/")
    expect(page.get_by_role("heading", name="Compare")).to_be_visible()
    page.fill("#id_description", "A lighthouse at dusk")
    page.check("input[value='provider:cards']")
    page.get_by_label("Setting Cards social card").check()
    page.fill("#id_width", "")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#compare-results .compare-cell")).to_have_count(2)
    expect(page.locator("#compare-results img.result")).to_have_count(2)
    screenshot(page, "compare")

    nav.get_by_role("link", name="Posts").click()
    expect(page.get_by_role("link", name="A Weekend on the Coast")).to_be_visible()
    screenshot(page, "posts")


def test_create_an_example_and_test_it(page, settings):
    # The real cards renderer, slowed down so the spinner is on screen long enough to see.
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "tests.browser.providers.SlowCardsProvider", "OPTIONS": {"delay": 1.5}},
    }
    log_in(page)
    page.goto("/images/prompts/")
    page.get_by_role("button", name="New example").click()
    page.fill("#id_name", "Harbour at dusk")
    page.fill("#id_description", "placeholder")
    # Import the description from a post field: choosing the post lists its fields (htmx).
    page.get_by_text("Import the description from a post field").click()
    page.select_option("select[name=import_post]", label="A Weekend on the Coast")
    expect(page.locator("#import-field option[value=summary]")).to_be_attached()
    page.select_option("#import-field", "summary")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#id_description")).to_have_value(
        "Two days of lighthouses, tide pools and too much seafood on the northern coast.")
    page.fill("#id_style", "ocean blue, minimal")
    page.fill("#id_format", "square")
    page.select_option("#id_setting", label="Cards 1024 square (cards, 1024×1024)")
    page.fill("#id_tags", "harbour, test")
    screenshot(page, "example-form")
    page.get_by_role("button", name="Create example").click()
    expect(page.get_by_role("heading", name="Harbour at dusk")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Saved “Harbour at dusk”.")

    indicator = page.locator("#tester-indicator")
    test_button = page.locator("#tester-form button[type=submit]")
    expect(indicator).to_be_hidden()
    test_button.click()
    # At once: the spinner with its seconds, and the button disabled against a double submit.
    expect(indicator).to_be_visible()
    expect(indicator).to_have_class("busy-indicator htmx-request")
    expect(test_button).to_be_disabled()
    screenshot(page, "tester-running", phone=False)
    result = page.locator("#test-results img.result")
    expect(result).to_be_visible()
    expect(indicator).to_be_hidden()
    expect(test_button).to_be_enabled()
    card = page.locator("#test-results .output-card")
    for text in ("Provider", "cards", "Seed", "1024×1024", "Duration", "free"):
        expect(card).to_contain_text(text)
    assert page.evaluate("document.querySelector('#test-results img.result').naturalWidth") == 1024
    output = ImageOutput.objects.get()
    assert output.prompt.example.name == "Harbour at dusk" and output.status == "succeeded"
    screenshot(page, "tester-result")


def test_filter_the_gallery(page):
    for text in ("A lighthouse at dusk", "A harbour in fog", "A lighthouse in a storm"):
        generation.generate(prompt=text, provider="cards", overrides={"width": 320, "height": 200})
    ImageOutput.objects.filter(prompt_text="A lighthouse in a storm").update(review_status=ReviewStatus.APPROVED)
    log_in(page)
    page.goto("/images/")
    grid = page.locator("#gallery-grid > li.thumb")
    expect(grid).to_have_count(3)
    expect(grid.first.locator("img")).to_have_attribute("loading", "lazy")

    page.fill("#id_q", "lighthouse")
    page.keyboard.press("Enter")
    expect(grid).to_have_count(2)
    expect(page).to_have_url("/images/?q=lighthouse")
    page.select_option("#id_review_status", "approved")
    expect(grid).to_have_count(1)
    expect(page).to_have_url("/images/?q=lighthouse&review_status=approved")
    expect(page.locator("#gallery-count")).to_contain_text("1 image matches these filters")
    # The filtered view is a bookmark.
    page.reload()
    expect(grid).to_have_count(1)
    expect(page.locator("#id_q")).to_have_value("lighthouse")
    screenshot(page, "gallery-filtered")

    # The picture opens the lightbox; its caption (or the lightbox's Details) opens the image's page.
    grid.first.locator(".caption a").click()
    expect(page.get_by_role("heading", name="Image #")).to_be_visible()
    page.get_by_text("Sidecar JSON").click()
    expect(page.locator("pre.sidecar")).to_contain_text('"generator": "blogimages"')
    screenshot(page, "image-detail")


def test_infinite_scroll_loads_the_next_page(page):
    for i in range(30):
        generation.generate(prompt=f"Card number {i}", provider="cards", overrides={"width": 64, "height": 64})
    log_in(page)
    page.goto("/images/")
    grid = page.locator("#gallery-grid > li.thumb")
    expect(grid).to_have_count(24)
    page.locator(".grid-sentinel").scroll_into_view_if_needed()
    expect(grid).to_have_count(30)
    expect(page.locator(".grid-sentinel")).to_have_count(0)


def test_generate_all_on_the_demo_post_and_choose_an_image(page):
    log_in(page)
    page.goto("/posts/a-weekend-on-the-coast/develop/")
    # Featured, social and the five sections.
    expect(page.locator("article.develop-section")).to_have_count(7)
    page.get_by_role("button", name="Generate all").click()
    expect(page.locator("#plan-summary")).to_contain_text("This makes 7 images with cards")
    expect(page.locator("#plan-summary")).to_contain_text("$0.00")
    page.select_option("#plan-setting", label="Cards social card (cards, 1200×630)")
    expect(page.locator("#plan-summary")).to_contain_text("7 images")
    # Let the plan's refresh for the new setting land before starting.
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Start").click()

    progress = page.locator("#batch-progress")
    expect(progress).to_have_attribute("data-status", "succeeded")
    expect(progress.locator("progress")).to_have_attribute("value", "7")
    expect(progress).to_contain_text("7 of 7 done")
    # The finished batch makes every section reload its candidates.
    arrival = page.locator("#candidates-arrival")
    expect(arrival.locator("li.thumb")).to_have_count(1)
    expect(page.locator(".section-candidates li.thumb")).to_have_count(7)
    screenshot(page, "develop-generated")

    arrival.get_by_role("button", name="Choose", exact=True).click()
    expect(arrival.locator(".badge.chosen")).to_have_text("Chosen")
    expect(arrival.locator(".chosen-line")).to_contain_text("Chosen: image #")
    page.locator("#candidates-tide-pools").get_by_role("button", name="Approve & choose").click()
    expect(page.locator("#candidates-tide-pools .chosen-line")).to_contain_text("Approved")
    screenshot(page, "develop-chosen")

    from posts.models import Section

    chosen = dict(Section.objects.values_list("key", "chosen_image__review_status"))
    assert chosen["arrival"] == "pending" and chosen["tide-pools"] == "approved"
