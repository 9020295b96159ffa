"""The gallery in a real browser: multi-select and bulk approve, tile actions, stacks, the
lightbox's keys, search as you type, the zip; the tester's placeholder filling; axe-core."""

import re
import zipfile

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from blogimages import generation
from blogimages.models import ImageOutput, ReviewStatus

from .axe import serious_violations
from .conftest import PHONE, DESKTOP, log_in, screenshot

pytestmark = pytest.mark.browser

PROMPTS = ("A lighthouse at dusk", "Tide pools at low tide", "The seafood shack in a storm")


@pytest.fixture
def images(site):
    demo = get_user_model().objects.get(username="demo")
    made = []
    for prompt in PROMPTS:
        made += generation.generate(prompt=prompt, overrides={"width": 640, "height": 360}, user=demo)
    return made


def tile(page, output):
    return page.locator(f"#gallery-grid li.thumb[data-output='{output.pk}']")


def assert_accessible(page):
    found = serious_violations(page)
    assert found == [], found


def test_multi_select_and_bulk_approve_then_watermark_and_stack(page, images):
    log_in(page)
    page.goto("/images/")
    expect(page.locator("#gallery-count")).to_contain_text("3 images")
    first, second, third = images
    tile(page, first).get_by_label(f"Select image #{first.pk}").check()
    tile(page, second).get_by_label(f"Select image #{second.pk}").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    expect(tile(page, first)).to_have_class(re.compile(r"\bis-selected\b"))
    assert_accessible(page)
    screenshot(page, "gallery-selected")

    page.locator(".bulk-bar").get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#bulk-status")).to_have_text(f"Approved images #{first.pk}, #{second.pk}.")
    expect(page).to_have_url(re.compile(r"/images/$"))  # htmx swapped the results in place
    expect(tile(page, first).locator(".badge.approved")).to_be_visible()
    expect(tile(page, third).locator(".badge.pending")).to_be_visible()
    expect(page.locator("#selected-count")).to_have_text("Tick images to act on several at once")
    assert [ImageOutput.objects.get(pk=o.pk).review_status for o in images] == [
        ReviewStatus.APPROVED, ReviewStatus.APPROVED, ReviewStatus.PENDING]

    # A tile's own Reject, with its reason.
    tile(page, third).get_by_text("Reject…").click()
    tile(page, third).get_by_placeholder("Why?").fill("Too dark")
    tile(page, third).get_by_role("button", name=f"Reject image #{third.pk}").click()
    expect(page.locator("#bulk-status")).to_have_text(f"Rejected image #{third.pk}.")
    assert ImageOutput.objects.get(pk=third.pk).review_status == ReviewStatus.REJECTED

    # Watermark two: the copies stack under their originals instead of filling the grid.
    page.locator("#select-page").check()
    expect(page.locator("#selected-count")).to_have_text("3 selected")
    tile(page, third).get_by_label(f"Select image #{third.pk}").uncheck()
    page.get_by_role("button", name="Watermark").click()
    expect(page.locator("#bulk-status")).to_contain_text("Watermarked images")
    expect(page.locator("#gallery-grid > li.thumb")).to_have_count(3)
    stack = tile(page, first).locator("details.stack")
    expect(stack.locator(":scope > summary .stack-count")).to_have_text("+1")
    stack.locator(":scope > summary").click()
    expect(stack.locator("li.thumb")).to_have_count(1)
    assert_accessible(page)
    screenshot(page, "gallery-stacks")

    # Download as zip: a real file download of the ticked originals.
    tile(page, first).get_by_label(f"Select image #{first.pk}").check()
    tile(page, second).get_by_label(f"Select image #{second.pk}").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download as zip").click()
    download = info.value
    assert download.suggested_filename == "blogimages-2-images.zip"
    with zipfile.ZipFile(download.path()) as archive:
        assert sorted(archive.namelist()) == sorted(
            ["README.txt", f"{first.pk}-a-lighthouse-at-dusk.png", f"{second.pk}-tide-pools-at-low-tide.png"])


def test_lightbox_opens_full_size_and_follows_the_keys(page, images):
    log_in(page)
    page.goto("/images/")
    newest, middle, oldest = sorted(images, key=lambda o: o.pk, reverse=True)
    link = tile(page, newest).locator("a.frame")
    link.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#lightbox")
    expect(dialog).to_be_visible()
    expect(page.locator("#lightbox-title")).to_have_text(f"Image #{newest.pk} · 640×360")
    # A signed link to the original (its token differs by the second it was made in).
    leaf = re.escape(newest.file.name.rsplit("/", 1)[1])
    expect(page.locator("#lightbox-image")).to_have_attribute("src", re.compile(rf"^/images/media/[^/]+/{leaf}$"))
    expect(page.locator("#lightbox-details")).to_have_attribute("href", f"/images/{newest.pk}/")
    page.wait_for_function("() => document.getElementById('lightbox-image').naturalWidth === 640")
    assert_accessible(page)
    screenshot(page, "gallery-lightbox", phone=False)

    page.keyboard.press("ArrowRight")
    expect(page.locator("#lightbox-title")).to_contain_text(f"Image #{middle.pk}")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lightbox-title")).to_contain_text(f"Image #{oldest.pk}")
    expect(dialog.get_by_role("button", name="Next image (→)")).to_be_disabled()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#lightbox-title")).to_contain_text(f"Image #{middle.pk}")

    zoom = dialog.get_by_role("button", name="Full size")
    zoom.click()
    expect(zoom).to_have_attribute("aria-pressed", "true")
    expect(dialog).to_have_class(re.compile(r"\bzoomed\b"))
    # Full size: the image at its own pixels, not fitted to the box.
    assert page.evaluate("() => document.getElementById('lightbox-image').getBoundingClientRect().width") == 640

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # Focus comes back to the tile last shown.
    page.wait_for_function(
        "(pk) => { const t = document.activeElement && document.activeElement.closest('li.thumb');"
        " return !!t && t.dataset.output === pk; }", arg=str(middle.pk))


