"""The built-in offline provider: Pillow-rendered title cards and abstract covers.

A card is a background (a soft mesh gradient, or a Bauhaus-like grid of flat shapes) in a
palette picked from the style text, with the prompt's description typeset on it in a bundled
open font. Everything is drawn from one seeded RNG, so the same request and seed give the same
bytes. `request.extra` may carry `label` (a small line above the title, e.g. the blog's name),
`layout` ("gradient" or "geometric") and `palette` (a palette name); the provider option
`label` sets a default label.
"""

from __future__ import annotations

import io
import math
import random
import re
import secrets
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageMath, ImageStat

from ..fonts import font_path
from ..exceptions import UnsupportedFeature
from ..imaging import masks
from ..imaging.png import encode_png
from .base import (
    MAX_SEED,
    MIME_TYPES,
    BaseProvider,
    Capabilities,
    EditRequest,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
)

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]

LAYOUTS = ("gradient", "geometric")
# Centred marks on a plain or transparent ground (the avatar / icon / logo mark presets):
# chosen only by name (extra "layout"), never from style words.
MARK_LAYOUTS = ("avatar", "icon", "mark")
TRANSPARENT = "transparent"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
MODELS = {"cards": "", "cards-gradient": "gradient", "cards-geometric": "geometric"}
LAYOUT_WORDS = {
    "geometric": ("geometric", "bauhaus", "shapes", "flat", "pattern", "tiles", "graphic", "memphis"),
    "gradient": ("gradient", "blur", "blurry", "glow", "mesh", "aurora", "haze", "bokeh", "dreamy"),
}
# A negative prompt naming any of these asks for a cover without the title.
NO_TEXT_WORDS = ("text", "words", "letters", "lettering", "typography", "title", "caption", "writing")
ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class Palette:
    name: str
    keywords: tuple[str, ...]
    background: tuple[str, str, str]  # gradient stops, in order
    accents: tuple[str, ...]
    ink: str  # dark text colour
    paper: str  # light text colour


PALETTES = (
    Palette("sunset", ("sunset", "sunrise", "dusk", "dawn", "golden hour", "orange", "evening", "summer"),
            ("#1d1446", "#8a2c5e", "#f17a55"), ("#ffb46b", "#ff5e62", "#f9d56e"), "#1d1446", "#fff6ec"),
    Palette("ember", ("warm", "autumn", "fall", "cozy", "cosy", "fire", "ember", "rust", "coffee", "red", "copper"),
            ("#2e140c", "#9c3d22", "#e39a55"), ("#f6d2a2", "#d2602f", "#ffe5b8"), "#2a120b", "#fff4e6"),
    Palette("ocean", ("ocean", "sea", "water", "beach", "wave", "waves", "blue", "marine", "coast", "sky", "nautical"),
            ("#04192e", "#0b4c6e", "#1f9fc0"), ("#5fe0d6", "#a9e7f2", "#2a86b5"), "#04233b", "#f0fbff"),
    Palette("forest", ("forest", "nature", "green", "tree", "trees", "garden", "moss", "plant", "plants", "leaf",
                       "jungle", "woods", "hiking", "outdoor", "outdoors"),
            ("#0d271d", "#285943", "#86ad72"), ("#d7e6a6", "#e8b04a", "#5a9a68"), "#10281d", "#f4f8ec"),
    Palette("noir", ("noir", "dark", "black", "night", "mystery", "crime", "moody", "dramatic", "shadow", "gothic"),
            ("#09090b", "#1b1b21", "#34343e"), ("#e63946", "#f1eee9", "#8d8d99"), "#0b0b0d", "#f5f5f7"),
    Palette("pastel", ("pastel", "pastels", "soft", "gentle", "cute", "baby", "light", "candy", "kawaii", "playful"),
            ("#fde2e4", "#e4ece9", "#d3ddfb"), ("#f4acb7", "#8fcfd2", "#b3b3fa", "#ffd29d"), "#3b3849", "#ffffff"),
    Palette("neon", ("neon", "cyberpunk", "synthwave", "glowing", "electric", "vaporwave", "rave", "gaming",
                     "futuristic", "retrowave"),
            ("#0a0221", "#2d0b62", "#6a0f7d"), ("#ff2a6d", "#05d9e8", "#f9c80e", "#d1f7ff"), "#0a0221", "#ffffff"),
    Palette("watercolor", ("watercolor", "watercolour", "painterly", "wash", "paper", "illustration", "botanical",
                           "delicate", "ink wash", "sketch"),
            ("#f7f0e5", "#eadcc8", "#d1e2d9"), ("#7fa7b5", "#d99a8b", "#9bb58e", "#e3c57a"), "#2f3b40", "#fffdf8"),
    Palette("minimal", ("minimal", "minimalist", "clean", "simple", "white", "modern", "swiss", "corporate",
                        "business", "editorial", "monochrome"),
            ("#f4f3ef", "#ecebe6", "#e1dfd8"), ("#161616", "#e4572e", "#bdb9ae"), "#141414", "#ffffff"),
    Palette("vintage", ("vintage", "retro", "old", "classic", "sepia", "nostalgic", "nostalgia", "film", "analog",
                        "70s", "1970s", "antique"),
            ("#f0e2c6", "#e1b46f", "#b5643b"), ("#2f4858", "#c8553d", "#f3d8a7", "#588b8b"), "#2b2118", "#fbf3e4"),
    Palette("berry", ("berry", "purple", "violet", "plum", "wine", "romantic", "love", "pink", "magenta", "valentine"),
            ("#2b0b33", "#6a1b4d", "#c2185b"), ("#ff8fab", "#ffc2d1", "#b45cd6"), "#23092b", "#fff0f5"),
    Palette("mint", ("mint", "fresh", "teal", "health", "wellness", "zen", "calm", "spa", "spring", "yoga"),
            ("#e4f3ee", "#b5dfd0", "#67b5a5"), ("#1f6f67", "#f6bd60", "#f28482"), "#12332f", "#ffffff"),
    Palette("desert", ("desert", "sand", "earth", "earthy", "terracotta", "boho", "clay", "travel", "southwest",
                       "canyon"),
            ("#f3dab9", "#e0a872", "#b5562f"), ("#3d5a6c", "#7f3b1d", "#f6e7d0"), "#3a1e10", "#fff8ef"),
    Palette("slate", ("tech", "technology", "code", "coding", "software", "data", "developer", "programming",
                      "ai", "digital", "science", "startup", "saas"),
            ("#0f172a", "#1e293b", "#334155"), ("#38bdf8", "#a78bfa", "#34d399"), "#0f172a", "#f8fafc"),
)
PALETTES_BY_NAME = {palette.name: palette for palette in PALETTES}


