"""Uploads lose what may identify a person or a place; pixels and orientation stay."""

import io

import pytest
from PIL import Image

from blogimages.exceptions import InvalidImage
from blogimages.imaging.provenance import strip_personal_metadata

GPS_IFD = 0x8825
ORIENTATION, ARTIST, SERIAL = 0x0112, 0x013B, 0xA431


def exif(orientation=6):
    data = Image.Exif()
    data[ORIENTATION] = orientation
    data[ARTIST] = "Jane Photographer"
    data.get_ifd(0x8769)[SERIAL] = "CAM-123456"
    data.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    return data


def image_with_metadata(fmt: str, **extra) -> bytes:
    buffer = io.BytesIO()
    im = Image.new("RGB", (40, 30), (10, 120, 200))
    im.putpixel((3, 4), (250, 0, 0))
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Author", "Jane Photographer")
        info.add_itxt("Comment", "shot at home, Berlin")
        im.save(buffer, "PNG", pnginfo=info, exif=exif(**extra))
    elif fmt == "JPEG":
        im.save(buffer, "JPEG", exif=exif(**extra), comment=b"shot at home", quality=95)
    else:
        im.save(buffer, "WEBP", exif=exif(**extra), lossless=True)
    return buffer.getvalue()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").tobytes()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_gps_and_personal_exif_are_removed_orientation_and_pixels_kept(fmt):
    original = image_with_metadata(fmt)
    assert b"Jane Photographer" in original
    cleaned = strip_personal_metadata(original)
    for secret in (b"Jane Photographer", b"CAM-123456", b"Berlin", b"shot at home"):
        assert secret not in cleaned, secret
    with Image.open(io.BytesIO(cleaned)) as im:
        tags = im.getexif()
        assert tags.get(ORIENTATION) == 6 and ARTIST not in tags and not tags.get_ifd(GPS_IFD)
        assert im.format == fmt and im.size == (40, 30)
    assert pixels(cleaned) == pixels(original)  # not re-encoded


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_without_an_orientation_no_exif_is_left(fmt):
    cleaned = strip_personal_metadata(image_with_metadata(fmt, orientation=1))
    with Image.open(io.BytesIO(cleaned)) as im:
        assert dict(im.getexif()) == {}


def test_a_non_image_is_refused():
    with pytest.raises(InvalidImage):
        strip_personal_metadata(b"GIF89a" + b"\x00" * 20)
