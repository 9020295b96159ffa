"""Edit masks: checking them, translating them for each backend, pasting unmasked pixels back.

The app's one convention (OpenAI's): a mask is a PNG the size of the source whose
transparent pixels (alpha below 128) mark the area to change; opaque pixels are kept.
Pure functions on bytes and Pillow images; they know no settings and no models.
"""

from __future__ import annotations

import io

from PIL import Image, ImageChops

from ..exceptions import InvalidImage

# Alpha below this is "change this pixel" (a soft brush leaves partial alpha at its edge).
CHANGE_BELOW = 128


def alpha_of(mask: Image.Image) -> Image.Image:
    """The mask's alpha channel ("L"); a mask with none is refused (it marks nothing)."""
    if mask.mode == "P" and "transparency" in mask.info:
        mask = mask.convert("RGBA")
    if mask.mode not in ("RGBA", "LA", "PA"):
        raise InvalidImage("The mask has no transparency: paint the area to change transparent (alpha 0).")
    return mask.getchannel("A")


def check_mask(mask: Image.Image, *, size: tuple[int, int], fmt: str) -> Image.Image:
    """The mask's alpha if `mask` is a usable mask for a source of `size`; InvalidImage otherwise."""
    if fmt != "PNG":
        raise InvalidImage(f"The mask must be a PNG with transparency, not {fmt or 'an unknown format'}.")
    if mask.size != tuple(size):
        raise InvalidImage(
            f"The mask is {mask.size[0]}x{mask.size[1]} but the image is {size[0]}x{size[1]}; they must match."
        )
    alpha = alpha_of(mask)
    low, _high = alpha.getextrema()
    if low >= CHANGE_BELOW:
        raise InvalidImage("The mask has no transparent pixels, so it marks nothing to change.")
    return alpha


def change_area(alpha: Image.Image) -> Image.Image:
    """"L" image: 255 where the mask says change, 0 where it says keep (hard edged)."""
    return alpha.point(lambda value: 255 if value < CHANGE_BELOW else 0)


def to_black_and_white(mask_png: bytes) -> bytes:
    """The mask as AUTOMATIC1111 wants it: white = inpaint, black = keep (PNG, RGB)."""
    with Image.open(io.BytesIO(mask_png)) as mask:
        area = change_area(alpha_of(mask))
    return encode_png(area.convert("RGB"))


def invert(mask_png: bytes) -> bytes:
    """The same mask with change and keep swapped."""
    with Image.open(io.BytesIO(mask_png)) as mask:
        rgba = mask.convert("RGBA")
    rgba.putalpha(ImageChops.invert(rgba.getchannel("A")))
    return encode_png(rgba)


def paste_back(original: bytes, edited: bytes, mask_png: bytes) -> bytes:
    """`edited` where the mask says change, `original`'s own pixels everywhere else (PNG).

    A GPT-image edit re-renders the whole picture even with a mask; this keeps every pixel
    outside the mask identical to the source. `edited` is resized to the source's size first.
    """
    with Image.open(io.BytesIO(original)) as source_file:
        source = source_file.convert("RGBA") if _has_alpha(source_file) else source_file.convert("RGB")
    with Image.open(io.BytesIO(edited)) as edited_file:
        result = edited_file.convert(source.mode)
    if result.size != source.size:
        result = result.resize(source.size, Image.Resampling.LANCZOS)
    with Image.open(io.BytesIO(mask_png)) as mask:
        area = change_area(alpha_of(mask))
    return encode_png(Image.composite(result, source, area))


def apply_in_area(source: Image.Image, new: Image.Image, *, mask_png: bytes | None, strength: float = 1.0) -> Image.Image:
    """`new` blended over `source` by `strength` (1 = all new), only inside the mask if one is given."""
    new = new.convert(source.mode)
    if new.size != source.size:
        new = new.resize(source.size, Image.Resampling.LANCZOS)
    mixed = new if strength >= 1 else Image.blend(source, new, max(0.0, strength))
    if mask_png is None:
        return mixed
    with Image.open(io.BytesIO(mask_png)) as mask:
        area = change_area(alpha_of(mask))
    return Image.composite(mixed, source, area)


def with_mask_alpha(image_bytes: bytes, mask_png: bytes) -> bytes:
    """The source as RGBA whose alpha is the mask's (what ComfyUI's LoadImage reads as its MASK)."""
    with Image.open(io.BytesIO(image_bytes)) as source:
        rgba = source.convert("RGBA")
    with Image.open(io.BytesIO(mask_png)) as mask:
        rgba.putalpha(alpha_of(mask).resize(rgba.size))
    return encode_png(rgba)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
