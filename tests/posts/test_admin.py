"""The host blog's admin: posts, their sections inline, each section's chosen image."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from blogimages import review
from posts.models import Post, Section
from tests.blogimages.test_review import make_image, make_user
from tests.factories import PostFactory, SectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create(username="root", is_staff=True, is_superuser=True))
    return client


# A file's URL is a signed link whose token holds its expiry: the page and the assertion share one frozen instant.
@pytest.mark.clock
def test_the_post_page_shows_each_sections_chosen_image(recorder, admin_client):
    post = PostFactory(title="Coast", slug="coast")
    SectionFactory(post=post, key="arrival", heading="Arriving", order=0)
    SectionFactory(post=post, key="pools", heading="Tide pools", order=1)
    image = make_image(post=post, section_key="arrival")
    review.assign_to_section(image, "arrival", user=make_user())

    page = admin_client.get(reverse("admin:posts_post_change", args=[post.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'src="{image.thumbnail.url}" loading="lazy"' in html
    assert reverse("admin:blogimages_imageoutput_change", args=[image.pk]) in html
    assert "Tide pools" in html and html.count('loading="lazy"') == 1  # pools has no image yet
    assert 'name="sections-0-chosen_image"' not in html  # chosen through the review action, not typed in

    listing = admin_client.get(reverse("admin:posts_post_changelist")).content.decode()
    assert "Coast" in listing and f"post__id__exact={post.pk}" in listing


def test_a_post_with_sections_can_be_written_in_the_admin(admin_client):
    data = {
        "title": "Harbour days", "slug": "harbour-days", "status": "draft", "published_at_0": "", "published_at_1": "",
        "summary": "", "body": "", "tags": "",
        "sections-TOTAL_FORMS": "2", "sections-INITIAL_FORMS": "0", "sections-MIN_NUM_FORMS": "0",
        "sections-MAX_NUM_FORMS": "1000",
        "sections-0-order": "0", "sections-0-key": "morning", "sections-0-heading": "Morning", "sections-0-body": "",
        "sections-1-order": "1", "sections-1-key": "evening", "sections-1-heading": "Evening", "sections-1-body": "",
    }
    response = admin_client.post(reverse("admin:posts_post_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    post = Post.objects.get(slug="harbour-days")
    assert list(Section.objects.filter(post=post).values_list("key", flat=True)) == ["morning", "evening"]
