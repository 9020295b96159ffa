"""Post-processing for generated images: watermark, resize, upscale, convert, provenance.

Pure functions on bytes: image bytes in, new image bytes out. Nothing here touches Django
models, storage or the database, and nothing writes files; the caller stores the result as a
derived ImageOutput (originals are never modified).

Every function:

- opens its input safely (a small list of formats, Pillow's `Image.MAX_IMAGE_PIXELS`
  respected, not changed) and raises `InvalidImage` (a `ValueError`) for bytes it cannot use;
- raises `ValueError` with a readable message for bad arguments;
- keeps the provenance already embedded in the input (prompt, provider, model, seed, the
  IPTC "trainedAlgorithmicMedia" marker...), so a watermarked or resized copy of a generated
  image still explains itself. Other metadata (camera EXIF, foreign XMP) is not carried into
  derived images; EXIF orientation is applied to the pixels first.

Output formats are PNG (lossless), JPEG and WebP. Without `output_format` an operation keeps
the input's format (inputs in other formats, e.g. GIF or BMP, become PNG).

Provenance is written at the container level by `embed_provenance()` without re-encoding the
pixels: PNG text chunks plus an XMP packet for PNG, an XMP packet for JPEG (APP1) and WebP
(XMP chunk). `read_provenance()` reads it back.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape as _xml_escape

from PIL import Image, ImageChops, ImageColor, ImageDraw, ImageFilter, ImageFont, ImageOps, ImageStat

from blogimages.exceptions import InvalidImage
from blogimages.fonts import FONTS, font_path

__all__ = [
    "DIGITAL_SOURCE_TYPE_AI",
    "EXTENSIONS",
    "FORMATS",
    "MIME_TYPES",
    "OUTPUT_FORMATS",
    "POSITIONS",
    "RESIZE_MODES",
    "XMP_NAMESPACE",
    "WatermarkSpec",
    "convert",
    "embed_provenance",
    "read_provenance",
    "resize",
    "resize_to_format",
    "upscale",
    "watermark",
]

# --------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------

OUTPUT_FORMATS = ("png", "jpeg", "webp")
MIME_TYPES = MappingProxyType({"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"})
EXTENSIONS = MappingProxyType({"png": "png", "jpeg": "jpg", "webp": "webp"})
_FORMAT_ALIASES = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}

# What Image.open may try. Deliberately short: no EPS (Ghostscript), no exotic decoders.
INPUT_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")

DEFAULT_JPEG_QUALITY = 90
DEFAULT_WEBP_QUALITY = 90
# The largest side any operation will produce.
MAX_SIDE = 8192

# The blog's image formats, (width, height). `resize_to_format()` accepts its own mapping
# too, so a site can add presets from settings.
FORMATS = MappingProxyType(
    {
        "social": (1200, 630),  # Open Graph / Twitter large card, 1.91:1
        "header": (1600, 900),  # 16:9 post header
        "square": (1080, 1080),
        "thumbnail": (480, 480),
        "portrait": (1080, 1350),  # 4:5
    }
)

RESIZE_MODES = ("cover", "contain", "stretch")
POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center", "tiled")


def _normalize_format(name: str) -> str:
    try:
        return _FORMAT_ALIASES[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"Unsupported output format {name!r}; choose one of {', '.join(OUTPUT_FORMATS)}.") from None


def _format_name(im: Image.Image) -> str:
    return (im.format or "").lower()


# --------------------------------------------------------------------------------------
# Opening and encoding
# --------------------------------------------------------------------------------------


def _open(data: bytes, *, decode: bool = True) -> Image.Image:
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


@dataclass
class _Source:
    """An opened input: working pixels plus what must survive into the output."""

    image: Image.Image  # orientation applied, mode one of RGB, RGBA, L, LA
    original: Image.Image
    format: str
    icc: bytes | None
    provenance: dict[str, Any]
    lossless_webp: bool


def _load(data: bytes) -> _Source:
    im = _open(data)
    fmt = _format_name(im)
    provenance = _provenance_from_image(im)
    icc = im.info.get("icc_profile") or None
    if im.mode == "CMYK":
        icc = None  # a CMYK profile does not describe the RGB pixels we produce
    working = _normalise_mode(_apply_orientation(im))
    lossless = fmt == "webp" and any(kind == b"VP8L" for kind, _ in _webp_chunks(bytes(data)))
    return _Source(image=working, original=im, format=fmt, icc=icc, provenance=provenance, lossless_webp=lossless)


def _apply_orientation(im: Image.Image) -> Image.Image:
    """Turn the pixels upright per EXIF orientation; the same object when nothing to do."""
    if im.getexif().get(0x0112, 1) in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(im)
    return im


def _normalise_mode(im: Image.Image) -> Image.Image:
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


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA")


def _parse_color(value: Any, name: str) -> tuple[int, ...]:
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


def _flatten(im: Image.Image, background: Any = "white") -> Image.Image:
    """Composite an image with alpha onto an opaque background colour."""
    color = _parse_color(background, "background")
    grey = im.mode == "LA"
    rgba = im.convert("RGBA")
    canvas = Image.new("RGBA", im.size, tuple(color[:3]) + (255,))
    out = Image.alpha_composite(canvas, rgba).convert("RGB")
    return out.convert("L") if grey and len(set(color[:3])) == 1 else out


def _check_quality(quality: int | None) -> None:
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
        if _has_alpha(im):
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
            im = im.convert("RGBA" if _has_alpha(im) else "RGB")
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


def _output_format(src: _Source, output_format: str | None) -> str:
    if output_format is not None:
        return _normalize_format(output_format)
    return src.format if src.format in OUTPUT_FORMATS else "png"


def _finish(
    src: _Source,
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
    if "digital_source_type" in src.provenance or _GENERATION_KEYS & src.provenance.keys():
        carried = dict(src.provenance)
        if "prompt" in carried or "model" in carried:
            carried.pop("parameters", None)  # recomposed, with the new size
        out = _embed(out, fmt, carried, strip_parameters=False, size=im.size)
    return out


# --------------------------------------------------------------------------------------
# Resize, upscale, convert
# --------------------------------------------------------------------------------------


def _check_side(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise ValueError(f"{name} must be an integer from 1 to {MAX_SIDE}, not {value!r}.")
    return value


def _check_pixels(width: int, height: int) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ValueError(f"{width}×{height} is larger than the {limit}-pixel limit.")


def _background_image(im: Image.Image, size: tuple[int, int], background: Any, keep_alpha: bool) -> Image.Image:
    width, height = size
    if background == "blur":
        # The image itself, covering the box, heavily blurred (done small, then enlarged).
        fill = im.convert("RGBA" if keep_alpha else "RGB")
        small = (max(1, width // 8), max(1, height // 8))
        fill = ImageOps.fit(fill, small, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(3))
        return fill.resize(size, Image.Resampling.BICUBIC)
    if background is None:
        return Image.new("RGBA", size, (0, 0, 0, 0)) if keep_alpha else Image.new("RGB", size, "white")
    color = _parse_color(background, "background")
    if len(color) == 4 or keep_alpha:
        return Image.new("RGBA", size, tuple(color[:3]) + ((color[3],) if len(color) == 4 else (255,)))
    return Image.new("RGB", size, tuple(color[:3]))


def _resize_image(
    im: Image.Image,
    width: int | None,
    height: int | None,
    mode: str,
    focal: tuple[float, float],
    background: Any,
) -> Image.Image:
    src_w, src_h = im.size
    lanczos = Image.Resampling.LANCZOS
    if width is None or height is None:
        # One side given: keep the aspect ratio.
        if width is None:
            width = max(1, round(src_w * height / src_h))
        else:
            height = max(1, round(src_h * width / src_w))
        _check_side("width", width)
        _check_side("height", height)
        _check_pixels(width, height)
        return im.resize((width, height), lanczos)
    if mode == "stretch":
        return im.resize((width, height), lanczos)
    if mode == "cover":
        scale = max(width / src_w, height / src_h)
        crop_w, crop_h = min(src_w, width / scale), min(src_h, height / scale)
        fx, fy = focal
        left = max(0.0, min(fx * src_w - crop_w / 2, src_w - crop_w))
        top = max(0.0, min(fy * src_h - crop_h / 2, src_h - crop_h))
        return im.resize((width, height), lanczos, box=(left, top, left + crop_w, top + crop_h))
    # contain: the whole image, centred on a background of exactly width × height
    scale = min(width / src_w, height / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    fitted = im.resize((new_w, new_h), lanczos)
    keep_alpha = _has_alpha(im)
    canvas = _background_image(im, (width, height), background, keep_alpha)
    if canvas.mode == "RGBA" or _has_alpha(fitted):
        canvas = canvas.convert("RGBA")
        canvas.alpha_composite(fitted.convert("RGBA"), ((width - new_w) // 2, (height - new_h) // 2))
    else:
        canvas.paste(fitted.convert(canvas.mode), ((width - new_w) // 2, (height - new_h) // 2))
    return canvas


def resize(
    data: bytes,
    *,
    width: int | None,
    height: int | None,
    mode: str = "cover",
    focal: tuple[float, float] = (0.5, 0.5),
    background: Any = None,
    output_format: str | None = None,
    quality: int | None = None,
) -> bytes:
    """Resize to width × height.

    - `cover` (default): fill the box and crop what overflows, keeping `focal` — the point of
      interest as fractions (x, y) of the source, (0.5, 0.5) is the centre — as near the middle
      as the image allows;
    - `contain`: the whole image inside the box, on `background` (a colour, "blur" for a
      blurred fill of the image itself, or None: transparent if the image has alpha, else white);
    - `stretch`: exactly width × height, aspect ratio ignored.

    Give only `width` or only `height` to scale proportionally (then `mode` does not matter).
    """
    if width is None and height is None:
        raise ValueError("Give a width, a height, or both.")
    if width is not None:
        _check_side("width", width)
    if height is not None:
        _check_side("height", height)
    if width is not None and height is not None:
        _check_pixels(width, height)
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {', '.join(RESIZE_MODES)}, not {mode!r}.")
    try:
        fx, fy = (float(v) for v in focal)
    except (TypeError, ValueError):
        raise ValueError(f"focal must be a pair of fractions (x, y), not {focal!r}.") from None
    if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):
        raise ValueError(f"focal point coordinates must be between 0 and 1, not {focal!r}.")
    if background is not None and background != "blur":
        _background_image(Image.new("RGB", (1, 1)), (1, 1), background, False)  # validates early
    _check_quality(quality)
    if output_format is not None:
        _normalize_format(output_format)
    src = _load(data)
    out = _resize_image(src.image, width, height, mode, (fx, fy), background)
    return _finish(src, out, output_format, quality=quality)


def resize_to_format(
    data: bytes,
    name: str,
    *,
    formats: Mapping[str, tuple[int, int]] | None = None,
    **kwargs: Any,
) -> bytes:
    """Resize to one of the named formats (`FORMATS`, or the `formats` mapping given)."""
    presets = FORMATS if formats is None else formats
    try:
        width, height = presets[name]
    except KeyError:
        raise ValueError(f"Unknown image format {name!r}; choose one of {', '.join(presets)}.") from None
    return resize(data, width=width, height=height, **kwargs)


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
    fmt = _normalize_format(output_format)
    _check_quality(quality)
    _parse_color(background, "background")
    src = _load(data)
    im = src.image
    keep = src.format == "jpeg" and im is src.original and fmt == "jpeg"
    return _finish(src, im, fmt, quality=quality, lossless=lossless, background=background, jpeg_keep=keep)


def upscale(
    data: bytes,
    factor: float = 2.0,
    *,
    max_side: int = 4096,
    output_format: str | None = None,
    quality: int | None = None,
) -> bytes:
    """Enlarge by `factor` with Lanczos resampling; refuse results beyond `max_side` pixels."""
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not math.isfinite(factor):
        raise ValueError(f"factor must be a number, not {factor!r}.")
    if not 1.0 < factor <= 8.0:
        raise ValueError(f"An upscale factor must be above 1 and at most 8, not {factor}.")
    _check_side("max_side", max_side)
    _check_quality(quality)
    if output_format is not None:
        _normalize_format(output_format)
    src = _load(data)
    width, height = src.image.size
    new_w, new_h = round(width * factor), round(height * factor)
    if max(new_w, new_h) > max_side:
        raise ValueError(
            f"Upscaling {width}×{height} by {factor:g} gives {new_w}×{new_h}, beyond the {max_side}px limit."
        )
    _check_pixels(new_w, new_h)
    out = src.image.resize((new_w, new_h), Image.Resampling.LANCZOS)
    return _finish(src, out, output_format, quality=quality)


# --------------------------------------------------------------------------------------
# Watermark
# --------------------------------------------------------------------------------------

_DATA_URI = re.compile(r"^data:[\w/+.-]*;base64,", re.ASCII)


@dataclass(frozen=True, kw_only=True)
class WatermarkSpec:
    """A watermark: text or a logo, where, how strong, how big.

    - `position`: a corner, "center", or "tiled" (a repeated diagonal pattern);
    - `opacity`: 0 < opacity <= 1, applied to the whole mark;
    - `scale`: the mark's width as a fraction of the image width (for tiled, one tile's);
    - `margin`: the distance from the edges, as a fraction of the image's shorter side
      (corners only);
    - `color`: "auto" picks white or near-black text from the brightness of the area under
      the mark; any CSS colour forces it (for a logo, a colour tints the logo's shape; "auto"
      keeps the logo's own colours). Either way a soft contrasting halo keeps the mark
      readable on busy images.
    - `font`: "bold" or "regular" (the bundled DejaVu Sans).
    """

    text: str = ""
    logo: bytes | None = field(default=None, repr=False)
    position: str = "bottom-right"
    opacity: float = 0.5
    scale: float = 0.2
    margin: float = 0.03
    color: str = "auto"
    font: str = "bold"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError("Watermark text must be a string.")
        has_text = bool(self.text.strip())
        if self.logo is not None and not isinstance(self.logo, bytes | bytearray):
            raise ValueError("A watermark logo must be image bytes.")
        has_logo = bool(self.logo)
        if has_text == has_logo:
            raise ValueError(
                "A watermark takes text or a logo, not both." if has_text else "A watermark needs text or a logo."
            )
        if len(self.text) > 200:
            raise ValueError("Watermark text is limited to 200 characters.")
        if self.position not in POSITIONS:
            raise ValueError(f"Watermark position must be one of {', '.join(POSITIONS)}, not {self.position!r}.")
        _check_fraction("opacity", self.opacity, low=0.0, high=1.0, low_inclusive=False)
        _check_fraction("scale", self.scale, low=0.0, high=1.0, low_inclusive=False)
        _check_fraction("margin", self.margin, low=0.0, high=0.25)
        if self.color != "auto":
            try:
                ImageColor.getrgb(self.color)
            except (ValueError, AttributeError, TypeError):
                raise ValueError(f"Watermark color must be 'auto' or a CSS colour, not {self.color!r}.") from None
        if self.font not in FONTS:
            raise ValueError(f"Watermark font must be one of {', '.join(FONTS)}, not {self.font!r}.")
        if has_logo:
            object.__setattr__(self, "logo", bytes(self.logo))  # bytearray → bytes, so specs hash
            try:
                _open(self.logo)
            except InvalidImage as exc:
                raise ValueError(f"The watermark logo is not a usable image: {exc}") from exc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WatermarkSpec:
        """Build from a JSON-friendly dict (a preset, a setting).

        `logo` may be bytes, a filesystem path (str or Path), or a base64 data URI as
        written by `to_dict()`. Unknown keys are an error, so typos in presets surface.
        """
        if not isinstance(data, Mapping):
            raise ValueError("A watermark preset must be a mapping.")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown watermark option(s): {', '.join(sorted(unknown))}.")
        values = dict(data)
        logo = values.get("logo")
        if isinstance(logo, str) and _DATA_URI.match(logo):
            try:
                values["logo"] = base64.b64decode(logo.split(",", 1)[1], validate=True)
            except ValueError:
                raise ValueError("The watermark logo data URI is not valid base64.") from None
        elif isinstance(logo, str | Path):
            if not str(logo):
                values["logo"] = None
            else:
                try:
                    values["logo"] = Path(logo).read_bytes()
                except OSError as exc:
                    raise ValueError(f"Cannot read the watermark logo {str(logo)!r}: {exc.strerror}") from None
        for name in ("opacity", "scale", "margin"):
            if isinstance(values.get(name), str):
                try:
                    values[name] = float(values[name])
                except ValueError:
                    raise ValueError(f"Watermark {name} must be a number, not {values[name]!r}.") from None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; a logo becomes a base64 data URI."""
        values = asdict(self)
        if self.logo:
            mime = Image.MIME.get((_open(bytes(self.logo)).format or "PNG").upper(), "image/png")
            values["logo"] = f"data:{mime};base64," + base64.b64encode(bytes(self.logo)).decode("ascii")
        return values


def _check_fraction(name: str, value: Any, *, low: float, high: float, low_inclusive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"Watermark {name} must be a number, not {value!r}.")
    ok = (low <= value if low_inclusive else low < value) and value <= high
    if not ok:
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"Watermark {name} must be in {bracket}{low:g}, {high:g}], not {value!r}.")


