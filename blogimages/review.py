"""Reviewing images: approve, reject, regenerate, assign to a section, replace with an upload.

Services in the HackSoft sense: the admin, the author pages and the API only translate
between the outside world and these functions. Every function takes the acting `user`,
checks that they may act (raising `PermissionDenied`), and records a `ReviewEvent` on the
image — who, when, what — so the image carries its own review trail. Originals are never
modified: regenerations, uploads and publish copies are new ImageOutputs.

Who may do what:

- review (approve, reject, regenerate, assign, replace): active staff with
  `blogimages.change_imageoutput`;
- delete: the image's creator, or staff with `blogimages.delete_imageoutput`; an approved or
  chosen image only if they also review, and its slots get the next approved image (or the
  delete is refused);
- make derived images (watermark, resize, variations... see derive.py): reviewers and the
  image's creator.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from PIL import UnidentifiedImageError

from . import derive, storage
from .access import (  # noqa: F401 - who may act is part of review's API for the pages, admin and API
    DELETE_PERMISSION,
    REVIEW_PERMISSION,
    UPLOAD_PROVIDER,
    can_delete,
    can_derive,
    can_review,
    is_protected,
    record,
    require_reviewer,
    slots_showing,
)
from .conf import blogimages_settings
from .exceptions import InvalidImage
from .imaging import provenance
from .integration import get_post_adapter
from .models import (
    ImageOutput,
    ImagePrompt,
    OutputStatus,
    PromptSource,
    ReviewAction,
    ReviewStatus,
)


def _require_succeeded(output: ImageOutput, what: str) -> None:
    if output.status != OutputStatus.SUCCEEDED:
        status = output.get_status_display().lower()
        raise ValueError(f"Image #{output.pk} is {status}; only finished images can be {what}.")


# -- approve / reject -----------------------------------------------------------------


def approve(output: ImageOutput, *, user, note: str = "") -> bool:
    """Mark the image approved. Returns False (and records nothing) if it already was."""
    require_reviewer(user)
    _require_succeeded(output, "approved")
    with transaction.atomic():
        updated = ImageOutput.objects.filter(pk=output.pk).exclude(review_status=ReviewStatus.APPROVED).update(
            review_status=ReviewStatus.APPROVED
        )
        output.review_status = ReviewStatus.APPROVED
        if not updated:
            return False
        record(output, user=user, action=ReviewAction.APPROVE, note=note)
    return True


def reject(output: ImageOutput, *, user, reason: str) -> bool:
    """Mark the image rejected, with the reason. A rejected image is taken off its section.

    Returns False (and records nothing) if it was already rejected.
    """
    require_reviewer(user)
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Say why the image is rejected.")
    with transaction.atomic():
        updated = ImageOutput.objects.filter(pk=output.pk).exclude(review_status=ReviewStatus.REJECTED).update(
            review_status=ReviewStatus.REJECTED
        )
        output.review_status = ReviewStatus.REJECTED
        if not updated:
            return False
        data: dict[str, Any] = {}
        unassigned = _unassign_everywhere(output)
        if unassigned:
            data["unassigned"] = unassigned
        record(output, user=user, action=ReviewAction.REJECT, note=reason, data=data)
    return True


def _unassign_everywhere(output: ImageOutput) -> list[str]:
    """Clear the sections whose chosen image is this image or one of its publish copies."""
    if not output.post_id:
        return []
    adapter = get_post_adapter()
    ids = {output.pk, *output.derivatives.filter(derivation="publish").values_list("pk", flat=True)}
    cleared = []
    for key, chosen in adapter.chosen_slot_images(output.post).items():
        if chosen in ids:
            adapter.assign_slot_image(output.post, key, None)
            cleared.append(key)
    return cleared


# -- regenerate -------------------------------------------------------------------------


def regenerate(output: ImageOutput, *, user) -> list[ImageOutput]:
    """A new image from the same prompt and setting with a new seed (queued; runs in the
    background, or inline at commit without a broker). Works for failed images too."""
    require_reviewer(user)
    plan = derive.plan_from_output(output)
    with transaction.atomic():
        new = derive.queue_rerun(output, plan, user=user, prompt=output.prompt)
        record(output, user=user, action=ReviewAction.REGENERATE,
               data={"new_outputs": [o.pk for o in new], "seeds": [o.seed for o in new]})
    return _refreshed(new)


def regenerate_with_prompt(
    output: ImageOutput, description: str, *, user, style: str | None = None, format: str | None = None,
    negative_prompt: str | None = None,
) -> list[ImageOutput]:
    """A new image from an edited prompt (same setting, new seed).

    `description` replaces the prompt's description; `style`, `format` and `negative_prompt`
    keep their old values when None. The edited prompt is saved as a new manual ImagePrompt:
    the section's own prompt (the author's) is left as it is.
    """
    require_reviewer(user)
    description = (description or "").strip()
    if not description:
        raise ValueError("The edited prompt is empty.")
    old = derive.prompt_parts(output)
    parts = (
        description,
        old["style"] if style is None else style.strip(),
        old["format"] if format is None else format.strip(),
    )
    negative = old["negative_prompt"] if negative_prompt is None else negative_prompt.strip()
    plan = derive.plan_from_output(output, parts=parts, negative_prompt=negative)
    with transaction.atomic():
        prompt = ImagePrompt.objects.create(
            description=parts[0], style=parts[1], format=parts[2], negative_prompt=negative,
            source=PromptSource.MANUAL, author=user,
        )
        new = derive.queue_rerun(output, plan, user=user, prompt=prompt)
        record(output, user=user, action=ReviewAction.REGENERATE, note=f"Edited prompt: {prompt.text()}",
               data={"new_outputs": [o.pk for o in new], "prompt": prompt.pk, "edited": True})
    return _refreshed(new)


def _refreshed(outputs: list[ImageOutput]) -> list[ImageOutput]:
    # Without a broker the images were made when the transaction committed.
    for new in outputs:
        new.refresh_from_db()
    return outputs


# -- assign to a section --------------------------------------------------------------


def assign_to_section(output: ImageOutput, section_key: str, *, user) -> ImageOutput:
    """Make the image the chosen image of one of its post's sections (overriding the
    automatic choice). With BLOGIMAGES_STRIP_PARAMETERS_ON_PUBLISH the section gets a copy
    without the generation parameters. Returns the image the section now shows."""
    require_reviewer(user)
    _require_succeeded(output, "assigned")
    if output.review_status == ReviewStatus.REJECTED:
        raise ValueError(f"Image #{output.pk} was rejected; approve it before giving it to a section.")
    if not output.post_id:
        raise ValueError(f"Image #{output.pk} belongs to no post; only a post's images can illustrate its sections.")
    adapter = get_post_adapter()
    keys = [slot.key for slot in adapter.slots(output.post)]
    if section_key not in keys:
        raise ValueError(f"The post has no image slot {section_key!r}; it has: {', '.join(keys) or 'no slots'}.")
    # The publish copy (if the setting asks for one) is a derived image of its own, kept
    # and reused even if the assignment below fails.
    shown = derive.publish_copy(output, user=user)
    with transaction.atomic():
        previous = adapter.chosen_slot_images(output.post).get(section_key)
        if previous == shown.pk:
            return shown  # already the section's image: nothing to do, nothing to record
        adapter.assign_slot_image(output.post, section_key, shown)
        data = {"section": section_key, "assigned_output": shown.pk, "previous": previous}
        record(output, user=user, action=ReviewAction.ASSIGN, note=f"Chosen for section {section_key!r}.", data=data)
    return shown


# -- replace with an upload -----------------------------------------------------------


def read_upload(upload) -> bytes:
    """The bytes of an uploaded file, refusing one over BLOGIMAGES_MAX_UPLOAD_BYTES before
    reading it (by its declared size) or as soon as the limit is passed (when it has none)."""
    limit = blogimages_settings.MAX_UPLOAD_BYTES
    if isinstance(upload, bytes | bytearray):
        data = bytes(upload)
        if len(data) > limit:
            raise InvalidImage(_too_big(len(data), limit))
        return data
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise InvalidImage(_too_big(size, limit))
    chunks, total = [], 0
    if hasattr(upload, "chunks"):
        upload.seek(0)
        parts = upload.chunks()
    else:
        parts = iter(lambda: upload.read(64 * 1024), b"")
    for chunk in parts:
        total += len(chunk)
        if total > limit:
            raise InvalidImage(_too_big(total, limit, at_least=True))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_big(size: int, limit: int, *, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return f"The file is {more}{size:,} bytes; uploads are limited to {limit:,} bytes ({limit // (1024 * 1024)} MB)."


def replace_with_upload(output: ImageOutput, upload, *, user, note: str = "") -> ImageOutput:
    """Store an uploaded image (PNG, JPEG or WebP within the size and pixel limits) as a new
    ImageOutput beside the original (`-upload`), approved, and put it where the original
    was: if the original belongs to a post section, the section shows the upload.

    Bad uploads raise InvalidImage (a ValueError) with the reason; nothing is stored.
    """
    require_reviewer(user)
    data = read_upload(upload)
    try:
        storage.inspect_image(data)  # every check before anything is written
    except InvalidImage as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):
            raise InvalidImage("The file is not an image: upload a PNG, JPEG or WebP.") from exc
        raise
    # GPS, camera serials, owner names: an upload keeps its pixels and orientation, nothing personal.
    data = provenance.strip_personal_metadata(data)
    name = str(getattr(upload, "name", "") or "")[:200]
    adapter = get_post_adapter()
    section = ""
    if output.post_id and output.section_key and output.section_key in {s.key for s in adapter.slots(output.post)}:
        section = output.section_key

    def take_its_place(new: ImageOutput) -> None:
        if section:
            adapter.assign_slot_image(output.post, section, new)
            record(new, user=user, action=ReviewAction.ASSIGN, note=f"Replaces image #{output.pk}.",
                   data={"section": section, "assigned_output": new.pk, "replaces": output.pk})

    return derive.store_derived(
        output, data, suffix="upload", derivation="upload", user=user,
        fields={
            "provider": UPLOAD_PROVIDER, "model": "", "seed": None, "revised_prompt": "", "setting_snapshot": {},
            "review_status": ReviewStatus.APPROVED,
        },
        metadata={"uploaded_by": user.get_username(), "original_filename": name},
        event={"action": ReviewAction.REPLACE, "note": note.strip(),
               "data": {"filename": name, **({"section": section} if section else {})}},
        carry_provenance=False, then=take_its_place,
    )


# -- delete -----------------------------------------------------------------------------


def delete(output: ImageOutput, *, user) -> dict[str, int]:
    """Delete an image (its files follow once committed).

    Its creator or staff with the delete permission may; an approved image, or one a post
    slot shows, only someone who also has review rights. A slot is never left silently blank:
    each slot showing the image gets the newest other approved image made for that slot
    (recorded on it, and returned as {slot key: id of the image it now shows}); if a slot has
    none, nothing is deleted and ValueError says to choose or reject first. A derived image's
    deletion is recorded on its original.
    """
    if not can_delete(user, output):
        if is_protected(output) and not can_review(user):
            raise PermissionDenied(
                f"Image #{output.pk} is approved or shown on a post; only staff with permission to review "
                "images may delete it.")
        raise PermissionDenied("Only the image's creator or staff with permission to delete images may delete it.")
    with transaction.atomic():
        replaced = _take_over_slots(output, user=user)
        if output.derived_from_id:
            record(output.derived_from, user=user, action=ReviewAction.DELETE,
                   note=f"Deleted derived image #{output.pk} ({output.derivation or 'derived'}).",
                   data={"deleted_output": output.pk, "derivation": output.derivation})
        output.delete()
    return replaced


def _take_over_slots(output: ImageOutput, *, user) -> dict[str, int]:
    slots = slots_showing(output)
    if not slots:
        return {}
    adapter = get_post_adapter()
    gone = {output.pk, *output.derivatives.filter(derivation="publish").values_list("pk", flat=True)}
    if output.derivation == "publish" and output.derived_from_id:
        gone.add(output.derived_from_id)  # its original is the same picture
    plan: dict[str, ImageOutput] = {}
    for key in slots:
        candidate = (ImageOutput.objects.filter(post_id=output.post_id, section_key=key,
                                                status=OutputStatus.SUCCEEDED, review_status=ReviewStatus.APPROVED)
                     .exclude(pk__in=gone).exclude(derivation="publish").order_by("-created_at", "-pk").first())
        if candidate is None:
            raise ValueError(
                f"Image #{output.pk} is the chosen image of slot {key!r} and no other approved image was made for "
                "it: choose another image for the slot (or reject this one) before deleting it.")
        plan[key] = candidate
    replaced = {}
    for key, candidate in plan.items():
        shown = derive.publish_copy(candidate, user=user)
        adapter.assign_slot_image(output.post, key, shown)
        record(candidate, user=user, action=ReviewAction.ASSIGN,
               note=f"Chosen for slot {key!r} in place of deleted image #{output.pk}.",
               data={"section": key, "assigned_output": shown.pk, "previous": output.pk, "replaces": output.pk})
        replaced[key] = shown.pk
    return replaced


def describe_deletion(pk: int, replaced: dict[str, int]) -> str:
    """What the faces tell the person who deleted an image."""
    text = f"Deleted image #{pk} and its files."
    for key, shown in replaced.items():
        text += f" Slot {key!r} now shows image #{shown}, the newest other approved image made for it."
    return text
