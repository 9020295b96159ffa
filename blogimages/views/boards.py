"""Boards: the list, one board (its images and settings), adding/removing images, and the
public share page `/boards/s/<token>/` (no login, read-only, approved images only)."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import boards, signed_media
from . import media
from ..models import AltTextStatus, Board, BoardVisibility
from .common import JUMP_PARAM, cursor_pager, with_thumb_sizes

logger = logging.getLogger("blogimages.views")

PER_PAGE = 48


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _board_or_404(request: HttpRequest, pk: int) -> Board:
    board = boards.visible_boards(request.user).filter(pk=pk).first()
    if board is None:
        raise Http404("No such board.")
    return board


@login_required
@require_http_methods(["GET", "POST"])
def board_list(request: HttpRequest) -> HttpResponse:
    """GET: your boards and those shared with you; POST: make a board."""
    if request.method == "POST":
        try:
            board = boards.create_board(
                owner=request.user, name=request.POST.get("name", ""),
                visibility=request.POST.get("visibility") or BoardVisibility.PRIVATE,
                auto_add=request.POST.get("auto_add") == "1",
            )
        except ValidationError as exc:
            messages.error(request, _errors(exc))
            return redirect("blogimages:board_list")
        messages.success(request, f"Made the board “{board.name}”.")
        return redirect("blogimages:board_detail", board.pk)
    pager = cursor_pager(request.GET, boards.visible_boards(request.user), size=PER_PAGE, query={})
    listed = pager.items
    for board in listed:
        board.cover_thumb = signed_media.url_for(board.cover.thumbnail.name, request=request) \
            if board.cover_id and board.cover.thumbnail.name else ""
    return render(request, "blogimages/board_list.html", {
        "nav": "boards", "boards": listed, "visibilities": BoardVisibility.choices, "pager": pager,
        "next_url": pager.older_url, "previous_url": pager.newer_url,
    })


@login_required
@require_GET
def board_detail(request: HttpRequest, pk: int) -> HttpResponse:
    board = _board_or_404(request, pk)
    pager = cursor_pager(request.GET, boards.board_entries(board), size=PER_PAGE, query={}, jumps=True)
    share_path = boards.share_path(board)
    return render(request, "blogimages/board_detail.html", {
        "nav": "boards", "board": board, "pager": pager, "jump_param": JUMP_PARAM, "query": {},
        "next_url": pager.older_url, "previous_url": pager.newer_url,
        "outputs": with_thumb_sizes(entry.image for entry in pager.items),
        "can_edit": boards.can_edit(request.user, board), "visibilities": BoardVisibility.choices,
        "share_url": request.build_absolute_uri(share_path) if share_path else "",
    })


@login_required
@require_POST
def board_update(request: HttpRequest, pk: int) -> HttpResponse:
    """The settings form: name, visibility (leaving `link` revokes the link), details on the link,
    auto-add; or `cover=<image id>`."""
    board = _board_or_404(request, pk)
    changes = {}
    if "cover" in request.POST:
        value = request.POST["cover"].strip()
        changes["cover"] = int(value) if value.isdigit() else None
    else:
        changes.update(name=request.POST.get("name", board.name),
                       visibility=request.POST.get("visibility", board.visibility),
                       share_details=request.POST.get("share_details") == "1",
                       auto_add=request.POST.get("auto_add") == "1")
    was_link = board.visibility == BoardVisibility.LINK
    try:
        boards.update_board(board, user=request.user, **changes)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        if was_link and board.visibility != BoardVisibility.LINK:
            messages.success(request, "Saved. The share link no longer works.")
        else:
            messages.success(request, "Saved.")
    return redirect("blogimages:board_detail", board.pk)


@login_required
@require_POST
def board_delete(request: HttpRequest, pk: int) -> HttpResponse:
    board = _board_or_404(request, pk)
    name = board.name
    boards.delete_board(board, user=request.user)
    messages.success(request, f"Deleted the board “{name}”; its images are still in the gallery.")
    return redirect("blogimages:board_list")


def _next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


@login_required
@require_POST
def board_images(request: HttpRequest) -> HttpResponse:
    """Add (`action=add`) or remove (`action=remove`) the `ids` on `board` (a board id), or on a
    new board named `new_board`; from the image page, the develop screen and the chat."""
    action = request.POST.get("action", "add")
    ids = [int(v) for v in request.POST.getlist("ids") if v.strip().isdigit()]
    fallback = reverse("blogimages:image_detail", args=[ids[0]]) if len(ids) == 1 else reverse("blogimages:gallery")
    back = _next(request, fallback)
    if not ids:
        messages.warning(request, "Select at least one image first.")
        return redirect(back)
    try:
        new_name = (request.POST.get("new_board") or "").strip()
        if new_name and action == "add":
            board = boards.create_board(owner=request.user, name=new_name)
        else:
            board_id = (request.POST.get("board") or "").strip()
            board = boards.own_boards(request.user).filter(pk=int(board_id) if board_id.isdigit() else 0).first()
            if board is None:
                messages.warning(request, "Choose one of your boards.")
                return redirect(back)
        if action == "remove":
            changed = boards.remove_images(board, ids, user=request.user)
            messages.success(request, f"Removed {len(changed)} image{'s' if len(changed) != 1 else ''} from "
                                      f"“{board.name}”.")
        else:
            changed = boards.add_images(board, ids, user=request.user)
            messages.success(request, f"Added {len(changed)} image{'s' if len(changed) != 1 else ''} to "
                                      f"“{board.name}”" + (f" ({len(ids) - len(changed)} already there)."
                                                           if len(changed) < len(ids) else "."))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _errors(exc) if isinstance(exc, ValidationError) else str(exc))
    return redirect(back)


@require_GET
def board_shared_file(request: HttpRequest, token: str, uid, kind: str) -> HttpResponse:
    """An image of a board shared by link (`full` or `thumb`), while the link is valid."""
    board = boards.shared_board(token)
    output = boards.shared_images(board).filter(uid=uid).first() if board is not None else None
    if output is None or kind not in ("full", "thumb"):
        raise Http404("No such image.")
    name = output.thumbnail.name if kind == "thumb" and output.thumbnail.name else output.file.name
    # Revocable: browsers keep it minutes, not the year a signed media link may be kept.
    response = media.file_response(request, name, cache_seconds=300, long_cache=False)
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def board_shared(request: HttpRequest, token: str) -> HttpResponse:
    """The public, read-only page of a board shared by link. Any other board, a revoked link
    or a wrong token is the same 404; images are linked through signed, expiring URLs."""
    board = boards.shared_board(token)
    if board is None:
        raise Http404("No such board.")
    pager = cursor_pager(request.GET, boards.board_entries(board, shared=True), size=PER_PAGE, query={},
                         jumps=True)
    tiles = []
    for output in with_thumb_sizes(entry.image for entry in pager.items):
        # A suggested alt text is made from the prompt: only an approved one (written for
        # readers) is shown, unless the owner shares the prompts anyway.
        alt = output.alt_text if output.alt_status == AltTextStatus.APPROVED or board.share_details else ""
        # Through the board's own link, never a signed storage name: those spell the prompt in
        # the file name, and these stop working the moment the board's link is revoked.
        tiles.append({
            "output": output,
            "thumb": reverse("board_shared_file", args=[token, output.uid, "thumb"]) if output.thumbnail.name else "",
            "full": reverse("board_shared_file", args=[token, output.uid, "full"]),
            "alt": "" if output.decorative else (alt or f"An image of {board.name}"),
        })
    response = render(request, "blogimages/board_shared.html", {
        "board": board, "pager": pager, "tiles": tiles, "show_details": board.share_details,
        "jump_param": JUMP_PARAM, "query": {}, "next_url": pager.older_url, "previous_url": pager.newer_url,
    })
    # A shared page is nobody's to index, and its signed URLs expire: keep it out of shared caches.
    response["X-Robots-Tag"] = "noindex"
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
