"""Review services: approve, reject, regenerate, assign, replace with an upload, delete."""

import hashlib
import io
import itertools
import struct
import zlib
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from blogimages import generation, review
from blogimages.exceptions import InvalidImage
from blogimages.imaging import provenance
from blogimages.models import (
    GenerationBatch,
    ImageOutput,
    ImagePrompt,
    ReviewAction,
    ReviewEvent,
)
from posts.models import Section
from tests.conftest import png_bytes
from tests.factories import PostFactory, SectionFactory

pytestmark = pytest.mark.django_db

REVIEW_PERMS = ("view_imageoutput", "change_imageoutput", "delete_imageoutput")


# -- helpers shared with the other review/derive/admin test modules ----------------------


_users = itertools.count(1)


def make_user(*, staff: bool = True, perms=REVIEW_PERMS, **kwargs):
    # An unusable password: tests log in with force_login, and no slow hashing.
    kwargs.setdefault("username", f"reviewer{next(_users)}")
    user = get_user_model().objects.create(is_staff=staff, password="!", **kwargs)
    if perms:
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="blogimages", codename__in=perms))
    return user


def make_image(*, post=None, section_key: str = "", user=None, size=(64, 48), provider: str = "test", setting=None,
               overrides=None, description: str = "A lighthouse at dusk", style: str = "noir") -> ImageOutput:
    prompt = ImagePrompt(description=description, style=style)
    params = {"width": size[0], "height": size[1], **(overrides or {})}
    [output] = generation.generate(prompt=prompt, provider=provider, setting=setting, overrides=params, post=post,
                                   section_key=section_key, user=user)
    assert output.status == "succeeded", output.error
    return output


def media_files(root) -> set[str]:
    base = Path(root)
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()} if base.exists() else set()


