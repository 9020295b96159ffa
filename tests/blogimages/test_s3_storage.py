"""Generation works unchanged on S3 through django-storages.

The app talks HTTP to a real S3-compatible server on loopback (moto's standalone server,
no boto3 mocking); the tests look inside the bucket with their own boto3 client and fetch
the files' URLs with requests, as a browser would.
"""

import datetime as dt
import hashlib
import json
import os
import time
import uuid

import pytest
import requests
from django.core.files.base import ContentFile
from django.utils import timezone

from blogimages import generation, storage
from blogimages.exceptions import ProviderServerError
from blogimages.models import ImageOutput
from tests.conftest import require_service
from tests.factories import PostFactory
from tests.s3_server import Bucket, missing_dependency, running_s3_server

pytestmark = pytest.mark.django_db

SIZE = {"width": 64, "height": 48}


@pytest.fixture(scope="module")
def s3_server():
    """One moto server for the whole module; each test gets its own bucket on it."""
    reason = missing_dependency()
    if reason:
        require_service("moto S3 server", reason)
    with pytest.MonkeyPatch.context() as mp:
        # A proxy from the environment must not swallow loopback traffic.
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
        mp.setenv("NO_PROXY", no_proxy)
        mp.setenv("no_proxy", no_proxy)
        with running_s3_server() as endpoint_url:
            yield endpoint_url


@pytest.fixture
def bucket(s3_server, settings):
    """A fresh bucket, and the default storage switched to S3Storage on it."""
    from django.core.files.storage import storages

    bucket = Bucket.create(s3_server)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "blogimages.s3_storage.S3MediaStorage", "OPTIONS": bucket.storage_options()},
    }
    storages._storages = {}
    yield bucket
    storages._storages = {}
    bucket.destroy()


def stem_of(name: str) -> str:
    return name.rsplit(".", 1)[0]


@pytest.mark.parametrize(
    "provider, size", [(None, SIZE), ("cards", {"width": 64, "height": 64})], ids=["recorder", "cards"]
)
def test_generated_image_is_stored_in_the_bucket(recorder, bucket, provider, size):
    from storages.backends.s3 import S3Storage

    assert isinstance(storage.get_storage(), S3Storage)
    [out] = generation.generate(prompt="A lighthouse", provider=provider, overrides=size)

    assert out.status == "succeeded", out.error
    out.refresh_from_db()
    day = timezone.localtime(out.created_at).strftime("%Y-%m-%d")
    stem = stem_of(out.file.name)
    assert stem.startswith(f"blogimages/tests/{day}/") and stem.endswith(f"-a-lighthouse-{out.short_id}")
    assert out.thumbnail.name == f"{stem}.thumb.webp" and out.sidecar.name == f"{stem}.json"
    assert out.file.name == f"{stem}.png"
    assert bucket.keys() == sorted([out.file.name, out.thumbnail.name, out.sidecar.name])

    original, content_type = bucket.get(out.file.name)
    assert content_type == "image/png"
    assert hashlib.sha256(original).hexdigest() == out.sha256 and len(original) == out.bytes
    assert (out.width, out.height) == (size["width"], size["height"])
    thumb, thumb_type = bucket.get(out.thumbnail.name)
    assert thumb_type == "image/webp" and thumb[8:12] == b"WEBP"
    sidecar, sidecar_type = bucket.get(out.sidecar.name)
    assert sidecar_type == "application/json"
    meta = json.loads(sidecar)
    assert (meta["file"], meta["thumbnail"], meta["sha256"]) == (out.file.name, out.thumbnail.name, out.sha256)
    assert meta["provider"] == (provider or "test")

    # The URL the pages show is a signed URL on the S3 server, fetchable as is.
    url = out.file.url
    assert url.startswith(f"{bucket.endpoint_url}/{bucket.name}/{out.file.name}?") and "Signature=" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == original
    assert requests.get(out.thumbnail.url, timeout=10).content == thumb
    # ... and the storage API reads it back from the bucket.
    with out.file.open("rb") as handle:
        assert handle.read() == original


def test_post_image_goes_to_the_post_folder(recorder, bucket):
    post = PostFactory(slug="harbour-trip")
    [out] = generation.generate(prompt="Harbour", post=post, section_key="arrival", overrides=SIZE)

    assert out.status == "succeeded", out.error
    stem = f"blogimages/posts/harbour-trip/arrival-{out.short_id}"
    assert out.file.name == f"{stem}.png"
    assert bucket.keys() == sorted([f"{stem}.png", f"{stem}.thumb.webp", f"{stem}.json"])
    data, _ = bucket.get(out.file.name)
    assert hashlib.sha256(data).hexdigest() == out.sha256
    assert json.loads(bucket.get(f"{stem}.json")[0])["post"] == "harbour-trip"


