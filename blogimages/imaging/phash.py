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
# A large picture is first box-averaged (Image.reduce) by the whole factor that keeps its short
# side at least this long: 12 times the hash's side, so the DCT's 8x8 lowest frequencies are
# what the whole picture's are, at a sixth of the CPU of LANCZOS over every full-size pixel and
# with no full-size grey copy. Pictures shorter than twice this are hashed whole, as before;
# on larger ones the hash may differ from the whole-picture hash in a few bits, as a resized
# copy's does (`manage.py hash_images --all` rehashes images stored before).
REDUCED_SIDE = 384


def phash_hex(image: Image.Image) -> str:
    """16 hex digits; transparency is flattened on white first, so the hash sees what a page shows.

    `imagehash.phash` of `reduced(image)` in greys; the same for `image` and for
    `reduced(image)`, so a caller that needs the reduced picture anyway (the store path's
    thumbnail) hashes that."""
    return str(imagehash.phash(grey_square(reduced(image))))


def reduced(image: Image.Image) -> Image.Image:
    """`image` box-averaged by the largest whole factor that keeps its short side at least
    REDUCED_SIDE (the image itself when that factor is 1). Idempotent: the result's short side
    is below twice REDUCED_SIDE."""
    factor = min(image.size) // REDUCED_SIDE
    if factor < 2:
        return image
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        # Palette, CMYK, 16-bit...: averaging needs a real colour mode (rare for a large picture).
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return image.reduce(factor)  # RGBA/LA are averaged premultiplied (Pillow), so no colour bleeds


def grey_square(image: Image.Image, side: int = HASH_SIDE) -> Image.Image:
    """`image` as greys (on white if transparent), LANCZOS-resized to side x side."""
    return _grey(image).resize((side, side), Image.Resampling.LANCZOS)


def _grey(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L")


def distance(a: str, b: str) -> int:
    """Differing bits between two hashes (ValueError for a malformed one)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
