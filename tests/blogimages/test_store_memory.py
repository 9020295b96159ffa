"""The store path without full-size copies (issue 17 item 1): the perceptual hash works on a
box-reduced copy of a large picture (the one its thumbnail is made from); an unsigned PNG is
written as views of the received bytes around its provenance chunks. The peak memory itself is
a figure `bench/batch.py` prints, never asserted here."""

import hashlib
import io
import random

import imagehash
import pytest
from PIL import Image, ImageFilter

from blogimages import generation, storage
from blogimages.imaging import phash, provenance
from blogimages.storage import Pieces


def noise(size, mode="RGB", seed=1):
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    return image.filter(ImageFilter.GaussianBlur(3)).convert(mode)


def whole_picture_hash(image):
    """What phash_hex computed before: the whole picture greyed (on white if transparent)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return str(imagehash.phash(image.convert("L")))


@pytest.mark.parametrize("size", [(700, 700), (1000, 129), (1536, 700), (300, 300), (257, 1000), (32, 32),
                                  (31, 20), (500, 2), (767, 900)])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK"])
def test_a_picture_shorter_than_twice_the_reduced_side_hashes_as_a_whole(size, mode):
    image = noise(size, mode)
    if mode == "RGBA":
        image.putalpha(noise(size, "L", seed=2))
    assert phash.reduced(image) is image
    assert phash.phash_hex(image) == whole_picture_hash(image)


@pytest.mark.parametrize("size", [(1024, 1024), (1536, 1024), (1024, 1792), (2048, 2048), (800, 3000), (768, 768)])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P"])
def test_a_large_picture_hashes_as_its_reduced_copy_and_close_to_the_whole(size, mode):
    image = noise(size, mode, seed=3)
    if mode == "RGBA":
        image.putalpha(noise(size, "L", seed=4))
    smaller = phash.reduced(image)
    assert min(smaller.size) >= phash.REDUCED_SIDE > min(smaller.size) / 2
    # The store path hashes the reduced copy it makes its thumbnail from: the same hash.
    assert phash.reduced(smaller) is smaller
    assert phash.phash_hex(image) == phash.phash_hex(smaller) == whole_picture_hash(smaller)


@pytest.mark.parametrize("size", [(1024, 1024), (1792, 1024), (2048, 2048)])
def test_a_large_picture_hashes_near_its_whole_picture_hash(size):
    """A picture with shapes and light (what providers send) keeps its hash within the
    near-duplicate distance of the whole-picture hash, so near-duplicates stay near. (Blurred
    noise, whose low frequencies are nearly equal, can move further: up to 10-14 bits, as much
    as resizing it moves it; `hash_images --all` rehashes images stored before the change.)"""
    from PIL import ImageDraw

    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    rng = random.Random(size[0])
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(40, size[0] // 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    image = Image.blend(image.filter(ImageFilter.GaussianBlur(4)), noise(size, seed=5), 0.15)
    assert phash.distance(phash.phash_hex(image), whole_picture_hash(image)) <= 2


def test_a_palette_image_with_a_transparent_index_hashes_as_on_white():
    image = noise((640, 480), "P")
    image.info["transparency"] = 3
    assert phash.phash_hex(image) == whole_picture_hash(image)
    large = noise((1600, 1200), "P")
    large.info["transparency"] = 3
    assert phash.phash_hex(large) == whole_picture_hash(phash.reduced(large))


def png_bytes(size=(300, 200), **info):
    buffer = io.BytesIO()
    pnginfo = None
    if info:
        from PIL.PngImagePlugin import PngInfo

        pnginfo = PngInfo()
        for key, value in info.items():
            pnginfo.add_text(key, value)
    noise(size).save(buffer, "PNG", pnginfo=pnginfo)
    return buffer.getvalue()


@pytest.mark.parametrize("existing", [{}, {"parameters": "old prompt", "Title": "kept"},
                                      {"prompt": '{"1": {"class_type": "KSampler"}}'}])
def test_the_provenance_pieces_join_to_the_embedded_file(existing):
    data = png_bytes(**existing)
    facts = {"prompt": "a lighthouse", "provider": "test", "model": "m", "seed": 7, "image_id": "abc"}
    pieces = provenance.embed_provenance_parts(data, facts)
    joined = b"".join(bytes(piece) for piece in pieces)
    assert joined == provenance.embed_provenance(data, facts)
    assert provenance.read_provenance(joined)["prompt"] == "a lighthouse"
    # The pixels' chunks are views of the bytes received, not copies of them.
    assert any(isinstance(piece, memoryview) and piece.obj is data for piece in pieces)


def test_pieces_read_as_one_file():
    parts = [b"abc", memoryview(b"0123456789")[2:7], b"", b"XYZ"]
    reader = Pieces(parts)
    assert reader.size == 11
    assert reader.read(4) == b"abc2" and reader.tell() == 4
    assert reader.read() == b"3456XYZ" and reader.read(3) == b""
    reader.seek(0)
    assert b"".join(iter(lambda: reader.read(2), b"")) == b"abc23456XYZ"
    assert reader.seek(0, io.SEEK_END) == 11


@pytest.mark.django_db
def test_a_png_written_from_pieces_is_stored_whole(recorder):
    [output] = generation.generate(prompt="A lighthouse at dusk", provider="test",
                                   overrides={"width": 256, "height": 256})
    assert output.status == "succeeded", output.error
    with storage.get_storage().open(output.file.name, "rb") as handle:
        data = handle.read()
    assert len(data) == output.bytes and hashlib.sha256(data).hexdigest() == output.sha256
    assert provenance.read_provenance(data)["prompt"] == "A lighthouse at dusk"
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.size == (256, 256)
