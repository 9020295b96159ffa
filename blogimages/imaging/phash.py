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


def phash_hex(image: Image.Image) -> str:
    """16 hex digits; transparency is flattened on white first, so the hash sees what a page shows."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return str(imagehash.phash(image.convert("L")))


def distance(a: str, b: str) -> int:
    """Differing bits between two hashes (ValueError for a malformed one)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
