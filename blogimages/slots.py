"""Which size a slot's images are made at.

The slot says what it wants (BLOGIMAGES_SLOT_SIZES, then the slot's own size, then its
kind's default); a shape word in the prompt's Format ("wide", "square", "tall"...) changes
the aspect when no setting gave an explicit size. That exact size is asked for: generation
makes the nearest size the provider can and crops it; only a size no provider size can be
fitted to falls back to the nearest one the provider makes. No database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .generation import generated_size
from .integration import SlotInfo, slot_size
from .providers.base import Capabilities

# Shape words and the size they stand for (long side 1536, like the default slots).
SHAPE_SIZES: dict[str, tuple[int, int]] = {
    "wide": (1536, 864), "header": (1536, 864), "landscape": (1536, 864), "banner": (1536, 512),
    "square": (1024, 1024),
    "portrait": (1024, 1536), "tall": (864, 1536),
}
_SHAPE_RE = re.compile(r"\b(" + "|".join(SHAPE_SIZES) + r")\b", re.IGNORECASE)


def shape_word(text: str) -> str | None:
    """The first shape word in a Format text ("Format: wide blog header" -> "wide")."""
    match = _SHAPE_RE.search(text or "")
    return match.group(1).lower() if match else None


@dataclass(frozen=True, kw_only=True)
class SlotSize:
    width: int
    height: int
    # Why this size: "slot" (the slot's default), "format" (a shape word) or "setting".
    reason: str
    word: str = ""
    # The slot's target when the provider has to make another size (nearest allowed).
    target: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        size = f"{self.width}×{self.height}"
        if self.reason == "format":
            return f"{size} (“{self.word}” in Format)"
        if self.reason == "setting":
            return f"{size} (from the setting)"
        return f"{size} (this slot’s size)"


def nearest_allowed(caps: Capabilities, width: int, height: int) -> tuple[int, int]:
    """The size nearest to width × height the provider can make, keeping the aspect first."""
    if caps.allows_size(width, height):
        return width, height
    aspect = width / height
    if caps.sizes:
        return min(caps.sizes, key=lambda s: (abs(s[0] / s[1] - aspect), abs(s[0] * s[1] - width * height)))
    scale = min(1.0, caps.max_size / max(width, height))
    scale = max(scale, caps.min_size / min(width, height))
    step = max(1, caps.size_multiple)

    def side(value: float) -> int:
        rounded = max(step, round(value / step) * step)
        return min(max(rounded, caps.min_size + (-caps.min_size % step)), caps.max_size - caps.max_size % step)

    return side(width * scale), side(height * scale)


def size_for_slot(slot: SlotInfo, *, format_text: str = "", caps: Capabilities | None = None) -> SlotSize:
    """The size a new image of this slot is made at (when no setting fixes one)."""
    word = shape_word(format_text)
    if word:
        width, height = SHAPE_SIZES[word]
        reason = "format"
    else:
        width, height = slot_size(slot)
        reason = "slot"
    if caps is not None and generated_size(caps, width, height) is None:
        # Not even generated near it and cropped: take the nearest size the provider makes.
        made = nearest_allowed(caps, width, height)
        if made != (width, height):
            return SlotSize(width=made[0], height=made[1], reason=reason, word=word or "", target=(width, height))
    # Exactly the slot's size: generation makes the nearest size the provider can and crops it.
    return SlotSize(width=width, height=height, reason=reason, word=word or "")
