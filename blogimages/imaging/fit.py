"""Fit an image to an exact size: the provider made the nearest size it can, the page
wants exactly what was asked (a 1200x630 social card from a 1216x640 image)."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

SAVE_FORMATS = {"PNG": "PNG", "WEBP": "WEBP", "JPEG": "JPEG", "MPO": "JPEG"}


def cover_box(source: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred crop of `source` with `target`'s shape (left, top, right, bottom)."""
    sw, sh = source
    tw, th = target
    if sw * th > sh * tw:  # wider than the target: trim the sides
        width = round(sh * tw / th)
        left = (sw - width) // 2
        return left, 0, left + width, sh
    height = round(sw * th / tw)
    top = (sh - height) // 2
    return 0, top, sw, top + height


def fit_exactly(data: bytes, *, width: int, height: int) -> bytes:
    """`data` centre-cropped to the shape of `width`x`height`, then resized to it exactly.

    Keeps the format (PNG, WebP or JPEG) and transparency; metadata is not carried over
    (provenance is embedded after this, by the caller). Raises PIL's errors for bytes
    that are not an image: callers validate before.
    """
    if width < 1 or height < 1:
        raise ValueError(f"cannot fit an image to {width}x{height}")
    with Image.open(io.BytesIO(data)) as opened:
        fmt = SAVE_FORMATS.get(opened.format or "", "PNG")
        picture = ImageOps.exif_transpose(opened)
        if picture.size == (width, height):
            return data
        box = cover_box(picture.size, (width, height))
        picture = picture.resize((width, height), Image.Resampling.LANCZOS, box=box)
    if fmt == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()