_LIGHT = (255, 255, 255)
_DARK = (18, 18, 18)


def _relative_luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return (hi + 0.05) / (lo + 0.05)


def _region_stats(base: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """(relative luminance of the mean colour, luma standard deviation 0..255) of a region."""
    left, top, right, bottom = box
    box = (max(0, left), max(0, top), min(base.width, right), min(base.height, bottom))
    if box[2] <= box[0] or box[3] <= box[1]:
        box = (0, 0, base.width, base.height)
    region = base.crop(box)
    # Transparent pixels show whatever is behind the image; judge them as mid grey.
    grey = Image.new("RGBA", region.size, (128, 128, 128, 255))
    region = Image.alpha_composite(grey, region.convert("RGBA")).convert("RGB")
    if region.width * region.height > 250_000:
        region = region.reduce(max(1, int(math.sqrt(region.width * region.height / 250_000))))
    mean = ImageStat.Stat(region).mean
    stddev = ImageStat.Stat(region.convert("L")).stddev[0]
    return _relative_luminance(tuple(mean)), stddev


def _pick_tone(luminance: float) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(mark colour, halo colour) with the better WCAG contrast against the background."""
    light, dark = _relative_luminance(_LIGHT), _relative_luminance(_DARK)
    if _contrast(light, luminance) >= _contrast(dark, luminance):
        return _LIGHT, _DARK
    return _DARK, _LIGHT


def _text_mask(spec: WatermarkSpec, target_width: float, align: str) -> Image.Image:
    """The text as an L mask, tightly cropped, `target_width` pixels wide (or a little less)."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    path = str(font_path(spec.font))

    def measure(size: int) -> tuple[ImageFont.FreeTypeFont, tuple[int, int, int, int], int]:
        font = ImageFont.truetype(path, size)
        spacing = max(1, round(size * 0.2))
        left, top, right, bottom = probe.multiline_textbbox((0, 0), spec.text, font=font, spacing=spacing, align=align)
        return font, (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom)), spacing

    _, bbox, _ = measure(100)
    size = max(6, int(100 * target_width / max(1, bbox[2] - bbox[0])))
    font, bbox, spacing = measure(size)
    while size > 6 and bbox[2] - bbox[0] > target_width:
        size -= 1
        font, bbox, spacing = measure(size)
    if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
        raise ValueError(f"The watermark text {spec.text!r} has nothing visible to draw.")
    mask = Image.new("L", (bbox[2] - bbox[0], bbox[3] - bbox[1]), 0)
    ImageDraw.Draw(mask).multiline_text(
        (-bbox[0], -bbox[1]), spec.text, font=font, fill=255, spacing=spacing, align=align
    )
    return mask


