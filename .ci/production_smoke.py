"""The client half of .ci/production-smoke: drives a running production stack over HTTP.

    python .ci/production_smoke.py BASE_URL TOKEN USERNAME PASSWORD

One post batch end to end through the JSON API (cards provider, a real Celery worker), every
image approved and used in its slot, the post published through the develop screen's form,
then what a reader gets: the post page, one of its images, one static file; and that an
original stays private. Exits non-zero with the reason on the first thing that is wrong.
"""

from __future__ import annotations

import re
import sys
import time

import requests

SLUG = "a-weekend-on-the-coast"


def check(condition, message: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {message}")


def main(base: str, token: str, username: str, password: str) -> None:
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"

    started = api.post(f"{base}/api/posts/{SLUG}/generate_images", json={"provider": "cards"}, timeout=30)
    check(started.status_code == 202, f"batch start answered {started.status_code}: {started.text[:500]}")
    progress_url = started.json()["progress_url"]
    deadline = time.monotonic() + 60
    while True:
        batch = api.get(progress_url, timeout=10).json()
        if batch["finished"]:
            break
        check(time.monotonic() < deadline, f"the batch did not finish in 60 s (is the worker up?): {batch}")
        time.sleep(0.5)
    check(batch["status"] == "succeeded" and batch["succeeded"] == batch["total"] > 0, f"batch: {batch}")
    print(f"batch {batch['id']}: {batch['succeeded']} images made by the worker")

    for image in batch["images"]:
        approved = api.post(f"{base}/api/images/{image['id']}/approve", json={"note": "smoke"}, timeout=10)
        check(approved.status_code == 200, f"approve #{image['id']}: {approved.status_code} {approved.text[:300]}")
        used = api.post(f"{base}/api/images/{image['id']}/use", json={"post": SLUG, "slot": image["section_key"]},
                        timeout=30)
        check(used.status_code == 201, f"use #{image['id']}: {used.status_code} {used.text[:300]}")
    original = batch["images"][0]["url"]
    check("/images/media/" in original, f"an unpublished original is not behind a signed link: {original}")
    check(requests.get(original, timeout=10).status_code == 200, "the signed link to an original does not work")

    # Publish as an editor does: log in, then the develop screen's Publish form (CSRF and all).
    browser = requests.Session()
    browser.get(f"{base}/accounts/login/", timeout=10)
    logged_in = browser.post(f"{base}/accounts/login/", timeout=10, allow_redirects=False,
                             data={"username": username, "password": password,
                                   "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                             headers={"Referer": f"{base}/accounts/login/"})
    check(logged_in.status_code == 302, f"login answered {logged_in.status_code}")
    published = browser.post(f"{base}/posts/{SLUG}/develop/publish/", timeout=10, allow_redirects=False,
                             data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                             headers={"Referer": f"{base}/posts/{SLUG}/develop/"})
    check(published.status_code == 302, f"publish answered {published.status_code}: {published.text[:300]}")

    reader = requests.Session()
    # Publishing queued the renditions (a task for the worker): the first view only reads, showing
    # the originals until they are made.
    began = time.monotonic()
    page = reader.get(f"{base}/posts/{SLUG}/", timeout=30)
    print(f"first view of the published page: {time.monotonic() - began:.2f} s")
    check(page.status_code == 200, f"the published post page answered {page.status_code}")
    images = []
    while (not images or "/images/media/" in page.text) and time.monotonic() - began < 120:
        page = reader.get(f"{base}/posts/{SLUG}/", timeout=30)
        check(page.status_code == 200, f"the published post page answered {page.status_code}")
        images = sorted(set(re.findall(r'(/media/blogimages/renditions/[^"\s,]+\.webp)', page.text)))
        if not images:
            time.sleep(0.5)
    print(f"renditions made by the worker and shown: {time.monotonic() - began:.1f} s after publishing")
    check(images, "the published page shows no public renditions two minutes after publishing")
    check("/images/media/" not in page.text, "the public page hands out expiring links")
    image = reader.get(base + images[0], timeout=10)
    check(image.status_code == 200 and image.headers["Content-Type"] == "image/webp" and image.content[8:12] == b"WEBP",
          f"a published image: {image.status_code} {image.headers.get('Content-Type')}")
    check("public" in image.headers.get("Cache-Control", ""), f"not cacheable: {image.headers.get('Cache-Control')}")
    leaf = original.rsplit("/", 1)[1]  # a signed link ends with the file's own name
    check(reader.get(f"{base}/media/blogimages/posts/{SLUG}/{leaf}", timeout=10).status_code == 404,
          "an original is public at its /media/ path")

    css = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page.text)
    check(css, "the page links no hashed stylesheet (collectstatic's manifest)")
    static = reader.get(base + css.group(1), timeout=10, headers={"Accept-Encoding": "gzip"})
    check(static.status_code == 200 and static.headers.get("Content-Encoding") == "gzip"
          and "immutable" in static.headers.get("Cache-Control", ""),
          f"static file through whitenoise: {static.status_code} {dict(static.headers)}")
    print(f"reader: post page, {images[0]} ({len(image.content)} bytes), {css.group(1)} (gzip) -- all served")


if __name__ == "__main__":
    main(*sys.argv[1:5])
