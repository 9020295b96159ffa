"""The store path without full-size copies (issue 17 item 1): the perceptual hash greys a strip
of rows at a time and still equals imagehash's hash of the whole picture; an unsigned PNG is
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
    image = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))
    return image.filter(ImageFilter.GaussianBlur(3)).convert(mode)


def whole_picture_hash(image):
    """What phash_hex computed before: the whole picture greyed (on white if transparent)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return str(imagehash.phash(image.convert("L")))


@pytest.mark.parametrize("size", [(1024, 1024), (1000, 129), (1536, 1024), (300, 300), (257, 1000), (32, 32),
                                  (31, 20), (500, 2)])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK"])
def test_the_hash_made_in_strips_is_the_hash_of_the_whole_picture(size, mode):
    image = noise(size, mode)
    if mode == "RGBA":
        image.putalpha(noise(size, "L", seed=2))
    assert phash.phash_hex(image) == whole_picture_hash(image)
    if size[0] >= size[1]:
        expected = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS) if mode != "RGBA" else None
        if expected is not None:
            assert phash.grey_square(image).tobytes() == expected.tobytes()


def test_a_palette_image_with_a_transparent_index_hashes_as_on_white():
    image = noise((640, 480), "P")
    image.info["transparency"] = 3
    assert phash.phash_hex(image) == whole_picture_hash(image)


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