def _shrink_to_fit(im: Image.Image, max_w: float, max_h: float) -> Image.Image:
    factor = min(1.0, max_w / im.width, max_h / im.height)
    if factor >= 1.0:
        return im
    return im.resize((max(1, int(im.width * factor)), max(1, int(im.height * factor))), Image.Resampling.LANCZOS)


def _render_mark(
    spec: WatermarkSpec,
    shape: Image.Image,
    logo: Image.Image | None,
    luminance: float,
    busyness: float,
) -> tuple[Image.Image, int]:
    """The finished mark (RGBA, halo included, opacity applied) and the halo padding in px."""
    if logo is not None and spec.color == "auto":
        # Keep the logo's colours. The halo takes the tone opposite the background, so the
        # parts of the logo that match the background (a dark wordmark on a night sky)
        # still stand out by their outline.
        mark_rgb, _ = _pick_tone(luminance)
        halo_rgb = mark_rgb
        fg = logo
        # The more of the logo is close to the background's brightness, the firmer the halo.
        background_luma = 255 * luminance ** (1 / 2.2)
        near = logo.convert("L").point(lambda v: 255 if abs(v - background_luma) < 64 else 0)
        near = ImageChops.multiply(near, shape)
        blend = ImageStat.Stat(near).mean[0] / max(1.0, ImageStat.Stat(shape).mean[0])
        busyness = max(busyness, 160 * blend)
    else:
        if spec.color == "auto":
            mark_rgb, halo_rgb = _pick_tone(luminance)
        else:
            mark_rgb = ImageColor.getrgb(spec.color)[:3]
            halo_rgb = _DARK if _relative_luminance(mark_rgb) > 0.18 else _LIGHT
        fg = Image.new("RGBA", shape.size, mark_rgb + (0,))
        fg.putalpha(shape)

    # A soft halo: the shape, dilated a little and blurred, in the contrasting tone. Stronger
    # on busy backgrounds, where a thin mark would otherwise dissolve into the texture.
    if logo is None and spec.logo is None:
        unit = max(shape.height / (spec.text.count("\n") + 1), 8)  # about the font size
    else:
        unit = max(shape.width / 8, 8)
    grow = max(1, round(unit * 0.04))
    blur = max(1.0, unit * 0.09)
    pad = grow + math.ceil(blur * 2.5)
    strength = min(0.75, 0.45 + busyness / 160)
    halo_mask = Image.new("L", (shape.width + 2 * pad, shape.height + 2 * pad), 0)
    halo_mask.paste(shape, (pad, pad))
    halo_mask = halo_mask.filter(ImageFilter.MaxFilter(2 * grow + 1)).filter(ImageFilter.GaussianBlur(blur))
    halo_mask = halo_mask.point(lambda v: round(v * strength))
    mark = Image.new("RGBA", halo_mask.size, halo_rgb + (0,))
    mark.putalpha(halo_mask)
    mark.alpha_composite(fg.convert("RGBA"), (pad, pad))
    if spec.opacity < 1:
        alpha = mark.getchannel("A").point(lambda v: round(v * spec.opacity))
        mark.putalpha(alpha)
    return mark, pad


