"""Boards: a user's named collections of images, and the only code that writes them.

Private by default; shared with the whole staff; or public through an unguessable link
(`/boards/s/<token>/`) that shows only approved images, and their prompts only when the
owner allows it. Turning the link off deletes its token, so an old link answers 404 for
good; turning it on again makes a new one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from .models import Board, BoardImage, BoardVisibility, ImageOutput, OutputStatus, ReviewStatus

#: Most images one add/remove may name (the gallery's bulk selection is capped the same way).
MAX_IMAGES_PER_CHANGE = 500
TOKEN_BYTES = 24  # 32 URL-safe characters: not guessable, short enough to paste


def _is_user(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def visible_boards(user) -> QuerySet[Board]:
    """The boards `user` may open: their own, and (for staff) the ones shared with staff or by link."""
    if not _is_user(user):
        return Board.objects.none()
    query = Q(owner=user)
    if user.is_staff:
        query |= Q(visibility__in=[BoardVisibility.STAFF, BoardVisibility.LINK])
    return (Board.objects.filter(query).select_related("owner", "cover")
            .annotate(image_count=Count("entries", distinct=True)).order_by("name", "id"))


def own_boards(user) -> QuerySet[Board]:
    if not _is_user(user):
        return Board.objects.none()
    return Board.objects.filter(owner=user).order_by("name", "id")


def can_view(user, board: Board) -> bool:
    if not _is_user(user):
        return False
    return board.owner_id == user.pk or (user.is_staff and board.visibility != BoardVisibility.PRIVATE)


def can_edit(user, board: Board) -> bool:
    return _is_user(user) and board.owner_id == user.pk


def require_owner(user, board: Board) -> None:
    if not can_edit(user, board):
        raise PermissionDenied("Only the board's owner may change it.")


def share_path(board: Board) -> str:
    return reverse("board_shared", args=[board.share_token]) if board.share_token else ""


def _new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _apply_visibility(board: Board, visibility: str) -> None:
    if visibility not in BoardVisibility.values:
        raise ValidationError({"visibility": f"Choose one of: {', '.join(BoardVisibility.values)}."})
    if visibility == BoardVisibility.LINK:
        # A link is made once and kept while the board stays shared by link.
        if board.visibility != BoardVisibility.LINK or not board.share_token:
            board.share_token = _new_token()
    else:
        board.share_token = ""
    board.visibility = visibility


def _save(board: Board) -> Board:
    name = (board.name or "").strip()
    if not name:
        raise ValidationError({"name": "A board needs a name."})
    board.name = name
    if board.auto_add:
        # One auto-add board per owner: setting it here clears it elsewhere.
        Board.objects.filter(owner_id=board.owner_id, auto_add=True).exclude(pk=board.pk).update(auto_add=False)
    try:
        with transaction.atomic():
            board.save()
    except IntegrityError as exc:
        raise ValidationError({"name": f"You already have a board named “{name}”."}) from exc
    return board


@transaction.atomic
def create_board(*, owner, name: str, visibility: str = BoardVisibility.PRIVATE, share_details: bool = False,
                 auto_add: bool = False) -> Board:
    if not _is_user(owner):
        raise PermissionDenied("Log in to make a board.")
    board = Board(owner=owner, name=(name or "")[:120], share_details=share_details, auto_add=auto_add)
    _apply_visibility(board, visibility or BoardVisibility.PRIVATE)
    return _save(board)


UPDATABLE = ("name", "visibility", "share_details", "auto_add", "cover")


@transaction.atomic
def update_board(board: Board, *, user, **changes: Any) -> Board:
    """Change a board's name, visibility (private/staff revokes the link; link makes a new one),
    whether the link shows prompts, auto-add, or its cover (an image on the board, or None)."""
    require_owner(user, board)
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"Unknown board field(s): {', '.join(sorted(unknown))}.")
    if "name" in changes:
        board.name = (changes["name"] or "")[:120]
    if "visibility" in changes:
        _apply_visibility(board, changes["visibility"])
    if "share_details" in changes:
        board.share_details = bool(changes["share_details"])
    if "auto_add" in changes:
        board.auto_add = bool(changes["auto_add"])
    if "cover" in changes:
        cover = changes["cover"]
        cover_id = cover.pk if isinstance(cover, ImageOutput) else cover
        if cover_id is not None and not board.entries.filter(image_id=cover_id).exists():
            raise ValidationError({"cover": "The cover must be one of the board's images."})
        board.cover_id = cover_id
    return _save(board)


def delete_board(board: Board, *, user) -> None:
    """The board goes; its images stay in the gallery."""
    require_owner(user, board)
    board.delete()


def _image_ids(images: Iterable[ImageOutput | int]) -> list[int]:
    ids = sorted({image.pk if isinstance(image, ImageOutput) else int(image) for image in images})
    if len(ids) > MAX_IMAGES_PER_CHANGE:
        raise ValidationError(f"At most {MAX_IMAGES_PER_CHANGE} images at once.")
    return ids


@transaction.atomic
def add_images(board: Board, images: Iterable[ImageOutput | int], *, user) -> list[int]:
    """Add images (ids or rows) the caller may see; returns the ids newly added. Unknown ids raise."""
    require_owner(user, board)
    ids = _image_ids(images)
    found = set(ImageOutput.objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise ValidationError(f"No image with id {', '.join(map(str, missing[:10]))}.")
    present = set(board.entries.filter(image_id__in=ids).values_list("image_id", flat=True))
    new = [pk for pk in ids if pk not in present]
    BoardImage.objects.bulk_create([BoardImage(board=board, image_id=pk) for pk in new], ignore_conflicts=True)
    if board.cover_id is None and new:
        board.cover_id = new[0]
        board.save(update_fields=["cover", "updated_at"])
    return new


@transaction.atomic
def remove_images(board: Board, images: Iterable[ImageOutput | int], *, user) -> list[int]:
    """Take images off the board (they stay in the gallery); returns the ids removed."""
    require_owner(user, board)
    ids = _image_ids(images)
    removed = sorted(board.entries.filter(image_id__in=ids).values_list("image_id", flat=True))
    board.entries.filter(image_id__in=removed).delete()
    if board.cover_id in removed:
        board.cover_id = board.entries.values_list("image_id", flat=True).first()
        board.save(update_fields=["cover", "updated_at"])
    return removed


def collect(outputs: Iterable[ImageOutput]) -> None:
    """New generations join their creator's auto-add board, if one is set."""
    by_user: dict[int, list[int]] = {}
    for output in outputs:
        if output.created_by_id and output.pk:
            by_user.setdefault(output.created_by_id, []).append(output.pk)
    if not by_user:
        return
    # At most one auto-add board per owner (board_one_auto_add): no ordering to compile or sort.
    boards = dict(Board.objects.filter(owner_id__in=list(by_user), auto_add=True).order_by()
                  .values_list("owner_id", "pk"))
    entries = [BoardImage(board_id=board_id, image_id=pk)
               for owner_id, board_id in boards.items() for pk in by_user[owner_id]]
    BoardImage.objects.bulk_create(entries, ignore_conflicts=True)
    for owner_id, board_id in boards.items():
        Board.objects.filter(pk=board_id, cover__isnull=True).update(cover_id=by_user[owner_id][0])


