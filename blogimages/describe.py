"""Alt text, caption and social description from the image itself (a vision-capable LLM).

The answer is a suggestion (alt_status "suggested") an editor approves; an approved alt
text is never overwritten. Without a vision model the offline suggestion (alttext.py, from
the prompt) is what an image gets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

from . import alttext, derive
from .exceptions import BlogImagesError, ProviderServerError
from .generation import suggested_alt_text
from .integration import SlotInfo, get_post_adapter
from .llm_calls import llm_complete
from .llms import CompletionRequest, ImageInput, Message, get_llm
from .models import AltTextStatus, ImageOutput, OutputStatus

CAPTION_MAX = 500
SOCIAL_MAX = 300
INSTRUCTIONS = (
    "You write alt text for a blog's images. Answer with a JSON object with the keys alt, caption, "
    "social and decorative. alt: at most 125 characters, in the language {language}, describing what the "
    "image shows for a reader who cannot see it, in the context of the text it illustrates; never start "
    "with 'Image of' or 'Picture of'; include any text visible in the image. If the image is purely "
    "decorative and adds nothing to the text, alt is an empty string and decorative is true. caption: one "
    "sentence for under the image. social: one or two sentences to share the post with this image."
)


@dataclass(frozen=True, kw_only=True)
class Description:
    alt: str
    caption: str = ""
    social: str = ""
    decorative: bool = False
    source: str = "offline"  # the LLM alias, or "offline"


def _slot(output: ImageOutput) -> SlotInfo | None:
    if output.post is None or not output.section_key:
        return None
    return next((s for s in get_post_adapter().slots(output.post) if s.key == output.section_key), None)


def _language(output: ImageOutput) -> str:
    context = get_post_adapter().context(output.post) if output.post is not None else {}
    return str(context.get("language") or settings.LANGUAGE_CODE)


def describe(output: ImageOutput, *, llm: str | None = None, user=None) -> Description:
    """What `output` shows, by the vision LLM `llm` (default one) or, without one, offline."""
    backend = get_llm(llm)
    if not backend.capabilities(backend.vision_model).vision:
        return Description(alt=suggested_alt_text(output))
    slot = _slot(output)
    context = []
    if output.post is not None:
        context.append(f"Post: {get_post_adapter().title(output.post)}")
    if slot is not None:
        context.append(f"Slot: {slot.label}" + (f" — {slot.heading}" if slot.heading else ""))
        if slot.text:
            context.append(f"Text it illustrates: {slot.text}")
    request = CompletionRequest(
        messages=[Message(role="system", content=INSTRUCTIONS.format(language=_language(output))),
                  Message(role="user", content="\n".join(context) or "Describe this image.",
                          images=[ImageInput(data=derive.read_bytes(output), mime_type=output.mime_type or "image/png")])],
        json_output=backend.capabilities(backend.vision_model).json, max_tokens=400,
    )
    completion, _call = llm_complete(request, alias=backend.alias, user=user, purpose="describe")
    try:
        data = json.loads(completion.text)
    except json.JSONDecodeError as exc:
        raise ProviderServerError(f"the description is not JSON: {completion.text[:200]!r}", provider=backend.alias) from exc
    if not isinstance(data, dict):
        raise ProviderServerError("the description is not a JSON object", provider=backend.alias)
    decorative = bool(data.get("decorative"))
    alt = "" if decorative else alttext.shorten(alttext.clean(str(data.get("alt") or "")))
    if alt:
        alt = alt[0].upper() + alt[1:]
    return Description(alt=alt, caption=" ".join(str(data.get("caption") or "").split())[:CAPTION_MAX],
                       social=" ".join(str(data.get("social") or "").split())[:SOCIAL_MAX],
                       decorative=decorative, source=backend.alias)


def suggest_description(output: ImageOutput, *, llm: str | None = None, user=None) -> Description | None:
    """Store a described suggestion on the image; None (and nothing changed) if its alt text is approved."""
    if output.alt_status == AltTextStatus.APPROVED:
        return None
    found = describe(output, llm=llm, user=user)
    output.alt_text = found.alt
    output.alt_status = AltTextStatus.SUGGESTED
    output.decorative = found.decorative
    if found.caption and not output.caption:
        output.caption = found.caption
    output.provider_metadata = {**(output.provider_metadata or {}), "described": {
        "alt": found.alt, "caption": found.caption, "social": found.social, "decorative": found.decorative,
        "by": found.source}}
    output.save(update_fields=["alt_text", "alt_status", "decorative", "caption", "provider_metadata"])
    return found


def images_to_describe(*, missing: bool = False, post=None):
    """Finished images, oldest first; `missing`: only those without approved alt text."""
    images = ImageOutput.objects.filter(status=OutputStatus.SUCCEEDED).exclude(file="").select_related("post")
    if missing:
        images = images.exclude(alt_status=AltTextStatus.APPROVED)
    if post is not None:
        images = images.filter(post=post)
    return images.order_by("created_at", "pk")


__all__ = ["BlogImagesError", "Description", "describe", "images_to_describe", "suggest_description"]
