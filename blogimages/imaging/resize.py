"""Resize, crop and fit (with a focal point), named sizes, upscale."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from PIL import Image, ImageFilter, ImageOps

from .convert import Source, check_quality, finish, load
from .decode import has_alpha, normalize_format, parse_color

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
    color = parse_color(background, "background")
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
    keep_alpha = has_alpha(im)
    canvas = _background_image(im, (width, height), background, keep_alpha)
    if canvas.mode == "RGBA" or has_alpha(fitted):
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
    focal = _checked(width=width, height=height, mode=mode, focal=focal, background=background,
                     output_format=output_format, quality=quality)
    src = load(data)
    out = _resize_image(src.image, width, height, mode, focal, background)
    return finish(src, out, output_format, quality=quality)


def resize_source(
    src: Source,
    *,
    width: int | None,
    height: int | None,
    mode: str = "cover",
    focal: tuple[float, float] = (0.5, 0.5),
    background: Any = None,
    output_format: str | None = None,
    quality: int | None = None,
) -> bytes:
    """`resize()` of an image already opened with `convert.load`: several sizes of one image
    (a srcset) decode it once instead of once per size."""
    focal = _checked(width=width, height=height, mode=mode, focal=focal, background=background,
                     output_format=output_format, quality=quality)
    out = _resize_image(src.image, width, height, mode, focal, background)
    return finish(src, out, output_format, quality=quality)


def _checked(*, width, height, mode, focal, background, output_format, quality) -> tuple[float, float]:
    """Refuse bad arguments before any pixel is touched; the focal point as two floats."""
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
    check_quality(quality)
    if output_format is not None:
        normalize_format(output_format)
    return fx, fy


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
    check_quality(quality)
    if output_format is not None:
        normalize_format(output_format)
    src = load(data)
    width, height = src.image.size
    new_w, new_h = round(width * factor), round(height * factor)
    if max(new_w, new_h) > max_side:
        raise ValueError(
            f"Upscaling {width}×{height} by {factor:g} gives {new_w}×{new_h}, beyond the {max_side}px limit."
        )
    _check_pixels(new_w, new_h)
    out = src.image.resize((new_w, new_h), Image.Resampling.LANCZOS)
    return finish(src, out, output_format, quality=quality)
