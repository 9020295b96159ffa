"""The gallery: a filtered, paginated thumbnail grid; an image's detail, download and delete."""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from django.utils.timezone import template_localtime
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import push_url

from .. import archive, boards, bulk, paging, review, similar
from ..forms import GalleryFilterForm
from ..models import ImageOutput, WatermarkPreset
from ..selectors import ImageFilters, filter_choices, gallery_images, stack_of, without_jit
from ..review import can_delete, can_review
from ..templatetags.blogimages_urls import pk_path
from .common import JUMP_PARAM, end_of_day, is_fragment, parse_jump, read_sidecar, vary_on_htmx, with_thumb_sizes

logger = logging.getLogger("blogimages.views")

PER_PAGE = 24
MAX_PER_PAGE = 100
MAX_SELECTION = 500  # images one bulk action or zip may name
# Counted exactly up to here (a bounded index scan); above it the database's estimate.
GALLERY_COUNT_LIMIT = 1000


def per_page_from(params) -> int:
    value = (params.get("per_page") or "").strip()
    return min(MAX_PER_PAGE, max(1, int(value))) if value.isdigit() else PER_PAGE


def gallery_context(request: HttpRequest, params) -> dict:
    """The grid for the filters in `params` (the query string, or a bulk action's `next`).

    Infinite scroll and "newer/older" follow cursors (`?cursor=`: a keyset page, as cheap at
    the 100,000th image as at the first); a bookmarked `?page=N` is a numbered page, ids first.
    `page` rides along with a cursor only to label where the reader is."""
    filters = ImageFilters.from_params(params)
    # An unfiltered grid reads an index alone: nothing for the JIT to compile.
    with without_jit(enabled=filters.narrows):
        return _gallery_context(request, params, filters)


def _gallery_context(request: HttpRequest, params, filters: ImageFilters) -> dict:
    if filters.board is not None and not boards.visible_boards(request.user).filter(pk=filters.board).exists():
        filters = dataclasses.replace(filters, board=None)  # a board you may not open filters nothing
    per_page = per_page_from(params)
    images = gallery_images(filters)
    number = int(params["page"]) if (params.get("page") or "").isdigit() and int(params["page"]) > 0 else 1
    count, count_exact = paging.estimated_count(images, limit=GALLERY_COUNT_LIMIT)
    cursor = (params.get("cursor") or "").strip()
    # A jump by date (`?jump=YYYY-MM-DD`): a cursor starting at the end of that day, no offset.
    jump, jump_error = parse_jump(params.get(JUMP_PARAM)) if not cursor else (None, "")
    if jump is not None:
        cursor = paging.jump_cursor(images, end_of_day(jump))
    if cursor:
        try:
            keyset = paging.keyset_page(images, cursor=cursor, size=per_page)
        except paging.InvalidCursor as exc:
            raise BadRequest(str(exc)) from exc
        items, older, newer = keyset.items, keyset.older, keyset.newer
    else:
        numbered = paging.numbered_page(images, number, per_page=per_page, count=False)
        items, number = numbered.items, numbered.number
        ordering = paging.ordering_of(images)
        older = paging.cursor_after(items[-1], ordering) if numbered.has_next else None
        newer = paging.cursor_before(items[0], ordering) if items and number > 1 else None
    # From a jump, and on the pages reached from one by cursor, the page's number is unknown:
    # those pages are labelled by the dates they show instead.
    number_known = jump is None and (not cursor or "page" in params)
    page = GalleryPage(number=number, per_page=per_page, count=count, count_exact=count_exact,
                       has_next=older is not None, has_previous=newer is not None, number_known=number_known)
    query = filters.as_params()
    if per_page != PER_PAGE:
        query["per_page"] = str(per_page)

    def page_url(cursor_value: str, page_number: int) -> str:
        if not number_known:
            return "?" + urlencode({**query, "cursor": cursor_value})
        if page_number <= 1:
            return "?" + urlencode(query) if query else "?"
        return "?" + urlencode({**query, "cursor": cursor_value, "page": page_number})

    if filters.collapse:
        # Identical hashes are already one tile (in SQL, across the list); near ones fold here,
        # within this page (see similar.py for why not across the library). Cursors were taken
        # from the rows read, so the next page starts after the last of them, folded or not.
        items = similar.collapse_near_duplicates(items)
    outputs = with_thumb_sizes(items)
    stack_of(outputs)
    for output in outputs:
        output.stack = with_thumb_sizes(getattr(output, "stack", []))
        for tile in (output, *output.stack):
            tile.deletable = can_delete(request.user, tile)
            with_tile_strings(tile)
    # A page without a number is labelled by dates: its rows are from its first row's date
    # or before, and the next page's from its last row's (read before any folding).
    shown_from = older_from = None
    if not number_known and items:
        field = paging.ordering_of(images)[0][0]
        shown_from, older_from = getattr(items[0], field), getattr(items[-1], field)
    bookmark = reverse("blogimages:gallery") + ("?" + urlencode(query) if query else "")
    return {
        "page": page, "outputs": outputs, "nav": "gallery",
        "filtered": bool({k: v for k, v in filters.as_params().items() if k not in ("flat", "collapse")}),
        "flat": filters.flat,
        "collapse": filters.collapse,
        "next_url": page_url(older, number + 1) if older else "",
        # Without a page number "newer" goes up by cursor; a jump's page leads to the newest.
        "previous_url": page_url(newer, number - 1) if newer else (bookmark if jump else ""),
        "jump": jump, "jump_error": jump_error, "jump_param": JUMP_PARAM, "query": query,
        "shown_from": shown_from, "older_from": older_from,
        "bookmark_url": bookmark,
        # Where the reader is, for the address bar: a reload after a jump comes back to it.
        "place_url": bookmark + (("&" if "?" in bookmark else "?") + urlencode({JUMP_PARAM: jump.isoformat()})
                                 if jump else ""),
        "return_url": bookmark + (("&" if "?" in bookmark else "?") + f"page={number}" if number > 1 else ""),
        "can_review": can_review(request.user),
        "watermark_presets": WatermarkPreset.objects.order_by("name"),
        # Lazy: only the full page's bulk bar lists them (gallery() reuses its one boards query).
        "my_boards": boards.own_boards(request.user),
    }


