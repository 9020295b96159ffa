"""imaging/provenance.py: XMP/IPTC and PNG text written and read back, and carried through every operation."""

import json
import struct
import zlib

import pytest
from PIL import Image, ImageChops
from PIL.PngImagePlugin import PngInfo

from blogimages.imaging.convert import convert
from blogimages.imaging.provenance import DIGITAL_SOURCE_TYPE_AI, XMP_NAMESPACE, embed_provenance, read_provenance
from blogimages.imaging.resize import resize, resize_to_format, upscale
from blogimages.imaging.watermark import WatermarkSpec, watermark
from tests.blogimages.imaging.images import HOSTILE_PROMPT, INFO, busy, dark, decode, encode, light, transparent_rgba

AI = DIGITAL_SOURCE_TYPE_AI


def with_provenance(fmt, info=INFO, **kwargs):
    return embed_provenance(encode(busy((320, 240)), fmt), info, **kwargs)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_provenance_round_trip(fmt):
    data = with_provenance(fmt)
    found = read_provenance(data)
    for key, value in INFO.items():
        assert found[key] == value, key
    assert found["digital_source_type"] == AI
    assert found["generator"] == "blogimages"
    assert decode(data).format == fmt


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_embedding_never_touches_the_pixels(fmt):
    original = encode(busy((320, 240)), fmt)
    embedded = embed_provenance(original, INFO)
    assert ImageChops.difference(decode(original), decode(embedded)).getbbox() is None
    assert embedded != original


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_xmp_is_well_formed_and_uses_the_iptc_vocabulary(fmt):
    from xml.etree import ElementTree

    im = decode(with_provenance(fmt))
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    xmp = xmp if isinstance(xmp, bytes) else xmp.encode()
    root = ElementTree.fromstring(xmp)  # parses: everything was escaped
    ns = {
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
        "dc": "http://purl.org/dc/elements/1.1/",
        "bi": XMP_NAMESPACE,
    }
    assert root.find(".//Iptc4xmpExt:DigitalSourceType", ns).text == AI
    assert root.find(".//dc:description/rdf:Alt/rdf:li", ns).text == HOSTILE_PROMPT
    assert root.find(".//bi:seed", ns).text == "424242"
    assert b"<script>" not in xmp  # escaped, not raw markup


def test_png_has_readable_text_chunks():
    im = decode(with_provenance("PNG", {**INFO, "steps": 30, "sampler": "Euler a"}))
    assert im.text["prompt"] == HOSTILE_PROMPT
    assert im.text["model"] == "gpt-image-1" and im.text["seed"] == "424242"
    assert im.text["digital_source_type"] == AI
    parameters = im.text["parameters"]
    assert parameters.startswith(HOSTILE_PROMPT + "\nNegative prompt: blurry")
    last = parameters.splitlines()[-1]
    assert "Steps: 30" in last and "Sampler: Euler a" in last and "Seed: 424242" in last
    assert "Size: 320x240" in last and "Model: gpt-image-1" in last


def test_extra_fields_and_types():
    info = {**INFO, "steps": 25, "guidance_scale": 7.5, "revised_prompt": "A fox", "tags": ["a", "b"]}
    found = read_provenance(with_provenance("WEBP", info))
    assert found["steps"] == 25 and found["guidance_scale"] == 7.5
    assert found["revised_prompt"] == "A fox" and json.loads(found["tags"]) == ["a", "b"]


def test_embedding_twice_replaces_instead_of_duplicating():
    once = with_provenance("PNG")
    twice = embed_provenance(once, {**INFO, "seed": 7})
    assert twice.count(b"XML:com.adobe.xmp") == 1
    assert twice.count(b"tEXtseed\x00") + twice.count(b"iTXtseed\x00") == 1
    assert read_provenance(twice)["seed"] == 7
    jpeg = embed_provenance(with_provenance("JPEG"), {**INFO, "seed": 7})
    assert jpeg.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1
    webp = embed_provenance(with_provenance("WEBP"), {**INFO, "seed": 7})
    assert webp.count(b"XMP ") == 1 and read_provenance(webp)["seed"] == 7


