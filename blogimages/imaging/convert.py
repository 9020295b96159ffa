"""Conversion: encode to PNG, JPEG or WebP, carrying the input's provenance into the output.

Output formats are PNG (lossless), JPEG and WebP. Without `output_format` an operation keeps
the input's format (inputs in other formats, e.g. GIF or BMP, become PNG). Every operation
keeps the provenance already embedded in its input (prompt, provider, model, seed, the IPTC
"trainedAlgorithmicMedia" marker...), so a watermarked or resized copy of a generated image
still explains itself; other metadata (camera EXIF, foreign XMP) is not carried.

`load()` and `finish()` are the two ends every operation in this package shares.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

from .decode import (
    OUTPUT_FORMATS,
    apply_orientation,
    format_name,
    has_alpha,
    normalise_mode,
    normalize_format,
    open_image,
    parse_color,
)
from .provenance import GENERATION_KEYS, embed, provenance_from_image, webp_chunks

DEFAULT_JPEG_QUALITY = 90
DEFAULT_WEBP_QUALITY = 90


@dataclass
class Source:
    """An opened input: working pixels plus what must survive into the output."""

    image: Image.Image  # orientation applied, mode one of RGB, RGBA, L, LA
    original: Image.Image
    format: str
    icc: bytes | None
    provenance: dict[str, Any]
    lossless_webp: bool


def load(data: bytes) -> Source:
    im = open_image(data)
    fmt = format_name(im)
    provenance = provenance_from_image(im)
    icc = im.info.get("icc_profile") or None
    if im.mode == "CMYK":
        icc = None  # a CMYK profile does not describe the RGB pixels we produce
    working = normalise_mode(apply_orientation(im))
    lossless = fmt == "webp" and any(kind == b"VP8L" for kind, _ in webp_chunks(bytes(data)))
    return Source(image=working, original=im, format=fmt, icc=icc, provenance=provenance, lossless_webp=lossless)


def _flatten(im: Image.Image, background: Any = "white") -> Image.Image:
    """Composite an image with alpha onto an opaque background colour."""
    color = parse_color(background, "background")
    grey = im.mode == "LA"
    rgba = im.convert("RGBA")
    canvas = Image.new("RGBA", im.size, tuple(color[:3]) + (255,))
    out = Image.alpha_composite(canvas, rgba).convert("RGB")
    return out.convert("L") if grey and len(set(color[:3])) == 1 else out


def check_quality(quality: int | None) -> None:
    if quality is None:
        return
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer from 1 to 100, not {quality!r}.")


def _encode(
    im: Image.Image,
    fmt: str,
    *,
    quality: int | None = None,
    lossless: bool = False,
    background: Any = "white",
    icc: bytes | None = None,
    jpeg_keep_from: Image.Image | None = None,
) -> bytes:
    params: dict[str, Any] = {}
    if icc:
        params["icc_profile"] = icc
    if fmt == "jpeg":
        if has_alpha(im):
            im = _flatten(im, background)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        if quality is None and jpeg_keep_from is not None:
            # Same pixels, JPEG to JPEG: reuse the source's tables instead of re-quantising.
            im = jpeg_keep_from
            params["quality"] = "keep"
        else:
            params["quality"] = quality or DEFAULT_JPEG_QUALITY
            params["optimize"] = True
        pil_format = "JPEG"
    elif fmt == "webp":
        if im.mode not in ("RGB", "RGBA"):
            im = im.convert("RGBA" if has_alpha(im) else "RGB")
        if lossless:
            params.update(lossless=True, quality=80, method=4)
        else:
            params.update(quality=quality or DEFAULT_WEBP_QUALITY, method=4)
        pil_format = "WEBP"
    elif fmt == "png":
        pil_format = "PNG"
    else:  # pragma: no cover - callers normalise first
        raise ValueError(f"Unsupported output format {fmt!r}.")
    buf = io.BytesIO()
    im.save(buf, pil_format, **params)
    return buf.getvalue()


def _output_format(src: Source, output_format: str | None) -> str:
    if output_format is not None:
        return normalize_format(output_format)
    return src.format if src.format in OUTPUT_FORMATS else "png"


def finish(
    src: Source,
    im: Image.Image,
    output_format: str | None,
    *,
    quality: int | None = None,
    lossless: bool | None = None,
    background: Any = "white",
    jpeg_keep: bool = False,
) -> bytes:
    """Encode the result and carry the input's provenance into it."""
    fmt = _output_format(src, output_format)
    if lossless is None:
        lossless = fmt == "webp" and quality is None and src.lossless_webp
    keep = src.original if (jpeg_keep and fmt == "jpeg" and src.format == "jpeg" and im is src.original) else None
    out = _encode(im, fmt, quality=quality, lossless=lossless, background=background, icc=src.icc, jpeg_keep_from=keep)
    # Carry only what says how the image was made; never invent an AI marker for a file
    # that had none (a plain upload stays unlabelled).
    if "digital_source_type" in src.provenance or GENERATION_KEYS & src.provenance.keys():
        carried = dict(src.provenance)
        if "prompt" in carried or "model" in carried:
            carried.pop("parameters", None)  # recomposed, with the new size
        out = embed(out, fmt, carried, strip_parameters=False, size=im.size)
    return out


def convert(
    data: bytes,
    output_format: str,
    *,
    quality: int | None = None,
    lossless: bool | None = None,
    background: Any = "white",
) -> bytes:
    """Re-encode as PNG, JPEG or WebP.

    JPEG flattens transparency onto `background` (white) and uses `quality` (default 90; a
    JPEG re-saved as JPEG without a quality keeps its own quantisation tables). WebP is lossy
    at `quality` (default 90) unless `lossless=True`; left as None, a lossless WebP source
    stays lossless. PNG is always lossless and ignores `quality`.
    """
    fmt = normalize_format(output_format)
    check_quality(quality)
    parse_color(background, "background")
    src = load(data)
    im = src.image
    keep = src.format == "jpeg" and im is src.original and fmt == "jpeg"
    return finish(src, im, fmt, quality=quality, lossless=lossless, background=background, jpeg_keep=keep)