def test_provider_failure_stores_nothing(recorder, bucket):
    recorder.script(ProviderServerError("down", status_code=503))
    [out] = generation.generate(prompt="A lighthouse", overrides=SIZE)

    out.refresh_from_db()
    assert out.status == "failed" and "down" in out.error
    assert not out.file and not out.thumbnail and not out.sidecar
    assert bucket.keys() == []


def test_unusable_image_stores_nothing(recorder, bucket):
    recorder.script(b"not an image")
    [out] = generation.generate(prompt="A lighthouse", overrides=SIZE)

    assert out.status == "failed" and "unusable image" in out.error
    assert bucket.keys() == []


def test_objects_written_for_an_image_that_does_not_complete_are_removed(recorder, bucket):
    plan = generation.build_request(prompt_text="x", overrides=SIZE)
    [out] = generation.claim(generation.queue_outputs(plan, prompt=None))
    # Another worker took the image over: this attempt's files must not stay in the bucket.
    ImageOutput.objects.filter(pk=out.pk).update(attempts=out.attempts + 1)
    result = plan.provider.run(plan.request)

    with pytest.raises(generation.LostClaim):
        generation.store_image(out, result.images[0], result)
    assert bucket.keys() == []


def test_deleting_the_image_removes_its_objects(recorder, bucket, django_capture_on_commit_callbacks):
    [keep] = generation.generate(prompt="Keep me", overrides=SIZE)
    [out] = generation.generate(prompt="A lighthouse", overrides=SIZE)
    kept = sorted([keep.file.name, keep.thumbnail.name, keep.sidecar.name])
    assert len(bucket.keys()) == 6

    with django_capture_on_commit_callbacks(execute=True):
        out.delete()
    assert bucket.keys() == kept


def test_same_name_does_not_overwrite(recorder, bucket):
    # Two images whose names come out identical (same second, prompt and short id).
    plan = generation.build_request(prompt_text="Twins", overrides=SIZE, n=2)
    first, second = generation.queue_outputs(plan, prompt=None)
    twin_uid = uuid.UUID(first.uid.hex[:8] + uuid.uuid4().hex[8:])
    ImageOutput.objects.filter(pk=second.pk).update(uid=twin_uid, created_at=first.created_at)
    second.refresh_from_db()
    assert generation._stem_for(first) == generation._stem_for(second)

    generation.execute([first, second], plan=plan)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "succeeded"
    assert first.file.name != second.file.name and first.sha256 != second.sha256
    names = [o.file.name for o in (first, second)] + [o.thumbnail.name for o in (first, second)]
    names += [o.sidecar.name for o in (first, second)]
    assert bucket.keys() == sorted(names)
    for out in (first, second):
        # Thumbnail and sidecar follow the name the storage actually gave the original.
        stem = stem_of(out.file.name)
        assert (out.thumbnail.name, out.sidecar.name) == (f"{stem}.thumb.webp", f"{stem}.json")
        assert hashlib.sha256(bucket.get(out.file.name)[0]).hexdigest() == out.sha256
        assert json.loads(bucket.get(out.sidecar.name)[0])["sha256"] == out.sha256

    # And straight through the storage API.
    s3 = storage.get_storage()
    a = s3.save("blogimages/tests/same.png", ContentFile(b"first"))
    b = s3.save("blogimages/tests/same.png", ContentFile(b"second"))
    assert a == "blogimages/tests/same.png" and b != a
    assert bucket.get(a)[0] == b"first" and bucket.get(b)[0] == b"second"


def test_a_failed_upload_does_not_delete_another_images_object(recorder, bucket):
    # A second file under a taken name goes to `<name>_<random>` (file_overwrite=False);
    # if that upload fails (a dropped connection, S3 answering 503 SlowDown), the cleanup
    # must not delete the first file. Watermarking the same image twice is such a case.
    s3 = storage.get_storage()
    first = storage.FileBatch(s3).save("blogimages/tests/same.png", b"first")

    def dropped_connection(name, content):
        raise ConnectionError("connection reset by peer")

    s3._save = dropped_connection  # this instance only; the fixture drops it afterwards
    with pytest.raises(ConnectionError):
        storage.FileBatch(s3).save("blogimages/tests/same.png", b"second")
    assert bucket.keys() == [first]


def presigned_expiry(url: str) -> int:
    """When a presigned link stops working, as a Unix time (SigV4: signed at + lifetime; SigV2: Expires)."""
    import calendar
    import time
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(url).query)
    if "Expires" in query:
        return int(query["Expires"][0])
    signed_at = calendar.timegm(time.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
    return signed_at + int(query["X-Amz-Expires"][0])


WINDOW_START = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)  # a multiple of 600 s and of 3600 s