def _mark_shape(spec: WatermarkSpec, size: tuple[int, int], margin_px: int) -> tuple[Image.Image, Image.Image | None]:
    """(L mask of the mark's shape, the resized logo or None), sized for this image."""
    width, height = size
    target_w = max(4.0, spec.scale * width)
    max_w = max(4, width - 2 * margin_px)
    max_h = max(4, height - 2 * margin_px)
    if spec.position == "tiled":
        max_w, max_h = width, height
    if spec.logo is not None and spec.logo:
        logo = _normalise_mode(ImageOps.exif_transpose(_open(bytes(spec.logo)))).convert("RGBA")
        factor = target_w / logo.width
        new_size = (max(1, round(logo.width * factor)), max(1, round(logo.height * factor)))
        logo = logo.resize(new_size, Image.Resampling.LANCZOS)
        logo = _shrink_to_fit(logo, max_w, max_h)
        if spec.color != "auto":
            return logo.getchannel("A"), None
        return logo.getchannel("A"), logo
    align = {"top-right": "right", "bottom-right": "right", "top-left": "left", "bottom-left": "left"}.get(
        spec.position, "center"
    )
    mask = _text_mask(spec, target_w, align)
    return _shrink_to_fit(mask, max_w, max_h), None


def _place(position: str, size: tuple[int, int], mark_size: tuple[int, int], margin_px: int) -> tuple[int, int]:
    width, height = size
    mark_w, mark_h = mark_size
    x = {"left": margin_px, "right": width - margin_px - mark_w, "center": (width - mark_w) // 2}
    y = {"top": margin_px, "bottom": height - margin_px - mark_h, "center": (height - mark_h) // 2}
    if position == "center":
        return x["center"], y["center"]
    vertical, horizontal = position.split("-")
    return x[horizontal], y[vertical]


def _tile(layer: Image.Image, mark: Image.Image, pad: int) -> None:
    """Repeat the mark diagonally over the whole layer, in staggered rows centred on the image."""
    tile = mark.rotate(30, resample=Image.Resampling.BICUBIC, expand=True)
    core_h = max(1, mark.height - 2 * pad)
    step_x = max(8, round(tile.width * 1.15))
    step_y = max(8, round(tile.height * 0.85 + core_h * 0.5))
    width, height = layer.size
    # Phase the grid so that one tile sits exactly in the middle.
    x0 = (width - tile.width) // 2 % step_x - 2 * step_x
    y0 = (height - tile.height) // 2 % step_y - 2 * step_y
    for row, y in enumerate(range(y0, height, step_y)):
        offset = (step_x // 2) * (row % 2)
        for x in range(x0 + offset, width, step_x):
            _paste_clipped(layer, tile, x, y)


def _paste_clipped(layer: Image.Image, tile: Image.Image, x: int, y: int) -> None:
    left, top = max(0, -x), max(0, -y)
    if left >= tile.width or top >= tile.height:
        return
    layer.alpha_composite(tile, (max(0, x), max(0, y)), (left, top))


def watermark(
    data: bytes,
    spec: WatermarkSpec,
    *,
    output_format: str | None = None,
    quality: int | None = None,
) -> bytes:
    """Return a watermarked copy of the image, same size, same format unless `output_format`."""
    if not isinstance(spec, WatermarkSpec):
        raise TypeError("spec must be a WatermarkSpec (see WatermarkSpec.from_dict).")
    _check_quality(quality)
    if output_format is not None:
        _normalize_format(output_format)
    src = _load(data)
    base = src.image
    rgba = base.convert("RGBA")
    size = rgba.size
    margin_px = round(spec.margin * min(size))
    shape, logo = _mark_shape(spec, size, margin_px)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    if spec.position == "tiled":
        luminance, busyness = _region_stats(rgba, (0, 0) + size)
        mark, pad = _render_mark(spec, shape, logo, luminance, busyness)
        _tile(layer, mark, pad)
    else:
        x, y = _place(spec.position, size, shape.size, margin_px)
        luminance, busyness = _region_stats(rgba, (x, y, x + shape.width, y + shape.height))
        mark, pad = _render_mark(spec, shape, logo, luminance, busyness)
        _paste_clipped(layer, mark, x - pad, y - pad)
    out = Image.alpha_composite(rgba, layer)
    if base.mode != "RGBA":
        out = out.convert(base.mode) if base.mode in ("L", "LA") else out.convert("RGB")
    return _finish(src, out, output_format, quality=quality)


# --------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------

DIGITAL_SOURCE_TYPE_AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_DIGITAL_SOURCE_TYPE_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
XMP_NAMESPACE = "https://blogimages.invalid/ns/1.0/"
GENERATOR = "blogimages"

_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "blogimages": XMP_NAMESPACE,
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_PNG_XMP_KEY = "XML:com.adobe.xmp"
_JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_XMP_EXT_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
_JPEG_XMP_MAX = 65535 - 2 - len(_JPEG_XMP_HEADER)
# Keys whose values read back as numbers.
_INT_KEYS = {"seed", "steps", "width", "height"}
_FLOAT_KEYS = {"guidance_scale"}
# PNG text keys read as provenance when a file has no XMP of ours (e.g. an A1111 PNG).
_PNG_PROVENANCE_KEYS = {
    "prompt",
    "negative_prompt",
    "revised_prompt",
    "provider",
    "model",
    "seed",
    "steps",
    "sampler",
    "guidance_scale",
    "generator",
    "parameters",
    "digital_source_type",
}
# Keys that mark a file as generated even without a digital source type (e.g. an A1111 PNG).
_GENERATION_KEYS = {"prompt", "negative_prompt", "parameters", "model", "seed"}
# Text chunks kept when parameters are stripped: rights, not generation details.
_PNG_KEEP_WHEN_STRIPPED = {"Title", "Author", "Copyright"}
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean_text(value: str) -> str:
    """Text as it can live in XML and PNG chunks: no control characters, no lone surrogates."""
    return _XML_INVALID.sub("", value)


def _normalise_info(info: Mapping[str, Any], *, strip_parameters: bool) -> dict[str, str]:
    """Validate the caller's provenance dict and turn every value into text."""
    if not isinstance(info, Mapping):
        raise ValueError("Provenance info must be a mapping.")
    fields: dict[str, str] = {}
    for key, value in info.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError(f"Provenance keys must be identifiers (letters, digits, _), not {key!r}.")
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float | str):
            text = str(value)
        elif isinstance(value, list | tuple | dict):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        else:
            raise ValueError(f"Provenance value for {key!r} must be text, a number or JSON data.")
        fields[key] = _clean_text(text)
    source = fields.pop("digital_source_type", "") or DIGITAL_SOURCE_TYPE_AI
    if "://" not in source:
        source = _DIGITAL_SOURCE_TYPE_BASE + source
    generator = fields.pop("generator", "") or GENERATOR
    parameters = fields.pop("parameters", "")
    if strip_parameters:
        return {"digital_source_type": source, "generator": generator}
    result = {"digital_source_type": source, "generator": generator, **fields}
    if parameters:
        result["parameters"] = parameters
    return result


def _a1111_parameters(fields: Mapping[str, str], size: tuple[int, int]) -> str:
    """The "parameters" text AUTOMATIC1111 writes, which many image tools can read."""

    def quote(value: str) -> str:
        return json.dumps(value, ensure_ascii=False) if any(c in value for c in ',:"\n') else value

    lines = []
    if fields.get("prompt"):
        lines.append(fields["prompt"])
    if fields.get("negative_prompt"):
        lines.append(f"Negative prompt: {fields['negative_prompt']}")
    settings = [
        ("Steps", fields.get("steps")),
        ("Sampler", fields.get("sampler")),
        ("CFG scale", fields.get("guidance_scale")),
        ("Seed", fields.get("seed")),
        ("Size", f"{size[0]}x{size[1]}"),
        ("Model", fields.get("model")),
        ("Provider", fields.get("provider")),
        ("Generator", fields.get("generator")),
    ]
    lines.append(", ".join(f"{name}: {quote(value)}" for name, value in settings if value))
    return "\n".join(lines)


def _build_xmp(fields: Mapping[str, str], *, limit: int | None = None) -> bytes:
    """An XMP packet for these fields; long values are cut when the container has a limit."""

    def render(values: Mapping[str, str], truncated: bool) -> bytes:
        esc = lambda s: _xml_escape(s, {"\r": "&#13;"})  # noqa: E731 - keep \r through parsing
        ns = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _NS.items() if prefix != "x")
        parts = [
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
            "<rdf:RDF " + ns.split(" ", 1)[0] + ">",
            '<rdf:Description rdf:about="" ' + ns.split(" ", 1)[1] + ">",
            f"<Iptc4xmpExt:DigitalSourceType>{esc(values['digital_source_type'])}</Iptc4xmpExt:DigitalSourceType>",
            f"<xmp:CreatorTool>{esc(values['generator'])}</xmp:CreatorTool>",
        ]
        if values.get("prompt"):
            parts.append(
                '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
                f"{esc(values['prompt'])}</rdf:li></rdf:Alt></dc:description>"
            )
        for key, value in values.items():
            if key in ("digital_source_type", "generator", "prompt", "parameters"):
                continue
            parts.append(f"<blogimages:{key}>{esc(value)}</blogimages:{key}>")
        if truncated:
            parts.append("<blogimages:truncated>true</blogimages:truncated>")
        parts += ["</rdf:Description>", "</rdf:RDF>", "</x:xmpmeta>", '<?xpacket end="w"?>']
        return "\n".join(parts).encode("utf-8")

    packet = render(fields, False)
    cut = 16_000
    while limit is not None and len(packet) > limit:
        shortened = {k: (v if len(v) <= cut else v[:cut] + "…") for k, v in fields.items()}
        packet = render(shortened, True)
        cut //= 2
    return packet


def embed_provenance(data: bytes, info: Mapping[str, Any], *, strip_parameters: bool = False) -> bytes:
    """Write where the image came from into the file itself, without touching the pixels.

    `info` holds the generation facts — prompt, negative_prompt, provider, model, seed, and
    any other identifier-named scalar (steps, sampler, revised_prompt...). The IPTC digital
    source type defaults to trainedAlgorithmicMedia (override with `digital_source_type`,
    a code or a full URI). PNG gets text chunks (with an A1111-style "parameters" summary)
    and an XMP packet; JPEG and WebP get an XMP packet. Any earlier XMP packet is replaced.

    `strip_parameters=True` writes only the AI-generated marker (digital source type and the
    generator name) and removes generation details already in the file: prompt-bearing PNG
    text chunks (A1111 "parameters", ComfyUI "prompt"/"workflow"...), JPEG comments and
    IPTC-IIM blocks, and EXIF beyond the orientation tag.
    """
    _normalise_info(info, strip_parameters=strip_parameters)  # caller mistakes first
    # Container surgery needs only the format and size: no pixel decoding.
    im = _open(data, decode=False)
    fmt = _format_name(im)
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"Provenance can be embedded in PNG, JPEG and WebP files, not {fmt.upper() or 'this'}.")
    return _embed(bytes(data), fmt, info, strip_parameters=strip_parameters, size=im.size)


