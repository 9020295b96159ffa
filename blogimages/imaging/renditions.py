"""Pure rendition maths and pixels: which files a page needs of an image, and making one.

A spec names one derived file: `w800.webp` (800 px wide, aspect kept) or
`fill-1200x630.png` (exactly 1200×630, cover-cropped around the focal point). Knows no
Django models; the resizing itself is imaging.resize's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .convert import load
from .decode import EXTENSIONS, MIME_TYPES
from .resize import resize_source

_SPEC = re.compile(r"^(?:w(?P<w>\d{1,5})|fill-(?P<fw>\d{1,5})x(?P<fh>\d{1,5}))\.(?P<fmt>png|jpeg|webp)$")


@dataclass(frozen=True, kw_only=True)
class RenditionSpec:
    width: int
    height: int | None  # None: keep the aspect ratio
    format: str

    @property
    def name(self) -> str:
        if self.height is None:
            return f"w{self.width}.{self.format}"
        return f"fill-{self.width}x{self.height}.{self.format}"

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def parse_spec(spec: str) -> RenditionSpec:
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"Unknown rendition spec {spec!r}: use w<width>.<format> or fill-<w>x<h>.<format>.")
    if match["w"]:
        return RenditionSpec(width=int(match["w"]), height=None, format=match["fmt"])
    return RenditionSpec(width=int(match["fw"]), height=int(match["fh"]), format=match["fmt"])


def format_of(mime_type: str) -> str:
    """The fallback format of an original: its own (PNG, JPEG or WebP)."""
    for name, mime in MIME_TYPES.items():
        if mime == mime_type:
            return name
    return "png"


def srcset_widths(original_width: int, widths: list[int] | tuple[int, ...]) -> list[int]:
    """The widths a srcset offers: those narrower than the original, and the original's own
    (never upscaled, so a 640 px image gets one candidate, not four blurry ones)."""
    chosen = sorted({w for w in widths if 0 < w < original_width})
    return [*chosen, original_width]


def scaled_height(width: int, original: tuple[int, int]) -> int:
    """The height resize() gives a `width`-wide copy of an image (same rounding)."""
    src_w, src_h = original
    return max(1, round(src_h * width / src_w))


def render(data: bytes, spec: RenditionSpec, *, focal: tuple[float, float] = (0.5, 0.5),
           quality: int | None = None) -> bytes:
    """The spec's file made from the original's bytes."""
    [(_spec, made)] = render_each(data, [spec], focal=focal, quality=lambda _spec: quality)
    return made


def render_each(data: bytes, specs: Iterable[RenditionSpec], *, focal: tuple[float, float] = (0.5, 0.5),
                quality: Callable[[RenditionSpec], int | None] = lambda spec: None,
                ) -> Iterator[tuple[RenditionSpec, bytes]]:
    """Every spec's file from one decode of the original (decoding it again for each of a
    srcset's eight or nine files was a fifth of their cost)."""
    src = load(data)
    for spec in specs:
        if spec.height is None:
            yield spec, resize_source(src, width=spec.width, height=None, output_format=spec.format,
                                      quality=quality(spec))
        else:
            yield spec, resize_source(src, width=spec.width, height=spec.height, mode="cover", focal=focal,
                                      output_format=spec.format, quality=quality(spec))
