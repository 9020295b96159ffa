"""Use any image anywhere; alt text; focal point (services, pages and the JSON API)."""

import pytest
from django.urls import reverse
from PIL import Image

from blogimages import generation, publishing
from blogimages.models import ImageOutput, ReviewAction, ReviewEvent
from posts.models import Post
from tests.factories import PostFactory, SectionFactory
from tests.blogimages.views.helpers import make_editor


@pytest.fixture
def post(db):
    post = PostFactory(title="Coast", slug="coast", summary="A weekend by the sea")
    SectionFactory(post=post, key="intro", heading="Arriving", body="The harbour at dusk.")
    return post


@pytest.fixture
def tester_image(db):
    # Made in the tester: square, no post.
    [output] = generation.generate(prompt="A lighthouse at dusk", provider="cards",
                                   overrides={"width": 512, "height": 512})
    return output


def test_a_tester_image_is_fitted_to_the_slot_and_assigned(post, tester_image):
    editor = make_editor()
    tester_image.focal_x, tester_image.focal_y = 0.2, 0.5
    tester_image.save()
    shown = publishing.use_in_post(tester_image, post=post, slot_key="social", user=editor)
    assert shown.pk != tester_image.pk and shown.derived_from == tester_image and shown.derivation == "fit"
    assert (shown.width, shown.height) == (1200, 630) and shown.post == post and shown.section_key == "social"
    with shown.file.open("rb") as handle, Image.open(handle) as im:
        assert im.size == (1200, 630)
    assert Post.objects.get(pk=post.pk).social_image == shown
    event = ReviewEvent.objects.get(output=tester_image, action=ReviewAction.USE)
    assert event.data["slot"] == "social" and event.data["focal"] == [0.2, 0.5] and event.actor == editor
    # The original is untouched and stays outside the post.
    tester_image.refresh_from_db()
    assert tester_image.post is None and (tester_image.width, tester_image.height) == (512, 512)


def test_use_refuses_rejected_images_unknown_slots_and_non_reviewers(post, tester_image):
    editor = make_editor()
    with pytest.raises(ValueError, match="no image slot 'nope'"):
        publishing.use_in_post(tester_image, post=post, slot_key="nope", user=editor)
    ImageOutput.objects.filter(pk=tester_image.pk).update(review_status="rejected")
    tester_image.refresh_from_db()
    with pytest.raises(ValueError, match="rejected"):
        publishing.use_in_post(tester_image, post=post, slot_key="featured", user=editor)
    from django.core.exceptions import PermissionDenied

    from tests.factories import UserFactory
    with pytest.raises(PermissionDenied):
        publishing.use_in_post(tester_image, post=post, slot_key="featured", user=UserFactory())
    assert not ImageOutput.objects.filter(derivation="fit").exists()


def test_use_in_post_page_chooses_post_and_slot(post, tester_image, client):
    client.force_login(make_editor())
    url = reverse("blogimages:image_use", args=[tester_image.pk])
    page = client.get(url, {"post": post.pk}).content.decode()
    assert 'value="featured"' in page and 'value="social"' in page and 'value="intro"' in page and "1200×630" in page
    response = client.post(url, {"post": post.slug, "slot": "intro"})
    assert response.status_code == 302 and response["Location"] == reverse("posts:develop", args=["coast"])
    chosen = post.sections.get(key="intro").chosen_image
    assert chosen.derived_from == tester_image and (chosen.width, chosen.height) == (1536, 864)
    bad = client.post(url, {"post": post.slug, "slot": "nope"})
    assert bad.status_code == 400 and "no image slot" in bad.content.decode()
    detail = client.get(reverse("blogimages:image_detail", args=[tester_image.pk])).content.decode()
    assert 'id="use-in-post"' in detail and f'href="{url}"' in detail


def test_use_in_post_through_the_json_api(post, tester_image, client):
    client.force_login(make_editor())
    response = client.post(f"/api/images/{tester_image.pk}/use", {"post": "coast", "slot": "featured"},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert Post.objects.get(pk=post.pk).featured_image_id == body["id"]
    assert (body["width"], body["height"], body["section_key"], body["post"]) == (1536, 864, "featured", "coast")
    assert body["alt_text"] == "A lighthouse at dusk" and body["alt_status"] == "suggested"
    missing = client.post(f"/api/images/{tester_image.pk}/use", {"post": "nope", "slot": "featured"},
                          content_type="application/json")
    assert missing.status_code == 404


def test_alt_text_is_suggested_then_approved_by_a_person(post, tester_image, client):
    assert tester_image.alt_text == "A lighthouse at dusk" and tester_image.alt_status == "suggested"
    client.force_login(make_editor())
    url = reverse("blogimages:image_alt", args=[tester_image.pk])
    response = client.post(url, {"alt_text": "  Red lighthouse  on rocks ", "caption": "Pointe du Raz",
                                 "realistic": "on"})
    assert response.status_code == 302
    tester_image.refresh_from_db()
    assert (tester_image.alt_text, tester_image.caption, tester_image.alt_status, tester_image.realistic) == (
        "Red lighthouse on rocks", "Pointe du Raz", "approved", True)
    assert ReviewEvent.objects.filter(output=tester_image, action=ReviewAction.ALT_TEXT).exists()
    # Blank alt text is refused unless the image is decorative; the field is marked.
    html = client.post(url, {"alt_text": ""}, HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-invalid="true"' in html and "mark the image as decorative" in html
    client.post(url, {"alt_text": "", "decorative": "on"})
    tester_image.refresh_from_db()
    assert tester_image.decorative and tester_image.alt_text == ""


def test_focal_point_is_set_by_clicking(post, tester_image, client):
    client.force_login(make_editor())
    detail = client.get(reverse("blogimages:image_detail", args=[tester_image.pk])).content.decode()
    assert "data-focal-image" in detail
    client.post(reverse("blogimages:image_focal", args=[tester_image.pk]), {"x": "0.25", "y": "0.75"})
    tester_image.refresh_from_db()
    assert (tester_image.focal_x, tester_image.focal_y) == (0.25, 0.75)
    client.post(reverse("blogimages:image_focal", args=[tester_image.pk]), {"x": "2", "y": "0.5"})
    tester_image.refresh_from_db()
    assert tester_image.focal_x == 0.25