def test_embedding_is_deterministic():
    data = encode(busy((64, 64)))
    assert embed_provenance(data, INFO) == embed_provenance(data, INFO)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_strip_parameters_keeps_only_the_ai_marker(fmt):
    stripped = embed_provenance(with_provenance(fmt), INFO, strip_parameters=True)
    found = read_provenance(stripped)
    assert found == {"digital_source_type": AI, "generator": "blogimages"}
    for secret in (b"424242", b"gpt-image-1", b"openai", b"alert", b"blurry"):
        assert secret not in stripped
    assert b"trainedAlgorithmicMedia" in stripped


def test_strip_removes_foreign_generation_metadata_from_png():
    info = PngInfo()
    info.add_text("parameters", "a secret prompt\nSteps: 20, Seed: 99, Model: sdxl")
    info.add_text("workflow", '{"secret": "graph"}')
    info.add_text("Comment", "secret comment")
    info.add_text("Copyright", "© Example Blog")
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    exif[0x0112] = 1
    data = encode(busy((120, 80)), pnginfo=info, exif=exif.tobytes())
    stripped = embed_provenance(data, {}, strip_parameters=True)
    assert b"secret" not in stripped
    im = decode(stripped)
    assert im.text["Copyright"] == "© Example Blog"
    assert read_provenance(stripped)["digital_source_type"] == AI
    # Without strip, foreign chunks stay (ours replace only what they name).
    kept = decode(embed_provenance(data, INFO))
    assert kept.text["workflow"] == '{"secret": "graph"}' and kept.text["parameters"].startswith(HOSTILE_PROMPT)


def jpeg_with_user_comment():
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00secret prompt, Steps: 20, Seed: 99"
    raw = encode(busy((120, 80)), "JPEG", exif=exif.tobytes(), quality=90)
    # A JPEG comment too, the way some tools store prompts.
    comment = b"\xff\xfe" + struct.pack(">H", 2 + 13) + b"secret prompt"
    return raw[:2] + comment + raw[2:]


def test_strip_removes_exif_user_comment_and_comments_from_jpeg_but_keeps_orientation():
    data = jpeg_with_user_comment()
    assert b"secret" in data
    stripped = embed_provenance(data, INFO, strip_parameters=True)
    assert b"secret" not in stripped
    im = decode(stripped)
    assert im.getexif()[0x0112] == 6
    assert ImageChops.difference(im, decode(data)).getbbox() is None
    assert read_provenance(stripped)["digital_source_type"] == AI


def test_strip_removes_exif_from_webp():
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    data = encode(busy((120, 80)), "WEBP", exif=exif.tobytes())
    stripped = embed_provenance(data, INFO, strip_parameters=True)
    assert b"secret" not in stripped
    assert decode(stripped).size == (120, 80)


@pytest.mark.parametrize(
    "make",
    [
        lambda: encode(transparent_rgba(), "WEBP", lossless=True),  # simple VP8L with alpha
        lambda: encode(transparent_rgba(), "WEBP", quality=80),  # VP8X + ALPH
        lambda: encode(busy((99, 77)), "WEBP", quality=80),  # simple lossy VP8, odd size
    ],
)
def test_webp_variants_stay_valid(make):
    data = make()
    out = embed_provenance(data, INFO)
    before, after = decode(data), decode(out)
    assert after.size == before.size and after.mode == before.mode
    assert ImageChops.difference(before, after).getbbox() is None
    assert read_provenance(out)["prompt"] == HOSTILE_PROMPT


def test_huge_prompt_fits_in_a_jpeg():
    prompt = "<&> " * 30_000
    data = embed_provenance(encode(busy((64, 64)), "JPEG"), {"prompt": prompt, "model": "m"})
    found = read_provenance(data)
    assert found["model"] == "m" and found["digital_source_type"] == AI
    assert prompt.startswith(found["prompt"].rstrip("…")) and len(found["prompt"]) < len(prompt)
    png = embed_provenance(encode(busy((64, 64))), {"prompt": prompt})
    assert read_provenance(png)["prompt"] == prompt  # PNG has room for all of it


def test_control_characters_are_dropped_not_fatal():
    found = read_provenance(with_provenance("JPEG", {"prompt": "a\x00b\x07c\ud800d"}))
    assert found["prompt"] == "abcd"


def test_digital_source_type_can_be_overridden():
    data = with_provenance("PNG", {"digital_source_type": "compositeWithTrainedAlgorithmicMedia"})
    assert read_provenance(data)["digital_source_type"].endswith("/compositeWithTrainedAlgorithmicMedia")


