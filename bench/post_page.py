#!/usr/bin/env python
"""How fast is the public post page with 5 and with 50 sections? Prints figures; asserts nothing.

    python bench/post_page.py [--sections 5 50] [--runs 30]

Uses a temporary SQLite file (or, with DATABASE_URL, that server's test database, created and
dropped here). Every section gets a real image from the offline `cards` provider while the post
is a draft; then an editor presses Publish on a real loopback HTTP server (Django's threaded
runserver server, the whole middleware stack): "publish ms" is until the browser has the answer,
"ready ms" until every rendition the page shows exists (without a broker they are made after
the answer, on the request's worker). Then the page is read once ("first view ms"), warmed up and
measured. Static files are served unhashed (no collectstatic needed): the figures are the page's.
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


def serve():
    """A loopback server of the site in a thread (as runserver serves it); returns (port, stop)."""
    import threading

    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Handler(WSGIHandler):
        def get_response(self, request):
            request._dont_enforce_csrf_checks = True  # as the test client does: the bench posts no form
            return super().get_response(request)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
    server.set_app(Handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
    return server.server_address[1], stop


def editor_cookie() -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-editor", defaults={"is_staff": True,
                                                                                        "is_superuser": True})
    client = Client()
    client.force_login(user)
    return "; ".join(f"{key}={morsel.value}" for key, morsel in client.cookies.items())


def renditions_ready(post) -> bool:
    from blogimages import post_renditions

    shown, social = post_renditions.page_images(post)
    return not post_renditions._prepare(shown, social)


def publish(post, port: int, cookie: str) -> tuple[float, float]:
    """Press Publish as an editor over HTTP: (ms until the answer, ms until every rendition exists)."""
    import http.client

    from django.urls import reverse

    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("POST", reverse("posts:publish", args=[post.slug]), body="",
                       headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    response.read()
    answered = (time.perf_counter() - start) * 1000
    assert response.status == 302, response.status
    connection.close()
    # Cheap polls (the lock a publish holds until its renditions are made) so the bench does not
    # take the interpreter from the server thread making them; then the real check.
    from django.core.cache import cache

    from blogimages import post_renditions

    while cache.get(post_renditions._lock_key(post.pk)) is not None or not renditions_ready(post):
        time.sleep(0.1)
    return answered, (time.perf_counter() - start) * 1000


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

            from django.conf import settings

            settings.ALLOWED_HOSTS = ["*"]
            settings.STORAGES = {**settings.STORAGES,
                                 "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
            port, stop = serve()
            cookie = editor_cookie()
            client = Client()
            print(f"{'sections':>8} {'publish ms':>10} {'ready ms':>9} {'first view ms':>13} {'median ms':>10} "
                  f"{'p90 ms':>8} {'queries':>8}")
            for count in args.sections:
                post = build_post(count)
                page = post.get_absolute_url()
                publish_ms, ready_ms = publish(post, port, cookie)
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
                print(f"{count:>8} {publish_ms:>10.1f} {ready_ms:>9.1f} {first_ms:>13.1f} {statistics.median(times):>10.1f} "
                      f"{p90:>8.1f} {len(queries):>8}")
            stop()
        finally:
            teardown()


if __name__ == "__main__":
    os.environ.setdefault("BLOGIMAGES_DEFAULT_PROVIDER", "cards")
    main()
