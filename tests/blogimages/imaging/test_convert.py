"""imaging/convert.py: re-encoding to PNG, JPEG and WebP."""

import pytest
from PIL import ImageChops

from blogimages.imaging.convert import convert
from tests.blogimages.imaging.images import busy, dark, decode, encode, transparent_rgba


@pytest.mark.parametrize("source", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("target", ["png", "jpeg", "jpg", "webp", "WEBP"])
def test_convert_round_trips(source, target):
    data = encode(busy((320, 240)), source)
    out = decode(convert(data, target))
    assert out.size == (320, 240)
    assert out.format == {"jpg": "JPEG"}.get(target, target.upper())


def test_png_and_lossless_webp_are_pixel_exact():
    original = busy((200, 150))
    data = encode(original)
    assert ImageChops.difference(decode(convert(data, "png")), original).getbbox() is None
    lossless = decode(convert(data, "webp", lossless=True)).convert("RGB")
    assert ImageChops.difference(lossless, original).getbbox() is None
    # A lossless WebP stays lossless by default when re-encoded.
    again = decode(convert(convert(data, "webp", lossless=True), "webp")).convert("RGB")
    assert ImageChops.difference(again, original).getbbox() is None


def test_jpeg_of_rgba_flattens_onto_white():
    out = decode(convert(encode(transparent_rgba()), "jpeg"))
    assert out.mode == "RGB"
    assert all(v > 250 for v in out.getpixel((5, 5)))
    r, g, b = out.getpixel((150, 150))
    assert r > 180 and g < 60 and b < 60
    black = decode(convert(encode(transparent_rgba()), "jpeg", background="black"))
    assert all(v < 5 for v in black.getpixel((5, 5)))


def test_webp_keeps_alpha_and_quality_changes_size():
    rgba = decode(convert(encode(transparent_rgba()), "webp"))
    assert rgba.mode == "RGBA" and rgba.getpixel((5, 5))[3] == 0
    data = encode(busy((400, 300)))
    assert len(convert(data, "jpeg", quality=30)) < len(convert(data, "jpeg", quality=95))
    assert len(convert(data, "webp", quality=30)) < len(convert(data, "webp", quality=95))


def test_jpeg_to_jpeg_keeps_the_source_tables():
    data = encode(busy((300, 200)), "JPEG", quality=60)
    out = convert(data, "jpeg")
    assert decode(out).quantization == decode(data).quantization


def test_convert_rejects_unknown_format_and_quality():
    with pytest.raises(ValueError, match="Unsupported output format 'tiff'"):
        convert(encode(dark()), "tiff")
    with pytest.raises(ValueError, match="quality"):
        convert(encode(dark()), "jpeg", quality=101)


def test_convert_rejects_a_bad_background():
    with pytest.raises(ValueError, match="background must be a colour"):
        convert(encode(transparent_rgba()), "jpeg", background="nope")