@pytest.mark.parametrize("info", [{"bad key": 1}, {"1x": 1}, {"ok": object()}, "prompt"])
def test_bad_provenance_info(info):
    with pytest.raises(ValueError):
        embed_provenance(encode(dark((10, 10))), info)


def test_provenance_needs_png_jpeg_or_webp():
    with pytest.raises(ValueError, match="PNG, JPEG and WebP"):
        embed_provenance(encode(dark((10, 10)), "GIF"), INFO)


def test_no_provenance_reads_empty():
    assert read_provenance(encode(dark((10, 10)))) == {}
    assert read_provenance(encode(dark((10, 10)), "JPEG")) == {}


def test_reads_an_automatic1111_png():
    info = PngInfo()
    info.add_text("parameters", "a lighthouse\nSteps: 20, Sampler: Euler a, Seed: 5")
    found = read_provenance(encode(dark((10, 10)), pnginfo=info))
    assert found == {"parameters": "a lighthouse\nSteps: 20, Sampler: Euler a, Seed: 5"}


def test_hostile_xmp_with_entities_is_ignored():
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><x>&b;</x></x:xmpmeta>'
    )
    data = encode(dark((10, 10)), "JPEG", xmp=evil)
    assert read_provenance(data) == {}


@pytest.mark.parametrize("out_format", [None, "png", "jpeg", "webp"])
@pytest.mark.parametrize("source", ["PNG", "JPEG", "WEBP"])
def test_provenance_survives_every_operation(source, out_format):
    data = with_provenance(source)
    operations = [
        lambda d: watermark(d, WatermarkSpec(text="© Blog"), output_format=out_format),
        lambda d: resize_to_format(d, "social", output_format=out_format),
        lambda d: upscale(d, 1.5, output_format=out_format),
        lambda d: convert(d, out_format or "png"),
    ]
    for operation in operations:
        found = read_provenance(operation(data))
        for key, value in INFO.items():
            assert found[key] == value, key
        assert found["digital_source_type"] == AI


def test_carried_png_parameters_get_the_new_size():
    out = resize(with_provenance("PNG"), width=100, height=50)
    assert "Size: 100x50" in decode(out).text["parameters"]


def test_stripped_copies_stay_stripped_through_operations():
    stripped = embed_provenance(with_provenance("PNG"), INFO, strip_parameters=True)
    out = watermark(stripped, WatermarkSpec(text="© Blog"), output_format="jpeg")
    assert read_provenance(out) == {"digital_source_type": AI, "generator": "blogimages"}


def test_crc_of_written_png_chunks_is_valid():
    data = with_provenance("PNG")
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        pos += 12 + length
    assert kind == b"IEND"


def xmp_packet(body):
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def test_a_plain_upload_is_never_labelled_ai():
    caption = (
        '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">Our team at the beach</rdf:li></rdf:Alt>'
        "</dc:description>"
    )
    xmp = xmp_packet(caption + "<xmp:CreatorTool>Lightroom</xmp:CreatorTool>")
    data = encode(light(), "JPEG", xmp=xmp)
    assert read_provenance(data) == {}
    for out in (resize(data, width=200, height=None), watermark(data, WatermarkSpec(text="©"))):
        assert read_provenance(out) == {}
        assert b"trainedAlgorithmicMedia" not in out


def test_a_camera_photo_keeps_its_own_source_type():
    body = (
        "<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
        '</Iptc4xmpExt:DigitalSourceType><dc:description><rdf:Alt><rdf:li xml:lang="x-default">A caption'
        "</rdf:li></rdf:Alt></dc:description>"
    )
    data = encode(light(), "JPEG", xmp=xmp_packet(body))
    found = read_provenance(data)
    assert found == {"digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}
    out = resize(data, width=200, height=None)
    assert read_provenance(out)["digital_source_type"].endswith("/digitalCapture")


def test_an_automatic1111_png_is_carried_as_generated():
    info = PngInfo()
    info.add_text("parameters", "a lighthouse\nSteps: 20, Seed: 5")
    data = encode(dark((100, 100)), pnginfo=info)
    found = read_provenance(convert(data, "webp"))
    assert found["digital_source_type"] == AI
