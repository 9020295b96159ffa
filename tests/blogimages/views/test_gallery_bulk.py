"""The gallery's multi-select: bulk approve/reject/delete/watermark through the services with
their per-image permission rules, tile actions, download as zip, stacks, search as you type."""

import io
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from blogimages import generation
from blogimages.models import ImageOutput, ReviewAction, ReviewEvent, ReviewStatus
from tests.factories import ImageOutputFactory, ImagePromptExampleFactory, UserFactory

from .helpers import HX, hx

pytestmark = pytest.mark.django_db

GALLERY = reverse("blogimages:gallery")
BULK = reverse("blogimages:gallery_bulk")
ZIP = reverse("blogimages:gallery_zip")


@pytest.fixture
def images(recorder, editor, _media_root):
    """Three real images (files in MEDIA_ROOT) made by the editor."""
    made = []
    for prompt in ("A lighthouse at dusk", "Tide pools, starfish", "Harbour in fog"):
        made += generation.generate(prompt=prompt, overrides={"width": 40, "height": 30}, user=editor)
    return made


def post_bulk(client, action, outputs, **data):
    return client.post(BULK, {"action": action, "ids": [o.pk for o in outputs], **data}, **HX)


def statuses(outputs) -> list[str]:
    return [ImageOutput.objects.get(pk=o.pk).review_status for o in outputs]


# -- approve / reject -----------------------------------------------------------------------


def test_bulk_approve_goes_through_the_review_service(editor_client, images):
    first, second, third = images
    html = post_bulk(editor_client, "approve", [first, second], next=f"{GALLERY}?q=lighthouse").content.decode()
    assert statuses(images) == [ReviewStatus.APPROVED, ReviewStatus.APPROVED, ReviewStatus.PENDING]
    assert ReviewEvent.objects.filter(action=ReviewAction.APPROVE).count() == 2
    # The refreshed results for the same filters, with what happened.
    assert f"Approved images #{first.pk}, #{second.pk}." in html and 'id="gallery-count"' in html
    assert f'data-output="{first.pk}"' in html and f'data-output="{second.pk}"' not in html
    # Again: nothing changes, nothing is recorded twice.
    html = post_bulk(editor_client, "approve", [first]).content.decode()
    assert f"Image #{first.pk} already approved." in html
    assert ReviewEvent.objects.filter(action=ReviewAction.APPROVE).count() == 2


def test_a_user_without_review_rights_cannot_bulk_approve(viewer_client, images):
    html = post_bulk(viewer_client, "approve", images).content.decode()
    assert statuses(images) == [ReviewStatus.PENDING] * 3 and not ReviewEvent.objects.exists()
    assert "Not approved" in html and "Only staff with permission to change images may review them." in html
    # Without htmx the refusal is a 403, and the page offers no review buttons at all.
    response = viewer_client.post(BULK, {"action": "approve", "ids": [images[0].pk]})
    assert response.status_code == 403
    page = viewer_client.get(GALLERY).content.decode()
    assert 'value="approve"' not in page and 'value="reject"' not in page


def test_staff_without_the_change_permission_cannot_approve_either(client, images):
    staff = UserFactory(username="staff-no-perms", is_staff=True)
    client.force_login(staff)
    post_bulk(client, "approve", images)
    assert statuses(images) == [ReviewStatus.PENDING] * 3


def test_bulk_reject_needs_a_reason_and_records_it(editor_client, images):
    first, second, _ = images
    html = post_bulk(editor_client, "reject", [first, second]).content.decode()
    assert "Say why the image is rejected." in html and statuses([first, second]) == [ReviewStatus.PENDING] * 2
    post_bulk(editor_client, "reject", [first, second], reason="Off brand")
    assert statuses([first, second]) == [ReviewStatus.REJECTED] * 2
    assert set(ReviewEvent.objects.filter(action=ReviewAction.REJECT).values_list("note", flat=True)) == {"Off brand"}


def test_a_tile_action_acts_on_that_image_alone(editor_client, images):
    first, second, third = images
    # The tile's Reject sends its own reason and id; the ticked boxes are ignored.
    editor_client.post(BULK, {"action": f"reject:{third.pk}", "ids": [first.pk, second.pk],
                              f"reason-{third.pk}": "Blurry", "reason": "not this one"}, **HX)
    assert statuses(images) == [ReviewStatus.PENDING, ReviewStatus.PENDING, ReviewStatus.REJECTED]
    assert ReviewEvent.objects.get(action=ReviewAction.REJECT).note == "Blurry"
    editor_client.post(BULK, {"action": f"approve:{first.pk}"}, **HX)
    assert statuses(images)[0] == ReviewStatus.APPROVED