class CardsProvider(BaseProvider):
    display_name = "Cards (offline)"
    # Laid out by rules from the prompt's words, with no trained model: IPTC's algorithmicMedia
    # ("created purely by an algorithm not based on any sampled training data").
    digital_source_type = "algorithmicMedia"
    # Part of the key under which identical requests are answered from storage: raised whenever
    # a change to the renderer changes its pixels, so no image from an older renderer is reused.
    # 3: the mesh gradient's ramp is drawn by Pillow in float32 (a rare pixel one level off).
    render_version = 3

    def capabilities(self, model: str = "") -> Capabilities:
        return Capabilities(
            models=tuple(MODELS), default_model="cards",
            min_size=64, max_size=2048, size_multiple=1, default_size=(1024, 1024),
            max_n=10, max_prompt_length=4000,
            # The negative prompt steers away from the palettes and layouts it names ("neon", "blurry")
            # and, if it names text ("text", "words"...), drops the title.
            supports_negative_prompt=True, supports_seed=True, deterministic=True,
            output_formats=("png", "webp", "jpeg"), prices={"*": Decimal("0")},
            # An edit re-renders the card (new text/style, same layout and seed) and lays it
            # over the source: inside the mask only, blended by the strength.
            supports_edit=True, supports_mask=True, max_references=0, supports_strength=True,
        )

    def edit_image(self, edit: EditRequest) -> GenerationResult:
        request = edit.request
        if request.seed is None:
            request = replace(request, seed=secrets.randbelow(MAX_SEED + 1))
        model = request.model or "cards"
        with Image.open(io.BytesIO(edit.image)) as opened:
            source = opened.convert("RGB")
        strength = 1.0 if edit.strength is None else edit.strength
        images = []
        for index in range(request.n):
            card = self._render(replace(request, width=source.width, height=source.height), model,
                                request.seed_for(index))
            with Image.open(io.BytesIO(card.data)) as drawn:
                merged = masks.apply_in_area(source, drawn.convert("RGB"), mask_png=edit.mask, strength=strength)
            fmt = request.output_format or "png"
            images.append(replace(card, data=encode(merged, fmt), mime_type=MIME_TYPES[fmt],
                                  metadata={**card.metadata, "edit": True, "masked": edit.mask is not None,
                                            "strength": strength}))
        return GenerationResult(images=tuple(images), model=model, usage={"images": len(images)})

    def validate(self, request: GenerationRequest, caps: Capabilities | None = None) -> None:
        super().validate(request, caps)
        background = str((request.extra or {}).get("background") or "")
        problems = []
        if background == TRANSPARENT and (request.output_format or "png") == "jpeg":
            problems.append("a transparent background needs png or webp output")
        elif background and background != TRANSPARENT and not _HEX.match(background):
            problems.append(f"background {background!r} is neither 'transparent' nor a colour like #f4efe6")
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))

    def generate(self, request: GenerationRequest) -> GenerationResult:
        if request.seed is None:
            # Report the seed we picked so the image can be made again.
            request = replace(request, seed=secrets.randbelow(MAX_SEED + 1))
        model = request.model or "cards"
        images = tuple(self._render(request, model, request.seed_for(index)) for index in range(request.n))
        return GenerationResult(images=images, model=model, usage={"images": len(images)})

    def _render(self, request: GenerationRequest, model: str, seed: int) -> GeneratedImage:
        extra = request.extra or {}
        image, metadata = render_card(
            width=request.width, height=request.height, seed=seed,
            text=request.prompt_description.strip() or request.prompt,
            style=request.prompt_style.strip() or request.prompt,
            negative=request.negative_prompt,
            layout=str(extra.get("layout") or MODELS.get(model, "")),
            palette=str(extra.get("palette") or ""),
            label=str(extra.get("label") or self.options.get("label") or ""),
            background=str(extra.get("background") or ""),
        )
        fmt = request.output_format or "png"
        return GeneratedImage(data=encode(image, fmt), mime_type=MIME_TYPES[fmt], seed=seed,
                              metadata={**metadata, "model": model})


