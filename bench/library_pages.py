#!/usr/bin/env python
"""The prompt history and a board at depth: first page, deepest page by cursor and a jump by
date, against the deepest page by offset (what the pages did before). Prints figures;
asserts nothing about time.

    python bench/library_pages.py [--rows 20000] [--runs 15]

Seeds --rows prompt runs for one user and a board with --rows images, spread over a year.
Without DATABASE_URL a temporary SQLite file; with it, a throwaway test database on that
server (created and dropped here), as bench/gallery.py does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gallery import setup_django  # noqa: E402  (the same throwaway database set-up)


def seed(rows: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from blogimages.models import Board, BoardImage, ImageOutput, OutputStatus, PromptRun, ReviewStatus

    user = get_user_model().objects.create_user("bench", password="bench-only", is_staff=True, is_superuser=True)
    now = timezone.now()
    step = timedelta(days=365) / rows
    for field in (PromptRun._meta.get_field("created_at"), ImageOutput._meta.get_field("created_at"),
                  BoardImage._meta.get_field("added_at")):
        field.auto_now_add = False
    runs = [PromptRun(user=user, source="tester", prompt_text=f"A lighthouse number {i}", provider="cards",
                      created_at=now - step * i) for i in range(rows)]
    PromptRun.objects.bulk_create(runs, batch_size=2000)
    images = [ImageOutput(prompt_text=f"A lighthouse number {i}", provider="cards", model="cards",
                          status=OutputStatus.SUCCEEDED, review_status=ReviewStatus.APPROVED,
                          file=f"blogimages/tests/bench-{i}.png", thumbnail=f"blogimages/tests/bench-{i}.thumb.webp",
                          width=1024, height=1024, created_by=user, created_at=now - step * i) for i in range(rows)]
    ImageOutput.objects.bulk_create(images, batch_size=2000)
    board = Board.objects.create(owner=user, name="Bench", visibility="link", share_token="bench-" + "x" * 26)
    ids = list(ImageOutput.objects.order_by("-created_at").values_list("pk", flat=True))
    BoardImage.objects.bulk_create([BoardImage(board=board, image_id=pk, added_at=now - step * i)
                                    for i, pk in enumerate(ids)], batch_size=2000)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE blogimages_promptrun, blogimages_imageoutput, blogimages_boardimage")
    return user, board


def deepest_cursor(rows_queryset, size: int) -> str:
    """The cursor of the last page (found once by offset, outside the timing)."""
    from blogimages import paging

    count = rows_queryset.count()
    last_before = rows_queryset[max(0, count - size - 1)]
    return paging.cursor_after(last_before, paging.ordering_of(rows_queryset))


def measure(client, url: str, runs: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        assert client.get(url).status_code == 200, url
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(times), len(queries.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        teardown = setup_django(Path(tmp))
        try:
            from django.conf import settings
            from django.db import connection
            from django.test import Client
            from django.test.utils import setup_test_environment

            from blogimages import boards, paging
            from blogimages.selectors import run_list
            from blogimages.views import boards as board_views
            from blogimages.views import history as history_views

            setup_test_environment()
            settings.ALLOWED_HOSTS = ["testserver"]
            # No collectstatic here: plain static URLs (the manifest storage would need one).
            settings.STORAGES = {**settings.STORAGES,
                                 "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
            user, board = seed(args.rows)
            client = Client()
            client.force_login(user)
            runs_qs = run_list(user)
            entries = boards.board_entries(board)
            history_deep = deepest_cursor(runs_qs, history_views.PER_PAGE)
            board_deep = deepest_cursor(entries, board_views.PER_PAGE)
            # What the pages did before: Paginator's OFFSET (and its COUNT) at the last page.
            from django.core.paginator import Paginator

            def offset_page(queryset, per_page):
                start = time.perf_counter()
                for _ in range(args.runs):
                    page = Paginator(queryset, per_page).get_page(10**9)
                    list(page.object_list)
                return (time.perf_counter() - start) * 1000 / args.runs

            mid_date = (paging.decode_cursor(runs_qs, history_deep)[1][0] + timedelta(days=180)).date()
            pages = {
                "history, first page": "/images/history/",
                "history, deepest page by cursor": f"/images/history/?cursor={history_deep}",
                f"history, jump to {mid_date}": f"/images/history/?jump={mid_date}",
                "board, first page": f"/images/boards/{board.pk}/",
                "board, deepest page by cursor": f"/images/boards/{board.pk}/?cursor={board_deep}",
                f"board, jump to {mid_date}": f"/images/boards/{board.pk}/?jump={mid_date}",
                f"gallery, jump to {mid_date}": f"/images/?jump={mid_date}",
            }
            print(f"{connection.vendor}, {args.rows:,} runs and {args.rows:,} board images; "
                  f"median of {args.runs} renders (ms), queries per render")
            for name, url in pages.items():
                median, queries = measure(client, url, args.runs)
                print(f"  {name:<38} {median:8.1f} ms  {queries:3d} queries")
            print("  for comparison, the query alone of the old offset pages (Paginator, last page):")
            print(f"  {'history rows by OFFSET':<38} {offset_page(runs_qs, history_views.PER_PAGE):8.1f} ms")
            print(f"  {'board rows by OFFSET':<38} {offset_page(boards.board_images(board), board_views.PER_PAGE):8.1f} ms")
        finally:
            teardown()


if __name__ == "__main__":
    main()
