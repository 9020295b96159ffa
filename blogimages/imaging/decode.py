"""Validation and decoding: which formats come in and go out, and opening bytes safely.

Every imaging operation opens its input here: a short list of formats, Pillow's
`Image.MAX_IMAGE_PIXELS` respected (never changed), and `InvalidImage` (a `ValueError`) for
bytes it cannot use. EXIF orientation is applied to the pixels, and any decoded mode is
brought to one of the few every operation handles.
"""

from __future__ import annotations

import io
import struct
import zlib
from types import MappingProxyType
from typing import Any

from PIL import Image, ImageColor, ImageOps

from blogimages.exceptions import InvalidImage

OUTPUT_FORMATS = ("png", "jpeg", "webp")
MIME_TYPES = MappingProxyType({"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"})
EXTENSIONS = MappingProxyType({"png": "png", "jpeg": "jpg", "webp": "webp"})
_FORMAT_ALIASES = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}

# What Image.open may try. Deliberately short: no EPS (Ghostscript), no exotic decoders.
INPUT_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


def normalize_format(name: str) -> str:
    try:
        return _FORMAT_ALIASES[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"Unsupported output format {name!r}; choose one of {', '.join(OUTPUT_FORMATS)}.") from None


def format_name(im: Image.Image) -> str:
    return (im.format or "").lower()


def open_image(data: bytes, *, decode: bool = True) -> Image.Image:
    """Decode image bytes fully (or only the header), or raise InvalidImage.

    Never changes Pillow's global limits."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"Expected image bytes, got {type(data).__name__}.")
    data = bytes(data)
    if not data:
        raise InvalidImage("Empty data is not an image.")
    try:
        im = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and im.width * im.height > limit:
            raise InvalidImage(
                f"Image of {im.width}×{im.height} pixels is larger than the {limit}-pixel limit."
            )
        if decode:
            im.load()
    except InvalidImage:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImage(f"Image is too large: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        # UnidentifiedImageError is an OSError; truncated files raise OSError on load.
        raise InvalidImage(f"Not a readable image: {exc}") from exc
    return im


def apply_orientation(im: Image.Image) -> Image.Image:
    """Turn the pixels upright per EXIF orientation; the same object when nothing to do."""
    if im.getexif().get(0x0112, 1) in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(im)
    return im


def normalise_mode(im: Image.Image) -> Image.Image:
    """Bring any decoded mode to RGB, RGBA, L or LA (the modes every operation handles)."""
    if im.mode in ("RGB", "RGBA", "L", "LA") and "transparency" not in im.info:
        return im
    if im.mode in ("L", "1") and "transparency" in im.info:
        return im.convert("LA")
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit greyscale: scale to 8 bits instead of clipping everything above 255.
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if im.mode == "F":
        return im.convert("L")
    if im.has_transparency_data:
        return im.convert("RGBA")
    return im.convert("RGB")


def has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA")


def parse_color(value: Any, name: str) -> tuple[int, ...]:
    """A CSS colour string or an (r, g, b[, a]) tuple, as a tuple; ValueError otherwise."""
    try:
        if isinstance(value, str):
            return ImageColor.getrgb(value)
        color = tuple(int(v) for v in value)
        if len(color) in (3, 4) and all(0 <= v <= 255 for v in color):
            return color
    except (ValueError, TypeError):
        pass
    raise ValueError(f"{name} must be a colour such as 'white' or '#202020', not {value!r}.")
