"""Prompt assistance: "Draft from the post" and "Improve", as proposals nothing saves.

A proposal is the four prompt parts plus what changed against the current prompt; the
author edits and accepts it through the ordinary save. With `rules` a draft comes from the
section template (the library's default example) and an improvement is a deterministic
tidy-up; with an LLM both ask for a JSON object of the four parts.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from .batches import PROMPT_PARTS, build_section_prompt, find_slot
from .exceptions import ProviderServerError
from .integration import get_post_adapter
from .llm_calls import llm_complete
from .llms import CompletionRequest, Message, get_llm
from .slots import SHAPE_SIZES

DRAFT = ("You write prompts for an image generator that illustrates a blog. Answer with a JSON object with "
         "the keys description (what the image shows, concrete and visual), style (medium, palette, light, "
         "mood), format (shape and composition, e.g. 'wide header') and negative_prompt (what must not "
         "appear, comma-separated). No text in the image unless asked.")
IMPROVE = DRAFT + " Rewrite the given prompt to be clearer and more concrete; keep its intent and its subject."
_NEGATIVE = re.compile(r"(?:,\s*|\s+)(?:without|no)\s+([^,.;]+)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Proposal:
    description: str
    style: str = ""
    format: str = ""
    negative_prompt: str = ""
    source: str = ""  # which LLM, or "rules (offline)"
    notes: tuple[str, ...] = ()

    def parts(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in PROMPT_PARTS}


@dataclass(frozen=True, kw_only=True)
class Change:
    part: str
    old: str
    new: str
    removed: tuple[str, ...]
    added: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.part.replace("_", " ").capitalize()


def differences(current: Mapping[str, str], proposal: Proposal) -> list[Change]:
    """Part by part, the words the proposal takes away and adds."""
    changes = []
    for name in PROMPT_PARTS:
        old, new = (current.get(name) or "").strip(), getattr(proposal, name).strip()
        if old == new:
            continue
        removed, added = [], []
        for op, a1, a2, b1, b2 in difflib.SequenceMatcher(a=old.split(), b=new.split()).get_opcodes():
            if op in ("replace", "delete"):
                removed.append(" ".join(old.split()[a1:a2]))
            if op in ("replace", "insert"):
                added.append(" ".join(new.split()[b1:b2]))
        changes.append(Change(part=name, old=old, new=new, removed=tuple(removed), added=tuple(added)))
    return changes


def _from_llm(alias: str, system: str, user_text: str, *, user, purpose: str) -> Proposal:
    backend = get_llm(alias)
    request = CompletionRequest(messages=[Message(role="system", content=system), Message(role="user", content=user_text)],
                                json_output=backend.capabilities().json, max_tokens=500)
    completion, _call = llm_complete(request, alias=backend.alias, user=user, purpose=purpose)
    try:
        data = json.loads(completion.text)
    except json.JSONDecodeError as exc:
        raise ProviderServerError(f"the proposal is not JSON: {completion.text[:200]!r}", provider=backend.alias) from exc
    if not isinstance(data, dict) or not str(data.get("description") or "").strip():
        raise ProviderServerError("the proposal has no description", provider=backend.alias)
    return Proposal(**{name: " ".join(str(data.get(name) or "").split()) for name in PROMPT_PARTS},
                    source=backend.label)


def draft_for_slot(post, slot_key: str, *, llm: str | None = None, user=None) -> Proposal:
    """A prompt for the slot from the post's title, summary and the slot's text."""
    slot = find_slot(post, slot_key)
    backend = get_llm(llm)
    if backend.capabilities().offline:
        prompt = build_section_prompt(post, slot)
        return Proposal(**{name: getattr(prompt, name) for name in PROMPT_PARTS}, source=backend.label,
                        notes=("from the section template",))
    adapter = get_post_adapter()
    context = adapter.context(post)
    lines = [f"Post title: {adapter.title(post)}", f"Summary: {context.get('summary', '')}",
             f"Slot: {slot.label} ({slot.kind})", f"Slot text: {slot.text}"]
    return _from_llm(backend.alias, DRAFT, "\n".join(lines), user=user, purpose="draft")


def improve(parts: Mapping[str, str], *, llm: str | None = None, user=None) -> Proposal:
    """The current prompt rewritten: by the LLM, or offline by moving each part where it belongs."""
    backend = get_llm(llm)
    if not backend.capabilities().offline:
        return _from_llm(backend.alias, IMPROVE, json.dumps({n: parts.get(n, "") for n in PROMPT_PARTS}),
                         user=user, purpose="improve")
    notes = []
    description = " ".join((parts.get("description") or "").split())
    negative = [p.strip() for p in (parts.get("negative_prompt") or "").split(",") if p.strip()]
    for match in _NEGATIVE.finditer(description):
        negative.append(match.group(1).strip())
        notes.append(f"“{match.group(0).strip(' ,')}” moved to the negative prompt")
    description = _NEGATIVE.sub("", description).strip(" ,")
    fmt = " ".join((parts.get("format") or "").split())
    for word in SHAPE_SIZES:
        if re.search(rf"\b{word}\b", description, re.IGNORECASE) and word not in fmt.lower():
            fmt = ", ".join(p for p in (fmt, word) if p)
            notes.append(f"shape word “{word}” copied to the format")
    style = ", ".join(dict.fromkeys(p.strip() for p in (parts.get("style") or "").split(",") if p.strip()))
    if style != (parts.get("style") or "").strip():
        notes.append("repeated style words removed")
    unique_negative = ", ".join(dict.fromkeys(negative))
    return Proposal(description=description, style=style, format=fmt, negative_prompt=unique_negative,
                    source=backend.label, notes=tuple(notes) or ("nothing to tidy",))


__all__ = ["Change", "Proposal", "asdict", "differences", "draft_for_slot", "improve"]
