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


def hashed(phash_hex, minutes):
    import datetime as dt

    from django.utils import timezone

    from tests.factories import ImageOutputFactory

    image = ImageOutputFactory(status="succeeded", file=f"blogimages/tests/{phash_hex}.png", phash=phash_hex)
    ImageOutput.objects.filter(pk=image.pk).update(
        created_at=timezone.make_aware(dt.datetime(2026, 3, 1, 12)) + dt.timedelta(minutes=minutes))
    image.refresh_from_db()
    return image


def test_collapse_folds_near_duplicates_within_the_threshold_on_the_page(editor_client):
    newest = hashed("ffffffffffffffff", 50)
    eight_off = hashed("ffffffffffffff00", 40)  # 8 bits from `newest`: the same picture
    nine_off = hashed("fffffffffffffe00", 30)  # 9 bits: another picture
    other = hashed("0000000000000000", 20)
    same_as_other = hashed("0000000000000000", 10)  # identical: already collapsed in SQL
    no_hash = hashed("", 0)
    html = editor_client.get("/images/?flat=1&collapse=1").content.decode()
    shown = [int(pk) for pk in __import__("re").findall(r'<li class="thumb" data-output="(\d+)"', html)]
    assert shown == [newest.pk, nine_off.pk, other.pk, no_hash.pk]
    assert eight_off.pk not in shown and same_as_other.pk not in shown
    tile = html.split(f'data-output="{newest.pk}"', 1)[1].split("</li>", 1)[0]
    assert "+1 duplicate<" in tile
    tile = html.split(f'data-output="{other.pk}"', 1)[1].split("</li>", 1)[0]
    assert "+1 duplicate<" in tile
    flat = editor_client.get("/images/?flat=1").content.decode()
    assert all(f'data-output="{o.pk}"' in flat for o in (eight_off, same_as_other)), "only when asked"


def test_collapse_near_duplicates_joins_the_nearest_newer_tile_and_adds_its_counts():
    a = ImageOutput(pk=1, phash="ffffffffffffffff")
    b = ImageOutput(pk=2, phash="fffffffffffff000")  # 12 bits from a: its own tile
    c = ImageOutput(pk=3, phash="fffffffffffff800")  # 11 from a, 1 from b: joins b
    c.duplicate_count = 2  # it already stood for two identical ones
    d = ImageOutput(pk=4, phash="not hex")
    out = similar.collapse_near_duplicates([a, b, c, d])
    assert out == [a, b, d]
    assert b.duplicate_count == 3 and b.near_duplicates == [c] and not getattr(a, "duplicate_count", 0)
    fresh_a, fresh_b = ImageOutput(pk=5, phash=a.phash), ImageOutput(pk=6, phash=b.phash)
    assert similar.collapse_near_duplicates([fresh_a, fresh_b], max_bits=12) == [fresh_a]
    assert fresh_a.duplicate_count == 1


def test_collapse_keeps_the_gallery_pages_cursor_walk_whole(editor_client):
    import re

    made = [hashed(f"{(1 << (i % 64)):016x}" if i % 3 else "ffffffffffffffff", i) for i in range(60)]
    seen, url = [], "/images/?flat=1&collapse=1&per_page=10"
    folded_total = 0
    while url:
        html = editor_client.get(url).content.decode()
        shown = [int(pk) for pk in re.findall(r'<li class="thumb" data-output="(\d+)"', html)]
        folded_total += sum(int(n) for n in re.findall(r"\+(\d+) duplicates?<", html))
        seen += shown
        found = re.search(r'<a href="(\?[^"]*cursor=[^"]+)"[^>]*>Older images', html)
        url = "/images/" + found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == len(set(seen)), "no tile twice"
    assert len(seen) + folded_total == len(made), "every image is a tile or counted on one"
