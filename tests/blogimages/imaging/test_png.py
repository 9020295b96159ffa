"""imaging/png.py: the Up-filtered PNG writer gives back the very pixels it was given."""

import io
import struct
import zlib

import pytest
from PIL import Image

from blogimages.imaging.png import encode_png
from tests.blogimages.imaging.images import busy, decode, gradient, transparent_rgba


def chunks(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, found = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        found.append((kind, body))
        position += 12 + length
    return found


@pytest.mark.parametrize("image", [
    gradient((256, 256), (200, 40, 40), (20, 40, 200)),
    busy((97, 131)),  # odd sizes: rows that are not a multiple of anything
    gradient((1, 1), (255, 255, 255), (0, 0, 0)),
    Image.new("RGB", (3, 300), (255, 0, 128)),
], ids=["gradient", "busy", "one-pixel", "tall"])
def test_rgb_decodes_to_the_same_pixels(image):
    data = encode_png(image)
    out = decode(data)
    assert (out.format, out.mode, out.size) == ("PNG", "RGB", image.size)
    assert out.tobytes() == image.tobytes()


def test_rgba_keeps_its_alpha():
    image = transparent_rgba()
    out = decode(encode_png(image))
    assert out.mode == "RGBA"
    assert out.tobytes() == image.tobytes()


def test_every_row_is_up_filtered_in_three_chunks():
    image = busy((40, 30))
    kinds = chunks(encode_png(image))
    assert [kind for kind, _ in kinds] == [b"IHDR", b"IDAT", b"IEND"]
    raw = zlib.decompress(kinds[1][1])
    row = 1 + 40 * 3
    assert len(raw) == 30 * row
    assert {raw[y * row] for y in range(30)} == {2}


@pytest.mark.parametrize("mode", ["L", "P", "LA", "I;16"])
def test_other_modes_are_pillows(mode):
    image = busy((20, 20)).convert(mode) if mode != "I;16" else Image.new("I;16", (20, 20), 300)
    out = decode(encode_png(image))
    assert out.format == "PNG"
    assert out.size == (20, 20)


def test_about_as_small_as_pillows_level_1():
    image = gradient((256, 256), (200, 40, 40), (20, 40, 200))
    pillow = io.BytesIO()
    image.save(pillow, "PNG", compress_level=1)
    assert len(encode_png(image)) <= len(pillow.getvalue()) * 1.25
