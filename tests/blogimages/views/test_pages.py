"""Every page requires login, renders for a logged-in user, and shares the base layout."""

import pytest
from django.urls import reverse

from tests.factories import ImageOutputFactory, ImagePromptExampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(post):
    return {
        "example": ImagePromptExampleFactory(name="Cover"),
        "output": ImageOutputFactory(status="failed", error="boom"),
        "post": post,
    }


def page_urls(objects) -> list[str]:
    example, output, post = objects["example"].pk, objects["output"].pk, objects["post"].slug
    return [
        reverse("blogimages:gallery"),
        reverse("blogimages:image_detail", args=[output]),
        reverse("blogimages:image_delete", args=[output]),
        reverse("blogimages:tester"),
        reverse("blogimages:compare"),
        reverse("blogimages:prompt_list"),
        reverse("blogimages:example_create"),
        reverse("blogimages:example_detail", args=[example]),
        reverse("blogimages:example_edit", args=[example]),
        reverse("blogimages:example_delete", args=[example]),
        reverse("posts:list"),
        reverse("posts:develop", args=[post]),
        reverse("posts:generate_all", args=[post]),
    ]


def test_anonymous_users_are_sent_to_log_in(client, objects):
    for url in page_urls(objects) + [
        reverse("blogimages:image_download", args=[objects["output"].pk]),
        reverse("blogimages:output_status", args=[objects["output"].pk]),
        reverse("blogimages:post_fields"),
        reverse("blogimages:post_sections"),
        reverse("posts:section_candidates", args=[objects["post"].slug, "intro"]),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_anonymous_posts_are_refused_too(client, objects):
    for url in [reverse("blogimages:tester"), reverse("blogimages:import_field"),
                reverse("blogimages:example_duplicate", args=[objects["example"].pk]),
                reverse("posts:section_choose", args=[objects["post"].slug, "intro"])]:
        response = client.post(url, {})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_every_page_renders_in_the_base_layout(editor_client, objects, recorder):
    objects["output"].created_by = None
    for url in page_urls(objects):
        response = editor_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for link in ("/images/prompts/", "/images/", "/posts/", "/admin/"):
            assert f'href="{link}"' in html, (url, link)
        assert "vendor/pico/pico.min.css" in html and "django_htmx/htmx-2.min.js" in html
        assert "blogimages/app.js" in html
        assert "x-csrftoken" in html


def test_the_current_section_is_marked_in_the_navigation(editor_client):
    html = editor_client.get(reverse("blogimages:prompt_list")).content.decode()
    assert '<a href="/images/prompts/" aria-current="page">Prompt library</a>' in html
    html = editor_client.get(reverse("posts:list")).content.decode()
    assert '<a href="/posts/" aria-current="page">Posts</a>' in html


def test_login_page_renders_and_logs_in(client, editor):
    response = client.get("/accounts/login/")
    assert response.status_code == 200 and b'name="username"' in response.content
    response = client.post("/accounts/login/", {"username": "editor", "password": "pw-for-tests-only"})
    assert response.status_code == 302 and response["Location"] == "/"  # the landing page (was the gallery)
    response = client.post("/accounts/login/", {"username": "editor", "password": "wrong"})
    assert b"didn't match" in response.content


def test_messages_are_shown(editor_client, objects):
    response = editor_client.post(reverse("blogimages:example_duplicate", args=[objects["example"].pk]), follow=True)
    assert b'class="messages"' in response.content and "Duplicated “Cover”".encode() in response.content
