"""Acting on many images at once (the gallery's multi-select): each image goes through the
same service, with the same permission check, as the single action would — one refusal
never stops the others, and the result says what happened to each image."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied

from . import derive, review
from .exceptions import BlogImagesError
from .models import ImageOutput

ACTIONS = ("approve", "reject", "delete", "watermark")
PAST = {"approve": "Approved", "reject": "Rejected", "delete": "Deleted", "watermark": "Watermarked"}


@dataclass
class BulkResult:
    action: str
    done: list[int] = field(default_factory=list)  # image ids the action changed (or made a copy of)
    unchanged: list[int] = field(default_factory=list)  # already in that state
    refused: dict[int, str] = field(default_factory=dict)  # image id -> why not
    replaced: dict[int, dict[str, int]] = field(default_factory=dict)  # deleted id -> {slot: image it now shows}

    def summary(self) -> str:
        parts = []
        if self.done:
            parts.append(f"{PAST[self.action]} {_images(self.done)}.")
        if self.unchanged:
            parts.append(f"{_images(self.unchanged, capital=True)} already {PAST[self.action].lower()}.")
        for reason, ids in _group(self.refused).items():
            parts.append(f"Not {PAST[self.action].lower()}: {_images(ids)} — {reason}")
        for pk, slots in self.replaced.items():
            for key, shown in slots.items():
                parts.append(f"Slot {key!r} now shows image #{shown} in place of deleted image #{pk}.")
        return " ".join(parts) or "Nothing to do."

    @property
    def all_refused(self) -> bool:
        return bool(self.refused) and not (self.done or self.unchanged)


def _images(ids: list[int], *, capital: bool = False) -> str:
    word = "Image" if capital else "image"
    shown = ", ".join(f"#{pk}" for pk in ids[:12]) + (f" and {len(ids) - 12} more" if len(ids) > 12 else "")
    return f"{word}{'s' if len(ids) != 1 else ''} {shown}"


def _group(refused: dict[int, str]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for pk, reason in refused.items():
        grouped.setdefault(reason, []).append(pk)
    return grouped


def apply(action: str, outputs: list[ImageOutput], *, user, reasons: dict[int, str] | None = None,
          preset: str | None = None) -> BulkResult:
    """Run `action` on each image as its user. `reasons` gives each rejected image its reason."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}; choose one of: {', '.join(ACTIONS)}.")
    result = BulkResult(action=action)
    reasons = reasons or {}
    if action == "delete":
        # Copies are newer than their originals: deleting newest first records each copy's
        # deletion on an original that still exists.
        outputs = sorted(outputs, key=lambda o: (o.created_at, o.pk), reverse=True)
    for output in outputs:
        pk = output.pk  # a deleted row forgets its pk
        try:
            if action == "approve":
                changed = review.approve(output, user=user)
            elif action == "reject":
                changed = review.reject(output, user=user, reason=reasons.get(output.pk, ""))
            elif action == "delete":
                replaced = review.delete(output, user=user)
                if replaced:
                    result.replaced[pk] = replaced
                changed = True
            else:
                derive.watermark_output(output, user=user, preset=preset or None)
                changed = True
        except PermissionDenied as exc:
            result.refused[pk] = str(exc) or "you may not do this."
        except (BlogImagesError, ValueError, LookupError, OSError) as exc:
            result.refused[pk] = str(exc)
        else:
            (result.done if changed else result.unchanged).append(pk)
    return result
