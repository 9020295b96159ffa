"""imaging/resize.py: resize, crop and fit with a focal point, named sizes, upscale."""

import functools

import pytest
from PIL import Image, ImageStat

from blogimages.imaging.resize import FORMATS, resize, resize_to_format, upscale
from tests.blogimages.imaging.images import busy, dark, decode, encode, gradient, transparent_rgba


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("mode", ["cover", "contain", "stretch"])
@pytest.mark.parametrize("source_size", [(1024, 1024), (1792, 1024), (1024, 1792)])
def test_every_preset_gives_its_exact_size(name, mode, source_size):
    out = decode(resize_to_format(gradient_png(source_size), name, mode=mode))
    assert out.size == FORMATS[name]
    assert out.format == "PNG"


@functools.cache
def gradient_png(size):
    return encode(gradient(size, (200, 40, 40), (20, 40, 200)))


def test_named_presets():
    assert FORMATS["social"] == (1200, 630)
    width, height = FORMATS["header"]
    assert width * 9 == height * 16
    square = FORMATS["square"]
    assert square[0] == square[1]


def test_custom_formats_mapping_and_unknown_name():
    data = encode(dark())
    assert decode(resize_to_format(data, "banner", formats={"banner": (728, 90)})).size == (728, 90)
    with pytest.raises(ValueError, match="Unknown image format 'poster'"):
        resize_to_format(data, "poster")


def halves(size=(1000, 500)):
    """Left half red, right half blue."""
    im = Image.new("RGB", size, (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return im


def test_focal_point_moves_the_crop():
    data = encode(halves())
    left = decode(resize(data, width=300, height=300, focal=(0.1, 0.5)))
    right = decode(resize(data, width=300, height=300, focal=(0.9, 0.5)))
    centre = decode(resize(data, width=300, height=300))
    assert ImageStat.Stat(left).mean[0] > 250 and ImageStat.Stat(left).mean[2] < 5
    assert ImageStat.Stat(right).mean[2] > 250 and ImageStat.Stat(right).mean[0] < 5
    r, _, b = ImageStat.Stat(centre).mean
    assert abs(r - b) < 10  # centred: half and half


def test_focal_point_vertical():
    im = Image.new("RGB", (400, 800), "black")
    im.paste("white", (0, 0, 400, 200))  # a bright top quarter
    data = encode(im)
    top = decode(resize(data, width=400, height=200, focal=(0.5, 0.0)))
    bottom = decode(resize(data, width=400, height=200, focal=(0.5, 1.0)))
    assert ImageStat.Stat(top.convert("L")).mean[0] > 250
    assert ImageStat.Stat(bottom.convert("L")).mean[0] < 5


def test_contain_letterboxes():
    data = encode(Image.new("RGB", (500, 500), (10, 120, 10)))
    out = decode(resize(data, width=1200, height=630, mode="contain"))
    assert out.size == (1200, 630) and out.mode == "RGB"
    assert out.getpixel((5, 315)) == (255, 255, 255)  # white bars by default
    assert out.getpixel((600, 315)) == (10, 120, 10)
    out = decode(resize(data, width=1200, height=630, mode="contain", background="#202020"))
    assert out.getpixel((5, 315)) == (32, 32, 32)
    out = decode(resize(data, width=1200, height=630, mode="contain", background="blur"))
    assert out.getpixel((5, 315))[1] > 100  # the image itself, blurred


def test_contain_keeps_transparency_for_rgba():
    out = decode(resize(encode(transparent_rgba()), width=600, height=600, mode="contain"))
    assert out.mode == "RGBA" and out.getpixel((2, 2))[3] == 0


def test_one_side_keeps_aspect_ratio():
    data = encode(dark((1600, 900)))
    assert decode(resize(data, width=800, height=None)).size == (800, 450)
    assert decode(resize(data, width=None, height=300)).size == (533, 300)


def test_resize_stretch_and_formats():
    out = resize(encode(busy()), width=123, height=45, mode="stretch", output_format="jpeg", quality=70)
    im = decode(out)
    assert im.size == (123, 45) and im.format == "JPEG"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 0, "height": 10}, "width"),
        ({"width": 10, "height": 100_000}, "height"),
        ({"width": None, "height": None}, "width, a height"),
        ({"width": 10, "height": 10, "mode": "squash"}, "mode must be one of"),
        ({"width": 10, "height": 10, "focal": (2, 0.5)}, "focal"),
        ({"width": 10, "height": 10, "focal": "middle"}, "focal"),
        ({"width": 10, "height": 10, "quality": 0}, "quality"),
        ({"width": 10, "height": 10, "output_format": "gif"}, "Unsupported output format"),
        ({"width": 10, "height": 10, "mode": "contain", "background": "nope"}, "background"),
    ],
)
def test_resize_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resize(encode(dark()), **kwargs)


def test_exif_orientation_is_applied():
    im = halves((400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encode(im, "JPEG", exif=exif.tobytes(), quality=95)
    out = decode(resize(data, width=100, height=None))
    assert out.size == (100, 200)
    assert not out.getexif().get(0x0112)


def test_upscale_doubles():
    data = encode(busy((300, 200)), "JPEG")
    out = decode(upscale(data))
    assert out.size == (600, 400) and out.format == "JPEG"
    assert decode(upscale(data, 1.5, output_format="png")).size == (450, 300)


def test_upscale_refuses_beyond_max_side():
    data = encode(dark((1024, 1024)))
    with pytest.raises(ValueError, match="beyond the 4096px limit"):
        upscale(data, 4.5)
    with pytest.raises(ValueError, match="beyond the 1500px limit"):
        upscale(data, 2, max_side=1500)
    assert decode(upscale(data, 4)).size == (4096, 4096)


@pytest.mark.parametrize("factor", [1, 0.5, 0, -2, 9, float("nan"), "2"])
def test_upscale_rejects_bad_factors(factor):
    with pytest.raises(ValueError, match="factor"):
        upscale(encode(dark((50, 50))), factor)


def test_upscale_keeps_rgba():
    out = decode(upscale(encode(transparent_rgba((100, 80)))))
    assert out.mode == "RGBA" and out.size == (200, 160) and out.getpixel((0, 0))[3] == 0
