"""The landing page after login: each post, its sections with or without a chosen, approved image.

Before, "/" redirected to the gallery and LOGIN_REDIRECT_URL was the gallery; both now lead to
this page (the root redirect's intent, "logging in lands on the author's work", is kept)."""

import pytest
from django.conf import settings
from django.test import Client

from tests.blogimages.views.helpers import make_editor
from tests.factories import ImageOutputFactory, PostFactory, SectionFactory

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_log_in_first_and_land_here():
    client = Client()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/"
    assert settings.LOGIN_REDIRECT_URL == "/"
    editor = make_editor()
    editor.set_password("pw-for-this-test")
    editor.save()
    response = client.post("/accounts/login/", {"username": "editor", "password": "pw-for-this-test"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_each_post_shows_which_sections_still_need_an_image(client):
    client.force_login(make_editor())
    post = PostFactory(title="Coast", slug="coast")
    done = SectionFactory(post=post, key="intro", heading="Arriving")
    waiting = SectionFactory(post=post, key="pools", heading="Tide pools")
    SectionFactory(post=post, key="food", heading="Seafood")
    approved = ImageOutputFactory(status="succeeded", file="x/a.png", review_status="approved", post=post)
    pending = ImageOutputFactory(status="succeeded", file="x/b.png", post=post)
    done.chosen_image, waiting.chosen_image = approved, pending
    done.save(), waiting.save()
    finished = PostFactory(title="Hills", slug="hills")
    hills = SectionFactory(post=finished, key="top", heading="Summit")
    hills.chosen_image = ImageOutputFactory(status="succeeded", file="x/c.png", review_status="approved")
    hills.save()

    response = client.get("/")
    html = response.content.decode()
    rows = {row.title: row for row in response.context["overview"]}
    assert [(s.key, s.state) for s in rows["Coast"].slots] == [("intro", "approved"), ("pools", "chosen"),
                                                               ("food", "missing")]
    assert rows["Hills"].missing == [] and response.context["needing"] == 1
    assert "1 post on this page still needs images" in html
    assert "1 of 3 sections illustrated" in html and "awaiting approval" in html and "needs image" in html
    assert 'href="/posts/coast/develop/"' in html and 'href="/posts/hills/develop/"' in html


def test_the_landing_page_queries_do_not_grow_with_sections(client, django_assert_max_num_queries):
    client.force_login(make_editor())
    for n in range(5):
        post = PostFactory(slug=f"post-{n}")
        for _ in range(10):
            SectionFactory(post=post)
    client.get("/")
    # session, user, count, posts, two adapter reads per post, the chosen images
    with django_assert_max_num_queries(5 + 2 * 5):
        client.get("/")


def test_no_posts_says_what_to_do(client):
    client.force_login(make_editor())
    assert "seed_demo" in client.get("/").content.decode()
