"""Watermark: text or a logo, in a corner, the centre or tiled, readable on any background."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageColor, ImageDraw, ImageFilter, ImageFont, ImageOps, ImageStat

from blogimages.exceptions import InvalidImage
from blogimages.fonts import FONTS, font_path

from .convert import check_quality, finish, load
from .decode import normalise_mode, normalize_format, open_image

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center", "tiled")

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
                open_image(self.logo)
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
            mime = Image.MIME.get((open_image(bytes(self.logo)).format or "PNG").upper(), "image/png")
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
        logo = normalise_mode(ImageOps.exif_transpose(open_image(bytes(spec.logo)))).convert("RGBA")
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
    check_quality(quality)
    if output_format is not None:
        normalize_format(output_format)
    src = load(data)
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
    return finish(src, out, output_format, quality=quality)