def _embed(data: bytes, fmt: str, info: Mapping[str, Any], *, strip_parameters: bool, size: tuple[int, int]) -> bytes:
    fields = _normalise_info(info, strip_parameters=strip_parameters)
    try:
        if fmt == "png":
            return _png_embed(data, fields, strip_parameters=strip_parameters, size=size)
        if fmt == "jpeg":
            return _jpeg_embed(data, fields, strip_parameters=strip_parameters)
        return _webp_embed(data, fields, strip_parameters=strip_parameters, size=size)
    except (IndexError, struct.error) as exc:
        raise InvalidImage(f"Malformed {fmt.upper()} container: {exc}") from exc


def _minimal_exif(raw: bytes | None) -> bytes | None:
    """EXIF reduced to the orientation tag (with the b"Exif\\0\\0" header), or None."""
    if not raw:
        return None
    try:
        exif = Image.Exif()
        exif.load(raw)
        orientation = exif.get(0x0112)
    except Exception:  # noqa: BLE001 - corrupt EXIF is simply dropped
        return None
    if orientation in (None, 1):
        return None
    minimal = Image.Exif()
    minimal[0x0112] = orientation
    return minimal.tobytes()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_text_chunk(key: str, value: str) -> bytes:
    try:
        return _png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # iTXt: keyword, no compression, empty language and translated keyword, UTF-8 text.
        return _png_chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))


