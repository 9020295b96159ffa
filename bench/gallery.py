#!/usr/bin/env python
"""How fast are the gallery and the admin at 10,000 and 100,000 images? Prints figures;
asserts nothing about time.

    python bench/gallery.py [--images 10000 100000] [--runs 30] [--deep-page 400] [--per-page 24]

Seeds the first count, measures, tops the table up to the next count and measures again.
"First / page 400 / deepest page" are numbered pages (`?page=N`, a bookmark); "deepest
page by cursor" is where infinite scroll ends (`?cursor=`). Filtered grids (a provider; a
provider and a review status; a two-word search) are measured beside them. The admin's
changelist is measured the same way (its first, 400th-equivalent and last page, a provider
filter and a search).

Without DATABASE_URL it uses a temporary SQLite file; with DATABASE_URL it creates (and
afterwards drops) that server's test database, the way the test runner does, so your data
is never touched. Rows get realistic fields and fake file names: rendering the grid needs
only the thumbnails' URLs, not the files. Each page is rendered through Django's test
client as a logged-in user; the first runs warm up and are not counted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=30, help="Timed renders per page (after 3 warm-ups).")
    parser.add_argument("--deep-page", type=int, default=400)
    parser.add_argument("--per-page", type=int, default=24)
    return parser.parse_args()


def setup_django(tmp: Path) -> Callable[[], None]:
    """Configure Django on a throwaway database; returns the teardown."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "false")  # measure what production renders
    os.environ.setdefault("DJANGO_SECRET_KEY", f"bench-only-{os.urandom(24).hex()}")
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    use_server = bool(os.environ.get("DATABASE_URL"))
    if not use_server:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if use_server:
        # The test database beside the configured one (test_<name>), created and dropped here.
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
        return lambda: connection.creation.destroy_test_db(old_name, verbosity=0)
    call_command("migrate", verbosity=0)
    return lambda: None


