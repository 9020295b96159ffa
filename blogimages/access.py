"""Who may act on an image, and the trail their actions leave.

Shared by `review` (approve, reject, regenerate...) and `derive` (watermark, resize,
variations...), which therefore never import each other: review uses derive, and both use
this. Every action records a `ReviewEvent` through `record()`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from .integration import get_post_adapter
from .models import ImageOutput, ReviewEvent, ReviewStatus

REVIEW_PERMISSION = "blogimages.change_imageoutput"
DELETE_PERMISSION = "blogimages.delete_imageoutput"
UPLOAD_PROVIDER = "upload"


def _is_user(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def can_review(user) -> bool:
    """Only staff with the change permission review images."""
    return _is_user(user) and user.is_staff and user.has_perm(REVIEW_PERMISSION)


def slots_showing(output: ImageOutput) -> list[str]:
    """The keys of the post slots whose chosen image is this image or one of its publish copies."""
    if not output.post_id:
        return []
    ids = {output.pk, *output.derivatives.filter(derivation="publish").values_list("pk", flat=True)}
    return [key for key, chosen in get_post_adapter().chosen_slot_images(output.post).items() if chosen in ids]


def is_protected(output: ImageOutput) -> bool:
    """An approved image, or one a post shows: removing it is a review decision."""
    return output.review_status == ReviewStatus.APPROVED or bool(slots_showing(output))


def can_delete(user, output: ImageOutput) -> bool:
    """The image's creator, or staff with the delete permission; an approved or chosen image
    only by someone who also has review rights (a creator cannot undo an editor's choice)."""
    if not _is_user(user):
        return False
    owner = output.created_by_id is not None and output.created_by_id == user.pk
    if not (owner or (user.is_staff and user.has_perm(DELETE_PERMISSION))):
        return False
    return can_review(user) or not is_protected(output)


def can_derive(user, output: ImageOutput) -> bool:
    """Watermark, resize, convert, upscale, variations: reviewers and the image's creator."""
    if can_review(user):
        return True
    return _is_user(user) and output.created_by_id is not None and output.created_by_id == user.pk


def require_reviewer(user) -> None:
    if not can_review(user):
        raise PermissionDenied("Only staff with permission to change images may review them.")


def record(
    output: ImageOutput, *, user, action: str, note: str = "", data: dict[str, Any] | None = None,
) -> ReviewEvent:
    """Write one entry of the image's review trail."""
    return ReviewEvent.objects.create(
        output=output, actor=user if _is_user(user) else None, action=action, note=note, data=data or {}
    )