def _png_embed(data: bytes, fields: dict[str, str], *, strip_parameters: bool, size: tuple[int, int]) -> bytes:
    text = dict(fields)
    if not strip_parameters:
        text["parameters"] = fields.get("parameters") or _a1111_parameters(fields, size)
    new_chunks = [_png_text_chunk(key, value) for key, value in text.items()]
    new_chunks.append(_png_chunk(b"iTXt", _PNG_XMP_KEY.encode() + b"\x00\x00\x00\x00\x00" + _build_xmp(fields)))
    out = [data[:8]]
    pos, inserted = 8, False
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos : pos + 12 + length]
        if len(chunk) != 12 + length:
            raise InvalidImage("Malformed PNG: a chunk runs past the end of the file.")
        pos += 12 + length
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            key = chunk[8 : 8 + min(length, 80)].split(b"\x00", 1)[0].decode("latin-1")
            if key == _PNG_XMP_KEY or key in text:
                continue
            if strip_parameters and key not in _PNG_KEEP_WHEN_STRIPPED:
                continue
        elif kind == b"eXIf" and strip_parameters:
            minimal = _minimal_exif(chunk[8:-4])
            if minimal is None:
                continue
            chunk = _png_chunk(b"eXIf", minimal[6:])
        if kind in (b"IDAT", b"IEND") and not inserted:
            out.extend(new_chunks)
            inserted = True
        out.append(chunk)
        if kind == b"IEND":
            break
    return b"".join(out)


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_embed(data: bytes, fields: dict[str, str], *, strip_parameters: bool) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise InvalidImage("Malformed JPEG: no start-of-image marker.")
    segments: list[tuple[int, bytes]] = []
    pos = 2
    while True:
        if data[pos] != 0xFF:
            raise InvalidImage("Malformed JPEG: expected a marker.")
        while data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan / end of image: copy the rest as is
            tail = data[pos:]
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            segments.append((marker, data[pos : pos + 2]))
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        if length < 2 or len(segment) != 2 + length:
            raise InvalidImage("Malformed JPEG: a segment runs past the end of the file.")
        segments.append((marker, segment))
        pos += 2 + length

    kept: list[tuple[int, bytes]] = []
    for marker, segment in segments:
        payload = segment[4:]
        if marker == 0xE1 and (payload.startswith(_JPEG_XMP_HEADER) or payload.startswith(_JPEG_XMP_EXT_HEADER)):
            continue
        if strip_parameters:
            if marker in (0xFE, 0xED):  # comments, Photoshop IRB / IPTC-IIM captions
                continue
            if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
                minimal = _minimal_exif(payload)
                if minimal is None:
                    continue
                segment = _jpeg_segment(0xE1, minimal)
        kept.append((marker, segment))
    xmp = _jpeg_segment(0xE1, _JPEG_XMP_HEADER + _build_xmp(fields, limit=_JPEG_XMP_MAX))
    # After JFIF (APP0) and EXIF (APP1), where readers expect the XMP packet.
    at = 0
    while at < len(kept) and (kept[at][0] == 0xE0 or (kept[at][0] == 0xE1 and kept[at][1][4:10] == b"Exif\x00\x00")):
        at += 1
    kept.insert(at, (0xE1, xmp))
    return b"\xff\xd8" + b"".join(segment for _, segment in kept) + tail


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (fourcc, payload) chunks of a WebP file."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise InvalidImage("Malformed WebP: no RIFF/WEBP header.")
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        payload = data[pos + 8 : pos + 8 + length]
        if len(payload) != length:
            raise InvalidImage("Malformed WebP: a chunk runs past the end of the file.")
        chunks.append((kind, payload))
        pos += 8 + length + (length % 2)
    return chunks


