#!/usr/bin/env python
"""How fast is the gallery with 10,000 images? Prints figures; asserts nothing about time.

    python bench/gallery.py [--images 10000] [--runs 30] [--deep-page 400] [--per-page 24]

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
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
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


def create_images(count: int) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from blogimages.models import ImageOutput, ImagePrompt, OutputStatus, ReviewStatus
    from posts.models import Post, Section

    rng = random.Random(42)
    user = get_user_model().objects.create_user("bench", password="bench-only", is_staff=True)
    posts = []
    for p in range(20):
        post = Post.objects.create(title=f"Bench post {p}", slug=f"bench-post-{p}", summary="A post for the bench.")
        for s in range(5):
            Section.objects.create(post=post, key=f"section-{s}", heading=f"Heading {s}", order=s, body="Text.")
        posts.append(post)
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
        for i in range(count):
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
            if len(batch) == 1000:
                ImageOutput.objects.bulk_create(batch)
                batch = []
        ImageOutput.objects.bulk_create(batch)
    finally:
        created_at.auto_now_add = True


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    timings.sort()
    return {
        "median": statistics.median(timings),
        "p95": timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))],
        "queries": len(queries.captured_queries),
        "kb": len(response.content) / 1024,
        "thumbs": len(response.context["outputs"]) if response.context else 0,
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
            start = time.perf_counter()
            create_images(args.images)
            print(f"database: {connection.vendor} · {args.images:,} ImageOutputs created in "
                  f"{time.perf_counter() - start:.1f} s · DEBUG={settings.DEBUG}")
            from django.contrib.auth import get_user_model

            client = Client()
            client.force_login(get_user_model().objects.get(username="bench"))
            pages = {
                "first page": f"/images/?per_page={args.per_page}",
                f"page {args.deep_page}": f"/images/?per_page={args.per_page}&page={args.deep_page}",
                "filtered (provider+review)": f"/images/?provider=cards&review_status=approved&per_page={args.per_page}",
                "next page, htmx fragment": f"/images/?per_page={args.per_page}&page=2",
            }
            print(f"{args.runs} timed renders each, {args.per_page} thumbnails a page\n")
            print(f"{'page':<28} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'KB':>6} {'thumbs':>7}")
            for name, url in pages.items():
                if "htmx" in name:
                    client.defaults.update(HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery-next-2")
                result = measure(client, url, args.runs)
                client.defaults.pop("HTTP_HX_REQUEST", None)
                client.defaults.pop("HTTP_HX_TARGET", None)
                print(f"{name:<28} {result['median']:>10.1f} {result['p95']:>8.1f} {result['queries']:>8} "
                      f"{result['kb']:>6.1f} {result['thumbs']:>7}")
        finally:
            teardown()


if __name__ == "__main__":
    main()
