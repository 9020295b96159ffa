"""Boards, the share link, history and similar images in a real browser (no console errors, axe)."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from blogimages import generation, review
from blogimages.models import Board

from .axe import serious_violations
from .conftest import log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def images(site, settings):
    settings.BLOGIMAGES_REUSE_IDENTICAL = False
    demo = get_user_model().objects.get(username="demo")
    made = []
    for prompt, seed in (("A lighthouse at dusk", 1), ("Tide pools at low tide", 2), ("A lighthouse at dusk", 1)):
        made += generation.generate(prompt=prompt, overrides={"width": 640, "height": 360, "seed": seed}, user=demo,
                                    provider="cards")
    return made


def test_a_board_shared_by_link_shows_approved_images_to_a_stranger_until_revoked(page, images, chromium, site):
    approved, pending, _twin = images
    review.approve(approved, user=get_user_model().objects.get(username="demo"))
    log_in(page)
    page.goto("/images/")
    for output in (approved, pending):
        page.locator(f"#gallery-grid li.thumb[data-output='{output.pk}'] input[data-pick]").check()
    page.fill("#bulk-new-board", "Coast picks")
    page.click("button[value=board_add]")
    expect(page.locator("#bulk-status")).to_contain_text("Added 2 images to “Coast picks”")
    board = Board.objects.get(name="Coast picks")
    page.goto(f"/images/boards/{board.pk}/")
    page.click("#board-settings summary")
    page.select_option("#board-visibility", "link")
    page.click("#board-settings button[type=submit]")
    share = page.locator("#share-url").input_value()
    assert re.match(r"^https?://[^/]+/boards/s/[A-Za-z0-9_-]{32,}/$", share)
    assert serious_violations(page) == []
    screenshot(page, "board-detail")

    stranger = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors = []
    stranger.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    stranger.goto(share)
    expect(stranger.locator(f"#shared-images li[data-output='{approved.pk}'] img")).to_be_visible()
    expect(stranger.locator(f"#shared-images li[data-output='{pending.pk}']")).to_have_count(0)
    # Visible is not loaded (the tile is lazy-loaded): wait for the image to finish, then judge it.
    shared_img = f"#shared-images li[data-output='{approved.pk}'] img"
    stranger.wait_for_function("sel => document.querySelector(sel)?.complete", arg=shared_img)
    assert stranger.locator(shared_img).evaluate(
        "img => img.complete && img.naturalWidth > 0"), "the thumbnail loads for a stranger"
    assert serious_violations(stranger) == []
    screenshot(stranger, "board-shared")

    page.click("#board-settings summary")
    page.select_option("#board-visibility", "private")
    page.click("#board-settings button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("no longer works")
    response = stranger.goto(share)
    assert response.status == 404
    assert errors == [] or all("404" in e for e in errors)
    stranger.context.close()


def test_history_use_again_and_similar_images(page, images):
    log_in(page)
    page.goto("/images/history/")
    expect(page.locator("#history-runs li.history-run")).to_have_count(3)
    assert serious_violations(page) == []
    screenshot(page, "history")
    page.locator("#history-runs li.history-run").first.locator("[data-use-again]").click()
    expect(page.locator("#recalled")).to_be_visible()
    expect(page.locator("#id_seed")).to_have_value("1")
    first, _, twin = images
    page.goto(f"/images/{first.pk}/")
    expect(page.locator(f"#similar-images li[data-output='{twin.pk}']")).to_contain_text("identical picture")
    screenshot(page, "image-similar", phone=False)
