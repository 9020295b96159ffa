"""Renditions: the files a page needs of a chosen image, made once and then reused.

    prepared = prepare_renditions(images)        # one query for all images' renditions
    image.prepared_renditions["w800.webp"]       # what the template tag reads

A published page passes `public=True`: its renditions get plain, cacheable URLs
(`signed_media.public_url`; served by views/media.public only while the image is published).
Everywhere else, with BLOGIMAGES_PRIVATE_MEDIA on, a rendition's URL is a signed link.

A published post's renditions are made when it is published (post_renditions.py), not on its
first view; the public page only reads them (`make=False`) and shows the original meanwhile.

A page with 50 images costs the same queries as one with 5: existing renditions are read
in one query, missing ones are made and inserted in bulk. Originals are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from . import content_credentials, derive, signed_media, storage
from .conf import blogimages_settings
from .exceptions import BlogImagesError
from .integration import get_post_adapter
from .imaging.renditions import RenditionSpec, format_of, parse_spec, render_each, scaled_height, srcset_widths
from .models import ImageOutput, OutputStatus, Rendition

logger = logging.getLogger("blogimages.renditions")

SOCIAL_SIZE = (1200, 630)


@dataclass(frozen=True, kw_only=True)
class Source:
    """One candidate of a srcset."""

    url: str
    width: int
    height: int


def specs_for(image: ImageOutput, *, fills: Iterable[tuple[int, int]] = ()) -> list[RenditionSpec]:
    """The srcset of an image (WebP at several widths, and the same widths in the original's
    format as the fallback), plus exact-size crops such as the 1200×630 social card."""
    if not image.width or not image.height:
        return []
    fallback = format_of(image.mime_type)
    widths = srcset_widths(image.width, blogimages_settings.RENDITION_WIDTHS)
    specs = [RenditionSpec(width=w, height=None, format=fmt) for fmt in ("webp", fallback) for w in widths]
    specs += [fill_spec(image, size) for size in fills]
    return list(dict.fromkeys(specs))


def fill_spec(image: ImageOutput, size: tuple[int, int]) -> RenditionSpec:
    # Crawlers that read og:image do not all take WebP: an exact crop keeps PNG or JPEG.
    fmt = format_of(image.mime_type)
    return RenditionSpec(width=size[0], height=size[1], format="png" if fmt == "webp" else fmt)


def rendition_name(image: ImageOutput, spec: RenditionSpec) -> str:
    return f"{blogimages_settings.ROOT}/renditions/{image.uid.hex}/{spec.name.rsplit('.', 1)[0]}.{spec.extension}"


def prepare_renditions(images: Iterable[ImageOutput | None], *, fills: Iterable[tuple[int, int]] = (),
                       public: bool = False, make: bool = True) -> dict[int, dict[str, Rendition]]:
    """Every image's renditions, made if missing; attached as `image.prepared_renditions`.
    `public`: the images are shown on a published page (their renditions' URLs are plain).
    `make=False`: only read what exists (a page that must not wait; `missing` says what is not there)."""
    usable = [i for i in images if i is not None and i.status == OutputStatus.SUCCEEDED and i.file]
    for image in usable:
        image.public_renditions = public
    fills = tuple(fills)
    by_image: dict[int, dict[str, Rendition]] = {i.pk: {} for i in usable}
    if usable:
        for rendition in Rendition.objects.filter(image__in=[i.pk for i in usable]):
            by_image[rendition.image_id][rendition.spec] = rendition
    missing: list[Rendition] = []
    # One image may fill two slots of a page (featured and a section): make its files once.
    for image in ({i.pk: i for i in usable}.values() if make else ()):
        wanted = [s for s in specs_for(image, fills=fills) if s.name not in by_image[image.pk]]
        if not wanted:
            continue
        try:
            original = derive.read_bytes(image)
        except (OSError, ValueError, BlogImagesError):
            logger.warning("image %s: original unreadable, page shows it without renditions", image.pk)
            continue
        # One decode of the original for all of its files, and one read of it as their C2PA parent.
        parent = content_credentials.rendition_parent(image, original)
        for spec, data in render_each(original, wanted, focal=(image.focal_x, image.focal_y), quality=_quality):
            missing.append(_make(image, spec, data, original, parent))
    if missing:
        _store(missing)
        for rendition in missing:
            by_image[rendition.image_id][rendition.spec] = rendition
    for image in usable:
        image.prepared_renditions = by_image[image.pk]
    return by_image


def _quality(spec: RenditionSpec) -> int | None:
    return blogimages_settings.RENDITION_QUALITY if spec.format != "png" else None


def _make(image: ImageOutput, spec: RenditionSpec, data: bytes, original: bytes,
          parent: bytes | None = None) -> Rendition:
    """Store one rendition's file (signed with Content Credentials, `parent` from
    content_credentials.rendition_parent); its row is for the caller."""
    data = content_credentials.sign_rendition(image, data, original=original, spec=spec.name, parent=parent)
    height = spec.height or scaled_height(spec.width, (image.width, image.height))
    name = storage.get_storage().save(rendition_name(image, spec), ContentFile(data))
    return Rendition(image=image, spec=spec.name, file=name, width=spec.width, height=height,
                     mime_type=f"image/{spec.format}")


def _store(renditions: list[Rendition]) -> None:
    try:
        with transaction.atomic():
            Rendition.objects.bulk_create(renditions)
    except IntegrityError:
        # Another request made some of them first: keep theirs, drop our duplicate files.
        existing = set(Rendition.objects.filter(image__in={r.image_id for r in renditions})
                       .values_list("image_id", "spec"))
        fresh = [r for r in renditions if (r.image_id, r.spec) not in existing]
        storage.delete_files([r.file.name for r in renditions if (r.image_id, r.spec) in existing])
        Rendition.objects.bulk_create(fresh, ignore_conflicts=True)


def missing(images: Iterable[ImageOutput | None], *, fills: Iterable[tuple[int, int]] = ()) -> list[ImageOutput]:
    """The images (after prepare_renditions) that lack some of their renditions."""
    fills = tuple(fills)
    usable = [i for i in images if i is not None and i.status == OutputStatus.SUCCEEDED and i.file]
    return [image for image in {i.pk: i for i in usable}.values()
            if any(spec.name not in getattr(image, "prepared_renditions", {}) for spec in specs_for(image, fills=fills))]


def srcset(image: ImageOutput, fmt: str) -> list[Source]:
    """The prepared renditions of one format, narrowest first."""
    prepared = getattr(image, "prepared_renditions", None)
    if prepared is None:
        prepared = prepare_renditions([image]).get(image.pk, {})
    found = []
    for name, rendition in prepared.items():
        spec = parse_spec(name)
        if spec.height is None and spec.format == fmt:
            found.append(Source(url=url_of(rendition, public=getattr(image, "public_renditions", False)),
                                width=rendition.width, height=rendition.height))
    return sorted(found, key=lambda s: s.width)


def url_of(rendition: Rendition, *, public: bool = False) -> str:
    """A rendition's URL: plain and cacheable on a published page, else the storage's
    (a signed link with BLOGIMAGES_PRIVATE_MEDIA on)."""
    return signed_media.public_url(rendition.file.name) if public else rendition.url


def is_published(name: str) -> bool:
    """Whether a stored file is a rendition of an image a published post shows (then anyone may fetch it)."""
    rendition = Rendition.objects.select_related("image__post").filter(file=name).first()
    return rendition is not None and shown_on_published_post(rendition.image)


def shown_on_published_post(image: ImageOutput) -> bool:
    """Whether a published post shows the image in one of its slots (then anyone may see it)."""
    if not image.post_id:
        return False
    adapter = get_post_adapter()
    if not adapter.is_published(image.post):
        return False
    return image.pk in set(adapter.chosen_slot_images(image.post).values())


def fill(image: ImageOutput, size: tuple[int, int], *, make: bool = True) -> Rendition | None:
    """The exact-size crop of an image (made if missing, unless `make=False`), e.g. the social card."""
    name = fill_spec(image, size).name
    prepared = getattr(image, "prepared_renditions", None) or {}
    if name in prepared:
        return prepared[name]
    public = getattr(image, "public_renditions", False)
    return prepare_renditions([image], fills=[size], public=public, make=make).get(image.pk, {}).get(name)