def board_images(board: Board) -> QuerySet[ImageOutput]:
    """Everything on the board, newest addition first."""
    return (ImageOutput.objects.filter(board_entries__board=board)
            .select_related("created_by").order_by("-board_entries__added_at", "-id"))


def board_entries(board: Board, *, shared: bool = False) -> QuerySet[BoardImage]:
    """The board's entries with their images, newest addition first, ordered `(-added_at, -id)`
    (the boardimage_board_idx index) so its pages go by cursor; `shared`: what the link shows."""
    entries = (BoardImage.objects.filter(board=board).select_related("image", "image__created_by")
               .order_by("-added_at", "-id"))
    if shared:
        entries = entries.filter(image__review_status=ReviewStatus.APPROVED,
                                 image__status=OutputStatus.SUCCEEDED).exclude(image__file="")
    return entries


def shared_board(token: str) -> Board | None:
    """The board a share link names, while it is shared by link; None otherwise (answer 404)."""
    if not token or len(token) > 64:
        return None
    return (Board.objects.filter(share_token=token, visibility=BoardVisibility.LINK)
            .select_related("owner", "cover").first())


def shared_images(board: Board) -> QuerySet[ImageOutput]:
    """What an anonymous visitor of the link sees: approved, stored images only."""
    return board_images(board).filter(review_status=ReviewStatus.APPROVED, status=OutputStatus.SUCCEEDED).exclude(
        file="")
