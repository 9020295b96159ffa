"""The one edit path (editing.py) with the offline cards provider, and every refusal."""

import io

import pytest
from PIL import Image

from blogimages import editing, generation, storage
from blogimages.exceptions import InvalidImage, UnsupportedFeature
from blogimages.imaging import masks
from blogimages.models import ImageOutput, OutputStatus, ReviewEvent
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db

W, H = 96, 64


def mask_png(width=W, height=H, box=(0, 0, W // 2, H)) -> bytes:
    """Opaque everywhere except `box`, which is transparent (the area to change)."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def read(output: ImageOutput) -> bytes:
    with storage.get_storage().open(output.file.name, "rb") as handle:
        return handle.read()


@pytest.fixture
def card(settings):
    settings.BLOGIMAGES_PROVIDERS = {"cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"
    [output] = generation.generate(prompt="Harbour at dawn", overrides={"width": W, "height": H})
    assert output.status == OutputStatus.SUCCEEDED
    return output


def stored_count() -> tuple[int, int]:
    files = []
    root = storage.get_storage()
    stack = ["blogimages"]
    while stack:
        folder = stack.pop()
        try:
            dirs, names = root.listdir(folder)
        except FileNotFoundError:
            continue
        files += names
        stack += [f"{folder}/{d}" for d in dirs]
    return ImageOutput.objects.count(), len(files)


def test_cards_edit_is_a_derived_image_with_the_source_untouched(card):
    before = read(card)
    [edited] = editing.edit(source=card, prompt="Harbour at night")
    edited.refresh_from_db()
    assert edited.status == OutputStatus.SUCCEEDED, edited.error
    assert edited.derivation == "edit" and edited.derived_from_id == card.pk
    assert (edited.width, edited.height) == (W, H)
    assert edited.seed == card.seed  # same seed: same layout, new text
    assert edited.provider_metadata["layout"] == card.provider_metadata["layout"]
    assert edited.provider_metadata["text"] == "Harbour at night"
    assert read(card) == before
    assert edited.setting_snapshot["edit"]["source"] == card.file.name
    assert ReviewEvent.objects.get(output=card, action="edit").data["new_outputs"] == [edited.pk]


def test_masked_cards_edit_changes_only_the_masked_area(card):
    [edited] = editing.edit(source=card, prompt="Something else entirely", mask=mask_png())
    edited.refresh_from_db()
    assert edited.status == OutputStatus.SUCCEEDED, edited.error
    source, result = pixels(read(card)), pixels(read(edited))
    kept = (W // 2, 0, W, H)
    assert source.crop(kept).tobytes() == result.crop(kept).tobytes()
    assert source.crop((0, 0, W // 2, H)).tobytes() != result.crop((0, 0, W // 2, H)).tobytes()
    assert edited.setting_snapshot["edit"]["mask"].endswith("mask.png")


def test_queued_edit_is_made_by_the_task_from_its_snapshot(card, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        [edited] = editing.edit(source=card, prompt="Queued edit", mask=mask_png(), background=True)
    edited.refresh_from_db()
    assert edited.status == OutputStatus.SUCCEEDED, edited.error
    assert edited.derivation == "edit"


def test_edit_of_an_upload_keeps_it_as_an_input(card):
    [edited] = editing.edit(image=png_bytes(W, H), prompt="From an upload", provider="cards")
    edited.refresh_from_db()
    assert edited.status == OutputStatus.SUCCEEDED, edited.error
    assert edited.derived_from is None
    name = edited.setting_snapshot["edit"]["source"]
    assert "/edits/" in name and storage.get_storage().exists(name)


def test_strength_blends_the_new_card_over_the_source(card):
    [weak] = editing.edit(source=card, prompt="A new title", strength=0.0)
    weak.refresh_from_db()
    assert pixels(read(weak)).tobytes() == pixels(read(card)).tobytes()


@pytest.mark.parametrize("make_bad, message", [
    (lambda: {"mask": mask_png(W // 2, H, (0, 0, 10, 10))}, "must match"),
    (lambda: {"mask": png_bytes(W, H)}, "no transparency"),
    (lambda: {"mask": mask_png(box=(0, 0, 0, 0))}, "no transparent pixels"),
    (lambda: {"mask": b"not an image"}, "The mask is not an image"),
    (lambda: {"references": [png_bytes(8, 8)] * 17}, "17 reference images"),
    (lambda: {"references": [png_bytes(8, 8)]}, r"reference image\(s\) given; this model takes none"),
    (lambda: {"strength": 1.5}, "between 0 and 1"),
])
def test_bad_inputs_are_refused_before_anything_is_stored(card, make_bad, message):
    before = stored_count()
    with pytest.raises(ValueError, match=message):
        editing.edit(source=card, prompt="x", **make_bad())
    assert stored_count() == before


def test_non_image_and_oversized_uploads_are_refused(card, settings):
    before = stored_count()
    with pytest.raises(InvalidImage, match="not an image"):
        editing.edit(image=b"GIF89a nonsense", prompt="x", provider="cards")
    settings.BLOGIMAGES_MAX_IMAGE_PIXELS = 1000
    with pytest.raises(InvalidImage, match="at most 1,000"):
        editing.edit(image=png_bytes(W, H), prompt="x", provider="cards")
    assert stored_count() == before


def test_a_decompression_bomb_is_refused_undecoded(card):
    # A tiny PNG that says it is 20000x20000: refused from its header, never decoded.
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, "PNG")
    before = stored_count()
    with pytest.raises(InvalidImage, match="pixels"):
        editing.edit(image=buffer.getvalue(), prompt="x", provider="cards")
    assert stored_count() == before


def test_a_provider_that_cannot_edit_is_refused(card, settings):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
    }
    before = stored_count()
    with pytest.raises(UnsupportedFeature, match="cannot edit images; providers that can: cards"):
        editing.edit(source=card, prompt="x", provider="test")
    assert stored_count() == before


def test_paste_back_keeps_every_unmasked_pixel():
    original = Image.new("RGB", (W, H))
    original.putdata([((x * 7) % 256, (y * 11) % 256, (x * y) % 256) for y in range(H) for x in range(W)])
    buffer = io.BytesIO()
    original.save(buffer, "PNG")
    edited = png_bytes(W, H, color=(1, 2, 3))
    mask = mask_png(box=(10, 10, 40, 30))
    result = pixels(masks.paste_back(buffer.getvalue(), edited, mask))
    keep = [(x, y) for y in range(H) for x in range(W) if not (10 <= x < 40 and 10 <= y < 30)]
    assert [result.getpixel(p) for p in keep] == [original.getpixel(p) for p in keep]
    assert all(result.getpixel((x, y)) == (1, 2, 3) for x in range(10, 40) for y in range(10, 30))


# -- an edit's stored inputs follow the images made from them ---------------------------------


@pytest.fixture
def deleter():
    from tests.blogimages.test_review import make_user

    return make_user(username="deleter", perms=("view_imageoutput", "change_imageoutput", "delete_imageoutput"))


def exists(name: str) -> bool:
    return storage.get_storage().exists(name)


def test_an_uploads_inputs_are_deleted_with_the_last_image_made_from_them(card, deleter,
                                                                          django_capture_on_commit_callbacks):
    from blogimages import review

    first, second = editing.edit(image=png_bytes(W, H), mask=mask_png(), prompt="From an upload", provider="cards",
                                 n=2, user=deleter)
    inputs = editing.stored_inputs(first.setting_snapshot)
    assert len(inputs) == 2 and all("/edits/" in name and exists(name) for name in inputs)  # source and mask
    assert editing.stored_inputs(second.setting_snapshot) == inputs  # one upload, two images
    with django_capture_on_commit_callbacks(execute=True):
        review.delete(first, user=deleter)
    assert all(exists(name) for name in inputs), "the other image's edit still names them"
    with django_capture_on_commit_callbacks(execute=True):
        review.delete(second, user=deleter)
    assert not any(exists(name) for name in inputs)
    assert exists(card.file.name)


def test_an_edit_of_a_stored_image_deletes_its_mask_never_the_source(card, deleter,
                                                                     django_capture_on_commit_callbacks):
    from blogimages import review

    [edited] = editing.edit(source=card, prompt="Masked", mask=mask_png(), user=deleter)
    [mask] = editing.stored_inputs(edited.setting_snapshot)
    assert mask.endswith("mask.png") and edited.setting_snapshot["edit"]["source"] == card.file.name
    with django_capture_on_commit_callbacks(execute=True):
        review.delete(edited, user=deleter)
    assert not exists(mask)
    assert exists(card.file.name) and ImageOutput.objects.filter(pk=card.pk).exists()


def test_a_rolled_back_delete_keeps_the_inputs(card, deleter, django_capture_on_commit_callbacks):
    from django.db import transaction

    [edited] = editing.edit(image=png_bytes(W, H), prompt="Kept", provider="cards", user=deleter)
    [source] = editing.stored_inputs(edited.setting_snapshot)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                edited.delete()
                raise RuntimeError("rolled back")
    assert callbacks == [] and exists(source)


def test_a_queryset_delete_removes_the_inputs_of_every_image(card, django_capture_on_commit_callbacks):
    made = [editing.edit(image=png_bytes(W, H, color), prompt=f"Upload {color}", provider="cards")[0]
            for color in ("red", "blue")]
    inputs = [name for output in made for name in editing.stored_inputs(output.setting_snapshot)]
    assert len(inputs) == 2
    with django_capture_on_commit_callbacks(execute=True):
        ImageOutput.objects.filter(pk__in=[o.pk for o in made]).delete()
    assert not any(exists(name) for name in inputs)
