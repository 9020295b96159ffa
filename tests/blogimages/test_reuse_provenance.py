"""An identical request answered from storage copies the original's bytes: the file's embedded
provenance (PNG text / XMP image_id, a C2PA manifest) still names the original, so the reused
image's sidecar names its own uid, what it reuses and which uid the embedded metadata names."""

import json

import pytest

from blogimages import content_credentials, generation
from blogimages.imaging import provenance
from tests.blogimages.c2pa_certs import make_pki

pytestmark = pytest.mark.django_db


def card(seed=4):
    [output] = generation.generate(prompt="A pier in fog", provider="cards",
                                   overrides={"seed": seed, "width": 160, "height": 120})
    assert output.status == "succeeded", output.error
    return output


def sidecar(output):
    with output.sidecar.storage.open(output.sidecar.name, "rb") as handle:
        return json.loads(handle.read())


def file_bytes(output):
    with output.file.storage.open(output.file.name, "rb") as handle:
        return handle.read()


def test_a_reused_images_sidecar_names_itself_and_what_it_reuses():
    first = card()
    again = card()
    third = card()
    assert again.reused_from_id == first.pk and third.reused_from_id == first.pk
    data = sidecar(again)
    assert data["uid"] == str(again.uid) and data["id"] == again.pk
    assert data["reused_from"] == {"id": first.pk, "uid": str(first.uid), "embedded_image_id": str(first.uid)}
    assert data["sha256"] == first.sha256 and file_bytes(again) == file_bytes(first), "the same bytes"
    # What the file itself says: the original's uid, as the sidecar warns.
    assert provenance.read_provenance(file_bytes(again)).get("image_id") == str(first.uid)
    assert sidecar(first)["reused_from"] is None


def test_a_reuse_of_a_reuse_still_names_the_uid_its_bytes_carry():
    first = card(seed=8)
    again = card(seed=8)
    # Were the original gone, the next identical request would reuse the reuse.
    from blogimages.models import ImageOutput

    ImageOutput.objects.filter(pk=first.pk).update(status="failed", error="gone")
    third = card(seed=8)
    assert third.reused_from_id == again.pk
    assert sidecar(third)["reused_from"] == {"id": again.pk, "uid": str(again.uid),
                                             "embedded_image_id": str(first.uid)}


@pytest.fixture
def signing(settings, tmp_path):
    chain, key, ca = make_pki().write(tmp_path / "pki")
    settings.BLOGIMAGES_C2PA_CERT, settings.BLOGIMAGES_C2PA_KEY = str(chain), str(key)
    settings.BLOGIMAGES_C2PA_TRUST_ANCHORS = str(ca)


def test_a_reused_signed_image_keeps_a_valid_manifest_and_reports_it(signing):
    first = card(seed=12)
    assert first.credentials.get("state") in ("trusted", "valid"), first.credentials
    again = card(seed=12)
    assert again.reused_from_id == first.pk
    assert again.credentials == first.credentials, "the file carries the same manifest: say so"
    assert content_credentials.verify(again)["state"] == first.credentials["state"], "bytes untouched: still valid"
    assert sidecar(again)["credentials"] == first.credentials
