"""With DEBUG off and private media on, on the site's own URLs:
the author pages, the admin and the published post page show their images (naturalWidth > 0);
the author pages' images are signed links, the public page's plain rendition URLs."""

from django.conf import settings as django_settings
from playwright.sync_api import expect

from .conftest import log_in, screenshot

DEMO = "a-weekend-on-the-coast"

# The lightboxes' <img> waits empty ("data:,") until one opens: not an image of the page.
IMAGES = ("[...document.images]"
          ".filter(img => (img.getAttribute('src') || img.getAttribute('srcset') || 'data:').indexOf('data:') !== 0)")
ALL_LOADED = f"() => {IMAGES}.every(img => img.complete)"
BROKEN = f"() => {IMAGES}.filter(img => !(img.naturalWidth > 0)).map(img => img.currentSrc || img.src)"
SOURCES = f"() => {IMAGES}.map(img => img.currentSrc || img.src)"


def _illustrate_and_publish():
    from blogimages import generation, review
    from blogimages.models import ImagePrompt
    from django.contrib.auth import get_user_model
    from posts.models import Post, PostStatus

    post = Post.objects.get(slug=DEMO)
    editor = get_user_model().objects.get(username="demo")
    section = post.sections.order_by("order").first()
    [image] = generation.generate(prompt=ImagePrompt(description="A harbour at dawn"), provider="cards",
                                  overrides={"width": 640, "height": 360}, post=post,
                                  section_key=section.key, user=editor)
    review.approve(image, user=editor)
    review.assign_to_section(image, section.key, user=editor)
    review.assign_to_section(image, "featured", user=editor)
    post.status = PostStatus.PUBLISHED
    post.save()
    return post, image


def _all_images_load(page) -> list[str]:
    for img in page.locator("img").all():
        if img.is_visible():
            img.scroll_into_view_if_needed()
    page.wait_for_function(ALL_LOADED)
    assert page.evaluate(BROKEN) == []
    return page.evaluate(SOURCES)


def test_pages_show_their_images_with_debug_off_and_private_media(page, site, settings):
    assert not django_settings.DEBUG and settings.BLOGIMAGES_PRIVATE_MEDIA
    post, image = _illustrate_and_publish()

    log_in(page)
    for path in ["/images/", f"/images/{image.pk}/", f"/posts/{DEMO}/develop/",
                 f"/admin/blogimages/imageoutput/{image.pk}/change/"]:
        page.goto(path)
        sources = _all_images_load(page)
        assert sources, path
        shown = [s for s in sources if "/images/media/" in s or "/media/" in s]
        assert shown and all("/images/media/" in s for s in shown), (path, shown)
        if path == "/images/":
            screenshot(page, "private-media-gallery", phone=False)

    # A reader (no session) sees the published post's images through plain, public URLs.
    reader = page.context.browser.new_context(base_url=site.url)
    public = reader.new_page()
    public.goto(f"/posts/{DEMO}/")
    expect(public.locator("figure.featured img")).to_be_visible()
    sources = _all_images_load(public)
    assert sources and all("/media/blogimages/renditions/" in s for s in sources), sources
    # (Django's live server answers MEDIA_URL itself, before the URLconf: that originals there are
    # refused is shown through the URLconf in tests/blogimages/test_private_media.py, and behind
    # gunicorn by .ci/production-smoke.)
    reader.close()
