"""The image editor in a real browser: paint a mask with the mouse, run an offline cards edit,
see the derived image with its before/after slider, and use it in a section of a post."""

import io

import numpy
from PIL import Image
from playwright.sync_api import expect

from blogimages import generation
from blogimages.models import ImageOutput

from .axe import serious_violations
from .conftest import log_in, screenshot

DEMO = "a-weekend-on-the-coast"


def pixels(output: ImageOutput) -> numpy.ndarray:
    with output.file.open("rb") as handle, Image.open(io.BytesIO(handle.read())) as opened:
        return numpy.asarray(opened.convert("RGB"))


def test_paint_a_mask_edit_with_cards_and_use_the_result_in_a_section(page):
    from posts.models import Post

    post = Post.objects.get(slug=DEMO)
    section = post.sections.order_by("order").first()
    [source] = generation.generate(prompt="Tide pools at low tide", provider="cards",
                                   overrides={"width": 640, "height": 360})
    log_in(page)
    page.goto(f"/images/{source.pk}/")
    page.get_by_role("button", name="Edit…").click()
    page.wait_for_url(f"**/images/{source.pk}/edit/")
    canvas = page.locator("canvas[data-mask-canvas]")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    # Paint the left third of the picture with the mouse, in a few strokes.
    page.locator("[data-brush-size]").fill("120")
    for row in (0.15, 0.5, 0.85):
        page.mouse.move(box["x"] + 5, box["y"] + box["height"] * row)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * row, steps=8)
        page.mouse.up()
    # Undo the last stroke and paint it again: undo works without breaking the mask.
    page.get_by_role("button", name="Undo").click()
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] * 0.85)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.85, steps=8)
    page.mouse.up()
    page.fill("#edit-prompt", "Tide pools under a night sky")
    screenshot(page, "editor-mask-painted", phone=False)
    page.get_by_role("button", name="Edit", exact=True).click()

    result = page.locator(".edit-result").first
    expect(result).to_have_attribute("data-status", "succeeded")
    expect(result.locator("[data-before-after] img.after")).to_be_visible()
    page.locator("[data-before-after-range]").first.fill("80")
    expect(result.locator("img.after")).to_have_attribute("style", "clip-path: inset(0px 20% 0px 0px);")
    screenshot(page, "editor-result")
    assert serious_violations(page) == []

    edited = ImageOutput.objects.get(derived_from=source, derivation="edit")
    before, after = pixels(source), pixels(edited)
    assert after.shape == before.shape
    # Far right stays the source's pixel for pixel; the painted left edge changed.
    assert numpy.array_equal(after[:, -100:], before[:, -100:])
    assert not numpy.array_equal(after[:, :40], before[:, :40])

    result.locator("[data-use-in-post]").click()
    page.locator("#use-post").select_option(str(post.pk))
    page.locator(f"input[name=slot][value='{section.key}']").check()
    page.get_by_role("button", name="Use in this slot").click()
    page.wait_for_url(f"**/posts/{DEMO}/develop/")
    section.refresh_from_db()
    assert section.chosen_image is not None
    shown = section.chosen_image
    assert shown.pk == edited.pk or shown.derived_from_id == edited.pk
    # The develop screen offers "Edit" on its candidates.
    expect(page.locator("[data-edit-candidate]").first).to_be_visible()
