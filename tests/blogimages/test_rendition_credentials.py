"""A post image's renditions are signed with the image as their C2PA parent, read and validated
once per image for all of its files, and their manifests are the ones a per-file read makes."""

import io
import json

import c2pa
import pytest

from blogimages import content_credentials, renditions
from blogimages.imaging import credentials
from tests.blogimages.c2pa_certs import make_pki
from tests.blogimages.test_review import file_bytes, make_image
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def pki():
    return make_pki()


@pytest.fixture
def signing(settings, tmp_path, pki):
    chain, key, ca = pki.write(tmp_path / "pki")
    settings.BLOGIMAGES_C2PA_CERT, settings.BLOGIMAGES_C2PA_KEY = str(chain), str(key)
    settings.BLOGIMAGES_C2PA_TRUST_ANCHORS = str(ca)
    return pki


@pytest.fixture
def parent_reads(monkeypatch):
    """Every time a parent's bytes are read and validated as an ingredient."""
    reads = []
    add = credentials._add_parent

    def counted(builder, parent, title, **extra):
        reads.append(title)
        return add(builder, parent, title, **extra)

    monkeypatch.setattr(credentials, "_add_parent", counted)
    return reads


def store_of(data: bytes, ca_pem: bytes) -> tuple[str, dict]:
    context = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
                                      "trust": {"user_anchors": ca_pem.decode()}})
    with c2pa.Reader(credentials.mime_type_of(data), io.BytesIO(data), context=context) as reader:
        return reader.get_validation_state(), json.loads(reader.json())


def comparable(store: dict) -> dict:
    """The active manifest and its parent chain without what differs on every signing, the
    per-file way too: the new manifest's own label, instance ids (an ingredient gets a new one
    each time it is added), the hash of the ingredient assertion that holds that id, and the
    signature's time."""
    active = store["active_manifest"]

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("instance_id", "time", "hash")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return "ACTIVE" if isinstance(value, str) and value == active else (
            value.replace(active, "ACTIVE") if isinstance(value, str) else value)

    return strip({"active": store["manifests"][active],
                  "others": {k: v for k, v in store["manifests"].items() if k != active}})


def test_renditions_read_their_parent_once_per_image(signing, recorder, parent_reads):
    image = make_image(size=(1300, 800))
    other = make_image(size=(900, 600))
    prepared = renditions.prepare_renditions([image, other])
    assert len(prepared[image.pk]) >= 6 and len(prepared[other.pk]) >= 4
    # Before: one read and validation of the original per file (nine for a full srcset).
    assert sorted(parent_reads) == sorted([str(image.uid), str(other.uid)])
    _, original = store_of(file_bytes(image), signing.ca_pem)
    for rendition in prepared[image.pk].values():
        with rendition.file.open("rb") as fh:
            state, store = store_of(fh.read(), signing.ca_pem)
        assert state == "Trusted", rendition.spec
        manifest = store["manifests"][store["active_manifest"]]
        [parent] = [i for i in manifest["ingredients"] if i["relationship"] == "parentOf"]
        assert (parent["title"], parent["active_manifest"]) == (str(image.uid), original["active_manifest"])
        assert not parent["validation_results"]["activeManifest"]["failure"]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_a_parent_read_once_makes_the_manifest_a_per_file_read_makes(signing, recorder, fmt):
    image = make_image(size=(640, 480))
    original = file_bytes(image)
    data = png_bytes(320, 240, fmt=fmt)
    parent = content_credentials.rendition_parent(image, original)
    assert parent is not None
    once = content_credentials.sign_rendition(image, data, original=original, spec="w320.x", parent=parent)
    each = content_credentials.sign_rendition(image, data, original=original, spec="w320.x")
    (state_once, store_once), (state_each, store_each) = store_of(once, signing.ca_pem), store_of(each, signing.ca_pem)
    assert state_once == state_each == "Trusted"
    assert comparable(store_once) == comparable(store_each)
    again = content_credentials.sign_rendition(image, data, original=original, spec="w320.x")
    assert comparable(store_of(again, signing.ca_pem)[1]) == comparable(store_each)  # the comparison's yardstick
    assert credentials.read(once, trust_anchors=signing.ca_pem)["chain"][1:] == \
        credentials.read(each, trust_anchors=signing.ca_pem)["chain"][1:]


def test_without_signing_renditions_prepare_no_parent(settings, recorder, parent_reads):
    image = make_image(size=(900, 600))
    assert content_credentials.rendition_parent(image, file_bytes(image)) is None
    assert renditions.prepare_renditions([image])[image.pk] and parent_reads == []


def test_a_parent_that_cannot_be_read_prepares_nothing(signing, recorder):
    image = make_image(size=(640, 480))
    # Each rendition then reads (and fails on) the parent itself, as before: no new way to fail.
    assert content_credentials.rendition_parent(image, b"not an image") is None
