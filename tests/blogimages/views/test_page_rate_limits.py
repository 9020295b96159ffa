"""The author pages that generate count against the same per-user limit as the APIs."""

import pytest
from django.urls import reverse

from blogimages.models import ImageOutput
from tests.factories import ImageOutputFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def one_a_minute(settings):
    settings.BLOGIMAGES_RATE_LIMITS = {"user_per_minute": 1}
    # This process's memory, whose windows follow the test clock (Redis keeps its own time).
    settings.BLOGIMAGES_RATE_LIMIT_STORAGE_URI = "memory://"


def test_the_tester_is_limited(recorder, editor_client, one_a_minute, clock):
    form = {"description": "A lighthouse", "width": 32, "height": 32, "n": 1}
    editor_client.post(reverse("blogimages:tester"), form, **HX)
    html = editor_client.post(reverse("blogimages:tester"), form, **HX).content.decode()
    assert "Rate limit reached: 1 request(s) per minute" in html
    assert ImageOutput.objects.count() == 1  # the refused request queued nothing
    clock.shift(60)
    editor_client.post(reverse("blogimages:tester"), form, **HX)
    assert ImageOutput.objects.count() == 2


def test_each_compare_cell_counts(recorder, editor_client, settings, one_a_minute):
    html = editor_client.post(reverse("blogimages:compare"), {
        "description": "A lighthouse", "targets": ["provider:test", "provider:cards"], "width": 64, "height": 64,
    }, **HX).content.decode()
    assert "Rate limit reached" in html and ImageOutput.objects.count() == 1


def test_retry_is_limited(recorder, editor_client, editor, one_a_minute):
    failed = ImageOutputFactory(status="failed", error="boom", created_by=editor, provider="test",
                                setting_snapshot={"provider": "test", "width": 32, "height": 32})
    editor_client.post(reverse("blogimages:tester"), {"description": "x", "width": 32, "height": 32, "n": 1}, **HX)
    html = editor_client.post(reverse("blogimages:output_retry", args=[failed.pk]), **HX).content.decode()
    assert "Rate limit reached" in html and ImageOutput.objects.count() == 2


def test_a_chat_turn_is_limited(editor_client, one_a_minute):
    from blogimages.models import ChatMessage, ChatThread

    editor_client.post(reverse("blogimages:chat_list"), {"title": "Covers"})
    thread = ChatThread.objects.get()
    for text in ("a red lighthouse at dusk", "wider"):
        editor_client.post(reverse("blogimages:chat_messages", args=[thread.pk]), {"message": text}, **HX)
    first, second = ChatMessage.objects.filter(thread=thread, role="assistant").order_by("pk")
    assert first.error == "" and "Rate limit reached: 1 request(s) per minute" in second.error
    assert ImageOutput.objects.count() == 1


def test_a_develop_screen_batch_is_limited(editor_client, post, recorder, one_a_minute):
    url = reverse("posts:generate_all", args=[post.slug])
    editor_client.post(url, {"setting": ""}, **HX)
    made = ImageOutput.objects.count()
    assert made >= 1
    html = editor_client.post(url, {"setting": "", "regenerate_all": "on"}, **HX).content.decode()
    assert "Rate limit reached" in html and ImageOutput.objects.count() == made
