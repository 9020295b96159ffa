"""Near-duplicates: images whose perceptual hashes (imaging.phash) differ in a few bits.

The hashes are stored and indexed on ImageOutput. Equal hashes are found by the index (the
gallery's collapse); "within N bits" compares every stored hash: one narrow query of
(id, hash) pairs, and integer XORs — tens of milliseconds for tens of thousands of images.

The gallery's "Collapse near-duplicates" works in two steps, neither a scan of the library
per tile: identical hashes are collapsed in SQL across the whole list (selectors.
collapse_duplicates, by the phash index), then `collapse_near_duplicates` folds the tiles of
the page being shown that are within NEAR_DUPLICATE_BITS of a newer tile on that page (at
most per_page² XORs). Chosen over multi-index hashing (nine indexed 7–8-bit chunk columns,
a candidate when one chunk matches): that finds pairs across pages but needs a migration,
nine indexes written on every save and a per-tile candidate query, for a gallery that shows
a page at a time. The price: two near-identical (not identical) pictures more than a page
apart in time each keep a tile; the image page's "Similar images" lists them across the
whole library.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import IntegerField
from django.db.models.expressions import RawSQL

from .imaging import phash
from .integration import get_post_adapter
from .models import ImageOutput, OutputStatus

MAX_LISTED = 24


def similar_images(output: ImageOutput, *, max_bits: int = phash.NEAR_DUPLICATE_BITS,
                   limit: int = MAX_LISTED) -> list[ImageOutput]:
    """Stored images across the whole library that look like `output`, nearest first
    (`image.distance` set on each: the differing bits)."""
    if not output.phash:
        return []
    try:
        target = int(output.phash, 16)
    except ValueError:
        return []
    # Only imaging.phash writes the column (16 hex digits, or empty): no per-row pattern check,
    # which would cost more than the comparison itself.
    stored = ImageOutput.objects.filter(status=OutputStatus.SUCCEEDED).exclude(phash="").exclude(pk=output.pk).order_by()
    if connection.vendor == "postgresql" and connection.pg_version >= 140000:
        # The XOR and popcount in the database (bit_count, PostgreSQL 14+): one pass, no rows shipped.
        bits = RawSQL("bit_count(('x' || phash)::bit(64) # ('x' || %s)::bit(64))", [f"{target:016x}"],
                      output_field=IntegerField())
        near = [(d, pk) for pk, d in stored.annotate(bits=bits).filter(bits__lte=max_bits)
                .order_by("bits", "pk").values_list("pk", "bits")[:limit]]
    else:
        near = []
        for pk, value in stored.values_list("pk", "phash").iterator(chunk_size=5000):
            try:
                distance = (target ^ int(value, 16)).bit_count()
            except ValueError:
                continue
            if distance <= max_bits:
                near.append((distance, pk))
        near.sort()
        near = near[:limit]
    rows = ImageOutput.objects.select_related("post", "created_by").in_bulk([pk for _, pk in near])
    found = []
    for bits, pk in near:
        if pk in rows:
            rows[pk].distance = bits
            found.append(rows[pk])
    return found


@dataclass(frozen=True, kw_only=True)
class UsedElsewhere:
    image: ImageOutput
    post: object
    post_title: str
    slot_key: str
    distance: int


def used_in_other_posts(output: ImageOutput, *, post) -> list[UsedElsewhere]:
    """Near-identical images that are a slot's chosen image in a post other than `post`: the
    warning shown when `output` is assigned to one of `post`'s slots."""
    adapter = get_post_adapter()
    near = similar_images(output, limit=200)
    output.distance = 0
    # A slot usually shows a fitted copy (cropped to its size, so its own hash may be further
    # off): the copies of a near-identical image count as that image.
    distances = {image.pk: image.distance for image in (output, *near)}
    copies = list(ImageOutput.objects.filter(derived_from__in=list(distances), post__isnull=False)
                  .select_related("post"))
    for copy in copies:
        copy.distance = min(distances[copy.derived_from_id], getattr(copy, "distance", 64))
    candidates = [image for image in (*near, *copies) if image.post_id and (post is None or image.post_id != post.pk)]
    by_post: dict[int, list[ImageOutput]] = {}
    for image in candidates:
        by_post.setdefault(image.post_id, []).append(image)
    found = []
    for images in by_post.values():
        other = images[0].post
        chosen = {pk: key for key, pk in adapter.chosen_slot_images(other).items() if pk}
        for image in {image.pk: image for image in images}.values():
            if image.pk in chosen:
                found.append(UsedElsewhere(image=image, post=other, post_title=adapter.title(other),
                                           slot_key=chosen[image.pk], distance=image.distance))
    return sorted(found, key=lambda item: item.distance)


def collapse_near_duplicates(tiles: list[ImageOutput], *, max_bits: int = phash.NEAR_DUPLICATE_BITS) -> list[ImageOutput]:
    """One page's tiles (newest first) with each tile that is within `max_bits` of a newer
    tile kept on the page folded into the nearest such tile: it adds itself and the
    duplicates it stood for to that tile's `duplicate_count`, and joins its
    `near_duplicates`. Tiles without a hash are kept as they are. Compares the page only."""
    kept: list[tuple[int, ImageOutput]] = []
    out = []
    for tile in tiles:
        tile.near_duplicates = getattr(tile, "near_duplicates", [])
        try:
            value = int(tile.phash, 16) if tile.phash else None
        except ValueError:
            value = None
        if value is not None:
            near = [((value ^ other).bit_count(), index) for index, (other, _shown) in enumerate(kept)]
            near = [pair for pair in near if pair[0] <= max_bits]
            if near:
                _bits, index = min(near)
                shown = kept[index][1]
                shown.duplicate_count = getattr(shown, "duplicate_count", 0) + 1 + getattr(tile, "duplicate_count", 0)
                shown.near_duplicates.append(tile)
                continue
            kept.append((value, tile))
        out.append(tile)
    return out
