"""Optional: generate missing section images when a post is published or its sections change.

Enabled by BLOGIMAGES_AUTO_GENERATE. blogimages listens to saves of the post model itself;
a host whose sections live in another model calls `post_content_changed(post)` when they
change (posts does, from its Section signals).
"""

from __future__ import annotations

import logging

from django.db import transaction

from .conf import blogimages_settings
from .integration import get_post_adapter

logger = logging.getLogger("blogimages.automation")


def post_content_changed(post) -> None:
    """Schedule generation for the post's sections that need it, after the commit."""
    if not blogimages_settings.AUTO_GENERATE:
        return
    if not get_post_adapter().is_published(post):
        return
    transaction.on_commit(lambda: generate_missing(post.pk))


def generate_missing(post_pk) -> None:
    from .batches import sections_needing_images, start_post_batch
    from .integration import get_post_model
    from .models import ImageSetting

    post = get_post_model().objects.filter(pk=post_pk).first()
    if post is None:
        return
    keys = sections_needing_images(post)
    if not keys:
        return
    setting = None
    if blogimages_settings.AUTO_GENERATE_SETTING:
        setting = ImageSetting.objects.filter(name=blogimages_settings.AUTO_GENERATE_SETTING).first()
    try:
        started = start_post_batch(post=post, setting=setting, sections=keys)
    except Exception:
        # Publishing must never fail because image generation could not start.
        logger.exception("automatic image generation for post %s could not start", post_pk)
        return
    logger.info("automatic batch %s for post %s: sections %s", started.batch.pk, post_pk, ", ".join(keys))