def _webp_embed(data: bytes, fields: dict[str, str], *, strip_parameters: bool, size: tuple[int, int]) -> bytes:
    chunks = _webp_chunks(data)
    if not chunks:
        raise InvalidImage("Malformed WebP: no chunks.")

    if chunks[0][0] == b"VP8X":
        flags = chunks[0][1][0]
        canvas = chunks[0][1][4:10]
        chunks = chunks[1:]
    else:
        # A simple file (one VP8 or VP8L chunk): extended format is needed for metadata.
        flags = 0
        kind, payload = chunks[0]
        if kind == b"VP8L" and len(payload) >= 5 and (int.from_bytes(payload[1:5], "little") >> 28) & 1:
            flags |= 0x10  # alpha
        canvas = (size[0] - 1).to_bytes(3, "little") + (size[1] - 1).to_bytes(3, "little")
    exif: bytes | None = None
    body: list[bytes] = []
    for kind, payload in chunks:
        if kind == b"XMP ":
            continue
        if kind == b"EXIF":
            exif = payload
            if strip_parameters:
                minimal = _minimal_exif(payload if payload.startswith(b"Exif") else b"Exif\x00\x00" + payload)
                exif = minimal[6:] if minimal else None
            continue
        body.append(_riff_chunk(kind, payload))
    flags &= ~0x0C
    if exif:
        flags |= 0x08
        body.append(_riff_chunk(b"EXIF", exif))
    flags |= 0x04
    body.append(_riff_chunk(b"XMP ", _build_xmp(fields)))
    vp8x = _riff_chunk(b"VP8X", bytes((flags, 0, 0, 0)) + canvas)
    content = b"WEBP" + vp8x + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(content)) + content


