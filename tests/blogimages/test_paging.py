"""Cursor and numbered pages (blogimages.paging): every row exactly once, in order, both ways."""

import datetime as dt

import pytest
from django.utils import timezone

from blogimages import paging
from blogimages.models import ImageOutput
from tests.factories import ImageOutputFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    """11 rows, several sharing a created_at (the id must break the tie)."""
    base = timezone.make_aware(dt.datetime(2026, 3, 1, 12))
    made = [ImageOutputFactory() for _ in range(11)]
    for i, row in enumerate(made):
        ImageOutput.objects.filter(pk=row.pk).update(created_at=base + dt.timedelta(minutes=i // 3))
    return list(ImageOutput.objects.order_by("-created_at", "-id").values_list("pk", flat=True))


def newest_first():
    return ImageOutput.objects.order_by("-created_at", "-id")


def test_older_pages_walk_every_row_once_in_order(rows):
    seen, cursor, pages = [], None, 0
    while True:
        page = paging.keyset_page(newest_first(), cursor=cursor, size=4)
        seen += [o.pk for o in page.items]
        pages += 1
        if pages > 1:
            assert page.newer is not None
        if page.older is None:
            break
        cursor = page.older
    assert seen == rows and pages == 3
    assert paging.keyset_page(newest_first(), cursor=None, size=4).newer is None


def test_newer_cursor_returns_the_page_before(rows):
    first = paging.keyset_page(newest_first(), cursor=None, size=4)
    second = paging.keyset_page(newest_first(), cursor=first.older, size=4)
    third = paging.keyset_page(newest_first(), cursor=second.older, size=4)
    back = paging.keyset_page(newest_first(), cursor=third.newer, size=4)
    assert [o.pk for o in back.items] == [o.pk for o in second.items] == rows[4:8]
    top = paging.keyset_page(newest_first(), cursor=back.newer, size=4)
    assert [o.pk for o in top.items] == rows[:4] and top.newer is None and top.older is not None


def test_ascending_ordering_pages_too(rows):
    ordered = ImageOutput.objects.order_by("created_at", "id")
    page = paging.keyset_page(ordered, cursor=None, size=5)
    page2 = paging.keyset_page(ordered, cursor=page.older, size=5)
    assert [o.pk for o in page.items] + [o.pk for o in page2.items] == rows[::-1][:10]


def test_cursor_is_opaque_and_a_forged_one_is_refused(rows):
    cursor = paging.keyset_page(newest_first(), cursor=None, size=4).older
    assert "created_at" not in cursor and str(rows[3]) not in cursor
    for bad in ("not-a-cursor", "e30", paging.encode_cursor("sideways", ["2026-01-01T00:00:00Z", 1]),
                paging.encode_cursor("older", ["not a date", 1]), paging.encode_cursor("older", [None, 1])):
        with pytest.raises(paging.InvalidCursor):
            paging.keyset_page(newest_first(), cursor=bad, size=4)


def test_unordered_or_non_unique_ordering_is_a_programming_error():
    with pytest.raises(ValueError, match="primary key"):
        paging.keyset_page(ImageOutput.objects.order_by("-created_at"), cursor=None, size=4)


def test_numbered_pages_ids_first(rows, django_assert_num_queries):
    with django_assert_num_queries(3):  # the bounded count, the ids, the rows
        page = paging.numbered_page(newest_first(), 2, per_page=4)
    assert [o.pk for o in page.items] == rows[4:8]
    assert page.has_next and page.has_previous and page.num_pages == 3 and page.count == 11
    last = paging.numbered_page(newest_first(), 99, per_page=4)
    assert last.number == 3 and [o.pk for o in last.items] == rows[8:] and not last.has_next
    assert paging.numbered_page(newest_first(), "x", per_page=4).number == 1


def test_count_stops_at_the_limit(rows):
    assert paging.bounded_count(newest_first(), limit=5) == (5, False)
    assert paging.bounded_count(newest_first(), limit=11) == (11, True)
    page = paging.numbered_page(newest_first(), 1, per_page=4)
    assert page.count_is_exact


def test_rows_a_microsecond_apart_are_neither_skipped_nor_repeated():
    base = timezone.make_aware(dt.datetime(2026, 3, 1, 12, 0, 0, 123456))
    made = [ImageOutputFactory() for _ in range(6)]
    for i, row in enumerate(made):
        ImageOutput.objects.filter(pk=row.pk).update(created_at=base + dt.timedelta(microseconds=i))
    first = paging.keyset_page(newest_first(), cursor=None, size=2)
    second = paging.keyset_page(newest_first(), cursor=first.older, size=2)
    back = paging.keyset_page(newest_first(), cursor=second.newer, size=2)
    assert [o.pk for o in back.items] == [o.pk for o in first.items]
    assert [o.pk for o in first.items + second.items] == [o.pk for o in made[::-1][:4]]
