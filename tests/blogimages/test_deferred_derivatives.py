"""`/v1` answers once the original and its row are stored; the thumbnail, perceptual hash and
sidecar follow after the response, on the same worker (issue 17 item 5). Until they exist the
row names none of them, pages show the original instead, and a step that failed or never ran
is finished by the reconciler."""

import base64
import json
from datetime import timedelta

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import RequestFactory
from django.urls import reverse

from blogimages import generation, reconcile, tokens
from blogimages.api import openai as openai_api
from blogimages.imaging import phash
from blogimages.media_storage import MediaStorage
from blogimages.models import ImageOutput
from blogimages.storage import get_storage, load_image
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BODY = {"model": "cards", "prompt": "A lighthouse at dusk", "size": "256x256", "response_format": "b64_json"}


class FlakyStorage(MediaStorage):
    """The media folder, refusing to save names with a suffix in `refused` (a full disk or
    a lost bucket, for the step after the response)."""

    refused: tuple[str, ...] = ()

    def _save(self, name, content):
        if name.endswith(self.refused):
            raise OSError(f"no space left for {name}")
        return super()._save(name, content)


@pytest.fixture
def user():
    return UserFactory(username="scripter")


@pytest.fixture
def raw_token(user):
    return tokens.create_token(user, name="tests")[1]


def answer_without_closing(raw_token, body=BODY):
    """The view's response as the server has it before it sends it and closes it."""
    request = RequestFactory().post("/v1/images/generations", data=json.dumps(body), content_type="application/json",
                                    headers={"Authorization": f"Bearer {raw_token}"})
    return openai_api.images_generations(request)