def render_card(*, width: int, height: int, seed: int, text: str, style: str = "", negative: str = "",
                layout: str = "", palette: str = "", label: str = "",
                background: str = "") -> tuple[Image.Image, dict[str, Any]]:
    """Draw one card; returns the image (RGB, or RGBA on a transparent ground) and what was chosen."""
    rng = random.Random(seed)
    chosen = PALETTES_BY_NAME.get(palette) or choose_palette(style, negative, rng)
    if layout in MARK_LAYOUTS:
        return render_mark(width=width, height=height, rng=rng, palette=chosen, text=_clean(text), layout=layout,
                           background=background, no_text=_mentions(negative, NO_TEXT_WORDS))
    layout = layout if layout in LAYOUTS else choose_layout(style, negative, rng)
    text, label = _clean(text), _clean(label)
    # Text no bundled font can draw (CJK, say) is dropped; the card becomes an abstract cover.
    if _mentions(negative, NO_TEXT_WORDS) or not _pick_font(text, "display", "bold")[1].strip():
        text, label = "", ""
    draw = _draw_geometric if layout == "geometric" else _draw_gradient
    image, block = draw((width, height), chosen, rng, text, label)
    metadata = {"palette": chosen.name, "layout": layout, "renderer": "cards/1",
                "text_lines": len(block.lines) if block else 0,
                # The words drawn, the alt text of a card: the text itself when all of it fits
                # (joining the wrapped lines would split a word cut across two), else the lines.
                "text": (text if not block.truncated else " ".join(block.lines)) if block else "",
                "font_size": block.size if block else 0, "truncated": bool(block and block.truncated)}
    return image, metadata


PNG_COMPRESS_LEVEL = 1


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        # 4:4:4 keeps coloured text edges crisp; the size cost is small at this quality.
        image.save(buffer, "JPEG", quality=90, subsampling=0, optimize=True)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=90, method=4)
    else:
        # Level 1: a third of level 6's time on a card for a sixth more bytes; one filter
        # for every row instead of Pillow's per-row search halves that again (bench/api.py).
        return encode_png(image, level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


# -- palettes ------------------------------------------------------------------------------


def choose_palette(style: str, negative: str, rng: random.Random) -> Palette:
    """The palette the style names (most keyword hits, then the earliest), else a seeded pick
    among the palettes the negative prompt does not name."""
    scored = [(*_keyword_score(palette, style.lower()), palette.name) for palette in PALETTES]
    best = min(scored)
    if best[0] < 0:
        return PALETTES_BY_NAME[best[2]]
    allowed = [p for p in PALETTES if not _mentions(negative, (p.name, *p.keywords))] or list(PALETTES)
    return rng.choice(allowed)


def _keyword_score(palette: Palette, style: str) -> tuple[int, int]:
    """(minus the hits, first hit position); a palette's own name counts twice, because "neon"
    says more than the "night" in "night market, neon signs"."""
    weight, first = 0, len(style)
    for word in dict.fromkeys((palette.name, *palette.keywords)):
        if word not in style:  # the cheap test first: most words of most palettes are not there
            continue
        for match in _word_pattern(word).finditer(style):
            weight += 2 if word == palette.name else 1
            first = min(first, match.start())
    return -weight, first


@lru_cache(maxsize=512)
def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    # A substring test before the word-boundary regex: the words are lowercase literals.
    return bool(lowered) and any(word in lowered and _word_pattern(word).search(lowered) for word in words)


def choose_layout(style: str, negative: str, rng: random.Random) -> str:
    """The layout the style asks for, else a seeded pick among those the negative prompt allows."""
    named = [layout for layout in LAYOUTS if _mentions(style, LAYOUT_WORDS[layout])]
    if named:
        return named[0]
    allowed = [layout for layout in LAYOUTS if not _mentions(negative, LAYOUT_WORDS[layout])]
    return rng.choice(allowed or list(LAYOUTS))


def _rgb(hex_colour: str) -> RGB:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _luminance(colour: tuple[float, ...]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix(a: tuple[float, ...], b: tuple[float, ...], t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a[:3], b[:3]))  # type: ignore[return-value]


# -- text ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextBlock:
    lines: tuple[str, ...]
    font: ImageFont.FreeTypeFont
    size: int
    truncated: bool

    @property
    def line_height(self) -> int:
        return round(self.size * 1.12)

    @property
    def cap_height(self) -> int:
        return _cap_height(self.font)

    @property
    def height(self) -> int:
        # From the cap line of the first line to below the descenders of the last.
        return self.cap_height + (len(self.lines) - 1) * self.line_height + round(self.size * 0.24)

    @property
    def width(self) -> int:
        return math.ceil(max(_length(self.font, line) for line in self.lines))

    def draw(self, draw: ImageDraw.ImageDraw, x: int, top: int, fill: Any) -> None:
        for index, line in enumerate(self.lines):
            draw.text((x, top + self.cap_height + index * self.line_height), line, font=self.font,
                      fill=fill, anchor="ls")


@lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(name)), size)


