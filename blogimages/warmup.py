"""Warming a worker process before its first task.

The first image a cold process stores pays for everything nobody has needed yet: the
provider's SDK client, the perceptual hash's numerical stack (imagehash loads numpy and
scipy: about a second), Pillow's WebP encoder, the storage backend. In a batch every thread
of a fresh worker pays at once, under one import lock, so the first round of images took
1-2 s longer than the next. `warm_up()` pays it once at worker start (`tasks`' worker_init).
"""

from __future__ import annotations

import io
import logging

from PIL import Image

from . import storage
from .imaging import phash
from .providers import providers

logger = logging.getLogger("blogimages.warmup")


def warm_up() -> None:
    """Build every configured provider (and its client) and run the store path's image
    steps once on a tiny picture; touches no database and writes no file. A provider that
    cannot be built is logged and left for its first task to report."""
    for alias in providers.settings:
        try:
            providers[alias].warm()
        except Exception:  # reported by `manage.py check` and by the task that uses it
            logger.warning("provider %s could not be warmed up", alias, exc_info=True)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (128, 128, 128)).save(buffer, "PNG")
    _info, decoded = storage.load_image(buffer.getvalue())
    with decoded:
        storage.make_thumbnail(decoded)
        phash.phash_hex(decoded)
    storage.get_storage()
