"""The pure size-fitting functions the gemini provider uses (nearest aspect, tier, exact fit)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from blogimages.imaging.gemini_fit import (
    FitError,
    crop_box_size,
    fit_exact,
    image_size,
    nearest_aspect,
    parse_aspect,
    smallest_covering,
)

ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def banded(size: tuple[int, int]) -> bytes:
    """Red left third, green middle, blue right third: a centre crop keeps the green."""
    w, h = size
    image = Image.new("RGB", size, "green")
    image.paste("red", (0, 0, w // 3, h))
    image.paste("blue", (w - w // 3, 0, w, h))
    return encoded(image)


@pytest.mark.parametrize(
    ("size", "aspect"),
    [((1024, 1024), "1:1"), ((1200, 630), "16:9"), ((1600, 900), "16:9"), ((1080, 1350), "4:5"),
     ((2560, 1080), "21:9"), ((4000, 500), "21:9"), ((630, 1200), "9:16"), ((1000, 1010), "1:1")],
)
def test_nearest_aspect_on_a_log_scale(size, aspect):
    assert nearest_aspect(*size, ASPECTS) == aspect


def test_nearest_aspect_is_symmetric_for_portrait_and_landscape():
    # 3:1 is nearer 4:1 than 2:1 on a log scale (a ratio of 4/3 against 3/2); 2.5:1 is nearer 2:1.
    assert nearest_aspect(3000, 1000, ("1:1", "2:1", "4:1")) == "4:1"
    assert nearest_aspect(1000, 3000, ("1:1", "1:2", "1:4")) == "1:4"
    assert nearest_aspect(2500, 1000, ("1:1", "2:1", "4:1")) == "2:1"
    assert nearest_aspect(1000, 2500, ("1:1", "1:2", "1:4")) == "1:2"


@pytest.mark.parametrize("bad", ["16x9", "0:1", "a:b", "16:"])
def test_parse_aspect_refuses_garbage(bad):
    with pytest.raises(ValueError):
        parse_aspect(bad)


def test_smallest_covering_tier():
    tiers = [("1K", (1376, 768)), ("2K", (2752, 1536)), ("4K", (5504, 3072))]
    assert smallest_covering(1200, 630, tiers) == "1K"
    assert smallest_covering(1600, 900, tiers) == "2K"
    assert smallest_covering(8000, 4500, tiers) == "4K"  # nothing covers: the largest


def test_crop_box_size_keeps_the_requested_aspect():
    assert crop_box_size(1376, 768, 1200, 630) == (1376, 722)
    assert crop_box_size(1024, 1024, 1600, 900) == (1024, 576)
    assert crop_box_size(768, 1376, 500, 2000) == (344, 1376)


def test_fit_exact_crops_the_centre_and_resizes():
    data = fit_exact(banded((1376, 768)), 600, 600)

    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (600, 600) and image.format == "PNG"
        rgb = image.convert("RGB")
        # The square crop of 768 from the middle keeps green in the centre and a little of each band.
        assert rgb.getpixel((300, 300)) == (0, 128, 0)
        assert rgb.getpixel((2, 300))[0] > 200 and rgb.getpixel((597, 300))[2] > 200


def test_fit_exact_returns_exact_size_bytes_unchanged():
    data = banded((640, 480))
    assert fit_exact(data, 640, 480) == data


def test_fit_exact_upscales_when_the_source_is_smaller():
    with Image.open(io.BytesIO(fit_exact(banded((1344, 768)), 1600, 900))) as image:
        assert image.size == (1600, 900)


def test_jpeg_and_webp_keep_their_format_and_transparency_survives_png():
    with Image.open(io.BytesIO(fit_exact(encoded(Image.new("RGB", (300, 200), "teal"), "JPEG"), 100, 100))) as image:
        assert image.format == "JPEG" and image.size == (100, 100)
    with Image.open(io.BytesIO(fit_exact(encoded(Image.new("RGB", (300, 200), "teal"), "WEBP"), 100, 50))) as image:
        assert image.format == "WEBP" and image.size == (100, 50)
    with Image.open(io.BytesIO(fit_exact(encoded(Image.new("RGBA", (300, 200), (0, 0, 0, 0))), 50, 50))) as image:
        assert image.mode == "RGBA" and image.getpixel((25, 25))[3] == 0


def test_exif_orientation_is_applied_before_cropping():
    image = Image.new("RGB", (400, 200), "teal")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the picture is really 200 wide, 400 tall
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)

    with Image.open(io.BytesIO(fit_exact(buffer.getvalue(), 100, 200))) as fitted:
        assert fitted.size == (100, 200)


def test_other_formats_become_png():
    gif = encoded(Image.new("P", (64, 32)), "GIF")
    with Image.open(io.BytesIO(fit_exact(gif, 32, 32))) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_unreadable_bytes_are_a_fit_error(data):
    with pytest.raises(FitError):
        fit_exact(data, 10, 10)
    if not data.startswith(b"\x89PNG"):
        with pytest.raises(FitError):
            image_size(data)


def test_too_many_pixels_is_a_fit_error_before_decoding():
    with pytest.raises(FitError, match="too large"):
        fit_exact(encoded(Image.new("L", (2000, 2000))), 10, 10, max_pixels=1_000_000)


def test_bad_target_sizes_are_refused():
    with pytest.raises(ValueError):
        fit_exact(banded((10, 10)), 0, 10)
