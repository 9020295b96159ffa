"""Signed, expiring links to stored files: served by the app with DEBUG off, or presigned by S3."""

import datetime as dt

import pytest
from django.core.files.base import ContentFile

from blogimages import signed_media
from blogimages.storage import get_storage
from tests.conftest import png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NAME = "blogimages/tests/2026-12-01/120000-a-lighthouse-1a2b3c4d.png"


@pytest.fixture
def stored():
    data = png_bytes(20, 10)
    get_storage().save(NAME, ContentFile(data))
    return data


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_a_signed_link_serves_the_file_with_its_type(client, stored):
    url = signed_media.url_for(NAME)
    assert url.startswith("/images/media/") and url.endswith("/120000-a-lighthouse-1a2b3c4d.png")
    response = client.get(url)
    assert response.status_code == 200 and body(response) == stored
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]


WINDOW_START = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)  # a multiple of 3600 and of 900 s


def test_a_link_is_the_same_within_its_window_and_new_after(clock, settings):
    settings.BLOGIMAGES_SIGNED_URL_SECONDS = 3600
    clock.move_to(WINDOW_START)
    first = signed_media.url_for(NAME)
    clock.shift(3599)  # the window's last second
    assert signed_media.url_for(NAME) == first
    assert signed_media.url_for("blogimages/other.png") != first
    clock.shift(1)
    renewed = signed_media.url_for(NAME)
    assert renewed != first and signed_media.read_token(renewed.split("/")[3]) == NAME
    clock.shift(3599)
    assert signed_media.url_for(NAME) == renewed


@pytest.mark.parametrize("lifetime", [3600, 900])
@pytest.mark.parametrize("made_after", [0, 1, 1799, 3599])
def test_a_link_is_valid_at_least_its_lifetime_and_expires_at_the_next_windows_end(
        client, stored, clock, settings, lifetime, made_after):
    settings.BLOGIMAGES_SIGNED_URL_SECONDS = lifetime
    made_after = made_after % lifetime
    clock.move_to(WINDOW_START + dt.timedelta(seconds=made_after))
    url = signed_media.url_for(NAME)
    clock.shift(lifetime)
    assert client.get(url).status_code == 200  # a full lifetime after it was handed out
    clock.move_to(WINDOW_START + dt.timedelta(seconds=2 * lifetime))
    assert client.get(url).status_code == 200  # the last second of the next window
    clock.shift(1)
    expired = client.get(url)
    assert expired.status_code == 403 and b"expired" in expired.content


def test_a_served_file_may_be_cached_for_what_its_link_has_left(client, stored, clock, settings):
    settings.BLOGIMAGES_SIGNED_URL_SECONDS = 3600
    clock.move_to(WINDOW_START + dt.timedelta(minutes=10))
    url = signed_media.url_for(NAME)
    assert client.get(url)["Cache-Control"] == "private, max-age=6600"  # until 12:00
    clock.shift(3000)
    assert client.get(url)["Cache-Control"] == "private, max-age=3600"
    clock.move_to(WINDOW_START + dt.timedelta(seconds=7200))
    assert client.get(url)["Cache-Control"] == "private, max-age=0"


@pytest.mark.parametrize("mangle", [
    lambda url: url.replace("/images/media/", "/images/media/x"),  # another token
    lambda url: url.rsplit("/", 1)[0] + "/other.png",  # another file name beside a valid token
    lambda url: url[:-30] + "A" * 26 + url[-4:],  # a tampered signature
])
def test_a_tampered_link_is_refused(client, stored, mangle):
    response = client.get(mangle(signed_media.url_for(NAME)))
    assert response.status_code == 403


def test_a_token_cannot_name_another_file():
    token = signed_media.make_token(NAME)
    assert signed_media.read_token(token) == NAME
    forged = token.replace(token.split(":")[0], signed_media.make_token("secret.json").split(":")[0])
    with pytest.raises(PermissionError):
        signed_media.read_token(forged)


def test_the_public_base_url_makes_links_absolute(settings, rf):
    settings.BLOGIMAGES_PUBLIC_BASE_URL = "https://blog.example.com/"
    assert signed_media.url_for(NAME, request=rf.get("/", HTTP_HOST="10.0.0.5:8000")).startswith(
        "https://blog.example.com/images/media/")
    settings.BLOGIMAGES_PUBLIC_BASE_URL = ""
    assert signed_media.url_for(NAME, request=rf.get("/", HTTP_HOST="localhost")).startswith(
        "http://localhost/images/media/")


def test_the_web_server_can_send_the_file(client, stored, settings):
    settings.BLOGIMAGES_MEDIA_ACCEL_REDIRECT = "/protected-media/"
    response = client.get(signed_media.url_for(NAME))
    assert response.status_code == 200 and response["X-Accel-Redirect"] == f"/protected-media/{NAME}"
    assert response.content == b""
    settings.BLOGIMAGES_MEDIA_ACCEL_REDIRECT = ""
    settings.BLOGIMAGES_MEDIA_SENDFILE = True
    response = client.get(signed_media.url_for(NAME))
    assert response["X-Sendfile"] == get_storage().path(NAME)


def test_a_missing_file_is_a_404(client):
    assert client.get(signed_media.url_for("blogimages/gone.png")).status_code == 404