def test_search_as_you_type(page, images):
    log_in(page)
    page.goto("/images/")
    expect(page.locator("#gallery-count")).to_contain_text("3 images")
    page.locator("#id_q").press_sequentially("seafood", delay=30)  # no Enter, no button
    expect(page.locator("#gallery-count")).to_contain_text("1 image matches these filters")
    expect(page.locator("#gallery-grid > li.thumb")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/images/\?q=seafood$"))
    page.locator("#id_q").fill("")
    page.locator("#id_q").press_sequentially("zzz", delay=30)
    expect(page.locator("#gallery-results")).to_contain_text("No images match these filters.")


def test_library_example_with_placeholders_is_filled_from_the_demo_post(page):
    log_in(page)
    page.goto("/images/prompts/")
    page.locator("#id_q").press_sequentially("header", delay=30)  # the format field is searched too
    expect(page.get_by_role("link", name="Section cover")).to_be_visible()
    expect(page.get_by_role("link", name="Moody illustration")).to_be_hidden()
    page.get_by_role("link", name="Section cover").click()
    # It asks nothing when it can answer: the demo post and its first section are chosen.
    expect(page.locator("#id_post")).to_have_value(re.compile(r"^\d+$"))
    expect(page.locator("#id_section")).to_have_value("arrival")
    page.locator("#tester-form button[type=submit]").click()
    expect(page.locator(".placeholder-source")).to_have_text(
        "Placeholders {heading} filled from “A Weekend on the Coast”, section “Arriving at dusk”.")
    sent = page.locator(".output-card .prompt-sent")
    expect(sent).to_contain_text("Prompt sent to cards:")
    expect(sent).to_contain_text("Arriving at dusk. warm sunset gradient, editorial. wide blog header")
    expect(sent).not_to_contain_text("{heading}")
    assert "{heading}" not in ImageOutput.objects.get().prompt_text
    screenshot(page, "tester-placeholders")


def test_landing_page_leads_to_the_posts_missing_images(page):
    log_in(page)
    expect(page.get_by_role("heading", name="Your posts")).to_be_visible()
    card = page.locator("article.post-card", has_text="A Weekend on the Coast")
    expect(card).to_contain_text("0 of 5 sections illustrated")
    expect(card.locator(".slot.missing")).to_have_count(5)
    assert_accessible(page)
    screenshot(page, "home")
    card.get_by_role("button", name="Develop images for “A Weekend on the Coast”").click()
    expect(page).to_have_url(re.compile(r"/posts/a-weekend-on-the-coast/develop/$"))


def test_gallery_at_phone_width_keeps_every_action_reachable(page, images):
    page.set_viewport_size(PHONE)
    log_in(page)
    page.goto("/images/")
    for name in ("Approve", "Reject", "Watermark", "Download as zip", "Delete…"):
        expect(page.locator(".bulk-bar").get_by_role("button", name=name, exact=True)).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)
    page.set_viewport_size(DESKTOP)


def test_a_jump_by_date_survives_infinite_scroll_and_a_reload(page):
    import datetime as dt

    from django.utils import timezone

    # 30 cards 8 hours apart from 1 March 12:00: all but the newest are from 10 March or before.
    start = timezone.make_aware(dt.datetime(2026, 3, 1, 12))
    made = [generation.generate(prompt=f"Card number {i}", provider="cards", overrides={"width": 64, "height": 64})[0]
            for i in range(30)]
    for i, output in enumerate(made):
        ImageOutput.objects.filter(pk=output.pk).update(created_at=start + dt.timedelta(hours=8) * i)
    eleventh = timezone.make_aware(dt.datetime(2026, 3, 11))
    before_11th = list(ImageOutput.objects.filter(created_at__lt=eleventh).order_by("-created_at", "-id")
                       .values_list("pk", flat=True))
    assert len(before_11th) == 29
    log_in(page)
    page.goto("/images/")
    grid = page.locator("#gallery-grid > li.thumb")
    expect(grid).to_have_count(24)

    page.locator("#jump-date").fill("2026-03-10")  # a change: the filter form asks for the results
    expect(page).to_have_url(re.compile(r"/images/\?jump=2026-03-10$"))
    expect(grid.first).to_have_attribute("data-output", str(before_11th[0]))
    last_shown = timezone.localtime(ImageOutput.objects.get(pk=before_11th[23]).created_at).date()
    sentinel = page.locator(".grid-sentinel")
    expect(sentinel).to_have_text(f"Older images (from {last_shown.isoformat()} and before)")

    sentinel.scroll_into_view_if_needed()
    expect(grid).to_have_count(29)
    expect(page.locator(".grid-sentinel")).to_have_count(0)

    page.reload()  # the address bar kept the jump: the reader is where they were
    expect(page).to_have_url(re.compile(r"/images/\?jump=2026-03-10$"))
    expect(grid.first).to_have_attribute("data-output", str(before_11th[0]))
    expect(page.locator("#jump-date")).to_have_value("2026-03-10")