def test_without_javascript_a_bulk_action_redirects_back_with_a_message(editor_client, images):
    response = editor_client.post(BULK, {"action": "approve", "ids": [images[0].pk], "next": f"{GALLERY}?q=fog"})
    assert response.status_code == 302 and response["Location"] == f"{GALLERY}?q=fog"
    page = editor_client.get(response["Location"]).content.decode()
    assert f"Approved image #{images[0].pk}." in page
    # `next` never leaves the gallery.
    response = editor_client.post(BULK, {"action": "approve", "ids": [images[0].pk], "next": "https://evil.example/"})
    assert response["Location"] == GALLERY


def test_nothing_selected_or_an_unknown_action_says_so(editor_client, images):
    assert "Select at least one image first." in editor_client.post(BULK, {"action": "approve"}, **HX).content.decode()
    assert "Choose an action." in post_bulk(editor_client, "explode", images).content.decode()


# -- delete ---------------------------------------------------------------------------------


def test_bulk_delete_asks_first_and_a_creator_deletes_only_their_own(client, images, _media_root,
                                                                      django_capture_on_commit_callbacks):
    writer = UserFactory(username="writer")  # not staff: may delete only what they made
    own = ImageOutputFactory(created_by=writer, status="failed", error="x")
    client.force_login(writer)
    others = images[0]
    page = client.post(BULK, {"action": "delete", "ids": [own.pk, others.pk]}).content.decode()
    assert "Delete 1 image?" in page and f"#{others.pk}" in page and "You may not delete 1" in page
    assert 'name="confirm" value="yes"' in page and ImageOutput.objects.filter(pk__in=[own.pk, others.pk]).count() == 2

    # Even with the other image's id sent back by hand, the service's rule decides per image.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(BULK, {"action": "delete", "confirm": "yes", "ids": [own.pk, others.pk]})
    assert response.status_code == 302
    assert not ImageOutput.objects.filter(pk=own.pk).exists() and ImageOutput.objects.filter(pk=others.pk).exists()
    assert Path(_media_root, others.file.name).exists()
    messages = client.get(GALLERY).content.decode()
    assert f"Deleted image #{own.pk}." in messages and f"Not deleted: image #{others.pk}" in messages


def test_bulk_delete_of_an_original_and_its_copy_records_on_the_original(editor_client, images,
                                                                         django_capture_on_commit_callbacks):
    original = images[0]
    copy = ImageOutputFactory(derived_from=original, derivation="watermark", status="failed", error="x")
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(BULK, {"action": "delete", "confirm": "yes", "ids": [original.pk, copy.pk]})
    assert not ImageOutput.objects.filter(pk__in=[original.pk, copy.pk]).exists()


# -- watermark ------------------------------------------------------------------------------


def test_bulk_watermark_makes_copies_only_where_allowed(client, images, editor_client):
    html = post_bulk(editor_client, "watermark", images[:2]).content.decode()
    copies = ImageOutput.objects.filter(derivation="watermark")
    assert sorted(copies.values_list("derived_from_id", flat=True)) == sorted(o.pk for o in images[:2])
    assert "Watermarked images" in html
    # Stacked under their originals, not filling the grid.
    assert f'data-output="{copies[0].pk}"' in html and "+1" in html

    writer = UserFactory(username="writer")
    client.force_login(writer)
    html = post_bulk(client, "watermark", [images[2]]).content.decode()
    assert "Only reviewers and the image&#x27;s creator may make derived images." in html
    assert not ImageOutput.objects.filter(derived_from=images[2]).exists()


# -- download as zip --------------------------------------------------------------------------


def test_zip_streams_the_originals_with_readable_names(editor_client, images):
    failed = ImageOutputFactory(status="failed", error="boom", prompt_text="Never made")
    response = editor_client.post(ZIP, {"ids": [o.pk for o in images] + [failed.pk]})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response.streaming and response["Content-Disposition"] == 'attachment; filename="blogimages-3-images.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    first, second, third = images
    expected = {f"{first.pk}-a-lighthouse-at-dusk.png": first, f"{second.pk}-tide-pools-starfish.png": second,
                f"{third.pk}-harbour-in-fog.png": third}
    assert set(archive.namelist()) == {*expected, "README.txt"}
    for name, output in expected.items():
        assert archive.read(name) == output.file.storage.open(output.file.name).read()
    readme = archive.read("README.txt").decode()
    assert f"{first.pk}-a-lighthouse-at-dusk.png\t#{first.pk}" in readme and f"#{failed.pk}\tFailed" in readme


