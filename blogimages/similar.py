"""Near-duplicates: images whose perceptual hashes (imaging.phash) differ in a few bits.

The hashes are stored and indexed on ImageOutput. Equal hashes are found by the index (the
gallery's collapse); "within N bits" compares every stored hash: one narrow query of
(id, hash) pairs, and integer XORs — tens of milliseconds for tens of thousands of images.
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
