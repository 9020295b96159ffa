"""imaging/decode.py: bad bytes, unsupported formats and Pillow's limits, for every operation."""

import pytest
from PIL import Image

from blogimages.exceptions import InvalidImage
from blogimages.imaging.convert import convert
from blogimages.imaging.provenance import embed_provenance, read_provenance
from blogimages.imaging.resize import resize, upscale
from blogimages.imaging.watermark import WatermarkSpec, watermark
from tests.blogimages.imaging.images import INFO, busy, dark, decode, encode


def truncated_png():
    data = encode(busy((200, 200)))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"\xff\xd8\xff\xe0garbage",
        b"RIFF\x10\x00\x00\x00WEBPVP8 garbage",
        truncated_png(),
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda d: watermark(d, WatermarkSpec(text="x")),
        lambda d: resize(d, width=10, height=10),
        lambda d: convert(d, "png"),
        lambda d: upscale(d),
        lambda d: embed_provenance(d, INFO),
        read_provenance,
    ],
)
def test_garbage_raises_invalid_image(data, call):
    with pytest.raises(InvalidImage):
        call(data)


def test_invalid_image_is_a_value_error():
    assert issubclass(InvalidImage, ValueError)


def test_unsupported_input_formats_are_refused():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(InvalidImage):
        convert(eps, "png")


def test_respects_pillow_pixel_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    data = encode(dark((120, 100)))
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(InvalidImage, match="limit"):
        convert(data, "png")
    assert Image.MAX_IMAGE_PIXELS == 10_000  # read, never changed


def test_gif_input_becomes_png():
    out = decode(resize(encode(busy((100, 80)).quantize(32), "GIF"), width=50, height=40))
    assert out.format == "PNG" and out.size == (50, 40)
