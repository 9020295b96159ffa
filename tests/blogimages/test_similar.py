"""Near-duplicates: every stored image gets a pHash; similar images across the library; the
warning when a near-identical image is already a slot's image in another post; gallery collapse."""

import io
import random

import pytest
from django.test import Client
from PIL import Image

from blogimages import derive, generation, publishing, similar
from blogimages.imaging import phash
from blogimages.models import ImageOutput
from tests.blogimages.views.helpers import make_editor
from tests.factories import PostFactory, SectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor():
    return make_editor()


@pytest.fixture
def editor_client(editor):
    client = Client()
    client.force_login(editor)
    return client


def card(user, text="A lighthouse at dusk", seed=11, width=320, height=240):
    [output] = generation.generate(prompt=text, provider="cards", user=user,
                                   overrides={"seed": seed, "width": width, "height": height})
    assert output.status == "succeeded", output.error
    return output


def test_phash_survives_resizing_and_reencoding_but_tells_pictures_apart():
    def blocks(seed):
        rng = random.Random(seed)
        small = Image.new("L", (8, 8))
        small.putdata([rng.randrange(256) for _ in range(64)])
        return small.resize((256, 256), Image.Resampling.BILINEAR).convert("RGB")

    picture, other = blocks(1), blocks(2)
    buffer = io.BytesIO()
    picture.resize((200, 200)).save(buffer, "JPEG", quality=60)
    reencoded = Image.open(io.BytesIO(buffer.getvalue()))
    value = phash.phash_hex(picture)
    assert len(value) == 16 and int(value, 16) >= 0
    assert phash.distance(value, phash.phash_hex(reencoded)) <= phash.NEAR_DUPLICATE_BITS
    assert phash.distance(value, phash.phash_hex(other)) > phash.NEAR_DUPLICATE_BITS
    with pytest.raises(ValueError):
        phash.distance(value, "not hex")


def test_every_stored_image_has_its_phash_generated_and_derived(editor):
    original = card(editor)
    assert len(original.phash) == 16
    ImageOutput.objects.filter(pk=original.pk).update(review_status="approved")
    original.refresh_from_db()
    copy = derive.watermark_output(original, user=editor)
    assert copy.phash and phash.distance(copy.phash, original.phash) <= phash.NEAR_DUPLICATE_BITS


def test_done_when_a_regenerated_identical_card_is_listed_as_a_near_duplicate(editor, editor_client, settings):
    settings.BLOGIMAGES_REUSE_IDENTICAL = False  # really drawn again, not copied
    first = card(editor, seed=5)
    again = card(editor, seed=5)
    different = card(editor, "Something else entirely, in other words", seed=99)
    assert again.reused_from_id is None and again.phash == first.phash
    found = similar.similar_images(first)
    assert [image.pk for image in found] == [again.pk] and found[0].distance == 0
    assert different.pk not in [image.pk for image in similar.similar_images(first, max_bits=4)]
    html = editor_client.get(f"/images/{first.pk}/").content.decode()
    section = html.split('id="similar-images"', 1)[1].split("</ul>", 1)[0]
    assert f'data-output="{again.pk}"' in section and "identical picture" in section
    assert f'data-output="{different.pk}"' not in section


def test_the_gallery_collapses_identical_pictures_into_one_tile(editor, editor_client, settings):
    settings.BLOGIMAGES_REUSE_IDENTICAL = False
    older, newer = card(editor, seed=5), card(editor, seed=5)
    other = card(editor, "A different card", seed=6)
    flat = editor_client.get("/images/?flat=1").content.decode()
    assert all(f'data-output="{o.pk}"' in flat for o in (older, newer, other))
    collapsed = editor_client.get("/images/?flat=1&collapse=1").content.decode()
    assert f'data-output="{newer.pk}"' in collapsed and f'data-output="{other.pk}"' in collapsed
    assert f'data-output="{older.pk}"' not in collapsed and "+1 duplicate" in collapsed
    assert "2 images" in collapsed


def test_assigning_warns_when_a_near_identical_image_is_already_used_in_another_post(editor, editor_client, settings):
    settings.BLOGIMAGES_REUSE_IDENTICAL = False
    first_post, second_post = PostFactory(slug="first"), PostFactory(slug="second")
    SectionFactory(post=first_post, key="intro")
    SectionFactory(post=second_post, key="intro")
    used = card(editor, seed=21)
    ImageOutput.objects.filter(pk=used.pk).update(review_status="approved")
    used.refresh_from_db()
    shown = publishing.use_in_post(used, post=first_post, slot_key="intro", user=editor)
    twin = card(editor, seed=21)
    unrelated = card(editor, "Nothing like it at all", seed=77)
    warnings = similar.used_in_other_posts(twin, post=second_post)
    assert [w.image.pk for w in warnings] == [shown.pk] and warnings[0].slot_key == "intro"
    assert similar.used_in_other_posts(twin, post=first_post) == [], "the same post is no other post"
    assert similar.used_in_other_posts(unrelated, post=second_post) == []
    page = editor_client.get(f"/images/{twin.pk}/use/?post={second_post.pk}").content.decode()
    assert "data-duplicate-warning" in page and first_post.title in page
    response = editor_client.post(f"/images/{twin.pk}/use/", {"post": second_post.pk, "slot": "intro"}, follow=True)
    assert "readers may see it twice" in response.content.decode()


def test_hash_images_fills_in_missing_hashes(editor, capsys):
    from django.core.management import call_command

    output = card(editor)
    expected = output.phash
    ImageOutput.objects.filter(pk=output.pk).update(phash="")
    broken = card(editor, "Another", seed=3)
    broken.file.storage.delete(broken.file.name)
    ImageOutput.objects.filter(pk=broken.pk).update(phash="")
    call_command("hash_images")
    output.refresh_from_db()
    assert output.phash == expected
    captured = capsys.readouterr()
    assert "1 image(s) hashed, 1 could not be read." in captured.out and f"image {broken.pk}" in captured.err