def with_tile_strings(output: ImageOutput) -> None:
    """What gallery.html's tile shows, computed once here: through filters, `pk_url` and the
    file fields' `.url` in the template they were a fifth of the page's CPU. The same strings
    as _thumb.html's (which the other grids still use)."""
    text = Truncator(output.prompt_text)
    output.tile_title, output.tile_alt, output.tile_caption = text.chars(200), text.chars(120), text.chars(70)
    output.tile_detail_url = pk_path("blogimages:image_detail", output.pk)
    output.tile_download_url = pk_path("blogimages:image_download", output.pk)
    output.tile_use_url = pk_path("blogimages:image_use", output.pk)
    output.tile_delete_url = pk_path("blogimages:image_delete", output.pk)
    output.tile_file_url = output.file.url if output.status == "succeeded" and output.file.name else ""
    output.tile_thumb_url = output.thumbnail.url if output.thumbnail.name and output.thumb_size else ""
    # What `|date:'c'` and `|date:"Y-m-d H:i"` give (the template's local time, then the format).
    created = template_localtime(output.created_at)
    output.tile_created_iso = dateformat.format(created, "c") if created else ""
    output.tile_created_label = dateformat.format(created, "Y-m-d H:i") if created else ""


@dataclass(frozen=True, kw_only=True)
class GalleryPage:
    """What the template says about the page: its number, and the count (exact up to
    GALLERY_COUNT_LIMIT, the planner's estimate above: no COUNT(*) of a huge table per render)."""

    number: int
    per_page: int
    count: int
    count_exact: bool
    has_next: bool
    has_previous: bool
    number_known: bool = True  # False from a jump by date, and by cursor on from there

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def num_pages(self) -> int | None:
        return max(1, -(-self.count // self.per_page)) if self.count_exact else None

    @property
    def count_label(self) -> str:
        return f"{self.count:,}"


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    """Newest first. The filters live in the query string, so a filtered view is a bookmark.

    Fragments: the filter form asks for `#gallery-results` (count, grid, pager); the
    infinite-scroll sentinel asks for the next page's items only.
    """
    context = gallery_context(request, request.GET)
    if is_fragment(request):
        if request.htmx.target == "gallery-results":
            response = render(request, "blogimages/gallery.html#results", context)
            # The filter form pushes its URL; push the clean one (no empty fields, the jump
            # kept) instead.
            return vary_on_htmx(push_url(response, context["place_url"]))
        return vary_on_htmx(render(request, "blogimages/gallery.html#page-items", context))
    visible = list(boards.visible_boards(request.user))
    context["my_boards"] = [board for board in visible if board.owner_id == request.user.pk]
    context["filter_fields"] = filter_fields_html(request, visible)
    return vary_on_htmx(render(request, "blogimages/gallery.html", context))


# The filter form's fields as rendered, by everything they show: Django's template-based
# widget renderer made them a tenth of the page's CPU, for HTML that only changes when the
# choices, the query string or the language (the labels) do. Per process, a few hundred entries at most.
_FILTER_FIELDS: OrderedDict[tuple, str] = OrderedDict()
_FILTER_FIELDS_KEEP = 256
_filter_fields_lock = threading.Lock()


def filter_fields_html(request: HttpRequest, boards_shown) -> str:
    """The filter form's fields (`#filter-fields`), rendered once per distinct input."""
    choices = filter_choices()
    form = GalleryFilterForm(request.GET or None, choices=choices, boards=boards_shown)
    posts = tuple((post.pk, form.fields["post"].label_from_instance(post)) for post in form.fields["post"].queryset)
    key = (get_language(), bool(request.GET), tuple((name, tuple(request.GET.getlist(name))) for name in form.fields),
           tuple(choices["providers"]), tuple(choices["models"]),
           tuple((board.pk, board.name) for board in boards_shown), posts)
    with _filter_fields_lock:
        found = _FILTER_FIELDS.get(key)
        if found is not None:
            _FILTER_FIELDS.move_to_end(key)
            return found
    html = render_to_string("blogimages/gallery.html#filter-fields", {"filter_form": form}, request=request)
    with _filter_fields_lock:
        _FILTER_FIELDS[key] = html
        while len(_FILTER_FIELDS) > _FILTER_FIELDS_KEEP:
            _FILTER_FIELDS.popitem(last=False)
    return html


def _selection(request: HttpRequest) -> tuple[str, list[ImageOutput]]:
    """(action, images) from the bulk form: `action=approve` acts on the ticked `ids`;
    a tile's own button sends `action=approve:12` and acts on that image alone."""
    action, _, single = (request.POST.get("action") or "").partition(":")
    wanted = [single] if single else request.POST.getlist("ids")
    pks = sorted({int(v) for v in wanted if v.strip().isdigit()})[:MAX_SELECTION]
    outputs = list(ImageOutput.objects.select_related("post", "derived_from").filter(pk__in=pks).order_by("pk"))
    return action.strip(), outputs


def _return_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) \
            and target.startswith(reverse("blogimages:gallery")):
        return target
    return reverse("blogimages:gallery")


def _back_to_gallery(request: HttpRequest, text: str, *, level: int = messages.INFO) -> HttpResponse:
    """htmx: the refreshed results for the same filters, with the summary; else redirect there."""
    url = _return_url(request)
    if is_fragment(request):
        params = QueryDict(urlsplit(url).query)
        context = {**gallery_context(request, params), "bulk_message": text,
                   "bulk_level": "error" if level >= messages.WARNING else "success"}
        return vary_on_htmx(render(request, "blogimages/gallery.html#results", context))
    messages.add_message(request, level, text)
    return redirect(url)


@login_required
@require_POST
def gallery_bulk(request: HttpRequest) -> HttpResponse:
    """Approve, reject, delete or watermark the selected images, each through its service
    and its own permission check (bulk.apply). Delete asks first, like the single delete."""
    action, outputs = _selection(request)
    if action == "zip":
        return gallery_zip(request)
    if action in ("board_add", "board_remove"):
        return _board_bulk(request, action, outputs)
    if action not in bulk.ACTIONS:
        return _back_to_gallery(request, "Choose an action.", level=messages.WARNING)
    if not outputs:
        return _back_to_gallery(request, "Select at least one image first.", level=messages.WARNING)
    if action == "delete" and request.POST.get("confirm") != "yes":
        allowed = [o for o in outputs if can_delete(request.user, o)]
        context = {"nav": "gallery", "allowed": allowed, "refused": [o for o in outputs if o not in allowed],
                   "next": _return_url(request)}
        return render(request, "blogimages/bulk_confirm_delete.html", context)
    reasons = {}
    if action == "reject":
        shared = (request.POST.get("reason") or "").strip()
        reasons = {o.pk: (request.POST.get(f"reason-{o.pk}") or "").strip() or shared for o in outputs}
    result = bulk.apply(action, outputs, user=request.user, reasons=reasons,
                        preset=(request.POST.get("preset") or "").strip() or None)
    logger.info("user %s bulk %s: done %s, refused %s", request.user.pk, action, result.done, sorted(result.refused))
    level = messages.ERROR if result.all_refused else messages.WARNING if result.refused else messages.SUCCESS
    response = _back_to_gallery(request, result.summary(), level=level)
    if result.all_refused and not is_fragment(request):
        # Nothing was allowed: say so with the status too (the message is on the next page).
        raise PermissionDenied(result.summary())
    return response


def _board_bulk(request: HttpRequest, action: str, outputs: list[ImageOutput]) -> HttpResponse:
    """Add the ticked images to one of your boards (or a new one), or take them off it."""
    if not outputs:
        return _back_to_gallery(request, "Select at least one image first.", level=messages.WARNING)
    value = (request.POST.get("board") or "").strip()
    new_name = (request.POST.get("new_board") or "").strip()
    try:
        if action == "board_add" and new_name:
            board = boards.create_board(owner=request.user, name=new_name)
        else:
            board = boards.own_boards(request.user).filter(pk=int(value) if value.isdigit() else 0).first()
            if board is None:
                return _back_to_gallery(request, "Choose one of your boards.", level=messages.WARNING)
        if action == "board_add":
            changed = boards.add_images(board, outputs, user=request.user)
            text = f"Added {len(changed)} image{'s' if len(changed) != 1 else ''} to “{board.name}”."
        else:
            changed = boards.remove_images(board, outputs, user=request.user)
            text = f"Removed {len(changed)} image{'s' if len(changed) != 1 else ''} from “{board.name}”."
    except ValidationError as exc:
        return _back_to_gallery(request, " ".join(exc.messages), level=messages.ERROR)
    unchanged = len(outputs) - len(changed)
    if unchanged:
        text += f" {unchanged} {'was' if unchanged == 1 else 'were'} already {'there' if action == 'board_add' else 'not on it'}."
    return _back_to_gallery(request, text, level=messages.SUCCESS)


@login_required
@require_POST
def gallery_zip(request: HttpRequest) -> HttpResponse:
    """The selected originals as one streamed zip, or a clear error when it would be too big."""
    _action, outputs = _selection(request)
    if not outputs:
        return _back_to_gallery(request, "Select at least one image to download.", level=messages.WARNING)
    try:
        entries, skipped = archive.plan(sorted(outputs, key=lambda o: o.pk))
    except archive.ArchiveTooLarge as exc:
        return _back_to_gallery(request, str(exc), level=messages.ERROR)
    if not entries:
        return _back_to_gallery(request, "None of the selected images has a file to download.",
                                level=messages.WARNING)
    response = StreamingHttpResponse(archive.stream(entries, skipped), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, f"blogimages-{len(entries)}-images.zip")
    return response


@login_required
@require_GET
def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    output = get_object_or_404(
        ImageOutput.objects.select_related("post", "prompt", "prompt__example", "setting", "created_by", "batch",
                                           "derived_from", "api_token"),
        pk=pk,
    )
    context = {
        "output": output, "nav": "gallery",
        "events": output.events.select_related("actor"),
        "derivatives": with_thumb_sizes(output.derivatives.order_by("-created_at", "-id")),
        "sidecar": read_sidecar(output),
        "can_delete": can_delete(request.user, output),
        "can_review": can_review(request.user),
        "file_name": posixpath.basename(output.file.name) if output.file.name else "",
        "similar": with_thumb_sizes(similar.similar_images(output)),
        "my_boards": list(boards.own_boards(request.user)),
        "on_boards": list(boards.visible_boards(request.user).filter(entries__image=output)),
    }
    return render(request, "blogimages/image_detail.html", context)


@login_required
@require_GET
def image_download(request: HttpRequest, pk: int) -> FileResponse:
    """The original file, as an attachment."""
    output = get_object_or_404(ImageOutput, pk=pk)
    if not output.file.name:
        raise Http404("This image has no file.")
    try:
        handle = output.file.storage.open(output.file.name, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The file is missing from storage.") from exc
    return FileResponse(handle, as_attachment=True, filename=posixpath.basename(output.file.name),
                        content_type=output.mime_type or None)


@login_required
@require_http_methods(["GET", "POST"])
def image_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes the row (its files go once the delete commits)."""
    output = get_object_or_404(ImageOutput.objects.select_related("post"), pk=pk)
    if request.method == "POST":
        name = output.file.name
        try:
            replaced = review.delete(output, user=request.user)  # checks who may, and refuses a blank slot
        except ValueError as exc:
            messages.error(request, str(exc))
            return redirect("blogimages:image_detail", pk)
        logger.info("user %s deleted image %s (%s); slots given other images: %s", request.user.pk, pk, name, replaced)
        (messages.warning if replaced else messages.success)(request, review.describe_deletion(pk, replaced))
        return redirect("blogimages:gallery")
    if not can_delete(request.user, output):
        raise PermissionDenied("Only the image's creator or staff may delete it; an approved or chosen image, "
                               "only staff who review images.")
    return render(request, "blogimages/image_confirm_delete.html",
                  {"output": output, "nav": "gallery", "derivative_count": output.derivatives.count(),
                   "slots_showing": review.slots_showing(output)})
