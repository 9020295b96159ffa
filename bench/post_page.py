#!/usr/bin/env python
"""How fast is the public post page with 5 and with 50 sections? Prints figures; asserts nothing.

    python bench/post_page.py [--sections 5 50] [--runs 30]

Uses a temporary SQLite file (or, with DATABASE_URL, that server's test database, created and
dropped here). Every section gets a real image from the offline `cards` provider while the post
is a draft; then the post is published (timed: "publish ms", which makes the renditions when
there is no broker) and read once (timed: "first view ms"), then warmed up and measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gallery import setup_django  # noqa: E402  (the same throwaway-database setup)


def build_post(sections: int):
    from blogimages import generation
    from posts.models import Post, PostStatus, Section

    post = Post.objects.create(title=f"Bench {sections}", slug=f"bench-{sections}", summary="A bench post.",
                               status=PostStatus.DRAFT)

    def image(key, size):
        [output] = generation.generate(prompt=f"Harbour {key}", provider="cards", post=post, section_key=key,
                                       overrides={"width": size[0], "height": size[1]})
        return output

    for index in range(sections):
        Section.objects.create(post=post, key=f"s{index}", heading=f"Heading {index}", order=index, body="Text.",
                               chosen_image=image(f"s{index}", (960, 540)))
    post.featured_image = image("featured", (1536, 864))
    post.social_image = image("social", (1200, 630))
    post.save()
    return post


def publish(post) -> float:
    """Publish as the develop screen's Publish button does; milliseconds taken."""
    from django.utils import timezone

    from posts.models import PostStatus

    start = time.perf_counter()
    post.status, post.published_at = PostStatus.PUBLISHED, timezone.now()
    post.save(update_fields=["status", "published_at", "updated_at"])
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", type=int, nargs="+", default=[5, 50])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        teardown = setup_django(Path(tmp))
        try:
            from django.db import connection
            from django.test import Client
            from django.test.utils import CaptureQueriesContext

            client = Client()
            print(f"{'sections':>8} {'publish ms':>10} {'first view ms':>13} {'median ms':>10} {'p90 ms':>8} "
                  f"{'queries':>8}")
            for count in args.sections:
                post = build_post(count)
                page = post.get_absolute_url()
                publish_ms = publish(post)
                start = time.perf_counter()
                assert client.get(page).status_code == 200
                first_ms = (time.perf_counter() - start) * 1000
                for _ in range(3):
                    assert client.get(page).status_code == 200
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    client.get(page)
                    times.append((time.perf_counter() - start) * 1000)
                with CaptureQueriesContext(connection) as queries:
                    client.get(page)
                p90 = sorted(times)[int(len(times) * 0.9) - 1]
                print(f"{count:>8} {publish_ms:>10.1f} {first_ms:>13.1f} {statistics.median(times):>10.1f} "
                      f"{p90:>8.1f} {len(queries):>8}")
        finally:
            teardown()


if __name__ == "__main__":
    os.environ.setdefault("BLOGIMAGES_DEFAULT_PROVIDER", "cards")
    main()
