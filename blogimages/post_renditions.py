"""A published post's renditions are made when it is published, not on its first view.

Making every srcset width and format of every slot's image takes seconds (1–15 s for a post of
5 to 50 sections on an idle machine, several times that under load). So:

    schedule(post)          after the commit: a Celery task when there is a broker; without one,
                            after the response of the request that published (the editor does not
                            wait: after_response.defer), or inline outside a request (a command)
                            (called when a post is saved published, and when a published post's
                            slot gets another image)
    make(post_pk)           what the task runs: every rendition the public page shows
    prepare_published(post, images, social)
                            what the public page calls: reads the renditions that exist, never
                            makes one; if some are missing it schedules `make` (once per few
                            minutes per post, made after that page's response without a broker)
                            and the page shows the originals meanwhile (signed links): a page never
                            links a rendition whose row, and so whose file, is not there yet

The srcset of every slot's image but the social card's, and the 1200×630 social crop of the
social card's image (or the featured image's while the post has no social card) — the same
files the page asks for.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction

from . import queueing, renditions
from .integration import SlotKind, get_post_adapter, get_post_model
from .models import ImageOutput

logger = logging.getLogger("blogimages.post_renditions")

#: A page that found renditions missing schedules them at most this often per post.
SCHEDULE_AGAIN_AFTER = 300


def _lock_key(post_pk) -> str:
    return f"blogimages:post-renditions:{post_pk}"


def schedule(post) -> None:
    """Make the post's renditions once the current transaction commits (when it is published)."""
    if not get_post_adapter().is_published(post):
        return
    pk = post.pk
    transaction.on_commit(lambda: run(pk))


def run(post_pk) -> bool:
    """Hand `make(post_pk)` to a worker or to the end of the current request (True), or make
    them now when there is neither a broker nor a request (False).
    Until `make` is done (or SCHEDULE_AGAIN_AFTER passed) a page that finds them missing does
    not ask again."""
    cache.set(_lock_key(post_pk), 1, SCHEDULE_AGAIN_AFTER)
    try:
        return queueing.enqueue_post_renditions(post_pk)
    except Exception:
        # Publishing must never fail because renditions could not be made: the page shows originals.
        logger.exception("renditions of post %s could not be made or queued", post_pk)
        return True


def page_images(post) -> tuple[list[ImageOutput], list[ImageOutput]]:
    """(images shown with a srcset, images the social crop is made of) for the post's page."""
    adapter = get_post_adapter()
    chosen = adapter.chosen_slot_images(post)
    kinds = {slot.key: slot.kind for slot in adapter.slots(post)}
    by_pk = ImageOutput.objects.in_bulk([pk for pk in chosen.values() if pk])
    shown, social = [], []
    for key, pk in chosen.items():
        image = by_pk.get(pk)
        if image is None:
            continue
        (social if kinds.get(key) == SlotKind.SOCIAL else shown).append(image)
    if not social:
        social = [by_pk[chosen[key]] for key, kind in kinds.items()
                  if kind == SlotKind.FEATURED and chosen.get(key) in by_pk]
    return shown, social


def make(post_pk) -> int:
    """Make every rendition the published post's page shows; the number of images it covered."""
    try:
        post = get_post_model().objects.filter(pk=post_pk).first()
        if post is None or not get_post_adapter().is_published(post):
            return 0
        shown, social = page_images(post)
        renditions.prepare_renditions(shown, public=True)
        renditions.prepare_renditions(social, fills=[renditions.SOCIAL_SIZE], public=True)
        return len({image.pk for image in (*shown, *social)})
    finally:
        cache.delete(_lock_key(post_pk))


def prepare_published(post, shown, social: ImageOutput | None) -> list[ImageOutput]:
    """Attach the existing renditions of a published page's images (`shown`: with a srcset;
    `social`: the image of its og:image crop), making none; returns the images still without
    all of theirs, after scheduling them (made inline only outside a request without a broker)."""
    shown = [image for image in shown if image is not None]
    social = [social] if social is not None else []
    lacking = _prepare(shown, social)
    if lacking and cache.add(_lock_key(post.pk), 1, SCHEDULE_AGAIN_AFTER) and not run(post.pk):
        lacking = _prepare(shown, social)  # made inline (no broker): read them again
    return lacking


def _prepare(shown: list[ImageOutput], social: list[ImageOutput]) -> list[ImageOutput]:
    renditions.prepare_renditions([*shown, *social], public=True, make=False)
    fills = [renditions.SOCIAL_SIZE]
    lacking = [*renditions.missing(shown), *renditions.missing(social, fills=fills)]
    return list({image.pk: image for image in lacking}.values())
