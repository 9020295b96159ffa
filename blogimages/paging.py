"""Pages of a list that stay cheap however deep they go.

- `keyset_page()`: cursor ("keyset") pages for infinite scroll and APIs. A page is found by
  the ordering values of the row it starts after, so page 4,000 costs what page 1 costs
  when an index matches the ordering (ImageOutput: `(created_at DESC, id DESC)`). The
  cursor is opaque to callers: `newer` / `older` strings to send back as `?cursor=`.
- `numbered_page()`: page N for a pager that shows numbers: the ids first (an index-only
  scan skips the offset), then the page's rows by id, so the join and the select_related
  columns are paid for one page only. No exact COUNT(*) of a huge table: `bounded_count()`.

Any list may use these (gallery, JSON API, boards, prompt history): pass a queryset
ordered the way it is shown, with a unique last field (the primary key).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils.functional import cached_property

NEWER, OLDER = "newer", "older"

# Counting stops here: "10,000+" is as useful on a page as the exact figure, and costs a
# bounded index scan instead of a scan of the whole table.
COUNT_LIMIT = 10_000


class InvalidCursor(ValueError):
    """A cursor this list did not hand out (edited, truncated, or from another ordering)."""


@dataclass(frozen=True)
class CursorPage:
    items: list
    newer: str | None  # the cursor of the page before this one (newer rows), if any
    older: str | None  # the cursor of the page after this one (older rows), if any


@dataclass(frozen=True)
class NumberedPage:
    items: list
    number: int
    per_page: int
    has_next: bool
    count: int = 0  # bounded_count() of the whole list
    count_is_exact: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def num_pages(self) -> int | None:
        """Only when the count is exact (None above COUNT_LIMIT)."""
        return max(1, -(-self.count // self.per_page)) if self.count_is_exact else None


def _ordering(queryset: QuerySet) -> list[tuple[str, bool]]:
    """[(field name, descending)], from the queryset's ordering; the last must be unique."""
    ordering = list(queryset.query.order_by or queryset.model._meta.ordering or [])
    if not ordering:
        raise ValueError("A keyset page needs an ordered queryset (e.g. order_by('-created_at', '-id')).")
    out = []
    for name in ordering:
        if not isinstance(name, str) or "__" in name or name.lstrip("-") == "?":
            raise ValueError(f"Keyset pages order by plain fields only, not {name!r}.")
        out.append((name.lstrip("-"), name.startswith("-")))
    if out[-1][0] not in ("pk", "id", queryset.model._meta.pk.name):
        raise ValueError("The last ordering field of a keyset page must be the primary key.")
    return out


class _CursorEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder cuts datetimes to milliseconds; a cursor needs every microsecond
    (rows made within one millisecond would otherwise be skipped or repeated)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime):
            return o.isoformat()
        return super().default(o)


