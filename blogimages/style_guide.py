"""The blog's style guide applied to a post's prompt: visibly, and never into the saved prompt.

`apply()` returns an unsaved copy of the prompt with the guide's words added to its style
(and format, from the slot kind's defaults) and its "never show" list in the negative
prompt — or as "avoid …" words where the provider takes no negative prompt — plus the marks
that say which part came from the guide, stored with each image so pages can show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import ImagePrompt, StyleGuide


@dataclass(frozen=True, kw_only=True)
class Guided:
    prompt: ImagePrompt
    marks: dict[str, Any] = field(default_factory=dict)


def active_guide() -> StyleGuide | None:
    return StyleGuide.objects.filter(enabled=True).order_by("-updated_at").first()


def _join(*parts: str) -> str:
    return ", ".join(p.strip() for p in parts if p and p.strip())


def apply(prompt: ImagePrompt, *, guide: StyleGuide | None, slot_key: str = "", slot_kind: str = "",
          takes_negative: bool = True) -> Guided:
    """`prompt` with the guide's part added (an unsaved copy); unchanged without a guide."""
    if guide is None:
        return Guided(prompt=prompt)
    defaults = {}
    for name in (slot_kind, slot_key):
        value = (guide.slot_defaults or {}).get(name) if name else None
        if isinstance(value, dict):
            defaults.update(value)
    style_part = _join(guide.style_words, f"{guide.palette} palette" if guide.palette else "",
                       f"{guide.mood} mood" if guide.mood else "", str(defaults.get("style") or ""))
    never = [w.strip() for w in guide.never_show.split(",") if w.strip()]
    avoid = ""
    negative_part = ""
    if never and takes_negative:
        negative_part = ", ".join(never)
    elif never:
        avoid = "avoid " + ", ".join(never)
    format_part = str(defaults.get("format") or "") if not prompt.format else ""
    copy = ImagePrompt(
        description=prompt.description, style=_join(prompt.style, style_part, avoid),
        format=_join(prompt.format, format_part), negative_prompt=_join(prompt.negative_prompt, negative_part),
    )
    marks = {"name": guide.name, "style": _join(style_part, avoid), "format": format_part,
             "negative_prompt": negative_part}
    return Guided(prompt=copy, marks={k: v for k, v in marks.items() if v})