def close_like_the_server(response) -> None:
    """What a WSGI server does once the client has the response (as Django's test client does,
    without closing the test's own database connection)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def stored_bytes(name: str) -> bytes:
    with get_storage().open(name, "rb") as handle:
        return handle.read()


def assert_derivatives_made(output: ImageOutput) -> None:
    store = get_storage()
    assert output.thumbnail.name and store.exists(output.thumbnail.name)
    assert output.sidecar.name and store.exists(output.sidecar.name)
    _info, decoded = load_image(stored_bytes(output.file.name))
    with decoded:
        assert output.phash == phash.phash_hex(decoded)
    sidecar = json.loads(stored_bytes(output.sidecar.name))
    assert (sidecar["file"], sidecar["thumbnail"], sidecar["phash"]) == (
        output.file.name, output.thumbnail.name, output.phash)
    _info, thumb = load_image(stored_bytes(output.thumbnail.name))
    assert thumb.format == "WEBP"


def test_the_response_is_the_stored_original_and_the_thumbnail_and_sidecar_follow_it(raw_token, recorder):
    response = answer_without_closing(raw_token)
    assert response.status_code == 200, response.content
    sent = base64.b64decode(json.loads(response.content)["data"][0]["b64_json"])
    output = ImageOutput.objects.get()
    # Answered: the original and its row are stored, the rest is not made yet and not named.
    assert output.status == "succeeded" and stored_bytes(output.file.name) == sent
    assert (output.thumbnail.name, output.sidecar.name, output.phash) == ("", "", "")
    folder, _base = output.file.name.rsplit("/", 1)
    assert get_storage().listdir(folder)[1] == [output.file.name.rsplit("/", 1)[1]]

    close_like_the_server(response)

    output.refresh_from_db()
    assert_derivatives_made(output)
    assert stored_bytes(output.file.name) == sent


def test_the_test_client_and_a_live_server_get_the_thumbnail_made_after_the_response(client, raw_token, recorder):
    response = client.post("/v1/images/generations", data=json.dumps({**BODY, "n": 2}),
                           content_type="application/json", headers={"Authorization": f"Bearer {raw_token}"})
    assert response.status_code == 200, response.content
    outputs = list(ImageOutput.objects.order_by("pk"))
    assert len(outputs) == 2
    for item, output in zip(response.json()["data"], outputs, strict=True):
        assert base64.b64decode(item["b64_json"]) == stored_bytes(output.file.name)
        assert_derivatives_made(output)


def test_a_failed_step_after_the_response_leaves_a_consistent_row_that_the_reconciler_completes(
        raw_token, recorder, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "tests.blogimages.test_deferred_derivatives.FlakyStorage"}}
    FlakyStorage.refused = (".thumb.webp",)
    try:
        response = answer_without_closing(raw_token)
        close_like_the_server(response)  # the thumbnail cannot be saved: logged, nothing recorded
    finally:
        FlakyStorage.refused = ()
    assert response.status_code == 200
    output = ImageOutput.objects.get()
    assert output.status == "succeeded" and get_storage().exists(output.file.name)
    assert (output.thumbnail.name, output.sidecar.name) == ("", "")
    folder, name = output.file.name.rsplit("/", 1)
    assert get_storage().listdir(folder)[1] == [name], "no half-made thumbnail or sidecar left behind"

    # Within the grace the step may still be under way elsewhere: left alone.
    assert reconcile.reconcile().repaired == []
    ImageOutput.objects.filter(pk=output.pk).update(
        finished_at=output.finished_at - timedelta(seconds=reconcile.DERIVATIVES_GRACE + 1))
    report = reconcile.reconcile()
    assert report.repaired == [output.pk]
    assert any("1 stored image(s) without a thumbnail or sidecar given them" in line for line in report.lines())
    output.refresh_from_db()
    assert_derivatives_made(output)
    assert reconcile.reconcile().repaired == []  # done once


def test_a_worker_that_died_before_the_step_is_repaired_by_the_reconciler(raw_token, recorder):
    answer_without_closing(raw_token)  # never closed: the worker went away after answering
    output = ImageOutput.objects.get()
    ImageOutput.objects.filter(pk=output.pk).update(
        finished_at=output.finished_at - timedelta(seconds=reconcile.DERIVATIVES_GRACE + 1))
    assert reconcile.reconcile(dry_run=True).repaired == [output.pk]
    assert ImageOutput.objects.get(pk=output.pk).thumbnail.name == ""  # a dry run changes nothing
    assert reconcile.reconcile().repaired == [output.pk]
    assert_derivatives_made(ImageOutput.objects.get(pk=output.pk))


def test_an_image_deleted_before_its_thumbnail_is_made_gets_none_and_leaves_no_files(
        raw_token, recorder, django_capture_on_commit_callbacks):
    response = answer_without_closing(raw_token)
    output = ImageOutput.objects.get()
    folder = output.file.name.rsplit("/", 1)[0]
    with django_capture_on_commit_callbacks(execute=True):
        output.delete()  # its original goes with it once the deletion commits
    close_like_the_server(response)
    assert get_storage().listdir(folder)[1] == []


def test_two_repairs_of_one_image_record_one_thumbnail(raw_token, recorder):
    answer_without_closing(raw_token)
    first, second = ImageOutput.objects.get(), ImageOutput.objects.get()
    assert generation.make_derivatives(first) is True
    assert generation.make_derivatives(second) is False  # the row changed under it: its files removed
    output = ImageOutput.objects.get()
    assert output.thumbnail.name == first.thumbnail.name
    folder = output.file.name.rsplit("/", 1)[0]
    assert sorted(get_storage().listdir(folder)[1]) == sorted(
        name.rsplit("/", 1)[1] for name in (output.file.name, output.thumbnail.name, output.sidecar.name))


@pytest.mark.clock  # the signed link of the page and the one compared with it expire in the same second
def test_the_gallery_shows_an_image_whose_thumbnail_is_not_made_yet(client, user, raw_token, recorder):
    answer_without_closing(raw_token)
    output = ImageOutput.objects.get()
    client.force_login(user)
    page = client.get(reverse("blogimages:gallery")).content.decode()
    tile = page[page.index(f'data-output="{output.pk}"'):]
    picture = tile[tile.index("<img "):tile.index(">", tile.index("<img "))]
    assert "data-thumbnail-pending" in picture and picture.split('src="', 1)[1].split('"', 1)[0] == output.file.url
    assert "No file" not in page
    detail = client.get(reverse("blogimages:image_detail", args=[output.pk]))
    assert detail.status_code == 200


def test_pages_and_the_cli_store_everything_at_once(recorder):
    [output] = generation.generate(prompt="A lighthouse at dusk", provider="test")
    assert output.thumbnail.name and output.sidecar.name and output.phash
