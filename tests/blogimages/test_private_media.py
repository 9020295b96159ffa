"""Media that is not published is not public (issue 15, item 5).

With BLOGIMAGES_PRIVATE_MEDIA on (the default with DEBUG off, as the tests run): originals,
thumbnails, sidecars and unpublished renditions are reachable only through signed, expiring
links, which every page and API answer emits; the renditions a published post shows are
served at their plain /media/ path to anyone, with long cache headers.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from blogimages import renditions, review, signed_media, tokens
from blogimages.models import Rendition
from blogimages.storage import sidecar_name
from posts.models import PostStatus
from tests.blogimages.test_review import make_image, make_user
from tests.factories import PostFactory, SectionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

EDITOR_PERMS = ("view_imageoutput", "change_imageoutput", "delete_imageoutput")


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def draft(recorder):
    post = PostFactory(title="Coast", slug="coast", status=PostStatus.DRAFT)
    SectionFactory(post=post, key="arrival", heading="Arriving")
    editor = make_user(username="editor", perms=EDITOR_PERMS)
    image = make_image(post=post, section_key="arrival", user=editor, size=(640, 360))
    review.approve(image, user=editor)
    review.assign_to_section(image, "arrival", user=editor)
    return post, editor, image


def media_path(name: str) -> str:
    return "/media/" + name


def test_the_default_follows_debug(settings):
    settings.BLOGIMAGES_PRIVATE_MEDIA = None
    settings.DEBUG = False
    assert signed_media.private_media()
    settings.DEBUG = True
    assert not signed_media.private_media()
    settings.BLOGIMAGES_PRIVATE_MEDIA = True
    assert signed_media.private_media()


def test_anonymous_fetches_of_unpublished_files_are_refused(client, draft):
    post, _editor, image = draft
    renditions.prepare_renditions([image])
    stem = image.file.name.rsplit(".", 1)[0]
    names = [image.file.name, image.thumbnail.name, sidecar_name(stem),
             *Rendition.objects.values_list("file", flat=True)]
    assert len(names) > 3
    for name in names:
        assert image.file.storage.exists(name), name
        assert client.get(media_path(name)).status_code == 404, name
    # Published, the original and sidecar stay private; only the renditions become public.
    post.status = PostStatus.PUBLISHED
    post.save()
    for name in names[:3]:
        assert client.get(media_path(name)).status_code == 404, name
    assert client.get("/media/../config/settings.py").status_code == 404


def test_signed_urls_are_what_the_storage_hands_out_and_they_expire(client, draft, clock, settings):
    settings.BLOGIMAGES_SIGNED_URL_SECONDS = 600
    _post, _editor, image = draft
    url = image.file.url
    assert url.startswith("/images/media/") and "/media/blogimages/" not in url
    response = client.get(url)
    assert response.status_code == 200 and body(response) == image.file.storage.open(image.file.name).read()
    assert response["Cache-Control"].startswith("private")
    clock.shift(600)
    assert client.get(url).status_code == 200  # valid a full lifetime after it was handed out
    clock.shift(601)
    assert client.get(url).status_code == 403  # and never past two (signed_media.window)


def test_a_published_rendition_is_public_and_cacheable(client, draft):
    post, _editor, image = draft
    post.featured_image = image  # also the social card's source (og:image)
    post.status = PostStatus.PUBLISHED
    post.save()  # its on_commit never runs here: the first reader finds no renditions
    first = client.get(post.get_absolute_url())  # shows the originals; they are made after its answer
    assert first.status_code == 200 and "/media/blogimages/renditions/" not in first.content.decode()
    page = client.get(post.get_absolute_url())  # anonymous reader
    html = page.content.decode()
    assert page.status_code == 200
    public = sorted(set(re.findall(r'(/media/blogimages/renditions/[^" ,]+)', html)))
    assert public and image.uid.hex in public[0]
    assert "/images/media/" not in html  # nothing on a public page expires
    for url in public:
        response = client.get(url)
        assert response.status_code == 200 and "public" in response["Cache-Control"], url
        assert "max-age=31536000" in response["Cache-Control"]
    og = re.search(r'property="og:image" content="([^"]+)"', html).group(1)
    assert og.startswith("http://testserver/media/blogimages/renditions/") and client.get(og).status_code == 200

    # Taken off the post (or the post unpublished), its renditions are private again.
    post.status = PostStatus.DRAFT
    post.save()
    assert client.get(public[0]).status_code == 404


def test_a_draft_preview_uses_signed_links(client, draft):
    post, editor, _image = draft
    client.force_login(editor)
    html = client.get(post.get_absolute_url()).content.decode()
    signed = re.findall(r'(/images/media/[^" ,]+)', html)
    assert signed and "/media/blogimages/" not in html
    assert all(client.get(url).status_code == 200 for url in set(signed))


@pytest.mark.parametrize("page", ["gallery", "detail", "develop", "admin", "delete", "use"])
def test_author_pages_and_admin_emit_signed_links(client, draft, page):
    post, editor, image = draft
    editor.is_superuser = True  # the admin page too
    editor.save()
    client.force_login(editor)
    url = {
        "gallery": reverse("blogimages:gallery"),
        "detail": reverse("blogimages:image_detail", args=[image.pk]),
        "develop": reverse("posts:develop", args=[post.slug]),
        "admin": reverse("admin:blogimages_imageoutput_change", args=[image.pk]),
        "delete": reverse("blogimages:image_delete", args=[image.pk]),
        "use": reverse("blogimages:image_use", args=[image.pk]),
    }[page]
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "/media/blogimages/" not in html
    signed = set(re.findall(r'(/images/media/[^" ,&]+)', html))
    assert signed
    for link in signed:
        assert client.get(link).status_code == 200, link


def test_the_json_api_answers_with_signed_absolute_urls(draft):
    _post, editor, image = draft
    answer = Client().get(f"/api/images/{image.pk}",
                          headers={"Authorization": f"Bearer {tokens.create_token(editor)[1]}"}).json()
    for key in ("url", "thumbnail_url"):
        assert answer[key].startswith("http://testserver/images/media/"), answer[key]
        assert Client().get(answer[key]).status_code == 200


def test_development_without_private_media_serves_the_media_folder(client, draft, settings):
    settings.DEBUG = True
    settings.BLOGIMAGES_PRIVATE_MEDIA = False
    _post, _editor, image = draft
    assert image.file.url == media_path(image.file.name)
    assert client.get(image.file.url).status_code == 200


def test_the_deploy_check_warns_when_the_storage_would_not_keep_media_private(settings):
    from blogimages.checks import check_private_media

    assert check_private_media() == []
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    assert [m.id for m in check_private_media()] == ["blogimages.W011"]
    settings.BLOGIMAGES_PRIVATE_MEDIA = False
    assert check_private_media() == []
