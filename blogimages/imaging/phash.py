"""Perceptual hashes (pHash, via `imagehash`): near-identical pictures get hashes a few bits apart.

A 64-bit DCT hash of the picture shrunk to 32×32 greys: re-encoding, resizing, a watermark in a
corner or small crops move it by a few bits, different pictures by about half of them.
"""

from __future__ import annotations

import imagehash
from PIL import Image

BITS = 64
#: At most this many differing bits: the same picture for a reader (resized, re-encoded, lightly
#: watermarked). Cards drawn from another seed differ by far more.
NEAR_DUPLICATE_BITS = 8


# imagehash.phash's own first step: the picture as greys, LANCZOS to 32x32 (8 bits x 4).
HASH_SIDE = 32
# Rows greyed at a time: about 1 MB of a 2048 px wide picture, never a full-size copy.
STRIP_ROWS = 128


def phash_hex(image: Image.Image) -> str:
    """16 hex digits; transparency is flattened on white first, so the hash sees what a page shows.

    The same hash as `imagehash.phash(image.convert("L"))`, bit for bit, without a full-size
    grey copy of the picture (two, with imagehash's own convert): see `grey_square`."""
    return str(imagehash.phash(grey_square(image)))


def grey_square(image: Image.Image, side: int = HASH_SIDE) -> Image.Image:
    """`image` as greys, LANCZOS-resized to side x side: the same pixels as
    `image.convert("L").resize((side, side), LANCZOS)`, made a strip of rows at a time.

    Pillow resizes in two passes, each rounding to 8 bits, across the rows first for a
    picture at least as wide as it is tall (a taller one it may take down the columns first,
    depending on the sizes). Greying and the pass across work on each row on its own, so
    strips of whole rows give exactly the rows the whole picture would; the pass down then
    runs once over the stacked strips. A taller picture is greyed whole, as before."""
    width, height = image.size
    lanczos = Image.Resampling.LANCZOS
    if height > width:
        return _grey(image).resize((side, side), lanczos)
    narrow = Image.new("L", (side, height))
    for top in range(0, height, STRIP_ROWS):
        strip = _grey(image.crop((0, top, width, min(height, top + STRIP_ROWS))))
        narrow.paste(strip if width == side else strip.resize((side, strip.height), lanczos), (0, top))
    return narrow if height == side else narrow.resize((side, side), lanczos)


def _grey(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L")


def distance(a: str, b: str) -> int:
    """Differing bits between two hashes (ValueError for a malformed one)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