def test_the_zip_button_of_the_bulk_form_gives_the_same_zip(editor_client, images):
    response = editor_client.post(BULK, {"action": "zip", "ids": [images[0].pk]})
    assert response["Content-Type"] == "application/zip"


def test_zip_over_the_size_cap_is_a_clear_error_not_a_broken_file(editor_client, images, settings):
    settings.BLOGIMAGES_ZIP_MAX_BYTES = 100
    response = editor_client.post(ZIP, {"ids": [o.pk for o in images], "next": f"{GALLERY}?q=fog"})
    assert response.status_code == 302 and response["Location"] == f"{GALLERY}?q=fog"
    page = editor_client.get(response["Location"]).content.decode()
    assert "The selected originals add up to" in page and "a zip holds at most 0.0 MB" in page
    settings.BLOGIMAGES_ZIP_MAX_BYTES = 10**9
    settings.BLOGIMAGES_ZIP_MAX_IMAGES = 2
    response = editor_client.post(ZIP, {"ids": [o.pk for o in images]})
    assert "3 images are selected; a zip holds at most 2." in editor_client.get(response["Location"]).content.decode()


def test_zip_with_nothing_downloadable_says_so(editor_client):
    failed = ImageOutputFactory(status="failed", error="boom")
    response = editor_client.post(ZIP, {"ids": [failed.pk]})
    assert "None of the selected images has a file" in editor_client.get(response["Location"]).content.decode()
    response = editor_client.post(ZIP, {})
    assert "Select at least one image to download." in editor_client.get(response["Location"]).content.decode()


# -- stacks, search ---------------------------------------------------------------------------


def test_copies_are_stacked_under_their_original(editor_client):
    original = ImageOutputFactory(status="succeeded", file="blogimages/x/o.png", thumbnail="blogimages/x/o.webp",
                                  width=40, height=30)
    copies = [ImageOutputFactory(status="succeeded", file=f"blogimages/x/c{i}.png", derived_from=original,
                                 derivation="variation", review_status="approved") for i in range(2)]
    response = editor_client.get(GALLERY)
    [tile] = response.context["outputs"]
    assert tile.pk == original.pk and tile.stack_count == 2 and {c.pk for c in tile.stack} == {c.pk for c in copies}
    html = response.content.decode()
    assert '<details class="stack">' in html and "+2</span> 2 more versions" in html
    # Every copy on its own tile when asked.
    assert len(editor_client.get(GALLERY, {"flat": "1"}).context["outputs"]) == 3
    # A copy whose original is filtered out keeps its own tile: nothing matching disappears.
    approved = editor_client.get(GALLERY, {"review_status": "approved"}).context["outputs"]
    assert {o.pk for o in approved} == {c.pk for c in copies}
    # A filter the original matches too: the copies stay stacked under it.
    [tile] = editor_client.get(GALLERY, {"status": "succeeded"}).context["outputs"]
    assert tile.pk == original.pk and tile.stack_count == 2


def test_the_gallery_searches_as_you_type(editor_client):
    html = editor_client.get(GALLERY).content.decode()
    assert 'hx-trigger="submit, change, input changed delay:300ms from:#id_q"' in html
    assert 'id="id_q"' in html


@pytest.mark.parametrize("field, value, word", [
    ("style", "ink wash, muted", "wash"),
    ("format", "wide banner", "banner"),
    ("negative_prompt", "no watermark, no text", "watermark"),
    ("tags", "harbour, night", "night"),
    ("description", "A {heading} poster", "poster"),
])
def test_the_library_search_covers_every_prompt_part_and_tags(editor_client, field, value, word):
    match = ImagePromptExampleFactory(name="Match", **{field: value})
    ImagePromptExampleFactory(name="Other", description="plain", style="", format="", negative_prompt="", tags="")
    url = reverse("blogimages:prompt_list")
    assert [e.pk for e in editor_client.get(url, {"q": word}).context["examples"]] == [match.pk]
    html = editor_client.get(url, {"q": word}, **hx("example-results")).content.decode()  # as you type
    assert ">Match</a>" in html and ">Other</a>" not in html