def read_provenance(data: bytes) -> dict[str, Any]:
    """What an image says about its origin: prompt, provider, model, seed, digital_source_type...

    Reads the XMP packet (PNG, JPEG, WebP) and, for PNG, the text chunks. Returns {} when the
    file carries no provenance. `seed` and `steps` come back as ints, `guidance_scale` as a
    float, everything else as text.
    """
    return _provenance_from_image(_open(data))


def _provenance_from_image(im: Image.Image) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if _format_name(im) == "png":
        text = getattr(im, "text", {}) or {}
        for key in _PNG_PROVENANCE_KEYS:
            if key in text:
                result[key] = str(text[key])
    xmp = im.info.get("xmp") or im.info.get(_PNG_XMP_KEY) or getattr(im, "text", {}).get(_PNG_XMP_KEY)
    if xmp:
        result.update(_parse_xmp(xmp if isinstance(xmp, bytes) else str(xmp).encode("utf-8")))
    for key in list(result):
        value = result[key]
        if key in _INT_KEYS and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            result[key] = int(value)
        elif key in _FLOAT_KEYS and isinstance(value, str):
            try:
                result[key] = float(value)
            except ValueError:
                pass
    return result


def _parse_xmp(packet: bytes) -> dict[str, str]:
    packet = packet.rstrip(b"\x00 \t\r\n")
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return {}  # XMP never needs a DTD; refuse entity tricks outright
    try:
        root = ElementTree.fromstring(packet)
    except ElementTree.ParseError:
        return {}
    rdf, dc, ext, xmp_ns = (f"{{{_NS[p]}}}" for p in ("rdf", "dc", "Iptc4xmpExt", "xmp"))
    ours = f"{{{XMP_NAMESPACE}}}"
    found: dict[str, str] = {}
    for desc in root.iter(f"{rdf}Description"):
        for name, value in desc.attrib.items():
            if name.startswith(ours):
                found[name[len(ours) :]] = value
            elif name == f"{ext}DigitalSourceType":
                found["digital_source_type"] = value
            elif name == f"{xmp_ns}CreatorTool":
                found["generator"] = value
        for child in desc:
            if child.tag.startswith(ours):
                found[child.tag[len(ours) :]] = child.text or ""
            elif child.tag == f"{ext}DigitalSourceType":
                found["digital_source_type"] = (child.text or child.get(f"{rdf}resource") or "").strip()
            elif child.tag == f"{xmp_ns}CreatorTool":
                found["generator"] = (child.text or "").strip()
            elif child.tag == f"{dc}description":
                items = list(child.iter(f"{rdf}li"))
                default = [li for li in items if li.get(_XML_LANG) == "x-default"] or items
                if default:
                    found["prompt"] = default[0].text or ""
    found.pop("truncated", None)
    source_type = found.get("digital_source_type", "")
    ours = found.get("generator") == GENERATOR or any(
        key not in ("digital_source_type", "generator", "prompt") for key in found
    )
    if not ours and not source_type:
        return {}  # someone else's XMP that says nothing about how the image was made
    if not ours and "algorithmicmedia" not in source_type.lower():
        found.pop("prompt", None)  # dc:description is a caption here, not a prompt
    return found

