"""The public post page links each image that carries signed Content Credentials to a public,
read-only summary of them (views/credentials.py); nothing there names the prompt."""

import re

import pytest
from django.urls import reverse

from posts.models import PostStatus
from tests.blogimages.c2pa_certs import pki, signing
from tests.factories import PostFactory, SectionFactory
from tests.posts.test_public_page import make_image

__all__ = ["pki", "signing"]  # fixtures, used by name

pytestmark = pytest.mark.django_db

PROMPT = "A secret lighthouse prompt at dusk"


def post_with_images(status=PostStatus.PUBLISHED):
    post = PostFactory(title="Coast", slug="coast", status=status)
    section = SectionFactory(post=post, key="s0", heading="Harbour", order=0)
    section.chosen_image = make_image(post, "s0", size=(640, 360), description=PROMPT)
    section.save()
    post.featured_image = make_image(post, "featured", description=PROMPT)
    post.save()
    return post


def links(html: str) -> list[str]:
    return re.findall(r'<a class="bi-credentials" href="([^"]+)"[^>]*>Content Credentials</a>', html)


def test_each_signed_image_links_its_public_credentials_without_the_prompt(client, signing):
    post = post_with_images()
    featured, chosen = post.featured_image, post.sections.get().chosen_image
    assert featured.credentials["state"] == "trusted"
    # The page already shows the alt text (a card's alt is its words, the prompt): say something else.
    type(featured).objects.filter(pk__in=[featured.pk, chosen.pk]).update(alt_text="A lighthouse seen from the pier")
    html = client.get(post.get_absolute_url()).content.decode()
    assert links(html) == [reverse("blogimages:public_credentials", args=[image.uid]) for image in (featured, chosen)]
    page = client.get(links(html)[0])  # an anonymous reader
    assert page.status_code == 200 and page["Cache-Control"] == "public, max-age=300"
    text = page.content.decode()
    assert "Validates: signed by a trusted signer." in text and "Signed by" in text
    assert featured.credentials["signer"] in text and "cards" in text  # made with
    assert PROMPT not in text and PROMPT.lower() not in text.lower()
    assert 'href="/posts/coast/"' in text and "A lighthouse seen from the pier" in text


def test_no_link_without_a_manifest_and_no_public_credentials_off_a_published_page(client, editor_client, settings,
                                                                                  signing):
    post = post_with_images(status=PostStatus.DRAFT)
    url = reverse("blogimages:public_credentials", args=[post.featured_image.uid])
    assert links(editor_client.get(post.get_absolute_url()).content.decode()) == []  # a preview
    assert client.get(url).status_code == 404  # a draft's image
    post.status = PostStatus.PUBLISHED
    post.save()
    assert client.get(url).status_code == 200
    candidate = make_image(post, "s0", size=(640, 360), description="Not chosen")
    assert client.get(reverse("blogimages:public_credentials", args=[candidate.uid])).status_code == 404
    assert client.get("/images/credentials/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/images/credentials/not-a-uid/").status_code == 404

    settings.BLOGIMAGES_C2PA_CERT = settings.BLOGIMAGES_C2PA_KEY = ""
    unsigned = make_image(post, "s0", size=(640, 360), description="Unsigned")
    assert unsigned.credentials == {}
    section = post.sections.get()
    section.chosen_image = unsigned
    section.save()
    html = client.get(post.get_absolute_url()).content.decode()
    assert links(html) == [reverse("blogimages:public_credentials", args=[post.featured_image.uid])]
    assert client.get(reverse("blogimages:public_credentials", args=[unsigned.uid])).status_code == 404
