"""imaging.fit: an image the provider made near the asked size, fitted to exactly it."""

import io

import pytest
from PIL import Image

from blogimages.imaging.fit import cover_box, fit_exactly


def halves(width: int, height: int, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """Left half red, right half blue: where the crop was taken shows in the corners."""
    picture = Image.new(mode, (width, height), "red")
    picture.paste(Image.new(mode, (width // 2, height), "blue"), (width // 2, 0))
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(("source", "target", "box"), [
    ((1216, 640), (1200, 630), (0, 1, 1216, 639)),       # nearly the same shape: a row off each edge
    ((1536, 1024), (1200, 630), (0, 109, 1536, 915)),    # wider target: top and bottom trimmed
    ((1024, 1024), (1200, 630), (0, 243, 1024, 781)),
    ((1608, 904), (1600, 900), (0, 0, 1607, 904)),
    ((1024, 1536), (1024, 1024), (0, 256, 1024, 1280)),  # taller source: centred band
    ((1536, 1024), (1024, 1024), (256, 0, 1280, 1024)),
])
def test_cover_box_is_the_centred_crop_of_the_targets_shape(source, target, box):
    assert cover_box(source, target) == box


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_fit_exactly_makes_the_exact_size_and_keeps_the_format(fmt):
    fitted = fit_exactly(halves(1216, 640, fmt), width=1200, height=630)

    with Image.open(io.BytesIO(fitted)) as picture:
        assert (picture.format, picture.size) == (fmt, (1200, 630))
        rgb = picture.convert("RGB")
        # The halves stay halves: a centred crop, not a stretch off to one side.
        assert rgb.getpixel((5, 315))[0] > 200 and rgb.getpixel((1194, 315))[2] > 200


def test_fit_exactly_keeps_transparency():
    picture = Image.new("RGBA", (1216, 640), (0, 0, 0, 0))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")

    with Image.open(io.BytesIO(fit_exactly(buffer.getvalue(), width=600, height=315))) as fitted:
        assert fitted.mode == "RGBA" and fitted.getpixel((10, 10))[3] == 0


def test_an_image_already_the_right_size_comes_back_untouched():
    data = halves(64, 48)
    assert fit_exactly(data, width=64, height=48) is data


def test_an_impossible_size_is_refused():
    with pytest.raises(ValueError, match="0x10"):
        fit_exactly(halves(64, 48), width=0, height=10)
