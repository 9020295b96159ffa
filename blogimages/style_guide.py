"""The blog's style guide applied to a post's prompt: visibly, and never into the saved prompt.

`apply()` returns an unsaved copy of the prompt with the guide's words added to its style
(and format, from the slot kind's defaults) and its "never show" list in the negative
prompt — or as "avoid …" words where the provider takes no negative prompt — plus the marks
that say which part came from the guide, stored with each image so pages can show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from . import storage
from .models import ImageOutput, ImagePrompt, OutputStatus, StyleGuide


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


def reference_marks(guide: StyleGuide, provider, model: str) -> dict[str, Any]:
    """Which of the guide's reference images go with the request (ids, in order), or why none do.

    Only providers that take references in a generation get them (`reference_limit`), at
    most as many as the model takes; the rest is said, not silently dropped."""
    ids = list(guide.reference_images.filter(status=OutputStatus.SUCCEEDED).exclude(file="")
               .order_by("pk").values_list("pk", flat=True))
    if not ids:
        return {}
    limit = provider.reference_limit(model)
    if limit <= 0:
        return {"references_skipped": f"{provider.alias} takes no reference images; "
                                      f"{len(ids)} of the style guide's not sent"}
    marks: dict[str, Any] = {"references": ids[:limit]}
    if len(ids) > limit:
        marks["references_skipped"] = f"{model or provider.alias} takes at most {limit}; {len(ids) - limit} not sent"
    return marks


def attach_references(request, snapshot: dict[str, Any]):
    """`request` with the bytes of the reference images its snapshot names (style guide marks).

    A reference deleted since the image was queued is left out: the image is still made,
    and its snapshot still names what was meant."""
    ids = ((snapshot or {}).get("style_guide") or {}).get("references") or []
    if not ids or request.reference_images:
        return request
    images = {o.pk: o for o in ImageOutput.objects.filter(pk__in=ids).exclude(file="")}
    data = []
    for pk in ids:
        if pk in images:
            try:
                with storage.get_storage().open(images[pk].file.name, "rb") as fh:
                    data.append(fh.read())
            except OSError:  # the file went missing: make the image without it
                continue
    return replace(request, reference_images=tuple(data))