@lru_cache(maxsize=256)
def _cap_height(font: ImageFont.FreeTypeFont) -> int:
    """How far a capital rises above the baseline, measured once per font size (fitting a
    title asks for it at every size it tries, and drawing at every line)."""
    return -font.getbbox("H", anchor="ls")[1]


@lru_cache(maxsize=65_536)
def _length(font: ImageFont.FreeTypeFont, text: str) -> float:
    """font.getlength, remembered per font size (a font object is one face at one size, kept
    by _font): fitting a title measures the same candidates again and again (every size of
    the search, every width of the balancing), and so does the next card with that title."""
    return font.getlength(text)


@lru_cache(maxsize=4096)
def _has_glyph(name: str, char: str) -> bool:
    # Pillow has no cmap lookup; a missing glyph renders as the font's .notdef box.
    font = _font(name, 24)
    mask = font.getmask(char)
    notdef = font.getmask("\U0010ffff")
    return (mask.size, bytes(mask)) != (notdef.size, bytes(notdef))


def _pick_font(text: str, preferred: str, fallback: str) -> tuple[str, str]:
    """The font to set `text` in, and the text without the characters that font cannot draw."""
    chars = {c for c in text if not c.isspace()}
    # Only missing letters and digits justify the plainer fallback face; a lost emoji does not.
    missing = {c for c in chars if unicodedata.category(c)[0] in "LN" and not _has_glyph(preferred, c)}
    name = preferred
    if missing and sum(not _has_glyph(fallback, c) for c in missing) < len(missing):
        name = fallback
    # Dropping what no bundled font has beats drawing rows of empty boxes.
    return name, "".join(c for c in text if c.isspace() or _has_glyph(name, c))


def _clean(text: str) -> str:
    text = "".join(" " if not c.isprintable() else c for c in text)
    return " ".join(text.split())