@pytest.mark.clock
def test_signed_links_to_s3_files_are_the_stores_own_presigned_urls(recorder, bucket, settings, clock):
    from blogimages import signed_media

    settings.BLOGIMAGES_SIGNED_URL_SECONDS = 600
    clock.move_to(WINDOW_START + dt.timedelta(seconds=120))
    [out] = generation.generate(prompt="A lighthouse", overrides=SIZE)
    url = signed_media.url_for(out.file.name)
    assert "Signature=" in url and not url.startswith("/images/media/")
    # Valid until the end of the next window, as a local link of this window: 1080 s from now.
    assert presigned_expiry(url) == WINDOW_START.timestamp() + 1200
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    with out.file.open("rb") as fh:
        assert fetched.content == fh.read()


def use_signature(settings, bucket, signature_version: str) -> None:
    from django.core.files.storage import storages

    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "blogimages.s3_storage.S3MediaStorage",
        "OPTIONS": bucket.storage_options(signature_version=signature_version)}}
    storages._storages = {}


@pytest.mark.clock
@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])  # SigV4 (the site's) carries the second it signed
def test_an_s3_link_is_the_same_on_every_render_of_its_window_and_new_after(
        recorder, bucket, settings, clock, signature_version):
    from blogimages import signed_media

    use_signature(settings, bucket, signature_version)
    settings.BLOGIMAGES_SIGNED_URL_SECONDS = 3600
    clock.move_to(WINDOW_START + dt.timedelta(seconds=10))
    [out] = generation.generate(prompt="A lighthouse", overrides=SIZE)
    first = signed_media.url_for(out.file.name)
    assert out.file.url == first  # {{ output.file.url }} on a page is the same link
    clock.shift(3589)  # the window's last second: still that link, with over an hour left
    assert signed_media.url_for(out.file.name) == first == out.file.url
    assert presigned_expiry(first) - time.time() >= 3600
    assert out.thumbnail.url != first
    # Another process (its own recent links, the shared cache) hands out the same link.
    signed_media._recent.clear()
    assert signed_media.url_for(out.file.name) == first
    clock.shift(1)  # the next window: a new link, valid for the new window's two hours
    renewed = out.file.url
    assert renewed != first and presigned_expiry(renewed) == WINDOW_START.timestamp() + 3 * 3600
    clock.shift(1800)
    assert signed_media.url_for(out.file.name) == renewed
    assert requests.get(renewed, timeout=10).status_code == 200


@pytest.mark.clock
def test_an_s3_link_longer_than_sigv4_allows_is_handed_out_only_while_half_its_life_is_left(
        recorder, bucket, settings, clock):
    from blogimages import signed_media

    settings.BLOGIMAGES_SIGNED_URL_SECONDS = 30 * 24 * 3600  # a month: S3 signs at most 7 days
    clock.move_to(dt.datetime.fromtimestamp(692 * 30 * 24 * 3600, dt.UTC))  # a window's start (2026-11-03)
    [out] = generation.generate(prompt="A lighthouse", overrides=SIZE)
    first = out.file.url
    assert signed_media.PRESIGN_LONGEST - 1 <= presigned_expiry(first) - time.time() <= signed_media.PRESIGN_LONGEST
    clock.shift(signed_media.PRESIGN_LONGEST // 2 - 1)
    assert out.file.url == first
    clock.shift(1)  # half of its 7 days are gone: a new link
    later = out.file.url
    assert later != first
    assert signed_media.PRESIGN_LONGEST - 1 <= presigned_expiry(later) - time.time() <= signed_media.PRESIGN_LONGEST


def test_private_media_on_s3_presigns_files_and_a_published_rendition_gets_its_plain_object_url(recorder, bucket):
    from blogimages import checks, renditions, signed_media

    assert signed_media.private_media() and checks.check_private_media() == []
    [out] = generation.generate(prompt="A lighthouse", overrides=SIZE)
    [rendition, *_] = renditions.prepare_renditions([out], public=True)[out.pk].values()
    signed = renditions.url_of(rendition)
    assert "Signature=" in signed and requests.get(signed, timeout=10).status_code == 200
    plain = renditions.url_of(rendition, public=True)
    assert plain == f"{bucket.endpoint_url}/{bucket.name}/{rendition.file.name}"  # cacheable; the bucket policy decides
    assert out.file.url != f"{bucket.endpoint_url}/{bucket.name}/{out.file.name}" and "Signature=" in out.file.url

    storage.get_storage().querystring_auth = False  # unsigned links would publish every original
    assert [m.id for m in checks.check_private_media()] == ["blogimages.W010"]
