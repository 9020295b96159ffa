#!/usr/bin/env python
"""How fast is the public post page with 5 and with 50 sections? Prints figures; asserts nothing.

    python bench/post_page.py [--sections 5 50] [--runs 30]

Uses a temporary SQLite file (or, with DATABASE_URL, that server's test database, created and
dropped here). Every section gets a real image from the offline `cards` provider; the first
render makes the renditions and is not counted, like the warm-ups after it.
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
                               status=PostStatus.PUBLISHED)

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
            print(f"{'sections':>8} {'median ms':>10} {'p90 ms':>8} {'queries':>8}")
            for count in args.sections:
                post = build_post(count)
                page = post.get_absolute_url()
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
                print(f"{count:>8} {statistics.median(times):>10.1f} {p90:>8.1f} {len(queries):>8}")
        finally:
            teardown()


if __name__ == "__main__":
    os.environ.setdefault("BLOGIMAGES_DEFAULT_PROVIDER", "cards")
    main()
