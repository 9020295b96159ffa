"""Fit a generated image to the exact size that was asked for: nearest aspect, centre crop, resize.

Gemini's image models take an aspect ratio (and a resolution tier), never pixel sizes, so a
1200x630 social card comes back as, say, 1376x768 (16:9). These pure functions choose what
to ask for and turn the answer into exactly the requested pixels. They belong with the
other providers' "requested vs generated size" fitting (imaging/fit.py once it exists) and
are kept apart here so they can be folded in without touching the provider.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable, Sequence

from PIL import Image, ImageOps

# Formats kept as they came; anything else Pillow can read is re-encoded as PNG.
_KEPT_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WEBP"}
DEFAULT_MAX_PIXELS = 64_000_000


class FitError(ValueError):
    """The bytes cannot be fitted: not a readable image, or too large to decode safely."""


def parse_aspect(aspect: str) -> float:
    """"16:9" -> 1.777...; raises ValueError for anything else."""
    width, sep, height = aspect.partition(":")
    if not sep:
        raise ValueError(f"aspect ratio {aspect!r} is not W:H")
    w, h = float(width), float(height)
    if w <= 0 or h <= 0:
        raise ValueError(f"aspect ratio {aspect!r} must be positive")
    return w / h


def nearest_aspect(width: int, height: int, aspects: Iterable[str]) -> str:
    """The aspect in `aspects` closest to width:height, measured on a log scale so that
    2:1 and 1:2 are equally far from 1:1 (ties go to the first listed)."""
    target = math.log(width / height)
    best = None
    best_distance = math.inf
    for aspect in aspects:
        distance = abs(math.log(parse_aspect(aspect)) - target)
        if distance < best_distance - 1e-12:
            best, best_distance = aspect, distance
    if best is None:
        raise ValueError("no aspect ratios to choose from")
    return best


def smallest_covering(
    width: int, height: int, candidates: Sequence[tuple[str, tuple[int, int]]]
) -> str:
    """The first candidate (name, (w, h)), in the given order, whose crop to width:height is at
    least width x height - so the fit only ever scales down; the last one when none is."""
    if not candidates:
        raise ValueError("no sizes to choose from")
    for name, (native_w, native_h) in candidates:
        crop_w, crop_h = crop_box_size(native_w, native_h, width, height)
        if crop_w >= width and crop_h >= height:
            return name
    return candidates[-1][0]


def crop_box_size(native_w: int, native_h: int, width: int, height: int) -> tuple[int, int]:
    """The largest width:height box inside native_w x native_h."""
    if native_w * height > native_h * width:  # the native image is wider: cut the sides
        return max(1, round(native_h * width / height)), native_h
    return native_w, max(1, round(native_w * height / width))


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of the image in `data`, read from its header; FitError if not an image."""
    try:
        with Image.open(io.BytesIO(bytes(data))) as opened:
            return opened.size
    except Exception as exc:  # UnidentifiedImageError, truncated headers...
        raise FitError(f"not a readable image ({type(exc).__name__})") from exc


def fit_exact(data: bytes, width: int, height: int, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """`data` as an image of exactly width x height: centre-cropped to that aspect, then resized.

    Bytes already that size come back unchanged. PNG, JPEG and WebP keep their format (PNG
    losslessly, the others at high quality); EXIF orientation is applied first. Raises
    FitError for bytes that are not an image Pillow can decode within `max_pixels`.
    """
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as opened:
                if opened.width * opened.height > max_pixels:
                    raise FitError(f"the image is {opened.width}x{opened.height}, too large to decode safely")
                fmt = _KEPT_FORMATS.get(opened.format or "", "PNG")
                opened.load()
                if opened.size == (width, height) and opened.format in _KEPT_FORMATS:
                    return bytes(data)
                picture = ImageOps.exif_transpose(opened)
    except FitError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FitError("the image is too large to decode safely") from exc
    except Exception as exc:  # Pillow raises many types for data that is not an image
        raise FitError(f"not a readable image ({type(exc).__name__})") from exc

    crop_w, crop_h = crop_box_size(picture.width, picture.height, width, height)
    left, top = (picture.width - crop_w) // 2, (picture.height - crop_h) // 2
    picture = picture.crop((left, top, left + crop_w, top + crop_h))
    if picture.size != (width, height):
        picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    if fmt == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    options = {"PNG": {"optimize": False}, "JPEG": {"quality": 95}, "WEBP": {"quality": 95}}[fmt]
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()
