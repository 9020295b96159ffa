"""BLOGIMAGES_STORAGE=database: bytes as binary rows (bytea on PostgreSQL), nothing under
MEDIA_ROOT, served by the app with the sha256 as ETag; move_images between storages."""

import base64
import hashlib
import json
import os

import pytest
from binary_database_files.models import File
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from blogimages import generation, tokens
from blogimages.models import ImageOutput
from tests.blogimages.views.helpers import make_editor

pytestmark = pytest.mark.django_db

DB = {"BACKEND": "blogimages.dbstorage.DatabaseStorage"}
FS = {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def files_under(root) -> list[str]:
    return [os.path.join(d, f) for d, _, names in os.walk(root) for f in names]


@pytest.fixture
def database_storage(settings):
    settings.STORAGES = {**settings.STORAGES, "default": DB, "database": DB, "filesystem": FS}
    settings.BLOGIMAGES_STORAGE = "database"
    storages._storages = {}
    yield storages["database"]
    storages._storages = {}


@pytest.fixture
def editor():
    return make_editor()


def card(user=None, seed=3):
    [output] = generation.generate(prompt="A lighthouse at dusk", provider="cards", user=user,
                                   overrides={"seed": seed, "width": 200, "height": 150})
    assert output.status == "succeeded", output.error
    return output


def test_files_are_binary_rows_and_nothing_is_written_under_media_root(database_storage, settings):
    output = card()
    assert files_under(settings.MEDIA_ROOT) == []
    row = File.objects.get(name=output.file.name)
    assert bytes(row.content)[:8] == b"\x89PNG\r\n\x1a\n", "binary, not base64 text"
    assert row.size == output.bytes == len(bytes(row.content)) and row._content_hash == output.sha256
    assert File.objects.filter(name__in=[output.thumbnail.name, output.sidecar.name]).count() == 2
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT data_type FROM information_schema.columns "
                           "WHERE table_name = 'binary_database_files_file' AND column_name = 'content'")
            assert cursor.fetchone()[0] == "bytea"


def test_missing_files_and_listing(database_storage):
    with pytest.raises(FileNotFoundError):
        database_storage.open("blogimages/nothing.png")
    with pytest.raises(FileNotFoundError):
        database_storage.size("blogimages/nothing.png")
    with pytest.raises(NotImplementedError):
        database_storage.path("blogimages/nothing.png")
    output = card()
    folder, leaf = output.file.name.rsplit("/", 1)
    dirs, names = database_storage.listdir(folder)
    assert leaf in names and dirs == []
    assert "blogimages" in database_storage.listdir("")[0]
    assert database_storage.get_available_name(output.file.name) != output.file.name, "never overwritten"


@pytest.mark.clock  # compares signed links made a moment apart: the same only within their window
def test_done_when_generating_viewing_downloading_and_v1_urls_work_with_no_file_under_media_root(
        database_storage, editor, settings, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(editor)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/images/test/", {"description": "A harbour", "provider": "cards", "n": 1,
                                             "width": 160, "height": 120}).status_code == 200
    output = ImageOutput.objects.get()
    assert output.status == "succeeded"
    detail = client.get(f"/images/{output.pk}/")
    assert detail.status_code == 200
    url = output.file.url
    assert url.startswith("/images/media/") and url in detail.content.decode()
    assert url == output.file.url, "stable within its window, so browsers can cache it"
    from blogimages import signed_media

    assert signed_media.read_token(url.split("/")[3]) == output.file.name, "signed_media reads it"
    served = client.get(url)
    body = b"".join(served.streaming_content)
    assert served.status_code == 200 and hashlib.sha256(body).hexdigest() == output.sha256
    expiry = signed_media.read_grant(url.split("/")[3])[1]
    assert served["ETag"] == f'"{output.sha256}"'
    assert served["Cache-Control"] == f"private, max-age={signed_media.seconds_left(expiry)}", "no longer than the link"
    assert client.get(url, HTTP_IF_NONE_MATCH=served["ETag"]).status_code == 304
    assert Client().get(output.thumbnail.url).status_code == 200, "a signed link needs no session"
    download = client.get(f"/images/{output.pk}/download/")
    assert download.status_code == 200 and hashlib.sha256(b"".join(download.streaming_content)).hexdigest() \
        == output.sha256
    raw = tokens.create_token(editor)[1]
    answer = Client().post("/v1/images/generations", json.dumps({"model": "cards", "prompt": "A dune",
                                                                  "size": "256x256", "response_format": "url"}),
                           content_type="application/json", headers={"Authorization": f"Bearer {raw}"})
    assert answer.status_code == 200, answer.content[:300]
    link = answer.json()["data"][0]["url"].removeprefix("http://testserver")
    fetched = Client().get(link)
    assert fetched.status_code == 200 and b"".join(fetched.streaming_content)[:4] == b"\x89PNG"
    b64 = Client().post("/v1/images/generations", json.dumps({"model": "cards", "prompt": "A dune", "size": "256x256"}),
                        content_type="application/json", headers={"Authorization": f"Bearer {raw}"})
    assert base64.b64decode(b64.json()["data"][0]["b64_json"])[:4] == b"\x89PNG", "base64 only in the answer"
    assert files_under(settings.MEDIA_ROOT) == []