def file_bytes(output: ImageOutput) -> bytes:
    with output.file.open("rb") as fh:
        return fh.read()


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header declares a huge image (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


@pytest.fixture
def reviewer():
    return make_user(username="editor")


@pytest.fixture
def post():
    post = PostFactory(title="Coast", slug="coast")
    SectionFactory(post=post, key="arrival", heading="Arriving")
    SectionFactory(post=post, key="pools", heading="Tide pools")
    return post


# -- permissions --------------------------------------------------------------------------


def test_only_staff_with_change_permission_review(recorder):
    image = make_image()
    outsiders = [
        None,
        make_user(staff=False),  # has the permission but is not staff
        make_user(staff=True, perms=("view_imageoutput",)),
        make_user(staff=True, is_active=False),
    ]
    for user in outsiders:
        with pytest.raises(PermissionDenied):
            review.approve(image, user=user)
        with pytest.raises(PermissionDenied):
            review.reject(image, user=user, reason="no")
        with pytest.raises(PermissionDenied):
            review.regenerate(image, user=user)
        with pytest.raises(PermissionDenied):
            review.replace_with_upload(image, png_bytes(), user=user)
    assert not ReviewEvent.objects.exists()
    image.refresh_from_db()
    assert image.review_status == "pending"


def test_only_the_creator_or_staff_with_delete_permission_delete(recorder):
    owner = make_user(staff=False, perms=())
    stranger = make_user(staff=False, perms=())
    staff_without = make_user(perms=("change_imageoutput",))
    staff_with = make_user(perms=("delete_imageoutput",))
    first, second = make_image(user=owner), make_image(user=owner)

    for user in (stranger, staff_without, None):
        assert not review.can_delete(user, first)
        with pytest.raises(PermissionDenied):
            review.delete(first, user=user)
    assert review.can_delete(owner, first) and review.can_delete(staff_with, first)
    review.delete(first, user=owner)
    review.delete(second, user=staff_with)
    assert not ImageOutput.objects.exists()


def test_deleting_a_derived_image_is_recorded_on_its_original(recorder, reviewer):
    from blogimages import derive

    original = make_image()
    copy = derive.watermark_output(original, user=reviewer)
    copy_pk = copy.pk
    review.delete(copy, user=reviewer)
    event = original.events.get(action=ReviewAction.DELETE)
    assert event.actor == reviewer and event.data["deleted_output"] == copy_pk
    assert not ImageOutput.objects.filter(pk=copy_pk).exists()


# -- approve / reject -----------------------------------------------------------------------


def test_approve_records_who_and_is_idempotent(recorder, reviewer):
    image = make_image()
    assert review.approve(image, user=reviewer, note="Lovely") is True
    assert review.approve(image, user=reviewer) is False
    image.refresh_from_db()
    assert image.review_status == "approved"
    [event] = image.events.all()
    assert (event.actor, event.action, event.note) == (reviewer, "approve", "Lovely") and event.created_at


def test_only_finished_images_are_approved(recorder, reviewer):
    from tests.factories import ImageOutputFactory

    queued = ImageOutputFactory(status="queued")
    with pytest.raises(ValueError, match="only finished images"):
        review.approve(queued, user=reviewer)


def test_reject_needs_a_reason_and_takes_the_image_off_its_section(recorder, reviewer, post):
    image = make_image(post=post, section_key="arrival")
    review.assign_to_section(image, "arrival", user=reviewer)
    with pytest.raises(ValueError, match="Say why"):
        review.reject(image, user=reviewer, reason="  ")
    assert review.reject(image, user=reviewer, reason="Too dark for the opening") is True
    image.refresh_from_db()
    assert image.review_status == "rejected"
    event = image.events.get(action="reject")
    assert event.note == "Too dark for the opening" and event.data == {"unassigned": ["arrival"]}
    assert Section.objects.get(post=post, key="arrival").chosen_image is None
    assert review.reject(image, user=reviewer, reason="again") is False


# -- regenerate -----------------------------------------------------------------------------


def test_regenerate_a_test_image_same_prompt_and_setting_new_seed(
    recorder, reviewer, django_capture_on_commit_callbacks,
):
    from tests.factories import ImageSettingFactory

    setting = ImageSettingFactory(width=64, height=48, steps=20, guidance_scale=7.0, seed=42)
    image = make_image(setting=setting, overrides={})
    with django_capture_on_commit_callbacks(execute=True):
        [new] = review.regenerate(image, user=reviewer)
    new.refresh_from_db()
    assert new.status == "succeeded" and new.pk != image.pk
    assert new.prompt_id == image.prompt_id and new.setting_id == setting.pk
    assert new.prompt_text == image.prompt_text and new.seed != image.seed
    first, second = recorder.requests
    assert (second.prompt, second.prompt_description, second.prompt_style) == (
        first.prompt, first.prompt_description, first.prompt_style)
    assert (second.steps, second.guidance_scale, second.width) == (20, 7.0, 64)
    assert new.derived_from is None and new.created_by == reviewer
    event = image.events.get(action="regenerate")
    assert event.data["new_outputs"] == [new.pk] and event.actor == reviewer


def test_regenerate_a_post_image_queues_a_one_section_batch(
    recorder, reviewer, post, django_capture_on_commit_callbacks,
):
    image = make_image(post=post, section_key="pools")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [new] = review.regenerate(image, user=reviewer)
    assert new.status == "queued" and len(callbacks) == 1  # tasks start after the commit
    callbacks[0]()
    new.refresh_from_db()
    assert new.status == "succeeded" and (new.post, new.section_key) == (post, "pools")
    batch = GenerationBatch.objects.get()
    assert batch.post == post and batch.total == 1 and batch.status == "succeeded" and new.batch == batch


def test_a_failed_image_can_be_regenerated(recorder, reviewer, django_capture_on_commit_callbacks):
    from blogimages.exceptions import ProviderServerError

    recorder.script(ProviderServerError("down", status_code=503))
    [failed] = generation.generate(prompt="A boat", provider="test", overrides={"width": 32, "height": 32})
    assert failed.status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        [new] = review.regenerate(failed, user=reviewer)
    new.refresh_from_db()
    assert new.status == "succeeded"


def test_regenerate_with_an_edited_prompt(recorder, reviewer, post, django_capture_on_commit_callbacks):
    section_prompt = ImagePrompt.objects.create(description="Author's words", post=post, section_key="arrival")
    image = make_image(post=post, section_key="arrival")
    with django_capture_on_commit_callbacks(execute=True):
        [new] = review.regenerate_with_prompt(image, "A lighthouse at dawn", user=reviewer)
    new.refresh_from_db()
    assert new.status == "succeeded" and new.prompt_text == "A lighthouse at dawn. noir"
    assert recorder.requests[-1].prompt_description == "A lighthouse at dawn"
    assert new.prompt.author == reviewer and new.prompt.source == "manual" and new.prompt.post is None
    section_prompt.refresh_from_db()
    assert section_prompt.description == "Author's words"  # the author's own prompt is untouched
    event = image.events.get(action="regenerate")
    assert event.data["edited"] is True and "A lighthouse at dawn" in event.note
    with pytest.raises(ValueError, match="empty"):
        review.regenerate_with_prompt(image, " ", user=reviewer)


# -- assign ---------------------------------------------------------------------------------


def test_assign_to_a_section_overrides_the_choice(recorder, reviewer, post):
    first = make_image(post=post, section_key="arrival")
    second = make_image(post=post, section_key="arrival")
    assert review.assign_to_section(first, "arrival", user=reviewer) == first
    # An image made for one section may illustrate another.
    assert review.assign_to_section(second, "pools", user=reviewer) == second
    assert review.assign_to_section(second, "arrival", user=reviewer) == second
    chosen = dict(Section.objects.filter(post=post).values_list("key", "chosen_image"))
    assert chosen == {"arrival": second.pk, "pools": second.pk}
    event = second.events.filter(action="assign").first()
    assert event.data == {"section": "arrival", "assigned_output": second.pk, "previous": first.pk}


def test_assign_refuses_what_cannot_be_assigned(recorder, reviewer, post):
    image = make_image(post=post, section_key="arrival")
    with pytest.raises(ValueError, match="no image slot 'nope'"):
        review.assign_to_section(image, "nope", user=reviewer)
    with pytest.raises(ValueError, match="belongs to no post"):
        review.assign_to_section(make_image(), "arrival", user=reviewer)
    review.reject(image, user=reviewer, reason="no")
    with pytest.raises(ValueError, match="was rejected"):
        review.assign_to_section(image, "arrival", user=reviewer)
    assert Section.objects.filter(chosen_image__isnull=False).count() == 0


def test_assign_publishes_a_stripped_copy_when_configured(recorder, reviewer, post, settings):
    settings.BLOGIMAGES_STRIP_PARAMETERS_ON_PUBLISH = True
    image = make_image(post=post, section_key="arrival")
    shown = review.assign_to_section(image, "arrival", user=reviewer)
    assert shown.pk != image.pk and shown.derived_from == image and shown.derivation == "publish"
    assert Section.objects.get(post=post, key="arrival").chosen_image == shown
    info = provenance.read_provenance(file_bytes(shown))
    assert info["digital_source_type"] == provenance.DIGITAL_SOURCE_TYPE_AI
    assert "prompt" not in info and "seed" not in info
    # Assigning again reuses the copy.
    assert review.assign_to_section(image, "pools", user=reviewer) == shown


# -- replace with an upload ---------------------------------------------------------------


def test_replace_with_an_upload_keeps_the_original(recorder, reviewer, post, _media_root):
    image = make_image(post=post, section_key="arrival")
    original_bytes = file_bytes(image)
    upload = SimpleUploadedFile("my photo.jpg", png_bytes(80, 60, fmt="JPEG"), content_type="image/jpeg")
    new = review.replace_with_upload(image, upload, user=reviewer, note="Our own photo")

    assert (new.provider, new.derivation, new.derived_from) == ("upload", "upload", image)
    assert new.review_status == "approved"
    assert (new.width, new.height, new.mime_type) == (80, 60, "image/jpeg")
    stem = image.file.name.rsplit(".", 1)[0]
    assert new.file.name == f"{stem}-upload.jpg" and new.thumbnail.name == f"{stem}-upload.thumb.webp"
    assert new.sidecar.name == f"{stem}-upload.json"
    assert new.sha256 == hashlib.sha256(file_bytes(new)).hexdigest() and new.bytes == len(file_bytes(new))
    assert file_bytes(image) == original_bytes  # the original is never overwritten
    assert Section.objects.get(post=post, key="arrival").chosen_image == new
    event = image.events.get(action="replace")
    assert event.actor == reviewer and event.note == "Our own photo"
    assert event.data == {"new_output": new.pk, "filename": "my photo.jpg", "section": "arrival"}
    # An upload is not labelled AI-generated.
    assert provenance.read_provenance(file_bytes(new)) == {}


def test_an_upload_loses_its_gps_and_personal_exif_but_keeps_its_orientation(recorder, reviewer):
    from tests.blogimages.imaging.test_strip_metadata import image_with_metadata

    photo = image_with_metadata("JPEG")
    assert b"Jane Photographer" in photo
    new = review.replace_with_upload(make_image(), SimpleUploadedFile("holiday.jpg", photo), user=reviewer)
    stored = file_bytes(new)
    assert b"Jane Photographer" not in stored and b"CAM-123456" not in stored
    from PIL import Image

    with Image.open(io.BytesIO(stored)) as im:
        assert im.getexif().get(0x0112) == 6 and not im.getexif().get_ifd(0x8825)


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_uploads_are_accepted(recorder, reviewer, fmt, mime):
    new = review.replace_with_upload(make_image(), png_bytes(20, 20, fmt=fmt), user=reviewer)
    assert new.mime_type == mime


class StreamOnly(io.BytesIO):
    """An upload with no declared size: read in chunks."""

    name = "stream.png"


class MustNotBeRead:
    """An upload whose declared size is over the limit: reading it would be a failure."""

    name = "huge.png"
    size = 10**9

    def chunks(self):  # pragma: no cover - must not be called
        raise AssertionError("read a file that was too big by its declared size")

    read = seek = chunks


@pytest.mark.parametrize(
    "upload, message",
    [
        (SimpleUploadedFile("notes.png", b"this is not an image at all", content_type="image/png"),
         "The file is not an image: upload a PNG, JPEG or WebP"),
        (SimpleUploadedFile("bomb.png", bomb_png(), content_type="image/png"), "too large to decode safely"),
        (SimpleUploadedFile("anim.gif", png_bytes(fmt="GIF"), content_type="image/gif"),
         "Unsupported image format GIF"),
        (SimpleUploadedFile("empty.png", b"", content_type="image/png"), "empty"),
        (MustNotBeRead(), "uploads are limited to"),
    ],
    ids=["not-an-image", "decompression-bomb", "gif", "empty", "huge-declared"],
)
def test_bad_uploads_get_a_clear_error_and_store_nothing(recorder, reviewer, upload, message, _media_root):
    image = make_image()
    before = media_files(_media_root)
    with pytest.raises(InvalidImage, match=message):
        review.replace_with_upload(image, upload, user=reviewer)
    assert media_files(_media_root) == before
    assert ImageOutput.objects.count() == 1 and not ReviewEvent.objects.exists()


def test_an_upload_over_the_limit_is_refused_while_reading(recorder, reviewer, settings, _media_root):
    settings.BLOGIMAGES_MAX_UPLOAD_BYTES = 1000
    image = make_image()
    before = media_files(_media_root)
    big = png_bytes(200, 200, fmt="BMP")
    with pytest.raises(InvalidImage, match="more than"):
        review.replace_with_upload(image, StreamOnly(big), user=reviewer)
    with pytest.raises(InvalidImage, match="uploads are limited to 1,000 bytes"):
        review.replace_with_upload(image, SimpleUploadedFile("big.png", big), user=reviewer)
    assert media_files(_media_root) == before and ImageOutput.objects.count() == 1


def test_replace_a_failed_image(recorder, reviewer):
    from blogimages.exceptions import ContentRefused

    recorder.script(ContentRefused("refused"))
    [failed] = generation.generate(prompt="A boat", provider="test", overrides={"width": 32, "height": 32})
    new = review.replace_with_upload(failed, png_bytes(), user=reviewer)
    assert new.file.name.endswith(f"-{failed.short_id}-upload.png") and new.derived_from == failed
    with Image.open(new.file) as im:
        assert im.size == (32, 24)


def test_an_upload_that_cannot_take_its_place_stores_nothing(recorder, reviewer, post, monkeypatch, _media_root):
    from posts.adapter import PostAdapter

    def gone(self, post, key, image):
        raise LookupError(f"Post {post.slug!r} has no section {key!r}.")

    image = make_image(post=post, section_key="arrival")
    before = media_files(_media_root)
    monkeypatch.setattr(PostAdapter, "assign_image", gone)
    with pytest.raises(LookupError):
        review.replace_with_upload(image, png_bytes(), user=reviewer)
    assert media_files(_media_root) == before
    assert ImageOutput.objects.count() == 1 and not ReviewEvent.objects.exists()
