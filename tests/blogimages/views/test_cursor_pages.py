"""Cursor pages ("Newer / Older") and the jump by date on the history, the boards pages, the
public share page and the gallery: stable when rows arrive between two reads, the same number
of queries on every page, filters kept in the links, and bad cursors or dates answered with a
clear message and the newest page (never a 500)."""

import datetime as dt
import html as htmllib
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from blogimages import boards, paging
from blogimages.models import Board, BoardImage, BoardVisibility, ImageOutput, PromptRun
from blogimages.views import boards as board_views
from tests.blogimages.views.helpers import make_editor
from tests.factories import ImageOutputFactory

pytestmark = pytest.mark.django_db

BASE = timezone.make_aware(dt.datetime(2026, 3, 1, 12))


@pytest.fixture
def editor():
    return make_editor()


@pytest.fixture
def client(editor):
    c = Client()
    c.force_login(editor)
    return c


def make_runs(user, count, *, provider="cards", start=BASE, step=dt.timedelta(hours=6)):
    """`count` runs, the first the oldest, `step` apart (two share each instant: the id breaks ties)."""
    made = []
    for i in range(count):
        run = PromptRun.objects.create(user=user, prompt_text=f"Run number {i}", provider=provider)
        PromptRun.objects.filter(pk=run.pk).update(created_at=start + step * (i // 2))
        made.append(run.pk)
    return made


def newest_first(pks, model):
    return list(model.objects.filter(pk__in=pks).order_by("-created_at", "-id").values_list("pk", flat=True))


def listed(html, attribute):
    return [int(pk) for pk in re.findall(rf'data-{attribute}="(\d+)"', html)]


def link(html, marker):
    """The href of the "Newer" (data-newer) or "Older" (data-older) link, or None."""
    found = re.search(rf'<a href="([^"]+)"[^>]*{marker}', html)
    return htmllib.unescape(found.group(1)) if found else None


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


# -- the prompt history ---------------------------------------------------------------------------

def test_history_walks_every_run_once_by_cursor_and_back(client, editor):
    pks = newest_first(make_runs(editor, 45), PromptRun)
    html = page(client, "/images/history/")
    seen = listed(html, "run")
    assert seen == pks[:20] and link(html, "data-newer") is None
    url, pages = link(html, "data-older"), [seen]
    while url:
        assert "cursor=" in url and "page=" not in url, "pages by cursor, not by offset"
        html = page(client, "/images/history/" + url)
        pages.append(listed(html, "run"))
        url = link(html, "data-older")
    assert [pk for shown in pages for pk in shown] == pks and [len(p) for p in pages] == [20, 20, 5]
    back = page(client, "/images/history/" + link(html, "data-newer"))
    assert listed(back, "run") == pks[20:40]


def test_history_next_page_does_not_shift_when_a_run_is_added_between_reads(client, editor):
    pks = newest_first(make_runs(editor, 30), PromptRun)
    first = page(client, "/images/history/")
    older = link(first, "data-older")
    # Someone runs a prompt between the two reads: with an offset, run #20 would be shown twice.
    newest = PromptRun.objects.create(user=editor, prompt_text="A new run", provider="cards")
    PromptRun.objects.filter(pk=newest.pk).update(created_at=BASE + dt.timedelta(days=30))
    second = page(client, "/images/history/" + older)
    assert listed(second, "run") == pks[20:30]
    assert listed(page(client, "/images/history/"), "run")[0] == newest.pk


def test_history_links_keep_the_filters(client, editor):
    make_runs(editor, 25, provider="cards")
    make_runs(editor, 5, provider="other")
    html = page(client, "/images/history/?provider=cards&q=number")
    older = link(html, "data-older")
    assert "provider=cards" in older and "q=number" in older
    second = page(client, "/images/history/" + older)
    assert len(listed(second, "run")) == 5 and "Run number" in second
    assert all(PromptRun.objects.get(pk=pk).provider == "cards" for pk in listed(second, "run"))
    assert "provider=cards" in link(second, "data-newer")
    # The jump form carries the filters too.
    assert '<input type="hidden" name="provider" value="cards">' in html


def test_history_pages_cost_the_same_queries_deep_as_first(client, editor):
    make_runs(editor, 65)
    with CaptureQueriesContext(connection) as first:
        html = page(client, "/images/history/")
    url = link(html, "data-older")
    url = link(page(client, "/images/history/" + url), "data-older")
    with CaptureQueriesContext(connection) as third:
        page(client, "/images/history/" + url)
    with CaptureQueriesContext(connection) as jumped:
        page(client, "/images/history/?jump=2026-03-05")
    assert len(first) == len(third) == len(jumped)
    assert not any(" OFFSET " in q["sql"].upper() for q in [*third.captured_queries, *jumped.captured_queries])


def test_history_jump_lands_on_the_newest_run_of_that_day_or_before(client, editor):
    make_runs(editor, 40)  # 20 instants, 6 hours apart from 1 March 12:00: the last on 6 March 06:00
    html = page(client, "/images/history/?jump=2026-03-03")
    runs = [PromptRun.objects.get(pk=pk) for pk in listed(html, "run")]
    local = [timezone.localtime(run.created_at) for run in runs]
    expected = newest_first(PromptRun.objects.filter(
        created_at__lt=timezone.make_aware(dt.datetime(2026, 3, 4))).values_list("pk", flat=True), PromptRun)
    assert [run.pk for run in runs] == expected[:20]
    assert local[0] == timezone.make_aware(dt.datetime(2026, 3, 3, 18)), "the last run of 3 March comes first"
    assert "from 2026-03-03 and before" in html and 'value="2026-03-03"' in html
    newer = page(client, "/images/history/" + link(html, "data-newer"))
    assert timezone.localtime(PromptRun.objects.get(pk=listed(newer, "run")[-1]).created_at).date() \
        == dt.date(2026, 3, 4), "newer goes back up from the jump, right above it"


def test_history_jump_before_everything_says_so_and_links_back(client, editor):
    make_runs(editor, 4)
    html = page(client, "/images/history/?jump=2020-01-01")
    assert listed(html, "run") == [] and "No runs from 2020-01-01 or before" in html
    assert link(html, "data-newer") == "?"


@pytest.mark.parametrize("query", ["cursor=not-a-cursor", "cursor=WyJvbGRlciIsWzEsMl1d", "cursor=%00%ff",
                                   "jump=2026-02-30", "jump=yesterday", "jump=0001-01-01"])
def test_history_bad_cursor_or_date_is_a_clear_message_and_the_newest_page(client, editor, query):
    pks = newest_first(make_runs(editor, 25), PromptRun)
    response = client.get(f"/images/history/?{query}")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="pager-error"' in html and "showing the newest first" in html
    assert listed(html, "run") == pks[:20]


# -- boards: the list, one board, the public share page ---------------------------------------------

def board_with_images(owner, count, *, approved=True):
    board = boards.create_board(owner=owner, name="Coast", visibility=BoardVisibility.LINK)
    images = [ImageOutputFactory(status="succeeded", review_status="approved" if approved else "pending",
                                 file=f"blogimages/tests/x{i}.png") for i in range(count)]
    BoardImage.objects.bulk_create([BoardImage(board=board, image=image) for image in images])
    for i, image in enumerate(images):
        BoardImage.objects.filter(board=board, image=image).update(added_at=BASE + dt.timedelta(hours=12) * (i // 2))
    order = list(BoardImage.objects.filter(board=board).order_by("-added_at", "-id").values_list("image_id", flat=True))
    return board, order


def test_a_board_pages_by_cursor_stably_and_the_share_page_too(client, editor):
    board, order = board_with_images(editor, 60)
    url = f"/images/boards/{board.pk}/"
    first = page(client, url)
    assert listed(first, "output") == order[:48] and link(first, "data-newer") is None
    older = link(first, "data-older")
    assert "cursor=" in older
    # An image added to the board between the two reads does not shift the next page.
    late = ImageOutputFactory(status="succeeded", review_status="approved", file="blogimages/tests/late.png")
    boards.add_images(board, [late], user=editor)
    second = page(client, url + older)
    assert listed(second, "output") == order[48:]
    assert listed(page(client, url + link(second, "data-newer")), "output") == order[:48], \
        "newer from page 2 is the old page 1 (the new image is above it)"

    shared = Client()
    share = f"/boards/s/{board.share_token}/"
    html = page(shared, share)
    assert listed(html, "output")[0] == late.pk and len(listed(html, "output")) == 48
    rest = page(shared, share + link(html, "data-older"))
    assert listed(rest, "output") == order[47:]


def test_the_share_page_pages_only_approved_images(editor):
    board, order = board_with_images(editor, 50)
    pending = ImageOutputFactory(status="succeeded", review_status="pending", file="blogimages/tests/p.png")
    boards.add_images(board, [pending], user=editor)
    shared = Client()
    share = f"/boards/s/{board.share_token}/"
    html = page(shared, share)
    assert pending.pk not in listed(html, "output") and listed(html, "output") == order[:48]
    assert listed(page(shared, share + link(html, "data-older")), "output") == order[48:]


def test_board_pages_cost_the_same_queries_deep_as_first(client, editor):
    board, _order = board_with_images(editor, 150)
    url = f"/images/boards/{board.pk}/"
    with CaptureQueriesContext(connection) as first:
        html = page(client, url)
    deep_url = link(page(client, url + link(html, "data-older")), "data-older")
    with CaptureQueriesContext(connection) as third:
        page(client, url + deep_url)
    assert len(first) == len(third)
    anonymous = Client()
    share = f"/boards/s/{board.share_token}/"
    with CaptureQueriesContext(connection) as shared_first:
        html = page(anonymous, share)
    with CaptureQueriesContext(connection) as shared_second:
        page(anonymous, share + link(html, "data-older"))
    assert len(shared_first) == len(shared_second)


def test_a_board_jumps_by_the_date_images_were_added(client, editor):
    board, _order = board_with_images(editor, 20)  # two a day-half apart: 1 March 12:00 … 6 March 00:00
    html = page(client, f"/images/boards/{board.pk}/?jump=2026-03-02")
    entries = BoardImage.objects.filter(board=board, added_at__lt=timezone.make_aware(dt.datetime(2026, 3, 3)))
    expected = list(entries.order_by("-added_at", "-id").values_list("image_id", flat=True))
    assert listed(html, "output") == expected and len(expected) == 6
    assert link(html, "data-newer") and link(html, "data-older") is None
    shared = page(Client(), f"/boards/s/{board.share_token}/?jump=2026-03-02")
    assert listed(shared, "output") == expected
    empty = page(client, f"/images/boards/{board.pk}/?jump=2025-01-01")
    assert "No images added on 2025-01-01 or before" in empty


@pytest.mark.parametrize("query", ["cursor=garbage", "jump=31/12/2026"])
def test_board_pages_answer_a_bad_cursor_or_date_with_the_newest(client, editor, query):
    board, order = board_with_images(editor, 50)
    for url, c in ((f"/images/boards/{board.pk}/", client), (f"/boards/s/{board.share_token}/", Client())):
        response = c.get(f"{url}?{query}")
        html = response.content.decode()
        assert response.status_code == 200 and 'id="pager-error"' in html
        assert listed(html, "output") == order[:48]


def test_the_board_list_pages_by_cursor(client, editor, monkeypatch):
    monkeypatch.setattr(board_views, "PER_PAGE", 5)
    for i in range(12):
        boards.create_board(owner=editor, name=f"Board {i:02d}")
    names = list(Board.objects.order_by("name", "id").values_list("pk", flat=True))
    html = page(client, "/images/boards/")
    assert listed(html, "board") == names[:5]
    second = page(client, "/images/boards/" + link(html, "data-older"))
    assert listed(second, "board") == names[5:10]
    third = page(client, "/images/boards/" + link(second, "data-older"))
    assert listed(third, "board") == names[10:] and link(third, "data-older") is None
    bad = client.get("/images/boards/?cursor=xyz")
    assert bad.status_code == 200 and 'id="pager-error"' in bad.content.decode()


# -- the gallery's jump -----------------------------------------------------------------------------

def gallery_images(count):
    made = [ImageOutputFactory(status="succeeded", file=f"blogimages/tests/g{i}.png") for i in range(count)]
    for i, image in enumerate(made):
        ImageOutput.objects.filter(pk=image.pk).update(created_at=BASE + dt.timedelta(hours=8) * i)
    return newest_first([image.pk for image in made], ImageOutput)


def test_the_gallery_jumps_to_a_date_by_cursor(client):
    order = gallery_images(40)  # 8 hours apart from 1 March 12:00: three a day
    html = page(client, "/images/?jump=2026-03-05&provider=test")
    shown = listed(html, "output")
    expected = newest_first(ImageOutput.objects.filter(
        created_at__lt=timezone.make_aware(dt.datetime(2026, 3, 6))).values_list("pk", flat=True), ImageOutput)
    assert shown == expected[:24]
    assert timezone.localtime(ImageOutput.objects.get(pk=shown[0]).created_at).date() == dt.date(2026, 3, 5)
    assert "from 2026-03-05 and before" in html
    newer = link(html, "data-newer")
    assert "cursor=" in newer and "provider=test" in newer
    above = page(client, "/images/" + newer)
    start = order.index(shown[0])
    assert start > 24 and listed(above, "output") == order[start - 24:start], "the 24 right above the jump"


def test_pages_after_a_gallery_jump_are_labelled_by_date_and_the_pushed_url_keeps_the_jump(client):
    gallery_images(40)  # 8 hours apart from 1 March 12:00; 35 of them before 13 March
    response = client.get("/images/?jump=2026-03-12&provider=", headers={"HX-Request": "true",
                                                                        "HX-Target": "gallery-results"})
    # The address bar gets the jump (and no empty filter): a reload comes back to this place.
    assert response["HX-Push-Url"] == "/images/?jump=2026-03-12"
    html = response.content.decode()
    shown = listed(html, "output")
    assert len(shown) == 24
    last = timezone.localtime(ImageOutput.objects.get(pk=shown[-1]).created_at).date()
    # The jump's page has no number: "Older" says which dates come next, not "page 2".
    assert re.search(r"Older images \(from " + last.isoformat() + r" and before\)", html)
    assert "page 2" not in html
    older = link(html, "data-older")
    assert "cursor=" in older and "page=" not in older

    rest = page(client, "/images/" + older)  # what infinite scroll (or the link without JavaScript) loads
    assert len(listed(rest, "output")) == 11 and link(rest, "data-older") is None
    first = timezone.localtime(ImageOutput.objects.get(pk=listed(rest, "output")[0]).created_at).date()
    assert f"← Newer images</a> · from {first.isoformat()} and before" in rest
    assert "page 1" not in rest and "page 2" not in rest


def test_numbered_gallery_pages_keep_their_numbers(client):
    gallery_images(30)
    html = page(client, "/images/")
    assert "Older images (page 2 of 2)" in html
    second = page(client, "/images/" + link(html, "data-older"))
    assert "← Newer images</a> · page 2 of 2" in second


def test_the_gallery_says_when_a_jump_date_is_not_a_date(client):
    order = gallery_images(5)
    response = client.get("/images/?jump=2026-13-01")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="pager-error"' in html and "is not a date" in html
    assert listed(html, "output") == order


def test_a_jump_needs_a_newest_first_ordering():
    with pytest.raises(ValueError, match="descending"):
        paging.jump_cursor(ImageOutput.objects.order_by("created_at", "id"), BASE)
    with pytest.raises(ValueError, match="descending"):
        paging.jump_cursor(Board.objects.order_by("name", "id"), "B")