def test_move_images_to_the_database_and_back_verifies_and_resumes(settings, capsys):
    settings.STORAGES = {**settings.STORAGES, "database": DB, "filesystem": FS}
    storages._storages = {}
    one, two = card(seed=1), card(seed=2)
    names = [n for o in (one, two) for n in (o.file.name, o.thumbnail.name, o.sidecar.name)]
    assert len(files_under(settings.MEDIA_ROOT)) == 6

    # A damaged original is refused: nothing is deleted, the command fails with the reason.
    path = storages["default"].path(two.file.name)
    good = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(good[:-10])
    with pytest.raises(CommandError, match="did not move"):
        call_command("move_images", "--to", "database")
    assert "does not match the image's sha256" in capsys.readouterr().err
    assert len(files_under(settings.MEDIA_ROOT)) == 6, "sources kept after a failed run"
    assert File.objects.count() == 5
    with open(path, "wb") as handle:
        handle.write(good)

    call_command("move_images", "--to", "database")  # resumes: only the missing file is copied
    out = capsys.readouterr().out
    assert "1 file(s) copied" in out and "5 already there" in out and "6 source file(s) removed" in out
    assert files_under(settings.MEDIA_ROOT) == []
    for name in names:
        assert File.objects.filter(name=name).exists()
    assert hashlib.sha256(bytes(File.objects.get(name=one.file.name).content)).hexdigest() == one.sha256

    call_command("move_images", "--to", "filesystem", "--from", "database", "--keep-source")
    assert "6 file(s) copied" in capsys.readouterr().out and File.objects.count() == 6
    assert hashlib.sha256(open(storages["filesystem"].path(one.file.name), "rb").read()).hexdigest() == one.sha256
    with pytest.raises(CommandError, match="same storage"):
        call_command("move_images", "--to", "filesystem")
    with pytest.raises(CommandError, match="s3"):
        call_command("move_images", "--to", "s3")


def test_the_environment_variable_selects_the_storage_alias(tmp_path):
    import subprocess
    import sys

    code = ("import django, os; django.setup(); from django.conf import settings; "
            "print(settings.BLOGIMAGES_STORAGE, settings.STORAGES['default']['BACKEND'])")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "true",
           "BLOGIMAGES_STORAGE": "database", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    env.pop("AWS_STORAGE_BUCKET_NAME", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["database", "blogimages.dbstorage.DatabaseStorage"]
    bad = subprocess.run([sys.executable, "-c", code], env={**env, "BLOGIMAGES_STORAGE": "s3"},
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "AWS_STORAGE_BUCKET_NAME" in bad.stderr


@pytest.mark.clock
def test_a_database_file_link_is_stable_for_its_hour_then_renewed(database_storage, clock):
    import datetime as dt

    from blogimages import signed_media

    clock.move_to(dt.datetime(2026, 11, 2, 10, 5, tzinfo=dt.UTC))
    output = card()
    first = output.file.url
    clock.shift(dt.timedelta(minutes=40, seconds=17))
    assert output.file.url == first
    clock.shift(dt.timedelta(minutes=20))
    renewed = output.file.url
    assert renewed != first and signed_media.read_token(renewed.split("/")[3]) == output.file.name
    assert signed_media.read_token(first.split("/")[3]) == output.file.name, "the old link still works a while"


def test_an_edits_uploaded_inputs_leave_the_database_with_its_image(database_storage,
                                                                    django_capture_on_commit_callbacks):
    from blogimages import editing
    from tests.conftest import png_bytes

    [edited] = editing.edit(image=png_bytes(200, 150), prompt="From an upload", provider="cards")
    [source] = editing.stored_inputs(edited.setting_snapshot)
    assert File.objects.filter(name=source).exists()
    with django_capture_on_commit_callbacks(execute=True):
        edited.delete()
    assert not File.objects.filter(name=source).exists()
    assert not File.objects.filter(name=edited.file.name).exists()
