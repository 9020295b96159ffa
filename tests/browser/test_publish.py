"""From the logged-in landing page to a published, illustrated post, in a real browser."""

import re

from playwright.sync_api import expect

from .axe import serious_violations
from .conftest import log_in, screenshot

DEMO = "a-weekend-on-the-coast"


class Clicks:
    """Counts what the author has to click (the issue's budget: at most 6)."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def click(self, locator) -> None:
        locator.click()
        self.count += 1


def test_landing_to_published_post_with_every_slot_illustrated(page):
    from posts.models import Post

    log_in(page)  # lands on the logged-in landing page
    clicks = Clicks(page)
    clicks.click(page.get_by_role("navigation", name="Main").get_by_role("link", name="Posts"))
    clicks.click(page.locator("tr", has_text="A Weekend on the Coast").get_by_role("button", name="Develop images"))
    expect(page.locator("article.develop-section")).to_have_count(7)  # featured, social and 5 sections
    clicks.click(page.get_by_role("button", name="Generate all"))
    expect(page.locator("#plan-summary")).to_contain_text("This makes 7 images with cards")
    page.wait_for_load_state("networkidle")
    clicks.click(page.get_by_role("button", name="Start"))
    expect(page.locator("#batch-progress")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".section-candidates li.thumb")).to_have_count(7)
    screenshot(page, "publish-develop-generated")
    assert serious_violations(page) == []
    clicks.click(page.get_by_role("button", name=re.compile("Approve & choose the newest image of every slot")))
    expect(page.locator(".messages")).to_contain_text("7 slot(s)")
    clicks.click(page.get_by_role("button", name="Publish"))
    page.wait_for_url(f"**/posts/{DEMO}/")
    assert clicks.count <= 6, clicks.count
    # Without a broker the renditions are made after the publish's answer: until they are there
    # the page shows the originals (a reload shows the renditions once they exist).
    for _ in range(120):
        if page.locator("meta[property='og:image']").count():
            break
        page.wait_for_timeout(500)
        page.reload()

    post = Post.objects.get(slug=DEMO)
    assert post.status == "published" and post.featured_image and post.social_image
    expect(page.locator("h1")).to_have_text(post.title)
    # Every slot shown on the page has its approved image with its alt text.
    for section in post.sections.select_related("chosen_image"):
        image = section.chosen_image
        assert image is not None and image.review_status == "approved"
        img = page.locator(f"section#{section.key} figure img")
        expect(img).to_have_attribute("alt", image.alt_text)
        assert image.alt_text and page.locator(f"section#{section.key} source[type='image/webp']").count() == 1
        img.scroll_into_view_if_needed()  # lazy-loaded below the fold
        page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
        assert img.evaluate("el => el.currentSrc").endswith(".webp")
    featured = page.locator("figure.featured img")
    expect(featured).to_have_attribute("alt", post.featured_image.alt_text)
    og_image = page.locator("meta[property='og:image']").get_attribute("content")
    assert post.social_image.uid.hex in og_image and og_image.endswith("fill-1200x630.png")
    assert page.locator("meta[name='twitter:card']").get_attribute("content") == "summary_large_image"
    assert page.request.get(og_image).status == 200
    screenshot(page, "publish-public-page")
    assert serious_violations(page) == []


def test_draft_preview_banner_and_lightbox_keyboard(page):
    log_in(page)
    page.goto(f"/posts/{DEMO}/")
    expect(page.get_by_role("status")).to_contain_text("Preview — not published")
    page.goto(f"/posts/{DEMO}/develop/")
    page.locator("#section-arrival").get_by_role("button", name=re.compile("^(Regenerate|Generate)$")).click()
    page.locator("#section-arrival").get_by_role("button", name=re.compile("^(Regenerate|Generate)$")).click()
    expect(page.locator("#candidates-arrival li.thumb")).to_have_count(2)
    page.locator("#candidates-arrival").get_by_role("button", name="View large").first.click()
    dialog = page.locator("#candidate-lightbox")
    expect(dialog).to_be_visible()
    first = dialog.locator("[data-candidates-img]").get_attribute("src")
    page.keyboard.press("ArrowRight")
    assert dialog.locator("[data-candidates-img]").get_attribute("src") != first
    page.keyboard.press("c")  # compare side by side
    expect(dialog.locator("[data-candidates-compare] img")).to_have_count(1)
    screenshot(page, "publish-lightbox", phone=False)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_prompt_box_edits_are_flagged_and_used(page):
    from blogimages.models import ImageOutput

    log_in(page)
    page.goto(f"/posts/{DEMO}/develop/")
    box = page.locator("#id_arrival_description")
    box.fill("A ferry leaving the harbour at dawn")
    expect(page.locator("#prompt-arrival [data-dirty-hint]")).to_be_visible()
    # A shape word in Format picks the size, and the form says so as it is typed.
    expect(page.locator("#size-arrival")).to_contain_text("1536×864")
    page.locator("#prompt-arrival summary").click()
    page.locator("#id_arrival_format").fill("square crop")
    expect(page.locator("#size-arrival")).to_contain_text("1024×1024 (“square” in Format)")
    page.locator("#section-arrival").get_by_role("button", name=re.compile("^(Regenerate|Generate)$")).click()
    expect(page.locator("#candidates-arrival li.thumb")).to_have_count(1)
    expect(page.locator("#prompt-arrival [data-dirty-hint]")).to_be_hidden()
    made = ImageOutput.objects.get(section_key="arrival")
    assert made.prompt_text.startswith("A ferry leaving the harbour at dawn") and "square crop" in made.prompt_text
    assert (made.width, made.height) == (1024, 1024)


def test_a_signed_image_on_the_public_page_links_its_content_credentials(page, settings, tmp_path):
    from posts.models import PostStatus
    from tests.blogimages.c2pa_certs import make_pki
    from tests.factories import PostFactory, SectionFactory
    from tests.posts.test_public_page import make_image

    chain, key, ca = make_pki().write(tmp_path / "pki")
    settings.BLOGIMAGES_C2PA_CERT, settings.BLOGIMAGES_C2PA_KEY = str(chain), str(key)
    settings.BLOGIMAGES_C2PA_TRUST_ANCHORS = str(ca)
    post = PostFactory(title="Signed coast", slug="signed-coast", status=PostStatus.DRAFT)
    section = SectionFactory(post=post, key="harbour", heading="The harbour", order=0, body="Boats.")
    section.chosen_image = make_image(post, "harbour", size=(640, 360), description="Harbour boats")
    section.save()
    post.featured_image = make_image(post, "featured", description="A lighthouse at dusk")
    post.status = PostStatus.PUBLISHED
    post.save()

    page.goto(f"/posts/{post.slug}/")
    badges = page.get_by_role("link", name="Content Credentials")
    expect(badges).to_have_count(2)  # the featured image and the section's
    expect(page.locator("figure.featured figcaption .bi-credentials")).to_be_visible()
    screenshot(page, "publish-content-credentials-badge")
    assert serious_violations(page) == []
    badges.first.click()
    page.wait_for_url("**/images/credentials/**")
    expect(page.get_by_role("heading", name="Content Credentials")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Validates: signed by a trusted signer.")
    expect(page.locator(".cc-facts")).to_contain_text("cards")
    screenshot(page, "publish-content-credentials-summary")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Back to the post").click()
    page.wait_for_url(f"**/posts/{post.slug}/")
