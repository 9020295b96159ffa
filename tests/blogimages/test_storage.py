import datetime as dt
import os
import posixpath

import pytest
from django.utils import timezone

from blogimages import storage
from blogimages.exceptions import InvalidImage
from tests.conftest import png_bytes

HOSTILE = [
    "../../etc/passwd",
    "..\\..\\windows\\system32",
    "/absolute/path",
    "a/b/c",
    "name\x00with\x00nul",
    "....",
    "",
    "   ",
    "🦊🦊🦊",
    "C:\\evil",
    "%2e%2e%2f",
    "a" * 500,
    "line\nbreak\rcarriage",
    "Ünïcödé Çafé ñ",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_prompts_stay_inside_the_tests_folder(text):
    when = timezone.make_aware(dt.datetime(2026, 11, 21, 15, 42, 10))
    stem = storage.stem_for_test_image(prompt_text=text, short_id="1a2b3c4d", when=when)
    assert stem.startswith("blogimages/tests/2026-11-21/154210-")
    assert posixpath.normpath(stem) == stem and ".." not in stem and "\\" not in stem
    leaf = stem.rsplit("/", 1)[1]
    assert leaf.endswith("-1a2b3c4d") and len(leaf) <= 7 + storage.SLUG_MAX + 9
    assert all(c.isalnum() or c == "-" for c in leaf)


@pytest.mark.parametrize("slug", HOSTILE)
@pytest.mark.parametrize("key", ["../up", "intro", "x/y", ""])
def test_hostile_post_slugs_and_keys_stay_inside_the_post_folder(slug, key):
    stem = storage.post_image_stem(post_slug=slug, section_key=key, short_id="deadbeef")
    parts = stem.split("/")
    assert parts[:2] == ["blogimages", "posts"] and len(parts) == 4
    assert parts[2] and parts[2] not in (".", "..") and parts[3].endswith("-deadbeef")
    assert posixpath.normpath(stem) == stem


def test_readable_names():
    assert storage.safe_slug("A Lighthouse at Dusk!") == "a-lighthouse-at-dusk"
    assert storage.safe_slug("Ünïcödé Çafé") == "unicode-cafe"
    assert storage.safe_slug("🦊") == "image"
    assert storage.post_image_stem(post_slug="my-trip", section_key="arrival", short_id="abc") == (
        "blogimages/posts/my-trip/arrival-abc"
    )
    assert storage.derived_stem("blogimages/posts/p/hero-1a2b.png", "wm") == "blogimages/posts/p/hero-1a2b-wm"
    assert storage.thumbnail_name("x/y") == "x/y.thumb.webp" and storage.sidecar_name("x/y") == "x/y.json"


def test_inspect_image_accepts_png_jpeg_webp():
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        info = storage.inspect_image(png_bytes(40, 30, fmt=fmt))
        assert (info.format, info.mime_type, info.width, info.height) == (fmt, mime, 40, 30)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"not an image at all", "not a valid image"),
        (png_bytes(fmt="GIF"), "Unsupported image format GIF"),
        (png_bytes(100, 100)[:60], "not a valid image"),
    ],
)
def test_inspect_image_refuses_bad_data(data, message):
    with pytest.raises(InvalidImage, match=message):
        storage.inspect_image(data)


def test_inspect_image_limits(settings):
    settings.BLOGIMAGES_MAX_IMAGE_BYTES = 100
    with pytest.raises(InvalidImage, match="at most 100 are accepted"):
        storage.inspect_image(png_bytes(300, 300))
    settings.BLOGIMAGES_MAX_IMAGE_BYTES = 10_000_000
    settings.BLOGIMAGES_MAX_IMAGE_PIXELS = 1000
    with pytest.raises(InvalidImage, match="pixels"):
        storage.inspect_image(png_bytes(100, 100))


def test_decompression_bomb_header_is_refused_before_decoding():
    # A tiny PNG declaring 30000x30000 pixels: refused from the header alone.
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
    with pytest.raises(InvalidImage, match=r"900,?000,?000 pixels"):
        storage.inspect_image(bomb)


def test_thumbnail_is_webp_within_384():
    import io

    from PIL import Image

    for size in ((2000, 1000), (100, 50), (300, 1200)):
        with Image.open(io.BytesIO(storage.make_thumbnail(png_bytes(*size)))) as thumb:
            assert thumb.format == "WEBP" and max(thumb.size) == min(384, max(size))


def test_file_batch_removes_everything_when_the_block_fails(_media_root):
    with pytest.raises(RuntimeError):
        with storage.file_batch() as files:
            files.save("blogimages/tests/a.png", b"1")
            files.save("blogimages/tests/b.json", b"2")
            raise RuntimeError("boom")
    assert not os.path.exists(os.path.join(_media_root, "blogimages/tests/a.png"))
    assert not os.path.exists(os.path.join(_media_root, "blogimages/tests/b.json"))


def test_existing_names_are_never_overwritten(_media_root):
    with storage.file_batch() as files:
        first = files.save("blogimages/tests/same.png", b"first")
        second = files.save("blogimages/tests/same.png", b"second")
    assert first != second
    assert storage.get_storage().open(first).read() == b"first"
