"""The editors' page of images missing approved alt text: what it lists, approving from it, suggesting again."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blogimages import generation, publishing
from blogimages.models import AltTextStatus, ImageOutput

from .helpers import HX

pytestmark = pytest.mark.django_db
URL = "/images/alt-text/"


@pytest.fixture
def images(post, editor):
    made = {}
    for key, prompt, slot in (("approved", "a blue boat", "intro"), ("suggested", "a red lighthouse", "intro"),
                              ("empty", "tide pools", "pools"), ("elsewhere", "a meadow", "")):
        [output] = generation.generate(prompt=prompt, post=post if slot else None, section_key=slot,
                                       overrides={"width": 320, "height": 180})
        made[key] = output
    publishing.update_alt_text(made["approved"], user=editor, alt_text="A blue boat on a calm sea")
    ImageOutput.objects.filter(pk=made["empty"].pk).update(alt_text="")
    made["failed"] = ImageOutput.objects.create(prompt=made["elsewhere"].prompt, provider="cards", status="failed",
                                                error="boom")
    return made


def test_it_lists_finished_images_without_approved_alt_text_with_their_forms(editor_client, images):
    assert reverse("blogimages:alt_text_missing") == URL
    page = editor_client.get(URL).content.decode()
    listed = {pk for pk, output in ((o.pk, o) for o in ImageOutput.objects.all()) if f'id="alt-item-{pk}"' in page}
    assert listed == {images["suggested"].pk, images["empty"].pk, images["elsewhere"].pk}
    assert "3 images" in page and "describe_images --missing" in page
    # Each with the form that approves it, coming back here, and a link to the image and its post.
    form = reverse("blogimages:image_alt", args=[images["empty"].pk])
    assert f'action="{form}"' in page and f'name="next" value="{URL}"' in page
    assert f'href="/images/{images["empty"].pk}/"' in page and 'href="/posts/coast/develop/"' in page
    assert "none yet" in page


def test_one_posts_images_and_an_unknown_post(editor_client, images):
    page = editor_client.get(URL, {"post": "coast"}).content.decode()
    assert "2 images" in page and f'id="alt-item-{images["elsewhere"].pk}"' not in page
    assert "--post coast" in page
    page = editor_client.get(URL, {"post": "nope"}).content.decode()
    assert "No post with the slug “nope”" in page and "alt-item-" not in page


def test_saving_from_the_page_approves_and_the_image_leaves_the_list(editor_client, images):
    target = images["empty"]
    response = editor_client.post(reverse("blogimages:image_alt", args=[target.pk]),
                                  {"alt_text": "Starfish in a tide pool", "next": URL}, **HX)
    assert response.status_code == 200 and "Saved." in response.content.decode()
    target.refresh_from_db()
    assert (target.alt_text, target.alt_status) == ("Starfish in a tide pool", AltTextStatus.APPROVED)
    assert f'id="alt-item-{target.pk}"' not in editor_client.get(URL).content.decode()


def test_suggest_again_fills_an_empty_suggestion_and_leaves_approved_alone(editor_client, images):
    target = images["empty"]
    response = editor_client.post(reverse("blogimages:alt_text_suggest", args=[target.pk]), {"next": URL})
    assert response.status_code == 302 and response["Location"] == URL
    target.refresh_from_db()
    assert target.alt_text and target.alt_status == AltTextStatus.SUGGESTED
    approved = images["approved"]
    response = editor_client.post(reverse("blogimages:alt_text_suggest", args=[approved.pk]),
                                  {"next": "https://evil.example/"})
    assert response["Location"] == URL  # never sent off the site
    approved.refresh_from_db()
    assert approved.alt_text == "A blue boat on a calm sea" and approved.alt_status == AltTextStatus.APPROVED


def test_it_is_for_editors(viewer_client, client, images):
    assert viewer_client.get(URL).status_code == 403
    assert viewer_client.post(reverse("blogimages:alt_text_suggest", args=[images["empty"].pk])).status_code == 403
    assert client.get(URL).status_code == 302  # to the login page


def test_the_gallery_links_to_it(editor_client, viewer_client):
    assert f'href="{URL}"' in editor_client.get("/images/").content.decode()
    assert f'href="{URL}"' not in viewer_client.get("/images/").content.decode()
