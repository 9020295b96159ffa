"""The public post page: every slot's image as renditions, alt text, AI label, OG tags, drafts."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from blogimages import generation, post_renditions
from blogimages.models import Rendition
from posts.models import PostStatus
from tests.factories import PostFactory, SectionFactory


def make_image(post, key, size=(1536, 864), description="A lighthouse at dusk"):
    [output] = generation.generate(prompt=description, provider="cards", post=post, section_key=key,
                                   overrides={"width": size[0], "height": size[1]})
    assert output.status == "succeeded", output.error
    return output


def published_post(sections=2, *, images=True):
    post = PostFactory(title="Coast", slug="coast", summary="A weekend by the sea", status=PostStatus.PUBLISHED)
    for index in range(sections):
        section = SectionFactory(post=post, key=f"s{index}", heading=f"Heading {index}", body=f"Body {index}.",
                                 order=index)
        if images:
            section.chosen_image = make_image(post, section.key, size=(640, 360), description=f"Harbour view {index}")
            section.save()
    if images:
        post.featured_image = make_image(post, "featured")
        post.social_image = make_image(post, "social", size=(1200, 630), description="Coast card")
        post.save()
        # What publishing does once its transaction commits (never, inside a test's transaction).
        post_renditions.make(post.pk)
    return post


@pytest.mark.django_db
def test_published_post_shows_every_slot_with_renditions_and_alt_text(client):
    post = published_post(2)
    response = client.get(post.get_absolute_url())
    assert post.get_absolute_url() == "/posts/coast/" and response.status_code == 200
    html = response.content.decode()
    assert "<h1>Coast</h1>" in html and "A weekend by the sea" in html
    for index in range(2):
        assert f"<h2>Heading {index}</h2>" in html and f"Body {index}." in html
        chosen = post.sections.get(key=f"s{index}").chosen_image
        assert f'alt="{chosen.alt_text}"' in html and chosen.alt_text  # cards: the words on the card
    # Featured: eager and prioritised; sections: lazy. WebP sources plus the PNG fallback.
    featured = re.search(r'<figure class="bi-figure featured".*?</figure>', html, re.S).group(0)
    assert 'loading="eager"' in featured and 'fetchpriority="high"' in featured
    assert 'type="image/webp"' in featured and re.search(r"w480\.webp 480w, .*w800\.webp 800w", featured)
    assert 'width="1536" height="864"' in featured and ".png 1536w" in featured
    assert html.count('loading="lazy"') == 2
    # Renditions are rows of their own, never gallery images; the original files stay as they were.
    assert Rendition.objects.filter(image=post.featured_image).count() == 8  # 480, 800, 1200 and its own 1536, × 2 formats
    assert not Rendition.objects.filter(image=post.featured_image, width__gt=1536).exists()


@pytest.mark.django_db
def test_open_graph_and_twitter_tags_name_the_social_image(client):
    post = published_post(1)
    html = client.get(post.get_absolute_url()).content.decode()
    og = dict(re.findall(r'<meta property="(og:[^"]+)" content="([^"]*)"', html))
    assert og["og:title"] == "Coast" and og["og:description"] == "A weekend by the sea"
    assert og["og:image"].startswith("http://testserver/media/blogimages/renditions/" + post.social_image.uid.hex)
    assert og["og:image"].endswith("fill-1200x630.png")
    assert (og["og:image:width"], og["og:image:height"]) == ("1200", "630")
    assert og["og:image:alt"] == post.social_image.alt_text
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    assert '<link rel="canonical" href="http://testserver/posts/coast/">' in html


@pytest.mark.django_db
def test_decorative_images_get_empty_alt_and_realistic_ones_the_ai_label(client):
    post = published_post(1)
    image = post.sections.get().chosen_image
    image.decorative, image.realistic, image.caption = True, True, "Seen from the pier"
    image.save()
    html = client.get(post.get_absolute_url()).content.decode()
    section = re.search(r'<section id="s0">.*?</section>', html, re.S).group(0)
    assert 'alt=""' in section and "Seen from the pier" in section
    assert '<span class="ai-label"' in section and "AI-generated" in section
    featured = re.search(r'<figure class="bi-figure featured".*?</figure>', html, re.S).group(0)
    assert "ai-label" not in featured  # not a realistic depiction: no label


@pytest.mark.django_db
def test_drafts_404_for_readers_and_show_a_preview_banner_to_editors(client, editor_client, viewer_client):
    post = published_post(1, images=False)
    post.status = PostStatus.DRAFT
    post.save()
    assert client.get(post.get_absolute_url()).status_code == 404
    assert viewer_client.get(post.get_absolute_url()).status_code == 404
    response = editor_client.get(post.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "Preview — not published" in html and '<meta name="robots" content="noindex">' in html
    assert reverse("posts:develop", args=["coast"]) in html


@pytest.mark.django_db
def test_the_develop_screen_and_admin_link_to_the_public_page(editor_client):
    post = published_post(1, images=False)
    html = editor_client.get(reverse("posts:develop", args=[post.slug])).content.decode()
    assert 'id="view-post"' in html and 'href="/posts/coast/"' in html
    admin = Client()
    admin.force_login(__import__("tests.factories", fromlist=["UserFactory"]).UserFactory(
        username="root", is_staff=True, is_superuser=True))
    change = admin.get(reverse("admin:posts_post_change", args=[post.pk])).content.decode()
    assert "/admin/r/" in change  # "View on site" goes through get_absolute_url
    shortcut = admin.get(re.search(r'href="(/admin/r/[^"]+)"', change).group(1))
    assert shortcut.status_code == 302 and shortcut["Location"].endswith("/posts/coast/")


@pytest.mark.django_db
@pytest.mark.parametrize("sections", [5, 50])
def test_query_count_does_not_grow_with_sections(client, django_assert_num_queries, sections):
    post = published_post(sections)
    client.get(post.get_absolute_url())  # renditions are made once ...
    made = Rendition.objects.count()
    with django_assert_num_queries(3):  # ... then read in bulk (social card too): the same for 5 or 50 sections
        response = client.get(post.get_absolute_url())
    assert response.status_code == 200 and Rendition.objects.count() == made