def create_images(count: int, start: int = 0) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from blogimages.models import ImageOutput, ImagePrompt, OutputStatus, ReviewStatus
    from posts.models import Post, Section

    rng = random.Random(42 + start)
    if start == 0:
        user = get_user_model().objects.create_user("bench", password="bench-only", is_staff=True,
                                                    is_superuser=True)
        for p in range(20):
            post = Post.objects.create(title=f"Bench post {p}", slug=f"bench-post-{p}",
                                       summary="A post for the bench.")
            for s in range(5):
                Section.objects.create(post=post, key=f"section-{s}", heading=f"Heading {s}", order=s, body="Text.")
    user = get_user_model().objects.get(username="bench")
    posts = list(Post.objects.filter(slug__startswith="bench-post-"))
    words = ("lighthouse", "harbour", "storm", "dusk", "tide pools", "seafood shack", "cliffs", "fog", "beach",
             "sunrise", "ferry", "market", "mountain", "forest", "city at night", "coffee", "desk", "garden")
    prompts = ImagePrompt.objects.bulk_create(
        ImagePrompt(description=f"A {w} in {rng.choice(words)}", style=rng.choice(["noir", "pastel", "warm"]))
        for w in words
    )
    providers = [("cards", "cards", 1024, 1024), ("cards", "cards-geometric", 1200, 630),
                 ("openai", "dall-e-3", 1792, 1024), ("openai", "gpt-image-1", 1024, 1536),
                 ("sd", "sdxl-base-1.0", 1216, 832)]
    now = timezone.now()
    created_at = ImageOutput._meta.get_field("created_at")
    batch: list[ImageOutput] = []
    # bulk_create would stamp every row "now"; spread them over three months instead.
    created_at.auto_now_add = False
    try:
        for i in range(start, count):
            prompt = rng.choice(prompts)
            provider, model, width, height = rng.choice(providers)
            when = now - timedelta(seconds=rng.randint(0, 90 * 24 * 3600))
            failed = rng.random() < 0.03
            post = rng.choice(posts) if rng.random() < 0.6 else None
            short = hashlib.sha1(str(i).encode()).hexdigest()[:8]
            stem = (f"blogimages/posts/{post.slug}/section-{i % 5}-{short}" if post
                    else f"blogimages/tests/{when:%Y-%m-%d}/{when:%H%M%S}-bench-image-{short}")
            batch.append(ImageOutput(
                prompt=prompt, prompt_text=prompt.text(), provider=provider, model=model,
                seed=rng.randint(0, 2**32 - 1),
                setting_snapshot={"provider": provider, "model": model, "width": width, "height": height, "n": 1},
                status=OutputStatus.FAILED if failed else OutputStatus.SUCCEEDED,
                error="openai: Rate limit reached (HTTP 429)" if failed else "",
                file="" if failed else f"{stem}.png", thumbnail="" if failed else f"{stem}.thumb.webp",
                sidecar="" if failed else f"{stem}.json", mime_type="" if failed else "image/png",
                width=None if failed else width, height=None if failed else height,
                bytes=None if failed else rng.randint(200_000, 3_000_000),
                sha256="" if failed else hashlib.sha256(stem.encode()).hexdigest(),
                review_status=rng.choice([ReviewStatus.PENDING, ReviewStatus.PENDING, ReviewStatus.APPROVED,
                                          ReviewStatus.REJECTED]),
                post=post, section_key=f"section-{i % 5}" if post else "", created_by=user,
                created_at=when, queued_at=when, started_at=when, finished_at=when + timedelta(seconds=3),
                provider_ms=rng.randint(80, 20_000),
            ))
            if i % 50 == 49 and batch and batch[0].pk is None:
                # Every 50th image gets a watermarked copy stacked under it in the gallery.
                batch[-1].derivation = "watermark-pending"
            if len(batch) == 1000:
                ImageOutput.objects.bulk_create(batch)
                batch = []
        ImageOutput.objects.bulk_create(batch)
    finally:
        created_at.auto_now_add = True
    # Stacked copies: one per 50 images, pointing at an original just made.
    originals = list(ImageOutput.objects.filter(derivation="watermark-pending"))
    copies = []
    for original in originals:
        copy = ImageOutput.objects.get(pk=original.pk)
        copy.pk, copy.uid, copy.derived_from, copy.derivation = None, uuid.uuid4(), original, "watermark"
        copies.append(copy)
    created_at.auto_now_add = False
    try:
        ImageOutput.objects.bulk_create(copies, batch_size=1000)
    finally:
        created_at.auto_now_add = True
    ImageOutput.objects.filter(derivation="watermark-pending").update(derivation="")
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does on a live site: statistics and the visibility map (index-only scans).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE blogimages_imageoutput")