def encode_cursor(direction: str, values: list[Any]) -> str:
    raw = json.dumps([direction, values], cls=_CursorEncoder, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(queryset: QuerySet, cursor: str) -> tuple[str, list[Any]]:
    """(direction, ordering values as Python objects), or InvalidCursor."""
    ordering = _ordering(queryset)
    try:
        raw = base64.urlsafe_b64decode(cursor.strip() + "=" * (-len(cursor.strip()) % 4))
        direction, values = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not one this list handed out.") from None
    if direction not in (NEWER, OLDER) or not isinstance(values, list) or len(values) != len(ordering):
        raise InvalidCursor("The cursor is not one this list handed out.")
    meta = queryset.model._meta
    parsed = []
    for (name, _desc), value in zip(ordering, values, strict=True):
        model_field = meta.pk if name == "pk" else meta.get_field(name)
        try:
            python = model_field.to_python(value)
        except Exception:  # ValidationError, or a type the field cannot take
            raise InvalidCursor("The cursor is not one this list handed out.") from None
        if python is None:
            raise InvalidCursor("The cursor is not one this list handed out.")
        parsed.append(python)
    return direction, parsed


def _after(ordering: list[tuple[str, bool]], values: list[Any], *, reverse: bool) -> Q:
    """Rows strictly after `values` in the ordering (before them with `reverse`).

    Written as `a <= x AND (a < x OR (a = x AND b < y))`: the leading bound lets the
    database start its index scan at the cursor instead of filtering from the top."""
    def op(desc: bool) -> str:
        return "lt" if desc != reverse else "gt"

    condition = Q()
    for depth in range(len(ordering) - 1, -1, -1):
        name, desc = ordering[depth]
        strict = Q(**{f"{name}__{op(desc)}": values[depth]})
        condition = strict if depth == len(ordering) - 1 else strict | (Q(**{name: values[depth]}) & condition)
    first_name, first_desc = ordering[0]
    bound = Q(**{f"{first_name}__{op(first_desc)}e": values[0]})
    return bound & condition


def _values_of(item: Any, ordering: list[tuple[str, bool]]) -> list[Any]:
    return [getattr(item, name) for name, _desc in ordering]


def ordering_of(queryset: QuerySet) -> list[tuple[str, bool]]:
    """The queryset's ordering as keyset pages read it (for cursor_after/cursor_before)."""
    return _ordering(queryset)


def cursor_after(item: Any, ordering: list[tuple[str, bool]]) -> str:
    """The cursor of the page that follows `item` (for a list read some other way, e.g. by offset)."""
    return encode_cursor(OLDER, _values_of(item, ordering))


def cursor_before(item: Any, ordering: list[tuple[str, bool]]) -> str:
    """The cursor of the page that ends just before `item`."""
    return encode_cursor(NEWER, _values_of(item, ordering))


def jump_cursor(queryset: QuerySet, value: Any) -> str:
    """The cursor of the page that starts at the first row strictly older than `value` (a
    jump by date: "images from before X"), for a list ordered `(-field, -pk)`. A keyset
    cursor like any other: no offset, and its page's `newer` link goes back up from there.

    The primary key half of the cursor is 0, below every key: `field < value OR (field =
    value AND pk < 0)` is `field < value`, and the way back (`newer`) is `field >= value`."""
    ordering = _ordering(queryset)
    if len(ordering) != 2 or not all(desc for _name, desc in ordering):
        raise ValueError("A jump needs a list ordered by one descending field, then the descending primary key.")
    return encode_cursor(OLDER, [value, 0])


def keyset_page(queryset: QuerySet, *, cursor: str | None, size: int) -> CursorPage:
    """The `size` rows after (or, for a `newer` cursor, before) the cursor's row.

    Raises InvalidCursor for a cursor this list did not hand out."""
    ordering = _ordering(queryset)
    direction, values = decode_cursor(queryset, cursor) if cursor else (OLDER, None)
    if direction == OLDER:
        rows = queryset.filter(_after(ordering, values, reverse=False)) if values else queryset
        items = list(rows[:size + 1])
        more = len(items) > size
        items = items[:size]
        newer = encode_cursor(NEWER, _values_of(items[0], ordering)) if values and items else None
        older = encode_cursor(OLDER, _values_of(items[-1], ordering)) if more else None
    else:
        reversed_order = [("" if desc else "-") + name for name, desc in ordering]
        rows = queryset.filter(_after(ordering, values, reverse=True)).order_by(*reversed_order)
        items = list(rows[:size + 1])
        more = len(items) > size
        items = items[:size][::-1]
        newer = encode_cursor(NEWER, _values_of(items[0], ordering)) if more else None
        older = encode_cursor(OLDER, _values_of(items[-1], ordering)) if items else None
    return CursorPage(items=items, newer=newer, older=older)


def bounded_count(queryset: QuerySet, limit: int = COUNT_LIMIT) -> tuple[int, bool]:
    """(count, exact): the exact count up to `limit`, else (limit, False)."""
    counted = queryset.order_by().values("pk")[:limit + 1].count()
    return (counted, True) if counted <= limit else (limit, False)


def numbered_page(queryset: QuerySet, number: Any, *, per_page: int, count: bool = True) -> NumberedPage:
    """Page `number` (1-based; anything unusable is page 1): ids first, then the rows
    (page 1 reads its rows directly: there is no offset to skip).

    A page past the end is the last page when the count is exact, else an empty page."""
    try:
        number = max(1, int(number))
    except (TypeError, ValueError):
        number = 1
    total, exact = bounded_count(queryset) if count else (0, False)
    if exact and count:
        number = min(number, max(1, -(-total // per_page)))
    start = (number - 1) * per_page
    if start == 0:
        # Nothing to skip: the rows themselves, in one query.
        items = list(queryset[:per_page + 1])
        return NumberedPage(items=items[:per_page], number=number, per_page=per_page,
                            has_next=len(items) > per_page, count=total, count_is_exact=exact)
    ids = list(queryset.values_list("pk", flat=True)[start:start + per_page + 1])
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    by_pk = queryset.filter(pk__in=ids).in_bulk() if ids else {}
    items = [by_pk[pk] for pk in ids if pk in by_pk]
    return NumberedPage(items=items, number=number, per_page=per_page, has_next=has_next, count=total,
                        count_is_exact=exact)


def estimated_count(queryset: QuerySet, limit: int = COUNT_LIMIT) -> tuple[int, bool]:
    """(count, exact): exact up to `limit`; above it PostgreSQL's planner estimate (EXPLAIN,
    no scan), never below `limit`. Other databases count exactly above the limit."""
    counted, exact = bounded_count(queryset, limit)
    if exact:
        return counted, True
    db = queryset.db
    connection = connections[db]
    if connection.vendor != "postgresql":
        return queryset.order_by().count(), True
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str | bytes):
        plan = json.loads(plan)
    return max(limit + 1, int(plan[0]["Plan"]["Plan Rows"])), False


class CheapPaginator(Paginator):
    """A Paginator for huge tables (the admin's changelist): the count is `estimated_count`
    (no COUNT(*) of 100,000 rows per render), and a page past the first reads its ids first
    and then only its own rows."""

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return super().count
        return estimated_count(self.object_list)[0]

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if not isinstance(self.object_list, QuerySet) or bottom == 0:
            return self._get_page(self.object_list[bottom:top], number, self)
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        by_pk = self.object_list.filter(pk__in=ids).in_bulk()
        return self._get_page([by_pk[pk] for pk in ids if pk in by_pk], number, self)
