"""Who may act on an image, and the trail their actions leave.

Shared by `review` (approve, reject, regenerate...) and `derive` (watermark, resize,
variations...), which therefore never import each other: review uses derive, and both use
this. Every action records a `ReviewEvent` through `record()`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from .models import ImageOutput, ReviewEvent

REVIEW_PERMISSION = "blogimages.change_imageoutput"
DELETE_PERMISSION = "blogimages.delete_imageoutput"
UPLOAD_PROVIDER = "upload"


def _is_user(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def can_review(user) -> bool:
    """Only staff with the change permission review images."""
    return _is_user(user) and user.is_staff and user.has_perm(REVIEW_PERMISSION)


def can_delete(user, output: ImageOutput) -> bool:
    """The image's creator, or staff with the delete permission."""
    if not _is_user(user):
        return False
    if output.created_by_id is not None and output.created_by_id == user.pk:
        return True
    return user.is_staff and user.has_perm(DELETE_PERMISSION)


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