def measure_all(client, pages: dict[str, tuple[str, dict]], runs: int) -> dict[str, dict]:
    """Every page rendered `runs` times, round-robin (a load spike hits them all alike)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for name, (url, headers) in pages.items():
        for _ in range(3):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (name, url, response.status_code)
    timings: dict[str, list[float]] = {name: [] for name in pages}
    cpu: dict[str, list[float]] = {name: [] for name in pages}
    # Timed as production renders: without the test environment's template instrumentation,
    # which sends a signal and the test client copies the whole context for every template
    # rendered (each tile's include too). Only the last, untimed render below keeps it (the
    # count of thumbnails shown comes from its context).
    from django.template import Template
    from django.test.utils import _TestState

    instrumented = Template._render
    Template._render = _TestState.saved_data.template_render
    try:
        for _ in range(runs):
            for name, (url, headers) in pages.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                client.get(url, headers=headers)
                timings[name].append((time.perf_counter() - start) * 1000)
                cpu[name].append((time.process_time() - start_cpu) * 1000)
    finally:
        Template._render = instrumented
    results = {}
    for name, (url, headers) in pages.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, headers=headers)
        values = sorted(timings[name])
        context = response.context
        shown = (len(context["outputs"]) if "outputs" in context else len(context["cl"].result_list)) \
            if context else 0
        results[name] = {
            "median": statistics.median(values),
            "cpu": statistics.median(cpu[name]),
            "p95": values[min(len(values) - 1, round(0.95 * (len(values) - 1)))],
            "queries": len(queries.captured_queries),
            "kb": len(response.content) / 1024,
            "thumbs": shown,
        }
    return results


def pages_for(args) -> dict[str, tuple[str, dict]]:
    from blogimages import paging
    from blogimages.models import ImageOutput
    from blogimages.selectors import gallery_images

    per = args.per_page
    tiles = ImageOutput.objects.filter(derived_from__isnull=True).count()
    deepest = max(1, -(-tiles // per))
    images = gallery_images()
    before_last = images[(deepest - 1) * per - 1] if deepest > 1 else None
    cursor = paging.cursor_after(before_last, paging.ordering_of(images)) if before_last else ""
    admin_per = 48
    admin_last = max(1, -(-ImageOutput.objects.count() // admin_per))
    fragment = {"HX-Request": "true", "HX-Target": "gallery-next-2"}
    return {
        "first page": (f"/images/?per_page={per}", {}),
        f"page {args.deep_page}": (f"/images/?per_page={per}&page={args.deep_page}", {}),
        f"deepest page ({deepest})": (f"/images/?per_page={per}&page={deepest}", {}),
        "deepest page by cursor": (f"/images/?per_page={per}&cursor={cursor}&page={deepest}", {}),
        "filtered (provider+review)": (f"/images/?provider=cards&review_status=approved&per_page={per}", {}),
        "filtered (provider)": (f"/images/?provider=cards&per_page={per}", {}),
        f"filtered, page {args.deep_page}": (f"/images/?provider=cards&per_page={per}&page={args.deep_page}", {}),
        # The search box, as it is typed: `q` matches the prompt text, word by word.
        "search (?q=harbour storm)": (f"/images/?q=harbour+storm&per_page={per}", {}),
        "infinite scroll fragment": (f"/images/?per_page={per}&cursor={cursor}&page={deepest}", fragment),
        "admin changelist": ("/admin/blogimages/imageoutput/", {}),
        f"admin page {args.deep_page}": (f"/admin/blogimages/imageoutput/?p={min(args.deep_page, admin_last)}", {}),
        f"admin deepest ({admin_last})": (f"/admin/blogimages/imageoutput/?p={admin_last}", {}),
        "admin filtered (provider)": ("/admin/blogimages/imageoutput/?provider=cards", {}),
        "admin search (harbour storm)": ("/admin/blogimages/imageoutput/?q=harbour+storm", {}),
    }


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gallery-") as tmp:
        teardown = setup_django(Path(tmp))
        try:
            from django.conf import settings
            from django.db import connection
            from django.test import Client
            from django.test.utils import setup_test_environment

            setup_test_environment()  # lets the client see response.context
            from django.contrib.auth import get_user_model

            made = 0
            for count in sorted(args.images):
                start = time.perf_counter()
                create_images(count, start=made)
                made = count
                print(f"\ndatabase: {connection.vendor} · {count:,} ImageOutputs (+2 % stacked copies) ready in "
                      f"{time.perf_counter() - start:.1f} s · DEBUG={settings.DEBUG}")
                client = Client()
                client.force_login(get_user_model().objects.get(username="bench"))
                pages = pages_for(args)
                print(f"{args.runs} timed renders each, round-robin, {args.per_page} thumbnails a page")
                print(f"{'page':<28} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>7} {'queries':>8} {'KB':>6} "
                      f"{'shown':>7}")
                results = measure_all(client, pages, args.runs)
                for name, result in results.items():
                    print(f"{name:<28} {result['median']:>10.1f} {result['p95']:>8.1f} {result['cpu']:>7.1f} "
                          f"{result['queries']:>8} "
                          f"{result['kb']:>6.1f} {result['thumbs']:>7}")
                numbered = [results[name]["median"] for name in list(pages)[:3]]
                print(f"first / page {args.deep_page} / deepest: spread {max(numbered) / min(numbered):.2f}x "
                      f"(target <= 1.2x, each <= 40 ms; admin <= 80 ms) · load average "
                      f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (CPU ms is this process only: "
                      f"the render, not PostgreSQL)")
        finally:
            teardown()


if __name__ == "__main__":
    main()
