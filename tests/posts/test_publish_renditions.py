"""A published post's renditions are made when it is published, not by its first reader
(blogimages/post_renditions.py): without a broker after the publish request's response (inline
outside a request), a Celery task with one; the page meanwhile shows the originals and never
makes a rendition itself."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from blogimages import post_renditions, review, tasks
from blogimages.models import Rendition
from posts.models import PostStatus
from tests.conftest import require_service
from tests.factories import PostFactory, SectionFactory
from tests.posts.test_public_page import make_image

pytestmark = pytest.mark.django_db


def draft_post(sections=2):
    post = PostFactory(title="Coast", slug="coast", summary="A weekend by the sea", status=PostStatus.DRAFT)
    for index in range(sections):
        section = SectionFactory(post=post, key=f"s{index}", heading=f"Heading {index}", order=index)
        section.chosen_image = make_image(post, section.key, size=(640, 360), description=f"Harbour {index}")
        section.save()
    post.featured_image = make_image(post, "featured")
    post.social_image = make_image(post, "social", size=(1200, 630), description="Coast card")
    post.save()
    return post


def rendition_inserts(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT") and "rendition" in q["sql"]]


def test_publishing_makes_every_rendition_the_page_shows_and_the_first_view_makes_none(
        editor_client, client, django_capture_on_commit_callbacks):
    post = draft_post(2)
    assert Rendition.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(reverse("posts:publish", args=[post.slug]))
    assert response.status_code == 302
    post.refresh_from_db()
    for image in (post.featured_image, *(s.chosen_image for s in post.sections.all())):
        assert Rendition.objects.filter(image=image, spec__endswith=".webp").exists(), image.section_key
    assert Rendition.objects.filter(image=post.social_image, spec="fill-1200x630.png").exists()
    made = Rendition.objects.count()
    with CaptureQueriesContext(connection) as queries:
        page = client.get(post.get_absolute_url())
    assert page.status_code == 200 and rendition_inserts(queries) == [] and Rendition.objects.count() == made
    html = page.content.decode()
    assert html.count("/media/blogimages/renditions/") > 10 and "/images/media/" not in html


def held_response(client, method: str, path: str, **extra):
    """The site's answer to a request, as a WSGI server has it before it calls `close()` (the
    test client closes it at once): what the browser gets before the after-response work."""
    from django.core.handlers.base import BaseHandler
    from django.test import RequestFactory

    factory = RequestFactory()
    factory.cookies = client.cookies
    request = getattr(factory, method)(path, **extra)
    request._dont_enforce_csrf_checks = True  # as the test client does
    handler = BaseHandler()
    handler.load_middleware()
    return handler.get_response(request)


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_publish_answers_first_and_the_renditions_follow_its_response(editor_client, client):
    post = draft_post(2)
    response = held_response(editor_client, "post", reverse("posts:publish", args=[post.slug]))
    assert response.status_code == 302 and response["Location"] == post.get_absolute_url()
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED and Rendition.objects.count() == 0, "the answer did not wait"

    # A reader meanwhile gets the originals (signed links), makes nothing and asks for nothing more.
    with CaptureQueriesContext(connection) as queries:
        page = client.get(post.get_absolute_url())
    assert page.status_code == 200 and rendition_inserts(queries) == [] and Rendition.objects.count() == 0
    html = page.content.decode()
    assert "/images/media/" in html and "/media/blogimages/renditions/" not in html

    response.close()  # the server has sent the answer: the same worker makes them now
    for image in (post.featured_image, *(s.chosen_image for s in post.sections.all())):
        assert Rendition.objects.filter(image=image, spec__endswith=".webp").exists(), image.section_key
    assert Rendition.objects.filter(image=post.social_image, spec="fill-1200x630.png").exists()
    ready = client.get(post.get_absolute_url()).content.decode()
    assert ready.count("/media/blogimages/renditions/") > 10 and 'property="og:image"' in ready


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_a_page_missing_renditions_has_them_made_after_its_own_response(client):
    post = draft_post(1)
    post.status = PostStatus.PUBLISHED
    post.save()  # outside a request: made inline, as a command publishing would
    assert Rendition.objects.exists()
    Rendition.objects.all().delete()  # as if they were lost
    response = held_response(client, "get", post.get_absolute_url())
    assert response.status_code == 200 and b"/media/blogimages/renditions/" not in response.content
    assert Rendition.objects.count() == 0  # the reader's answer did not wait for them
    response.close()
    assert client.get(post.get_absolute_url()).content.decode().count("/media/blogimages/renditions/") > 5


def test_a_new_image_on_a_published_slot_gets_its_renditions_when_assigned(
        editor, client, django_capture_on_commit_callbacks):
    post = draft_post(1)
    with django_capture_on_commit_callbacks(execute=True):
        post.status = PostStatus.PUBLISHED
        post.save()
    newer = make_image(post, "s0", size=(640, 360), description="Harbour at night")
    assert not Rendition.objects.filter(image=newer).exists()
    with django_capture_on_commit_callbacks(execute=True):
        review.assign_to_section(newer, "s0", user=editor)
    assert Rendition.objects.filter(image=newer).count() >= 2
    with CaptureQueriesContext(connection) as queries:
        assert client.get(post.get_absolute_url()).status_code == 200
    assert rendition_inserts(queries) == []


@pytest.fixture
def broker_queue():
    """Tasks really published to the Redis broker, on a queue of this test's own (no worker)."""
    from django.conf import settings

    from config.celery import app

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        require_service("Redis", "REDIS_URL is not set")
    import redis

    queue = f"blogimages-test-{uuid.uuid4().hex[:8]}"
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield lambda: [m for m in client.lrange(queue, 0, -1)]
    client.delete(queue)