def _wrap(words: list[str], font: ImageFont.FreeTypeFont, width: float, limit: int = 10_000) -> list[str]:
    """Greedy line breaking; stops once it has more than `limit` lines (it will not fit anyway)."""
    lines: list[str] = []
    current = ""
    for word in words:
        if len(lines) > limit:
            break
        candidate = f"{current} {word}" if current else word
        if _length(font, candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        # A word wider than the line (a URL, a long compound, text without spaces) is cut.
        while _length(font, word) > width and len(word) > 1 and len(lines) <= limit:
            cut = _longest_prefix(word, font, width)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def _longest_prefix(word: str, font: ImageFont.FreeTypeFont, width: float) -> int:
    low, high = 1, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        if _length(font, word[:mid]) <= width:
            low = mid
        else:
            high = mid - 1
    return low


def _ellipsize(line: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    while line and _length(font, line.rstrip(" ,;:.-\u2014") + ELLIPSIS) > width:
        line = line.rsplit(" ", 1)[0] if " " in line else line[:-1]
    return line.rstrip(" ,;:.-\u2014") + ELLIPSIS


def fit_text(text: str, *, font_name: str, width: int, height: int, max_size: int, min_size: int,
             max_lines: int) -> TextBlock | None:
    """The largest setting of `text` that fits the box; ellipsized at the smallest size if need be."""
    words = text[:1200].split()
    if not words or width < 8 or min_size > max_size:
        return None

    def attempt(size: int) -> tuple[list[str], int, bool]:
        font = _font(font_name, size)
        probe = TextBlock(lines=("",), font=font, size=size, truncated=False)
        lines_allowed = max(0, min(max_lines, (height - probe.height) // probe.line_height + 1))
        # A size at which an ordinary word must be cut in two does not count as fitting:
        # a smaller size that keeps "lighthouse" whole reads better than "lightho-use".
        cuts_words = any(_length(font, word) > width for word in words)
        return _wrap(words, font, width, limit=lines_allowed), lines_allowed, cuts_words

    low, high = min_size, max_size
    while low < high:  # binary search: bigger type fits fewer words per line
        mid = (low + high + 1) // 2
        lines, allowed, cuts_words = attempt(mid)
        if len(lines) <= allowed and not cuts_words:
            low = mid
        else:
            high = mid - 1
    lines, allowed, _cuts = attempt(low)
    if allowed < 1:
        return None
    font = _font(font_name, low)
    truncated = len(lines) > allowed or len(words) < len(text.split())
    if truncated:
        lines = lines[:allowed]
        lines[-1] = _ellipsize(lines[-1], font, width)
    elif len(lines) > 1:
        lines = _balance(words, font, width, len(lines))
    return TextBlock(lines=tuple(lines), font=font, size=low, truncated=truncated)


def _balance(words: list[str], font: ImageFont.FreeTypeFont, width: int, count: int) -> list[str]:
    # Narrow the measure as far as the line count allows, so the last line is not a lone word,
    # but never below the widest word: narrower, a word is cut in two ("lighthous / e") while
    # the line count stays the same.
    widest = max(_length(font, word) for word in words)
    low, high = min(width, max(width // 2, math.ceil(widest))), width
    while low < high:
        mid = (low + high) // 2
        if len(_wrap(words, font, mid)) <= count:
            high = mid
        else:
            low = mid + 1
    return _wrap(words, font, low)


def _set_title(text: str, box_w: int, box_h: int, short: int) -> TextBlock | None:
    font_name, text = _pick_font(text, "display", "bold")
    # Readable in a 384 px thumbnail: the type never shrinks below ~5% of the short side.
    max_size = round(short * (0.2 if short < 256 else 0.13))
    min_size = max(10, round(short * 0.05))
    return fit_text(text, font_name=font_name, width=box_w, height=box_h, max_size=max(min_size, max_size),
                    min_size=min_size, max_lines=7)


def _set_label(label: str, box_w: int, short: int) -> TextBlock | None:
    if not label or short < 160:
        return None
    font_name, label = _pick_font(label.upper(), "label", "regular")
    size = max(10, round(short * 0.034))
    return fit_text(label, font_name=font_name, width=box_w, height=size * 2, max_size=size, min_size=size,
                    max_lines=1)


# -- layouts -------------------------------------------------------------------------------


def _margin(size: tuple[int, int]) -> int:
    return max(4, round(min(size) * 0.075))


def _draw_gradient(size: tuple[int, int], palette: Palette, rng: random.Random, text: str,
                   label: str) -> tuple[Image.Image, TextBlock | None]:
    """A soft mesh gradient, faint rings, and the title bottom-left over a tinted scrim."""
    width, height = size
    image = _mesh(size, palette, rng)
    _rings(image, palette, rng)
    margin = _margin(size)
    box_w, box_h = width - 2 * margin, round((height - 2 * margin) * (0.62 if height > 160 else 1))
    title = _set_title(text, box_w, box_h, min(size))
    label_block = _set_label(label, box_w, min(size))
    if title is None:
        return image, None
    top = height - margin - title.height
    region = (margin, max(0, top), margin + title.width, height - margin)
    colour, scrim = _text_colours(image, region, palette)
    _scrim(image, region, scrim, _scrim_strength(image, region, colour, scrim))
    _accent_bar(image, margin, top, title, palette, rng)
    if colour == _rgb(palette.paper):
        _shadow(image, title, margin, top, scrim)
    draw = ImageDraw.Draw(image)
    title.draw(draw, margin, top, colour)
    if label_block:
        # The label sits on another part of the gradient, so it picks its own colour.
        label_box = (margin, margin, margin + label_block.width, margin + label_block.height)
        label_block.draw(draw, margin, margin, _text_colours(image, label_box, palette)[0])
    return image, title


def _mesh(size: tuple[int, int], palette: Palette, rng: random.Random) -> Image.Image:
    # Drawn small and scaled up: a blurred gradient has no detail to lose, and 2048 px stays cheap.
    width, height = size
    scale = min(1.0, 160 / max(size))
    sw, sh = max(2, round(width * scale)), max(2, round(height * scale))
    angle = rng.uniform(0, 2 * math.pi)
    dx, dy = math.cos(angle), math.sin(angle)
    corners = [x * dx + y * dy for x in (0, sw) for y in (0, sh)]
    low, span = min(corners), (max(corners) - min(corners)) or 1
    ramp = _linear_ramp(sw, sh, dx, dy, low, span)
    stops = [_rgb(c) for c in palette.background]
    small = Image.merge("RGB", [ramp.point(lut) for lut in _ramp_luts(tuple(stops))])
    # Soft glows over the linear gradient, in the accents nearest the background's lightness:
    # a dark accent glowing on a light ground turns to mud, not colour.
    ground = sum(_luminance(stop) for stop in stops) / len(stops)
    near = sorted(palette.accents, key=lambda accent: abs(_luminance(_rgb(accent)) - ground))[:3]
    for accent in rng.sample(near, rng.randint(2, len(near))):
        colour = _rgb(accent)
        radius = rng.uniform(0.25, 0.42) * max(sw, sh)
        cx, cy = rng.uniform(0.05, 0.95) * sw, rng.uniform(0.0, 0.8) * sh
        mask = Image.new("L", (sw, sh), 0)
        ImageDraw.Draw(mask).ellipse((cx - radius, cy - radius, cx + radius, cy + radius),
                                     fill=round(255 * rng.uniform(0.6, 0.9)))
        mask = mask.filter(ImageFilter.GaussianBlur(radius * 0.5))
        small = Image.composite(Image.new("RGB", (sw, sh), colour), small, mask)
    return small.resize(size, Image.Resampling.BICUBIC)


# 0..255 down the rows: crops of it are the x and y coordinates of a small ramp (sides <= 160).
_COORDINATES = Image.linear_gradient("L")


def _linear_ramp(width: int, height: int, dx: float, dy: float, low: float, span: float) -> Image.Image:
    """255 * (x*dx + y*dy - low) / span at every pixel, rounded, drawn by Pillow in one pass
    (float32: a pixel in some 30,000 comes out one level off the float64 value)."""
    ys = _COORDINATES.crop((0, 0, width, height)).convert("F")
    xs = _COORDINATES.crop((0, 0, height, width)).transpose(Image.Transpose.TRANSPOSE).convert("F")
    scale = 255 / span
    ramp = ImageMath.lambda_eval(lambda v: (v["x"] * dx + v["y"] * dy - low) * scale + 0.5, x=xs, y=ys)
    return ramp.convert("L")


@lru_cache(maxsize=64)
def _ramp_luts(stops: tuple[RGB, ...]) -> tuple[list[int], ...]:
    """Each channel's 256-step ramp through the palette's stops (the same for every card of it)."""
    return tuple([round(_ramp_value(list(stops), i / 255, ch)) for i in range(256)] for ch in range(3))


def _ramp_value(stops: list[RGB], t: float, channel: int) -> float:
    position = t * (len(stops) - 1)
    index = min(int(position), len(stops) - 2)
    local = position - index
    local = _smooth(local)  # no visible kink at the middle stop
    return stops[index][channel] + (stops[index + 1][channel] - stops[index][channel]) * local


def _rings(image: Image.Image, palette: Palette, rng: random.Random) -> None:
    """A few thin concentric circles, faint, drawn supersampled so they stay smooth."""
    width, height = image.size
    factor = 2 if max(image.size) > 512 else 4
    mask = Image.new("L", (width * factor, height * factor), 0)
    draw = ImageDraw.Draw(mask)
    # Kept to the upper right, away from the title in the lower left.
    cx, cy = rng.uniform(0.6, 1.0) * width * factor, rng.uniform(0.0, 0.35) * height * factor
    base = rng.uniform(0.14, 0.24) * min(image.size) * factor
    stroke = max(factor, round(min(image.size) * 0.004 * factor))
    for index in range(rng.randint(2, 3)):
        radius = base * (1 + 0.5 * index)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=round(255 * 0.2), width=stroke)
    mask = mask.reduce(factor)
    image.paste(Image.new("RGB", image.size, _rgb(palette.paper)), (0, 0), mask)


def _text_colours(image: Image.Image, region: Box, palette: Palette) -> tuple[RGB, RGB]:
    """Text colour and the scrim colour behind it: light text over a darkened foot looks like
    a photo caption; dark text over a lightened one looks washed out, so keep it for light grounds."""
    mean = ImageStat.Stat(image.crop(region)).mean
    if _luminance(mean) > 0.36:
        return _rgb(palette.ink), _rgb(palette.paper)
    return _rgb(palette.paper), _mix(_rgb(palette.ink), (0, 0, 0), 0.35)


def _scrim_strength(image: Image.Image, region: Box, colour: RGB, scrim: RGB) -> float:
    # Enough tint that the text reaches WCAG's 4.5:1 against the average under it, never none,
    # because the glows make the background uneven.
    mean = ImageStat.Stat(image.crop(region)).mean
    strength = 0.3
    while strength < 0.9 and _contrast(colour, _mix(mean, scrim, strength)) < 4.5:
        strength += 0.05
    return strength


def _scrim(image: Image.Image, region: Box, colour: RGB, strength: float) -> None:
    """Tint the lower left: full strength behind the text, fading out above it and to the right."""
    width, height = image.size
    _, top, right, _ = region
    start = max(0, top - round(height * 0.3))
    vertical = Image.frombytes("L", (1, height - start), _scrim_rows(start, top, height, strength))
    horizontal = Image.frombytes("L", (width, 1), _scrim_cols(width, right))
    mask = ImageChops.multiply(vertical.resize((width, height - start)), horizontal.resize((width, height - start)))
    image.paste(Image.new("RGB", mask.size, colour), (0, start), mask)


# The scrim's two ramps, one byte a row / a column: the same few title boxes come back card
# after card, and a Python loop over every row and column of each was a tenth of a render.
@lru_cache(maxsize=1024)
def _scrim_rows(start: int, top: int, height: int, strength: float) -> bytes:
    return bytes(round(_smooth((y - start) / max(1, top - start)) * strength * 255) for y in range(start, height))


@lru_cache(maxsize=1024)
def _scrim_cols(width: int, right: int) -> bytes:
    fade = max(1, round(width * 0.35))
    return bytes(round((0.4 + 0.6 * _smooth(1 - (x - right) / fade)) * 255) for x in range(width))


def _smooth(t: float) -> float:
    t = min(1.0, max(0.0, t))
    return t * t * (3 - 2 * t)


def _shadow(image: Image.Image, title: TextBlock, x: int, top: int, colour: RGB) -> None:
    pad = max(2, title.size // 3)
    box = (max(0, x - pad), max(0, top - pad), min(image.width, x + title.width + pad),
           min(image.height, top + title.height + pad))
    mask = Image.new("L", (box[2] - box[0], box[3] - box[1]), 0)
    title.draw(ImageDraw.Draw(mask), x - box[0], top - box[1] + max(1, title.size // 30), 110)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1, title.size / 14)))
    image.paste(Image.new("RGB", mask.size, colour), box[:2], mask)


def _accent_bar(image: Image.Image, x: int, top: int, title: TextBlock, palette: Palette,
                rng: random.Random) -> None:
    thickness = max(2, round(title.size * 0.09))
    gap = max(3, round(title.size * 0.45))
    if top - gap - thickness < 0:
        return
    length = max(thickness * 4, round(title.size * 1.1))
    colour = _rgb(rng.choice(palette.accents))
    ImageDraw.Draw(image).rectangle((x, top - gap - thickness, x + length, top - gap), fill=colour)


def _draw_geometric(size: tuple[int, int], palette: Palette, rng: random.Random, text: str,
                    label: str) -> tuple[Image.Image, TextBlock | None]:
    """A grid of flat Bauhaus-like tiles beside (or above) a plain panel that carries the title."""
    width, height = size
    surface = _rgb(palette.background[0])
    image = Image.new("RGB", size, surface)
    tiles = _tile_area(size) if text else (0, 0, width, height)
    image.paste(_tiles(tiles[2] - tiles[0], tiles[3] - tiles[1], palette, rng), tiles[:2])
    if not text:
        return image, None
    margin = _margin(size)
    panel = (0, 0, tiles[0], height) if tiles[0] > 0 else (0, tiles[3], width, height)
    box_w = panel[2] - panel[0] - 2 * margin
    box_h = panel[3] - panel[1] - 2 * margin
    label_block = _set_label(label, box_w, min(size))
    label_space = label_block.height + label_block.size if label_block else 0
    title = _set_title(text, box_w, box_h - label_space, min(size))
    if title is None:
        return image, None
    ink, paper = _rgb(palette.ink), _rgb(palette.paper)
    colour = ink if _contrast(ink, surface) >= _contrast(paper, surface) else paper
    top = panel[1] + max(margin, (panel[3] - panel[1] - title.height - label_space) // 2)
    draw = ImageDraw.Draw(image)
    if label_block:
        label_block.draw(draw, panel[0] + margin, top, _mix(colour, surface, 0.3))
        top += label_space
    title.draw(draw, panel[0] + margin, top, colour)
    return image, title


def _tile_area(size: tuple[int, int]) -> Box:
    width, height = size
    if width >= height * 1.2:  # landscape: tiles on the right
        return (round(width * 0.55), 0, width, height)
    return (0, 0, width, round(height * (0.5 if height < width * 1.2 else 0.55)))


def _tiles(width: int, height: int, palette: Palette, rng: random.Random) -> Image.Image:
    # Supersampled so circle edges stay smooth; small images get more samples per pixel.
    factor = 4 if max(width, height) <= 256 else 3 if max(width, height) <= 768 else 2
    rows = 2 if min(width, height) < 200 or height < width * 0.6 else 3
    cell = height / rows
    cols = max(1, round(width / cell))
    colours = [_rgb(c) for c in (*palette.background, *palette.accents, palette.ink)]
    canvas = Image.new("RGB", (width * factor, height * factor))
    draw = ImageDraw.Draw(canvas)
    for row in range(rows):
        for col in range(cols):
            x0, x1 = round(col * width / cols * factor), round((col + 1) * width / cols * factor)
            y0, y1 = round(row * cell * factor), round((row + 1) * cell * factor)
            ground, figure = _pair(colours, rng)
            draw.rectangle((x0, y0, x1, y1), fill=ground)
            _motif(draw, (x0, y0, x1, y1), figure, rng)
    return canvas.reduce(factor)


def _pair(colours: list[RGB], rng: random.Random) -> tuple[RGB, RGB]:
    # A figure that barely differs from its ground reads as a smudge, not a shape.
    for _ in range(20):
        ground, figure = rng.sample(colours, 2)
        if _contrast(ground, figure) >= 1.4:
            break
    return ground, figure


def _motif(draw: ImageDraw.ImageDraw, box: Box, colour: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    side = min(w, h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    kind = rng.choice(("circle", "quarter", "half", "triangle", "stripes", "dots", "ring", "plain"))
    if kind == "circle":
        r = side * 0.38
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "ring":
        r = side * 0.38
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(1, round(side * 0.1)))
    elif kind == "quarter":
        corner_x, corner_y = rng.choice(((x0, y0), (x1, y0), (x0, y1), (x1, y1)))
        start = {(x0, y0): 0, (x1, y0): 90, (x1, y1): 180, (x0, y1): 270}[(corner_x, corner_y)]
        draw.pieslice((corner_x - side, corner_y - side, corner_x + side, corner_y + side), start, start + 90,
                      fill=colour)
    elif kind == "half":
        r = side / 2
        edge = rng.choice(("top", "bottom"))
        ey, start = (y0, 0) if edge == "top" else (y1, 180)
        draw.pieslice((cx - r, ey - r, cx + r, ey + r), start, start + 180, fill=colour)
    elif kind == "triangle":
        points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        del points[rng.randrange(4)]
        draw.polygon(points, fill=colour)
    elif kind == "stripes":
        count = 4
        for i in range(count):
            top = y0 + h * (i + 0.25) / count
            draw.rectangle((x0, top, x1, top + h / count / 2), fill=colour)
    elif kind == "dots":
        r = side / 14
        for i in range(3):
            for j in range(3):
                px, py = x0 + w * (i + 0.5) / 3, y0 + h * (j + 0.5) / 3
                draw.ellipse((px - r, py - r, px + r, py + r), fill=colour)


# -- marks: avatar, icon, logo mark ----------------------------------------------------------


def initials(text: str, limit: int = 2) -> str:
    """The first letters of the first words ("red lighthouse" -> "RL"), letters and digits only."""
    letters = [word[0] for word in re.findall(r"[^\W_]+", text)]
    return "".join(letters[:limit]).upper()


def render_mark(*, width: int, height: int, rng: random.Random, palette: Palette, text: str, layout: str,
                background: str, no_text: bool = False) -> tuple[Image.Image, dict[str, Any]]:
    """One centred mark, drawn large and scaled down for smooth edges, on a transparent or plain ground.

    avatar: a disc with the subject's initials; icon: a rounded tile with one flat shape;
    mark: two overlapping flat shapes with one initial. The ground is `background` (a colour
    or "transparent"), else the palette's paper colour — a named solid colour either way."""
    transparent = background == TRANSPARENT
    ground = (0, 0, 0, 0) if transparent else (*_rgb(background if _HEX.match(background or "") else palette.paper), 255)
    factor = 4 if max(width, height) <= 512 else 2
    big = (width * factor, height * factor)
    image = Image.new("RGBA", big, ground)
    draw = ImageDraw.Draw(image)
    side = min(big)
    cx, cy = big[0] / 2, big[1] / 2
    accents = [_rgb(a) for a in palette.accents]
    deep = _rgb(palette.background[1])
    paper = _rgb(palette.paper)
    word = "" if no_text else initials(text, 2 if layout == "avatar" else 1)
    if layout == "avatar":
        radius = side * 0.46
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(*deep, 255))
        inner = radius * 0.9
        draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), outline=(*rng.choice(accents), 255),
                     width=max(2, round(side * 0.018)))
        glyph_box = radius * 1.1
    elif layout == "icon":
        half = side * 0.42
        draw.rounded_rectangle((cx - half, cy - half, cx + half, cy + half), radius=half * 0.44,
                               fill=(*rng.choice(accents), 255))
        shape = rng.choice(("circle", "triangle", "diamond"))
        size = half * 0.55
        fill = (*deep, 255)
        if shape == "circle":
            draw.ellipse((cx - size, cy - size, cx + size, cy + size), fill=fill)
        elif shape == "triangle":
            draw.polygon([(cx, cy - size), (cx + size * 1.05, cy + size * 0.8), (cx - size * 1.05, cy + size * 0.8)],
                         fill=fill)
        else:
            draw.polygon([(cx, cy - size), (cx + size, cy), (cx, cy + size), (cx - size, cy)], fill=fill)
        word, glyph_box = "", 0  # an icon carries no letters: they blur at 32 px
    else:
        first, second = rng.sample(accents, 2) if len(accents) > 1 else (accents[0], deep)
        radius = side * 0.3
        offset = side * 0.09
        draw.ellipse((cx - radius - offset, cy - radius, cx + radius - offset, cy + radius), fill=(*first, 255))
        half = side * 0.26
        tile = Image.new("RGBA", big, (0, 0, 0, 0))
        ImageDraw.Draw(tile).rounded_rectangle((cx - half + offset, cy - half, cx + half + offset, cy + half),
                                              radius=half * 0.2, fill=(*second, 225))
        image = Image.alpha_composite(image, tile)
        draw = ImageDraw.Draw(image)
        glyph_box = radius * 0.95
    if word:
        font_size = round(glyph_box * (0.62 if len(word) > 1 else 0.8))
        font = _font("display", font_size)
        colour = paper if layout == "avatar" else _rgb(palette.ink)
        draw.text((cx, cy), word, font=font, fill=(*colour, 255), anchor="mm")
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    if not transparent:
        image = image.convert("RGB")
    metadata = {"palette": palette.name, "layout": layout, "renderer": "cards/1",
                "background": TRANSPARENT if transparent else "#%02x%02x%02x" % ground[:3],
                "text": word, "text_lines": 1 if word else 0, "font_size": 0, "truncated": False}
    return image, metadata
