"""The JSON API's boards: `/api/boards`, `/api/boards/{id}`, `/api/boards/{id}/images`.

Registered on the one NinjaAPI (`json.api`) when `api.urls` imports this module, so the
boards share its authentication, error shapes and OpenAPI schema.
"""

# No `from __future__ import annotations` (ninja reads the annotations at import time).
import datetime as dt
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import PatchDict, Path, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from .. import boards
from ..models import Board
from .json import ErrorOut, Page, PageParams, PositiveId, RequiredText, _validation_failed, api, caller, paginate

router = Router(tags=["boards"])

BoardId = Annotated[int, Path(example=1, description="The board's id.")]
Visibility = Literal["private", "staff", "link"]


class BoardIn(Schema):
    name: RequiredText(120)
    visibility: Visibility = Field("private", description="private, staff (every staff user) or link (anyone "
                                                          "with the share_url, read-only, approved images only).")
    share_details: bool = Field(False, description="The share link shows prompts and parameters.")
    auto_add: bool = Field(False, description="New generations of the owner join this board while set.")


class BoardPatch(BoardIn):
    cover: PositiveId | None = Field(None, description="An image on the board, or null.")


class BoardOut(Schema):
    id: int
    name: str
    visibility: str
    share_url: str | None = Field(description="For visibility `link`: the public, read-only page.")
    share_details: bool
    auto_add: bool
    cover: int | None
    owner: str
    image_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


class BoardPage(Page):
    items: list[BoardOut]


class ImageIdsIn(Schema):
    image_ids: list[PositiveId] = Field(min_length=1, max_length=boards.MAX_IMAGES_PER_CHANGE)


class BoardImagesOut(Schema):
    board: BoardOut
    changed: list[int] = Field(description="The ids added (POST) or removed (DELETE); others were already so.")
    image_ids: list[int] = Field(description="Every image on the board now, newest addition first.")


def board_out(request: HttpRequest, board: Board) -> dict[str, Any]:
    path = boards.share_path(board)
    count = getattr(board, "image_count", None)
    return {
        "id": board.pk, "name": board.name, "visibility": board.visibility,
        "share_url": request.build_absolute_uri(path) if path else None,
        "share_details": board.share_details, "auto_add": board.auto_add, "cover": board.cover_id,
        "owner": board.owner.get_username(),
        "image_count": count if count is not None else board.entries.count(),
        "created_at": board.created_at, "updated_at": board.updated_at,
    }


def _board_or_404(request: HttpRequest, board_id: int) -> Board:
    # A board the caller may not see is answered like one that does not exist.
    board = boards.visible_boards(caller(request)).filter(pk=board_id).first()
    if board is None:
        raise HttpError(404, f"No board with id {board_id}.")
    return board


def _changing(work):
    try:
        return work()
    except DjangoValidationError as exc:
        raise _validation_failed(exc) from exc


@router.get("", response=BoardPage, summary="List the boards you can open")
def list_boards(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Your boards, and (for staff) those shared with staff or by link; by name."""
    found = boards.visible_boards(caller(request))
    return paginate(request, found, page, lambda board: board_out(request, board))


@router.post("", response={201: BoardOut, 400: ErrorOut}, summary="Make a board")
def create_board(request: HttpRequest, payload: BoardIn):
    board = _changing(lambda: boards.create_board(owner=caller(request), **payload.dict()))
    return Status(201, board_out(request, board))


@router.get("/{int:board_id}", response={200: BoardOut, 404: ErrorOut}, summary="Get a board")
def get_board(request: HttpRequest, board_id: BoardId):
    return board_out(request, _board_or_404(request, board_id))


@router.patch("/{int:board_id}", response={200: BoardOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
              summary="Change a board (visibility private or staff revokes its link; link makes a new one)")
def update_board(request: HttpRequest, board_id: BoardId, payload: PatchDict[BoardPatch]):
    board = _board_or_404(request, board_id)
    if "name" in payload and payload["name"] is None or "visibility" in payload and payload["visibility"] is None:
        raise HttpError(400, "name and visibility cannot be null.")
    board = _changing(lambda: boards.update_board(board, user=caller(request), **payload))
    return board_out(request, board)


@router.delete("/{int:board_id}", response={204: None, 403: ErrorOut, 404: ErrorOut}, summary="Delete a board")
def delete_board(request: HttpRequest, board_id: BoardId):
    """The board goes; its images stay."""
    boards.delete_board(_board_or_404(request, board_id), user=caller(request))
    return Status(204, None)


def _images_answer(request: HttpRequest, board: Board, changed: list[int]) -> dict[str, Any]:
    board = _board_or_404(request, board.pk)  # the count and cover as they are now
    return {"board": board_out(request, board), "changed": changed,
            "image_ids": list(boards.board_images(board).values_list("pk", flat=True))}


@router.post("/{int:board_id}/images", response={200: BoardImagesOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             summary="Add images to a board")
def add_images(request: HttpRequest, board_id: BoardId, payload: ImageIdsIn):
    board = _board_or_404(request, board_id)
    added = _changing(lambda: boards.add_images(board, payload.image_ids, user=caller(request)))
    return _images_answer(request, board, added)


@router.delete("/{int:board_id}/images", response={200: BoardImagesOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
               summary="Remove images from a board (they stay in the gallery)")
def remove_images(request: HttpRequest, board_id: BoardId, payload: ImageIdsIn):
    board = _board_or_404(request, board_id)
    removed = _changing(lambda: boards.remove_images(board, payload.image_ids, user=caller(request)))
    return _images_answer(request, board, removed)


api.add_router("/boards", router)
