"""Small helpers shared by the page views."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_date

from .. import paging
from ..conf import blogimages_settings
from ..models import ImageOutput

REVIEW_PERMISSION = "blogimages.change_imageoutput"
DELETE_PERMISSION = "blogimages.delete_imageoutput"
SIDECAR_MAX_BYTES = 256 * 1024


def is_fragment(request: HttpRequest) -> bool:
    """An htmx request that wants a fragment (a history restore wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    # The same URL serves a page and a fragment: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def thumb_size(output: ImageOutput) -> tuple[int, int] | None:
    """Displayed size of the thumbnail (the image fitted in THUMBNAIL_SIZE), for width/height attributes."""
    if not (output.width and output.height):
        return None
    box = blogimages_settings.THUMBNAIL_SIZE
    scale = min(1.0, box / max(output.width, output.height))
    return max(1, round(output.width * scale)), max(1, round(output.height * scale))


def with_thumb_sizes(outputs: Iterable[ImageOutput]) -> list[ImageOutput]:
    outputs = list(outputs)
    for output in outputs:
        output.thumb_size = thumb_size(output)
    return outputs


def read_sidecar(output: ImageOutput) -> str | None:
    """The sidecar JSON, pretty-printed; None when there is none or it cannot be read."""
    if not output.sidecar.name:
        return None
    try:
        with output.sidecar.storage.open(output.sidecar.name, "rb") as handle:
            data = handle.read(SIDECAR_MAX_BYTES + 1)
    except OSError:
        return None
    if len(data) > SIDECAR_MAX_BYTES:
        return data[:SIDECAR_MAX_BYTES].decode("utf-8", "replace") + "\n…"
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return data.decode("utf-8", "replace")


def field_label(name: str) -> str:
    """`section:arrival:body` -> `Section arrival: body`; `summary` -> `Summary`."""
    if name.startswith("section:"):
        _, key, part = (name.split(":", 2) + ["", ""])[:3]
        return f"Section {key}: {part}"
    return name.replace("_", " ").capitalize()


# -- "Newer / Older" pages by cursor, and the jump by date -----------------------------------------

JUMP_PARAM = "jump"  # ?jump=YYYY-MM-DD: start at the newest row from that date or before


def parse_jump(value: str | None) -> tuple[dt.date | None, str]:
    """(date, error) for a `jump` parameter: (None, "") when absent."""
    value = (value or "").strip()
    if not value:
        return None, ""
    try:
        parsed = parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None or not 1900 <= parsed.year <= 9000:
        return None, f"“{value[:40]}” is not a date (YYYY-MM-DD): showing the newest first."
    return parsed, ""


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after `day` in the current time zone: a jump to `day` shows rows before it."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=timezone.get_current_timezone())


@dataclass(frozen=True, kw_only=True)
class CursorPager:
    items: list
    newer_url: str  # "" when this is the top of the list
    older_url: str  # "" when this is its end
    jump: dt.date | None  # the date jumped to, if the page came from a jump
    error: str  # a cursor or date we could not use (the page is then the newest)
    at_top: bool  # no cursor: the first page
    top_url: str  # the first page, with the filters


def cursor_pager(params: Mapping[str, str], rows: QuerySet, *, size: int, query: Mapping[str, str],
                 jumps: bool = False) -> CursorPager:
    """One page of `rows` (any keyset ordering) from `?cursor=` or, with `jumps` (rows ordered
    `(-date field, -pk)`), `?jump=<date>`; links keep `query` (the filters). A cursor this list did
    not hand out, or a date that is not one, gives the newest page and an `error` to show."""
    cursor = (params.get("cursor") or "").strip()
    jump, error = parse_jump(params.get(JUMP_PARAM)) if jumps and not cursor else (None, "")
    if jump is not None:
        cursor = paging.jump_cursor(rows, end_of_day(jump))
    try:
        page = paging.keyset_page(rows, cursor=cursor or None, size=size)
    except paging.InvalidCursor:
        error = "That page link is out of date or was edited: showing the newest first."
        cursor, jump = "", None
        page = paging.keyset_page(rows, cursor=None, size=size)
    if cursor and not page.items and page.older is None and jump is None:
        # Went "newer" past the top (rows deleted since): the top of the list instead.
        cursor = ""
        page = paging.keyset_page(rows, cursor=None, size=size)

    def url(value: str | None) -> str:
        return "?" + urlencode({**query, "cursor": value}) if value else ""

    top = "?" + urlencode(query) if query else "?"
    newer_url = url(page.newer)
    if cursor and not newer_url and (jump is not None or not page.items):
        newer_url = top  # a jump (or an empty page) leads back to the newest
    return CursorPager(items=page.items, newer_url=newer_url, older_url=url(page.older), jump=jump,
                       error=error, at_top=not cursor, top_url=top)
