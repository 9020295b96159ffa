"""The admin review desk: lists, the change page, every review action, bulk actions, permissions."""

import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from blogimages.models import (
    ApiToken,
    ComfyWorkflow,
    GenerationBatch,
    ImageOutput,
    ImagePrompt,
    ReviewEvent,
    WatermarkPreset,
)
from posts.models import Section
from tests.blogimages.test_review import bomb_png, make_image, make_user, media_files
from tests.conftest import png_bytes
from tests.factories import ImagePromptExampleFactory, ImageSettingFactory, PostFactory, SectionFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:blogimages_imageoutput_changelist"


def change_url(image) -> str:
    return reverse("admin:blogimages_imageoutput_change", args=[image.pk])


def action_url(image, name: str) -> str:
    return reverse(f"admin:blogimages_imageoutput_{name}", args=[image.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def editor():
    return make_user(username="editor")


@pytest.fixture
def staff_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def post():
    post = PostFactory(title="A Weekend on the Coast", slug="coast")
    SectionFactory(post=post, key="arrival", heading="Arriving at dusk")
    SectionFactory(post=post, key="pools", heading="Tide pools")
    return post


# -- the list -------------------------------------------------------------------------------


# A file's URL is a signed link whose token holds its expiry: the page and the assertion share one frozen instant.
@pytest.mark.clock
def test_the_list_shows_thumbnails_and_filters(recorder, staff_client, post):
    lighthouse = make_image(post=post, section_key="arrival", description="A lighthouse")
    boat = make_image(description="A fishing boat")
    response = staff_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'src="{lighthouse.thumbnail.url}" loading="lazy"' in html
    assert f'src="{boat.thumbnail.url}" loading="lazy"' in html
    for title in ("By status", "By review status", "By provider", "By post", "By kind", "By created at"):
        assert title in html

    def listed(**params) -> set[int]:
        response = staff_client.get(reverse(CHANGELIST), params)
        assert response.status_code == 200, params
        return {obj.pk for obj in response.context["cl"].result_list}

    assert listed(q="fishing") == {boat.pk}
    assert listed(post__id__exact=post.pk) == {lighthouse.pk}
    assert listed(review_status__exact="approved") == set()
    assert listed(status__exact="succeeded", provider="test") == {lighthouse.pk, boat.pk}
    assert listed(kind="original") == {lighthouse.pk, boat.pk}
    batch = GenerationBatch.objects.create(post=post)
    ImageOutput.objects.filter(pk=lighthouse.pk).update(batch=batch)
    assert listed(batch__id__exact=batch.pk) == {lighthouse.pk}  # the batch admin links here
    created = lighthouse.created_at
    assert listed(created_at__year=created.year, created_at__month=created.month) == {lighthouse.pk, boat.pk}


def test_the_list_needs_a_constant_number_of_queries(recorder, staff_client, post, django_assert_max_num_queries):
    for _ in range(3):
        make_image(post=post, section_key="arrival")
    with django_assert_max_num_queries(20) as few:
        staff_client.get(reverse(CHANGELIST))
    for _ in range(12):
        make_image(post=post, section_key="pools")
    with django_assert_max_num_queries(len(few.captured_queries)):
        staff_client.get(reverse(CHANGELIST))


# -- the change page ------------------------------------------------------------------------


# A file's URL is a signed link whose token holds its expiry: the page and the assertion share one frozen instant.
@pytest.mark.clock
def test_the_change_page_shows_a_large_preview_trail_and_relatives(recorder, staff_client, editor, post):
    from blogimages import derive, review

    image = make_image(post=post, section_key="arrival")
    review.approve(image, user=editor, note="Good light")
    copy = derive.watermark_output(image, user=editor)
    response = staff_client.get(change_url(image))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<img src="{image.file.url}"' in html  # the large preview, the full file
    assert "Review trail" in html and "Good light" in html and "Watermarked" in html
    assert f'href="{change_url(copy)}"' in html  # derived images are linked
    for name in ("reject", "regenerate", "regenerate_prompt", "assign", "replace", "watermark", "resize",
                 "convert", "upscale", "variations"):
        assert action_url(image, name) in html, name
    assert action_url(image, "approve") not in html  # already approved
    # Everything generated is read-only: no inputs for it, no save button.
    assert 'name="prompt_text"' not in html and 'name="review_status"' not in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html

    child = staff_client.get(change_url(copy)).content.decode()
    assert f'href="{change_url(image)}"' in child and "watermark of" in child.lower()


def test_posting_the_change_form_changes_nothing(recorder, staff_client):
    image = make_image()
    response = staff_client.post(change_url(image), {"review_status": "approved", "prompt_text": "hacked",
                                                     "alt_text": "A red lighthouse", "focal_x": "0.5", "focal_y": "0.5"})
    assert response.status_code == 302
    image.refresh_from_db()
    assert (image.review_status, image.prompt_text) == ("pending", "A lighthouse at dusk. noir")
    # Only how it is published can be edited: alt text written by a person is approved and recorded.
    assert (image.alt_text, image.alt_status) == ("A red lighthouse", "approved")
    assert image.events.get().action == "alt_text"


# -- review actions on the change page ----------------------------------------------------


def test_approve(recorder, staff_client, editor):
    image = make_image()
    assert action_url(image, "approve") in staff_client.get(change_url(image)).content.decode()
    assert staff_client.get(action_url(image, "approve")).status_code == 405
    response = staff_client.post(action_url(image, "approve"), follow=True)
    assert "approved" in " ".join(messages_of(response))
    image.refresh_from_db()
    assert image.review_status == "approved" and image.events.get().actor == editor


def test_reject_with_a_reason(recorder, staff_client):
    image = make_image()
    page = staff_client.get(action_url(image, "reject"))
    assert page.status_code == 200 and b'name="reason"' in page.content
    missing = staff_client.post(action_url(image, "reject"), {"reason": ""})
    assert missing.status_code == 200 and b"This field is required" in missing.content
    response = staff_client.post(action_url(image, "reject"), {"reason": "The horizon is crooked"})
    assert response.status_code == 302 and response["Location"] == change_url(image)
    image.refresh_from_db()
    assert image.review_status == "rejected" and image.events.get().note == "The horizon is crooked"


def test_regenerate_and_regenerate_with_an_edited_prompt(recorder, staff_client, django_capture_on_commit_callbacks):
    image = make_image()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(action_url(image, "regenerate"))
    assert response.status_code == 302
    assert ImageOutput.objects.filter(status="succeeded").count() == 2

    page = staff_client.get(action_url(image, "regenerate_prompt"))
    assert page.context["form"].initial["description"] == "A lighthouse at dusk"
    assert page.context["form"].initial["style"] == "noir"
    with django_capture_on_commit_callbacks(execute=True):
        edited = {"description": "A lighthouse at noon", "style": "pastel", "format": "", "negative_prompt": ""}
        staff_client.post(action_url(image, "regenerate_prompt"), edited)
    newest = ImageOutput.objects.order_by("-pk").first()
    assert newest.prompt_text == "A lighthouse at noon. pastel" and newest.status == "succeeded"
    assert [e.action for e in image.events.all()] == ["regenerate", "regenerate"]


def test_assign_to_a_section(recorder, staff_client, post):
    image = make_image(post=post, section_key="pools")
    page = staff_client.get(action_url(image, "assign"))
    assert page.status_code == 200
    assert [key for key, _ in page.context["form"].fields["section"].choices] == ["featured", "social", "arrival", "pools"]
    response = staff_client.post(action_url(image, "assign"), {"section": "arrival"}, follow=True)
    assert "Section 'arrival' now shows image" in " ".join(messages_of(response))
    assert Section.objects.get(post=post, key="arrival").chosen_image == image
    assert b"shown in section" in response.content

    test_image = make_image()
    refused = staff_client.get(action_url(test_image, "assign"), follow=True)
    assert "belongs to no post" in " ".join(messages_of(refused))


def test_replace_with_an_upload(recorder, staff_client, post, _media_root):
    image = make_image(post=post, section_key="arrival")
    upload = SimpleUploadedFile("photo.png", png_bytes(50, 40), content_type="image/png")
    response = staff_client.post(action_url(image, "replace"), {"image": upload, "note": "Ours"})
    new = ImageOutput.objects.get(derivation="upload")
    assert response.status_code == 302 and response["Location"] == change_url(new)
    assert new.derived_from == image and Section.objects.get(key="arrival", post=post).chosen_image == new


@pytest.mark.parametrize(
    "content, message",
    [
        (b"<html>not an image</html>", "The file is not an image"),
        (bomb_png(), "too large to decode safely"),
    ],
    ids=["not-an-image", "decompression-bomb"],
)
def test_bad_uploads_show_a_clear_error_and_store_nothing(recorder, staff_client, _media_root, content, message):
    image = make_image()
    before = media_files(_media_root)
    upload = SimpleUploadedFile("x.png", content, content_type="image/png")
    response = staff_client.post(action_url(image, "replace"), {"image": upload})
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["image"])
    assert message in errors and "Nothing was stored" in errors
    assert media_files(_media_root) == before and ImageOutput.objects.count() == 1


def test_a_huge_upload_is_refused(recorder, staff_client, settings, _media_root):
    settings.BLOGIMAGES_MAX_UPLOAD_BYTES = 2000
    image = make_image()
    before = media_files(_media_root)
    upload = SimpleUploadedFile("huge.png", png_bytes(300, 300, fmt="BMP"), content_type="image/png")
    response = staff_client.post(action_url(image, "replace"), {"image": upload})
    assert "uploads are limited to 2,000 bytes" in " ".join(response.context["form"].errors["image"])
    assert media_files(_media_root) == before and ImageOutput.objects.count() == 1


def test_watermark_resize_convert_upscale_from_the_change_page(recorder, staff_client):
    image = make_image(size=(120, 80))
    preset = WatermarkPreset.objects.create(name="brand", spec={"text": "© Brand", "position": "top-right"})
    assert staff_client.get(action_url(image, "watermark")).status_code == 200
    staff_client.post(action_url(image, "watermark"), {"preset": ""})
    staff_client.post(action_url(image, "watermark"), {"preset": preset.pk, "opacity": "0.9"})
    staff_client.post(action_url(image, "watermark"), {"text": "Custom", "position": "tiled"})
    logo = SimpleUploadedFile("logo.png", png_bytes(30, 10), content_type="image/png")
    staff_client.post(action_url(image, "watermark"), {"logo": logo, "position": "center"})
    both = staff_client.post(action_url(image, "watermark"), {"preset": preset.pk, "text": "and text"})
    assert both.status_code == 200 and b"not both" in both.content

    staff_client.post(action_url(image, "resize"), {"format": "social", "mode": "cover"})
    staff_client.post(action_url(image, "resize"), {"format": "custom", "width": "90", "height": "", "mode": "cover"})
    staff_client.post(action_url(image, "convert"), {"output_format": "webp", "quality": "75"})
    staff_client.post(action_url(image, "upscale"), {"factor": "2"})

    derived = {o.file.name.rsplit("-", 1)[-1]: o for o in ImageOutput.objects.filter(derived_from=image)}
    stem = image.file.name.rsplit(".", 1)[0]
    names = sorted(o.file.name.removeprefix(stem) for o in ImageOutput.objects.filter(derived_from=image))
    assert names == ["-90xauto.png", "-social.png", "-webp-q75.webp", "-wm-2.png", "-wm-3.png", "-wm-4.png",
                     "-wm.png", "-x2.png"]
    assert ImageOutput.objects.get(file__endswith="-wm-2.png").provider_metadata["spec"]["opacity"] == 0.9
    assert ImageOutput.objects.get(file__endswith="-social.png").width == 1200
    assert derived  # every copy linked to its original
    assert [e.action for e in image.events.order_by("id")] == ["watermark"] * 4 + ["resize", "resize", "convert",
                                                                                   "upscale"]


def test_more_like_this(recorder, staff_client, django_capture_on_commit_callbacks):
    image = make_image()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(action_url(image, "variations"), {"n": "2"})
    assert response.status_code == 302
    assert ImageOutput.objects.filter(derived_from=image, derivation="variation", status="succeeded").count() == 2
    too_many = staff_client.post(action_url(image, "variations"), {"n": "9"})
    assert too_many.status_code == 200 and too_many.context["form"].errors


# -- bulk actions -----------------------------------------------------------------------------


def run_action(client, action: str, images, **extra):
    data = {"action": action, "_selected_action": [i.pk for i in images], **extra}
    return client.post(reverse(CHANGELIST), data, follow=True)


def test_bulk_approve_reject_and_regenerate(recorder, staff_client, django_capture_on_commit_callbacks):
    images = [make_image() for _ in range(3)]
    run_action(staff_client, "approve_selected", images[:2])
    assert list(ImageOutput.objects.order_by("pk").values_list("review_status", flat=True)) == [
        "approved", "approved", "pending"]

    page = run_action(staff_client, "reject_selected", images)
    assert page.status_code == 200 and b'name="reason"' in page.content  # the intermediate page
    assert b'value="reject_selected"' in page.content
    done = run_action(staff_client, "reject_selected", images, reason="Off brand", apply="Reject")
    assert "Rejected 3 image(s)" in " ".join(messages_of(done))
    assert set(ImageOutput.objects.values_list("review_status", flat=True)) == {"rejected"}
    assert ReviewEvent.objects.filter(action="reject", note="Off brand").count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        run_action(staff_client, "regenerate_selected", images[:2])
    assert ImageOutput.objects.count() == 5


def test_bulk_watermark_resize_and_variations(recorder, staff_client, django_capture_on_commit_callbacks):
    images = [make_image(size=(100, 60)) for _ in range(2)]
    WatermarkPreset.objects.create(name="brand", spec={"text": "© Brand"}, is_default=True)
    page = run_action(staff_client, "watermark_selected", images)
    assert b'name="preset"' in page.content
    done = run_action(staff_client, "watermark_selected", images, preset="", apply="Watermark")
    assert "Watermarked 2 image(s)" in " ".join(messages_of(done))
    for image in images:
        [copy] = image.derivatives.all()
        assert copy.file.name == image.file.name.replace(".png", "-wm.png")
        assert copy.provider_metadata["preset"] == "brand"

    run_action(staff_client, "resize_selected", images, format="thumbnail", mode="cover", apply="Resize")
    assert ImageOutput.objects.filter(derivation="resize", width=480, height=480).count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        run_action(staff_client, "variations_selected", images, n="1", apply="Make variations")
    assert ImageOutput.objects.filter(derivation="variation").count() == 2


def test_bulk_errors_are_reported_per_image(recorder, staff_client):
    from tests.factories import ImageOutputFactory

    good, queued = make_image(), ImageOutputFactory(status="queued")
    response = run_action(staff_client, "approve_selected", [good, queued])
    text = " ".join(messages_of(response))
    assert f"Approved 1 image(s): #{good.pk}" in text and f"#{queued.pk}: Image #{queued.pk} is queued" in text


# -- permissions --------------------------------------------------------------------------------


def test_non_staff_cannot_reach_the_admin(recorder, client):
    image = make_image()
    client.force_login(make_user(staff=False))
    for url in (reverse(CHANGELIST), change_url(image), action_url(image, "reject")):
        assert client.get(url).status_code == 302  # to the admin login
    response = client.post(action_url(image, "approve"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    image.refresh_from_db()
    assert image.review_status == "pending"


def test_staff_without_the_change_permission_cannot_review(recorder, client):
    image = make_image()
    client.force_login(make_user(perms=("view_imageoutput",)))
    page = client.get(change_url(image))
    assert page.status_code == 200 and action_url(image, "approve") not in page.content.decode()
    for name in ("approve", "regenerate"):
        assert client.post(action_url(image, name)).status_code == 403
    for name in ("reject", "regenerate_prompt", "assign", "replace", "watermark", "resize", "variations"):
        assert client.get(action_url(image, name)).status_code == 403, name
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert "approve_selected" not in listing
    run_action(client, "approve_selected", [image])
    image.refresh_from_db()
    assert image.review_status == "pending" and not ReviewEvent.objects.exists()


def test_only_the_creator_or_staff_with_delete_permission_delete(recorder, client):
    creator = make_user(perms=("view_imageoutput",))
    other = make_user(perms=("view_imageoutput", "change_imageoutput"))
    deleter = make_user(perms=("view_imageoutput", "delete_imageoutput"))
    mine, theirs = make_image(user=creator), make_image(user=other)

    def delete(image):
        return reverse("admin:blogimages_imageoutput_delete", args=[image.pk])

    client.force_login(other)
    assert client.get(delete(mine)).status_code == 403
    assert client.post(delete(mine), {"post": "yes"}).status_code == 403

    client.force_login(creator)
    assert client.get(delete(theirs)).status_code == 403
    assert client.post(delete(mine), {"post": "yes"}).status_code == 302
    assert not ImageOutput.objects.filter(pk=mine.pk).exists()

    client.force_login(deleter)
    from blogimages import review

    review.approve(theirs, user=other)  # it has a review trail: deleted with it
    # Approved: deleting it is a review decision (test_deletion_rights.py).
    assert client.post(delete(theirs), {"post": "yes"}).status_code == 403
    client.force_login(make_user(perms=("view_imageoutput", "change_imageoutput", "delete_imageoutput")))
    assert client.post(delete(theirs), {"post": "yes"}).status_code == 302
    assert not ImageOutput.objects.exists() and not ReviewEvent.objects.exists()


def test_review_events_are_read_only(recorder, client, editor):
    from blogimages import review

    image = make_image()
    review.approve(image, user=editor)
    event = ReviewEvent.objects.get()
    # Even with every permission on review events, they cannot be written by hand.
    staff_client = client
    staff_client.force_login(make_user(perms=("view_reviewevent", "add_reviewevent", "change_reviewevent",
                                              "delete_reviewevent")))
    assert staff_client.get(reverse("admin:blogimages_reviewevent_changelist")).status_code == 200
    page = staff_client.get(reverse("admin:blogimages_reviewevent_change", args=[event.pk]))
    assert page.status_code == 200 and b'name="note"' not in page.content
    assert staff_client.get(reverse("admin:blogimages_reviewevent_add")).status_code == 403
    assert staff_client.post(reverse("admin:blogimages_reviewevent_delete", args=[event.pk]),
                             {"post": "yes"}).status_code == 403


# -- the other models ----------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create(username="root", is_staff=True, is_superuser=True))
    return client


def test_every_blogimages_model_has_an_admin(recorder, superuser_client, post):
    ImageSettingFactory()
    ImagePromptExampleFactory()
    ImagePrompt.objects.create(description="x", post=post, section_key="arrival")
    GenerationBatch.objects.create(post=post)
    WatermarkPreset.objects.create(name="p", spec={"text": "x"})
    for model in ("imageoutput", "imageprompt", "imagepromptexample", "imagesetting", "generationbatch",
                  "reviewevent", "watermarkpreset", "comfyworkflow", "apitoken"):
        response = superuser_client.get(reverse(f"admin:blogimages_{model}_changelist"))
        assert response.status_code == 200, model


def test_comfy_workflows_are_validated(superuser_client):
    url = reverse("admin:blogimages_comfyworkflow_add")
    bad = superuser_client.post(url, {"name": "broken", "workflow": json.dumps({"1": {"class_type": "KSampler"}})})
    assert bad.status_code == 200 and bad.context["adminform"].form.errors["workflow"]
    ui_format = superuser_client.post(url, {"name": "ui", "workflow": json.dumps({"nodes": [], "links": []})})
    assert "UI-format" in " ".join(ui_format.context["adminform"].form.errors["workflow"])
    shipped = (Path(__file__).resolve().parents[2] / "blogimages" / "workflows" / "txt2img.json").read_text()
    good = superuser_client.post(url, {"name": "txt2img", "description": "", "workflow": shipped})
    assert good.status_code == 302 and ComfyWorkflow.objects.get().name == "txt2img"


def test_watermark_presets_in_the_admin(superuser_client):
    url = reverse("admin:blogimages_watermarkpreset_add")
    base = {"name": "brand", "text": "© Brand", "position": "bottom-left", "opacity": "0.7", "scale": "0.25",
            "margin": "0.03", "color": "auto", "font": "bold", "make_default": "on"}
    assert superuser_client.post(url, base).status_code == 302
    preset = WatermarkPreset.objects.get()
    assert preset.spec["text"] == "© Brand" and preset.spec["position"] == "bottom-left" and preset.is_default
    assert superuser_client.post(url, {**base, "name": "second"}).status_code == 302
    assert list(WatermarkPreset.objects.filter(is_default=True).values_list("name", flat=True)) == ["second"]

    page = superuser_client.get(reverse("admin:blogimages_watermarkpreset_change", args=[preset.pk]))
    assert page.content.decode().count('src="data:image/png;base64,') == 2  # dark and light previews
    bad = superuser_client.post(url, {**base, "name": "bad", "color": "not-a-colour"})
    assert bad.status_code == 200 and "colour" in str(bad.context["adminform"].form.errors)
    both = superuser_client.post(url, {**base, "name": "both",
                                       "logo": SimpleUploadedFile("l.png", png_bytes(), content_type="image/png")})
    assert both.status_code == 200 and "not both" in str(both.context["adminform"].form.errors)


def test_api_tokens_are_shown_once_and_revoked(superuser_client):
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create(username="writer")
    response = superuser_client.post(reverse("admin:blogimages_apitoken_add"), {"user": owner.pk, "name": "CI"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    raw = re.search(r'value="(bi_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert token.user == owner and token.name == "CI" and raw not in token.token_hash
    listing = superuser_client.get(reverse("admin:blogimages_apitoken_changelist")).content.decode()
    assert raw not in listing and token.prefix in listing
    superuser_client.post(reverse("admin:blogimages_apitoken_changelist"),
                          {"action": "revoke_selected", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None and not token.is_active


def test_changelist_at_scale_counts_nothing_twice_and_scans_nothing_distinct(superuser_client, settings):
    """A huge table's changelist: no second COUNT(*) of the whole table, no DISTINCT for the
    provider/post filters or the date hierarchy, ids first for a deep page."""
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from blogimages import paging
    from tests.factories import ImageOutputFactory

    made = [ImageOutputFactory(provider="cards" if i % 2 else "test") for i in range(60)]
    for i, image in enumerate(made):
        ImageOutput.objects.filter(pk=image.pk).update(
            created_at=timezone.make_aware(dt.datetime(2025 + i // 40, 1 + (i % 3), 5, 12)))
    url = reverse(CHANGELIST)
    superuser_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(url, {"p": 2})
    sql = [q["sql"] for q in queries.captured_queries]
    assert response.status_code == 200 and len(response.context["cl"].result_list) == 12
    assert not [q for q in sql if "DISTINCT" in q.upper()], sql
    assert sum("COUNT(" in q.upper() for q in sql) == 1
    assert any(q.startswith('SELECT "blogimages_imageoutput"."id" AS "pk" FROM') and "OFFSET 48" in q for q in sql)
    html = response.content.decode()
    assert "created_at__year=2025" in html and "created_at__year=2026" in html  # the date hierarchy's years
    months = superuser_client.get(url, {"created_at__year": "2025"}).content.decode()
    assert "created_at__month=1" in months and "created_at__month=3" in months
    # Above the count limit the count is an estimate (exact on SQLite), never a crash.
    settings.DEBUG = False
    assert paging.estimated_count(ImageOutput.objects.all(), limit=10)[0] >= 10


@pytest.mark.parametrize("scan_limit", [10_000, 2], ids=["few rows: from the rows", "many: the index walks"])
def test_a_searched_changelist_reads_its_date_bounds_once(superuser_client, monkeypatch, scan_limit):
    """The date hierarchy's first and last dates: one query per render, from the search's own
    rows when it has few (the walks along the date index read the whole table when few or
    none match), and the same years either way."""
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from blogimages.admin import images as image_admin
    from tests.factories import ImageOutputFactory

    monkeypatch.setattr(image_admin, "BOUNDS_SCAN_LIMIT", scan_limit)
    for i, (prompt, year) in enumerate([("harbour storm", 2024), ("harbour storm", 2026), ("quiet meadow", 2021),
                                        ("quiet meadow", 2027), ("harbour storm", 2025)]):
        image = ImageOutputFactory(prompt_text=prompt)
        ImageOutput.objects.filter(pk=image.pk).update(created_at=timezone.make_aware(dt.datetime(year, 3, 1 + i, 12)))
    url = reverse(CHANGELIST)

    def render(q):
        with CaptureQueriesContext(connection) as queries:
            response = superuser_client.get(url, {"q": q})
        assert response.status_code == 200
        bounds = [x["sql"] for x in queries.captured_queries if "MIN(" in x["sql"].upper()]
        years = sorted(set(re.findall(r"created_at__year=(\d{4})", response.content.decode())))
        return bounds, years, len(response.context["cl"].result_list)

    bounds, years, shown = render("harbour storm")
    assert (years, shown) == (["2024", "2025", "2026"], 3)  # not 2021 or 2027: the search's rows only
    assert "COUNT(" in bounds[0].upper()  # the bounds and the row count of the search, in one read
    # More rows than the limit: those bounds are of a part only, so the walks follow (once).
    assert len(bounds) == (1 if scan_limit > 3 else 2), bounds
    bounds, years, shown = render("lighthouse in fog")  # matches nothing: no years, no walk
    assert (len(bounds), years, shown) == (1, [], 0)


def test_changelist_checkbox_is_djangos_own_markup(superuser_client):
    """The row checkbox is written directly, not through a form widget, and is the same
    markup Django's action_checkbox renders (the admin's JavaScript selects on it)."""
    from django.contrib import admin as django_admin

    from tests.factories import ImageOutputFactory

    image = ImageOutputFactory(provider='a "quoted" & <odd> provider')
    model_admin = django_admin.site._registry[ImageOutput]
    assert model_admin.action_checkbox(image) == django_admin.ModelAdmin.action_checkbox(model_admin, image)
    html = superuser_client.get(reverse(CHANGELIST)).content.decode()
    assert str(django_admin.ModelAdmin.action_checkbox(model_admin, image)) in html
    assert 'id="action-toggle"' in html  # the column's select-all header is kept