def test_with_a_broker_publishing_queues_a_task_and_the_page_shows_originals_until_it_ran(
        editor_client, client, broker_queue, django_capture_on_commit_callbacks):
    post = draft_post(1)
    with django_capture_on_commit_callbacks(execute=True):
        assert editor_client.post(reverse("posts:publish", args=[post.slug])).status_code == 302
    [message] = broker_queue()
    assert b"blogimages.tasks.make_post_renditions" in message
    assert Rendition.objects.count() == 0, "the publish request did not make them"

    with CaptureQueriesContext(connection) as queries:
        page = client.get(post.get_absolute_url())
    assert page.status_code == 200 and rendition_inserts(queries) == []
    html = page.content.decode()
    # Each image is shown as its original (a signed link) at its own size; no og:image until ready.
    featured = re.search(r'<figure class="bi-figure featured".*?</figure>', html, re.S).group(0)
    assert "/images/media/" in featured and 'width="1536" height="864"' in featured
    assert "/media/blogimages/renditions/" not in html and 'property="og:image"' not in html
    assert client.get(post.get_absolute_url()).status_code == 200
    assert len(broker_queue()) == 1, "readers do not ask again while the publish's task is pending"

    assert tasks.make_post_renditions(post.pk) == 3  # what the worker runs: featured, s0, social
    ready = client.get(post.get_absolute_url()).content.decode()
    assert ready.count("/media/blogimages/renditions/") > 10 and 'property="og:image"' in ready


def test_with_a_broker_a_page_missing_renditions_asks_for_them_once(client, broker_queue):
    post = draft_post(1)
    post.status = PostStatus.PUBLISHED
    post.save()  # its on_commit never runs here: as if the publish's task was lost
    assert broker_queue() == []
    for _ in range(2):
        assert client.get(post.get_absolute_url()).status_code == 200
    [message] = broker_queue()
    assert b"make_post_renditions" in message and Rendition.objects.count() == 0
    post_renditions.make(post.pk)
    assert client.get(post.get_absolute_url()).status_code == 200 and len(broker_queue()) == 1


def test_renditions_that_cannot_be_queued_or_made_never_fail_the_publish(
        editor_client, client, django_capture_on_commit_callbacks, monkeypatch):
    post = draft_post(1)

    def broken(post_pk):
        raise RuntimeError("the renditions runner is broken")

    monkeypatch.setattr(post_renditions.queueing, "_post_renditions_runner", broken)
    with django_capture_on_commit_callbacks(execute=True):
        assert editor_client.post(reverse("posts:publish", args=[post.slug])).status_code == 302
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED
    assert client.get(post.get_absolute_url()).status_code == 200  # originals


def test_a_section_saved_with_another_image_on_a_published_post_gets_its_renditions(
        client, django_capture_on_commit_callbacks):
    post = draft_post(1)
    with django_capture_on_commit_callbacks(execute=True):
        post.status = PostStatus.PUBLISHED
        post.save()
    section = post.sections.get()
    section.chosen_image = make_image(post, "s0", size=(640, 360), description="Harbour in fog")
    with django_capture_on_commit_callbacks(execute=True):
        section.save()  # as the admin's inline does
    assert Rendition.objects.filter(image=section.chosen_image).count() >= 2
