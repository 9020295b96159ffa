"""postprocess.py: watermark, resize, convert, upscale and provenance, on images made here."""

import functools
import io
import json
import random
import struct
import zlib

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat
from PIL.PngImagePlugin import PngInfo

from blogimages import postprocess as pp
from blogimages.exceptions import InvalidImage

HOSTILE_PROMPT = 'A <script>alert("x")</script> & \'quotes\' — café 🦊 日本語\nsecond line\r\nthird ]]> <!-- -->'
INFO = {
    "prompt": HOSTILE_PROMPT,
    "negative_prompt": "blurry, <low> & \"bad\"",
    "provider": "openai",
    "model": "gpt-image-1",
    "seed": 424242,
}
AI = pp.DIGITAL_SOURCE_TYPE_AI


# ---------------------------------------------------------------------------- images


def encode(im, fmt="PNG", **params):
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def decode(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def gradient(size, start, end):
    """A vertical colour gradient, photo-like enough for luminance decisions."""
    mask = Image.linear_gradient("L").resize(size)
    return Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)


def dark(size=(640, 480)):
    return gradient(size, (24, 30, 60), (5, 6, 12))


def light(size=(640, 480)):
    return gradient(size, (215, 230, 245), (245, 240, 225))


def busy(size=(640, 480), seed=3):
    rnd = random.Random(seed)
    im = Image.effect_noise(size, 80).convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(120):
        x, y, r = rnd.randrange(size[0]), rnd.randrange(size[1]), rnd.randrange(5, 60)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rnd.randrange(256) for _ in range(3)))
    return im


def transparent_rgba(size=(400, 300)):
    im = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((50, 50, 250, 250), fill=(200, 30, 30, 255))
    return im


def logo_png():
    """A red square on a transparent canvas: the transparent part must never paint."""
    im = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((60, 10, 140, 90), fill=(220, 0, 0, 255))
    return encode(im)


def changed_mask(before, after, threshold=12):
    diff = ImageChops.difference(before.convert("RGB"), after.convert("RGB")).convert("L")
    return diff.point(lambda v: 255 if v > threshold else 0)


def changed_bbox(before_bytes, after_bytes, threshold=12):
    return changed_mask(decode(before_bytes), decode(after_bytes), threshold).getbbox()


def mean_luma_where(im, mask):
    return ImageStat.Stat(im.convert("L"), mask).mean[0]


# ------------------------------------------------------------------------- watermark


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_watermark_keeps_size_and_format(fmt):
    data = encode(dark((700, 400)), fmt)
    out = pp.watermark(data, pp.WatermarkSpec(text="© Example Blog"))
    im = decode(out)
    assert im.format == fmt and im.size == (700, 400)


def test_watermark_output_format_override():
    out = pp.watermark(encode(light()), pp.WatermarkSpec(text="x"), output_format="webp", quality=80)
    assert decode(out).format == "WEBP"


@pytest.mark.parametrize(
    ("position", "quadrant"),
    [
        ("top-left", (0, 0, 0.5, 0.5)),
        ("top-right", (0.5, 0, 1, 0.5)),
        ("bottom-left", (0, 0.5, 0.5, 1)),
        ("bottom-right", (0.5, 0.5, 1, 1)),
    ],
)
@pytest.mark.parametrize("make", [dark, light, busy])
def test_corner_watermark_changes_only_its_corner(position, quadrant, make):
    width, height = 800, 600
    data = encode(make((width, height)))
    out = pp.watermark(data, pp.WatermarkSpec(text="© Example Blog", position=position, margin=0.04))
    bbox = changed_bbox(data, out)
    assert bbox is not None
    left, top, right, bottom = (quadrant[0] * width, quadrant[1] * height, quadrant[2] * width, quadrant[3] * height)
    assert left <= bbox[0] and top <= bbox[1] and bbox[2] <= right and bbox[3] <= bottom, bbox
    # The margin is kept (the glyphs sit 4% of the shorter side from the edges; only the soft
    # halo may reach a little into it).
    margin = 0.04 * height
    if position.endswith("right"):
        assert width - bbox[2] >= margin / 2
    else:
        assert bbox[0] >= margin / 2


def test_center_watermark_is_in_the_middle():
    data = encode(light((800, 600)))
    out = pp.watermark(data, pp.WatermarkSpec(text="© Example Blog", position="center", scale=0.3))
    left, top, right, bottom = changed_bbox(data, out)
    assert left < 400 < right and top < 300 < bottom
    assert abs((left + right) / 2 - 400) <= 3 and abs((top + bottom) / 2 - 300) <= 3
    assert right - left <= 0.3 * 800 + 40  # scale is the text width; the halo adds a little


def test_scale_is_the_text_width():
    data = encode(dark((1000, 600)))
    small = changed_bbox(data, pp.watermark(data, pp.WatermarkSpec(text="© Example Blog", scale=0.1, opacity=1)), 60)
    large = changed_bbox(data, pp.watermark(data, pp.WatermarkSpec(text="© Example Blog", scale=0.4, opacity=1)), 60)
    assert 80 <= small[2] - small[0] <= 110
    assert 360 <= large[2] - large[0] <= 410


@pytest.mark.parametrize("make", [dark, light, busy])
def test_tiled_covers_most_of_the_image(make):
    width, height = 900, 600
    data = encode(make((width, height)))
    out = pp.watermark(data, pp.WatermarkSpec(text="© Example Blog", position="tiled", opacity=0.3))
    mask = changed_mask(decode(data), decode(out), threshold=6)
    cells = [
        mask.crop((x * width // 4, y * height // 4, (x + 1) * width // 4, (y + 1) * height // 4)).getbbox()
        for x in range(4)
        for y in range(4)
    ]
    assert sum(cell is not None for cell in cells) == 16


def test_opacity_controls_strength():
    data = encode(dark())
    faint = decode(pp.watermark(data, pp.WatermarkSpec(text="© Blog", opacity=0.2, position="center")))
    strong = decode(pp.watermark(data, pp.WatermarkSpec(text="© Blog", opacity=1.0, position="center")))
    original = decode(data)
    mask = changed_mask(original, strong, threshold=100)
    assert mean_luma_where(strong, mask) > mean_luma_where(faint, mask) + 80


def test_opacity_zero_is_rejected():
    with pytest.raises(ValueError, match="opacity"):
        pp.WatermarkSpec(text="x", opacity=0)


@pytest.mark.parametrize("position", ["bottom-right", "center", "tiled"])
def test_auto_colour_is_light_on_dark_and_dark_on_light(position):
    spec = pp.WatermarkSpec(text="© Example Blog", opacity=1.0, position=position)
    for make, expect_light in ((dark, True), (light, False)):
        original = make()
        out = decode(pp.watermark(encode(original), spec))
        # The glyphs: pixels that moved a lot (the halo moves them only a little).
        mask = changed_mask(original, out, threshold=90)
        assert mask.getbbox() is not None
        glyphs = mean_luma_where(out, mask)
        if expect_light:
            assert glyphs > 200, glyphs
        else:
            assert glyphs < 60, glyphs


def test_auto_colour_follows_the_area_under_the_mark():
    """Dark top half, light bottom half: the top mark is light, the bottom one dark."""
    im = Image.new("RGB", (800, 600), (240, 240, 235))
    im.paste((15, 15, 25), (0, 0, 800, 300))
    data = encode(im)
    top = decode(pp.watermark(data, pp.WatermarkSpec(text="© Blog", position="top-left", opacity=1)))
    bottom = decode(pp.watermark(data, pp.WatermarkSpec(text="© Blog", position="bottom-left", opacity=1)))
    assert mean_luma_where(top, changed_mask(im, top, 90)) > 200
    assert mean_luma_where(bottom, changed_mask(im, bottom, 90)) < 60


def test_busy_image_gets_a_contrasting_halo():
    """On a busy image the mark brings its own contrast: light glyphs with a dark surround."""
    original = busy((800, 600))
    data = encode(original)
    out = decode(pp.watermark(data, pp.WatermarkSpec(text="© Example Blog", opacity=1, color="white")))
    glyphs = changed_mask(original, out, 10)
    left, top, right, bottom = glyphs.getbbox()
    region_before = original.crop((left, top, right, bottom)).convert("L")
    region_after = out.crop((left, top, right, bottom)).convert("L")
    # Glyph pixels are near white; the halo darkens what is around them.
    assert ImageStat.Stat(region_after).extrema[0][1] >= 250
    white = region_after.point(lambda v: 255 if v >= 250 else 0)
    surround = ImageChops.subtract(glyphs.crop((left, top, right, bottom)), white)
    assert mean_luma_where(region_after, surround) < mean_luma_where(region_before, surround)


def test_explicit_colour():
    original = light()
    out = decode(pp.watermark(encode(original), pp.WatermarkSpec(text="© Blog", color="#0044ff", opacity=1)))
    mask = changed_mask(original, out, 90)
    r, g, b = ImageStat.Stat(out, mask).mean
    assert b > 150 and r < 80


def test_logo_watermark_with_transparent_png():
    original = light((800, 600))
    data = encode(original)
    spec = pp.WatermarkSpec(logo=logo_png(), position="bottom-right", opacity=1.0, scale=0.25, margin=0.05)
    out = decode(pp.watermark(data, spec))
    bbox = changed_mask(original, out).getbbox()
    assert bbox[0] >= 400 and bbox[1] >= 300
    # The logo is 200×100 scaled to 200 px wide: its red square is visible, its transparent
    # surround does not paint (only the soft halo touches it).
    red = out.crop(bbox).convert("RGB")
    assert any(r > 180 and g < 60 and b < 60 for _, (r, g, b) in red.getcolors(1 << 20))
    logo_left = 800 - 30 - 200  # margin 5% of 600 = 30
    strip = out.crop((logo_left + 5, bbox[1], logo_left + 40, bbox[3])).convert("L")
    assert ImageStat.Stat(strip).mean[0] > 150  # still the light background, at most shaded


def test_logo_tinted_with_colour():
    original = dark()
    spec = pp.WatermarkSpec(logo=logo_png(), color="white", opacity=1.0)
    out = decode(pp.watermark(encode(original), spec))
    mask = changed_mask(original, out, 120)
    assert mean_luma_where(out, mask) > 230


@pytest.mark.parametrize("position", pp.POSITIONS)
def test_logo_every_position(position):
    data = encode(busy((500, 400)))
    out = pp.watermark(data, pp.WatermarkSpec(logo=logo_png(), position=position))
    assert decode(out).size == (500, 400) and changed_bbox(data, out) is not None


def test_rgba_input_keeps_transparency():
    original = transparent_rgba()
    out = decode(pp.watermark(encode(original), pp.WatermarkSpec(text="© Blog", position="top-left")))
    assert out.mode == "RGBA" and out.size == original.size
    assert out.getpixel((399, 299))[3] == 0  # far corner: still transparent
    assert out.getpixel((150, 150)) == (200, 30, 30, 255)  # the disc: untouched
    assert out.getchannel("A").crop((0, 0, 200, 60)).getbbox() is not None  # the mark is opaque-ish


def test_palette_and_greyscale_inputs():
    palette = busy((300, 200)).quantize(64)
    out = decode(pp.watermark(encode(palette), pp.WatermarkSpec(text="© Blog")))
    assert out.format == "PNG" and out.size == (300, 200) and out.mode == "RGB"
    palette_alpha = transparent_rgba().quantize(16)
    out = decode(pp.watermark(encode(palette_alpha), pp.WatermarkSpec(text="© Blog")))
    assert out.mode == "RGBA" and out.getpixel((399, 0))[3] == 0
    grey = dark().convert("L")
    out = decode(pp.watermark(encode(grey, "JPEG"), pp.WatermarkSpec(text="© Blog")))
    assert out.mode == "L" and out.format == "JPEG"


def test_tiny_image_still_works():
    out = pp.watermark(encode(dark((24, 16))), pp.WatermarkSpec(text="© A very long blog name indeed", scale=1))
    assert decode(out).size == (24, 16)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs text or a logo"),
        ({"text": "   "}, "needs text or a logo"),
        ({"text": "x", "logo": b"\x89PNG..."}, "not both"),
        ({"text": "x", "position": "middle"}, "position must be one of"),
        ({"text": "x", "opacity": 1.5}, "opacity"),
        ({"text": "x", "opacity": -0.1}, "opacity"),
        ({"text": "x", "opacity": "high"}, "opacity must be a number"),
        ({"text": "x", "scale": 0}, "scale"),
        ({"text": "x", "scale": 2}, "scale"),
        ({"text": "x", "margin": -0.01}, "margin"),
        ({"text": "x", "margin": 0.5}, "margin"),
        ({"text": "x", "color": "not-a-colour"}, "color"),
        ({"text": "x", "font": "comic"}, "font"),
        ({"logo": b"definitely not an image"}, "logo is not a usable image"),
        ({"text": "x" * 201}, "200 characters"),
    ],
)
def test_bad_specs_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pp.WatermarkSpec(**kwargs)


def test_spec_round_trips_through_json(tmp_path):
    spec = pp.WatermarkSpec(logo=logo_png(), position="tiled", opacity=0.3, scale=0.15, margin=0.02, color="auto")
    stored = json.loads(json.dumps(spec.to_dict()))
    assert stored["logo"].startswith("data:image/png;base64,")
    assert pp.WatermarkSpec.from_dict(stored) == spec
    text = pp.WatermarkSpec(text="© Blog", color="#ffffff", font="regular")
    assert pp.WatermarkSpec.from_dict(json.loads(json.dumps(text.to_dict()))) == text
    path = tmp_path / "logo.png"
    path.write_bytes(logo_png())
    assert pp.WatermarkSpec.from_dict({"logo": str(path)}).logo == logo_png()
    assert pp.WatermarkSpec.from_dict({"logo": logo_png(), "opacity": "0.4"}).opacity == 0.4


def test_spec_from_dict_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown watermark option"):
        pp.WatermarkSpec.from_dict({"text": "x", "opactiy": 0.3})
    with pytest.raises(ValueError, match="Cannot read the watermark logo"):
        pp.WatermarkSpec.from_dict({"logo": str(tmp_path / "missing.png")})


def test_watermark_rejects_a_plain_dict():
    with pytest.raises(TypeError):
        pp.watermark(encode(dark()), {"text": "x"})


# ---------------------------------------------------------------------------- resize


@pytest.mark.parametrize("name", list(pp.FORMATS))
@pytest.mark.parametrize("mode", ["cover", "contain", "stretch"])
@pytest.mark.parametrize("source_size", [(1024, 1024), (1792, 1024), (1024, 1792)])
def test_every_preset_gives_its_exact_size(name, mode, source_size):
    out = decode(pp.resize_to_format(gradient_png(source_size), name, mode=mode))
    assert out.size == pp.FORMATS[name]
    assert out.format == "PNG"


@functools.cache
def gradient_png(size):
    return encode(gradient(size, (200, 40, 40), (20, 40, 200)))


def test_named_presets():
    assert pp.FORMATS["social"] == (1200, 630)
    width, height = pp.FORMATS["header"]
    assert width * 9 == height * 16
    square = pp.FORMATS["square"]
    assert square[0] == square[1]


def test_custom_formats_mapping_and_unknown_name():
    data = encode(dark())
    assert decode(pp.resize_to_format(data, "banner", formats={"banner": (728, 90)})).size == (728, 90)
    with pytest.raises(ValueError, match="Unknown image format 'poster'"):
        pp.resize_to_format(data, "poster")


def halves(size=(1000, 500)):
    """Left half red, right half blue."""
    im = Image.new("RGB", size, (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return im


def test_focal_point_moves_the_crop():
    data = encode(halves())
    left = decode(pp.resize(data, width=300, height=300, focal=(0.1, 0.5)))
    right = decode(pp.resize(data, width=300, height=300, focal=(0.9, 0.5)))
    centre = decode(pp.resize(data, width=300, height=300))
    assert ImageStat.Stat(left).mean[0] > 250 and ImageStat.Stat(left).mean[2] < 5
    assert ImageStat.Stat(right).mean[2] > 250 and ImageStat.Stat(right).mean[0] < 5
    r, _, b = ImageStat.Stat(centre).mean
    assert abs(r - b) < 10  # centred: half and half


def test_focal_point_vertical():
    im = Image.new("RGB", (400, 800), "black")
    im.paste("white", (0, 0, 400, 200))  # a bright top quarter
    data = encode(im)
    top = decode(pp.resize(data, width=400, height=200, focal=(0.5, 0.0)))
    bottom = decode(pp.resize(data, width=400, height=200, focal=(0.5, 1.0)))
    assert ImageStat.Stat(top.convert("L")).mean[0] > 250
    assert ImageStat.Stat(bottom.convert("L")).mean[0] < 5


def test_contain_letterboxes():
    data = encode(Image.new("RGB", (500, 500), (10, 120, 10)))
    out = decode(pp.resize(data, width=1200, height=630, mode="contain"))
    assert out.size == (1200, 630) and out.mode == "RGB"
    assert out.getpixel((5, 315)) == (255, 255, 255)  # white bars by default
    assert out.getpixel((600, 315)) == (10, 120, 10)
    out = decode(pp.resize(data, width=1200, height=630, mode="contain", background="#202020"))
    assert out.getpixel((5, 315)) == (32, 32, 32)
    out = decode(pp.resize(data, width=1200, height=630, mode="contain", background="blur"))
    assert out.getpixel((5, 315))[1] > 100  # the image itself, blurred


def test_contain_keeps_transparency_for_rgba():
    out = decode(pp.resize(encode(transparent_rgba()), width=600, height=600, mode="contain"))
    assert out.mode == "RGBA" and out.getpixel((2, 2))[3] == 0


def test_one_side_keeps_aspect_ratio():
    data = encode(dark((1600, 900)))
    assert decode(pp.resize(data, width=800, height=None)).size == (800, 450)
    assert decode(pp.resize(data, width=None, height=300)).size == (533, 300)


def test_resize_stretch_and_formats():
    out = pp.resize(encode(busy()), width=123, height=45, mode="stretch", output_format="jpeg", quality=70)
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
        pp.resize(encode(dark()), **kwargs)


def test_exif_orientation_is_applied():
    im = halves((400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encode(im, "JPEG", exif=exif.tobytes(), quality=95)
    out = decode(pp.resize(data, width=100, height=None))
    assert out.size == (100, 200)
    assert not out.getexif().get(0x0112)


# --------------------------------------------------------------------- convert, upscale


@pytest.mark.parametrize("source", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("target", ["png", "jpeg", "jpg", "webp", "WEBP"])
def test_convert_round_trips(source, target):
    data = encode(busy((320, 240)), source)
    out = decode(pp.convert(data, target))
    assert out.size == (320, 240)
    assert out.format == {"jpg": "JPEG"}.get(target, target.upper())


def test_png_and_lossless_webp_are_pixel_exact():
    original = busy((200, 150))
    data = encode(original)
    assert ImageChops.difference(decode(pp.convert(data, "png")), original).getbbox() is None
    lossless = decode(pp.convert(data, "webp", lossless=True)).convert("RGB")
    assert ImageChops.difference(lossless, original).getbbox() is None
    # A lossless WebP stays lossless by default when re-encoded.
    again = decode(pp.convert(pp.convert(data, "webp", lossless=True), "webp")).convert("RGB")
    assert ImageChops.difference(again, original).getbbox() is None


def test_jpeg_of_rgba_flattens_onto_white():
    out = decode(pp.convert(encode(transparent_rgba()), "jpeg"))
    assert out.mode == "RGB"
    assert all(v > 250 for v in out.getpixel((5, 5)))
    r, g, b = out.getpixel((150, 150))
    assert r > 180 and g < 60 and b < 60
    black = decode(pp.convert(encode(transparent_rgba()), "jpeg", background="black"))
    assert all(v < 5 for v in black.getpixel((5, 5)))


def test_webp_keeps_alpha_and_quality_changes_size():
    rgba = decode(pp.convert(encode(transparent_rgba()), "webp"))
    assert rgba.mode == "RGBA" and rgba.getpixel((5, 5))[3] == 0
    data = encode(busy((400, 300)))
    assert len(pp.convert(data, "jpeg", quality=30)) < len(pp.convert(data, "jpeg", quality=95))
    assert len(pp.convert(data, "webp", quality=30)) < len(pp.convert(data, "webp", quality=95))


def test_jpeg_to_jpeg_keeps_the_source_tables():
    data = encode(busy((300, 200)), "JPEG", quality=60)
    out = pp.convert(data, "jpeg")
    assert decode(out).quantization == decode(data).quantization


def test_convert_rejects_unknown_format_and_quality():
    with pytest.raises(ValueError, match="Unsupported output format 'tiff'"):
        pp.convert(encode(dark()), "tiff")
    with pytest.raises(ValueError, match="quality"):
        pp.convert(encode(dark()), "jpeg", quality=101)


def test_upscale_doubles():
    data = encode(busy((300, 200)), "JPEG")
    out = decode(pp.upscale(data))
    assert out.size == (600, 400) and out.format == "JPEG"
    assert decode(pp.upscale(data, 1.5, output_format="png")).size == (450, 300)


def test_upscale_refuses_beyond_max_side():
    data = encode(dark((1024, 1024)))
    with pytest.raises(ValueError, match="beyond the 4096px limit"):
        pp.upscale(data, 4.5)
    with pytest.raises(ValueError, match="beyond the 1500px limit"):
        pp.upscale(data, 2, max_side=1500)
    assert decode(pp.upscale(data, 4)).size == (4096, 4096)


@pytest.mark.parametrize("factor", [1, 0.5, 0, -2, 9, float("nan"), "2"])
def test_upscale_rejects_bad_factors(factor):
    with pytest.raises(ValueError, match="factor"):
        pp.upscale(encode(dark((50, 50))), factor)


def test_upscale_keeps_rgba():
    out = decode(pp.upscale(encode(transparent_rgba((100, 80)))))
    assert out.mode == "RGBA" and out.size == (200, 160) and out.getpixel((0, 0))[3] == 0


# ------------------------------------------------------------------------ provenance


def with_provenance(fmt, info=INFO, **kwargs):
    return pp.embed_provenance(encode(busy((320, 240)), fmt), info, **kwargs)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_provenance_round_trip(fmt):
    data = with_provenance(fmt)
    found = pp.read_provenance(data)
    for key, value in INFO.items():
        assert found[key] == value, key
    assert found["digital_source_type"] == AI
    assert found["generator"] == "blogimages"
    assert decode(data).format == fmt


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_embedding_never_touches_the_pixels(fmt):
    original = encode(busy((320, 240)), fmt)
    embedded = pp.embed_provenance(original, INFO)
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
        "bi": pp.XMP_NAMESPACE,
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
    found = pp.read_provenance(with_provenance("WEBP", info))
    assert found["steps"] == 25 and found["guidance_scale"] == 7.5
    assert found["revised_prompt"] == "A fox" and json.loads(found["tags"]) == ["a", "b"]


def test_embedding_twice_replaces_instead_of_duplicating():
    once = with_provenance("PNG")
    twice = pp.embed_provenance(once, {**INFO, "seed": 7})
    assert twice.count(b"XML:com.adobe.xmp") == 1
    assert twice.count(b"tEXtseed\x00") + twice.count(b"iTXtseed\x00") == 1
    assert pp.read_provenance(twice)["seed"] == 7
    jpeg = pp.embed_provenance(with_provenance("JPEG"), {**INFO, "seed": 7})
    assert jpeg.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1
    webp = pp.embed_provenance(with_provenance("WEBP"), {**INFO, "seed": 7})
    assert webp.count(b"XMP ") == 1 and pp.read_provenance(webp)["seed"] == 7


def test_embedding_is_deterministic():
    data = encode(busy((64, 64)))
    assert pp.embed_provenance(data, INFO) == pp.embed_provenance(data, INFO)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_strip_parameters_keeps_only_the_ai_marker(fmt):
    stripped = pp.embed_provenance(with_provenance(fmt), INFO, strip_parameters=True)
    found = pp.read_provenance(stripped)
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
    stripped = pp.embed_provenance(data, {}, strip_parameters=True)
    assert b"secret" not in stripped
    im = decode(stripped)
    assert im.text["Copyright"] == "© Example Blog"
    assert pp.read_provenance(stripped)["digital_source_type"] == AI
    # Without strip, foreign chunks stay (ours replace only what they name).
    kept = decode(pp.embed_provenance(data, INFO))
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
    stripped = pp.embed_provenance(data, INFO, strip_parameters=True)
    assert b"secret" not in stripped
    im = decode(stripped)
    assert im.getexif()[0x0112] == 6
    assert ImageChops.difference(im, decode(data)).getbbox() is None
    assert pp.read_provenance(stripped)["digital_source_type"] == AI


def test_strip_removes_exif_from_webp():
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    data = encode(busy((120, 80)), "WEBP", exif=exif.tobytes())
    stripped = pp.embed_provenance(data, INFO, strip_parameters=True)
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
    out = pp.embed_provenance(data, INFO)
    before, after = decode(data), decode(out)
    assert after.size == before.size and after.mode == before.mode
    assert ImageChops.difference(before, after).getbbox() is None
    assert pp.read_provenance(out)["prompt"] == HOSTILE_PROMPT


def test_huge_prompt_fits_in_a_jpeg():
    prompt = "<&> " * 30_000
    data = pp.embed_provenance(encode(busy((64, 64)), "JPEG"), {"prompt": prompt, "model": "m"})
    found = pp.read_provenance(data)
    assert found["model"] == "m" and found["digital_source_type"] == AI
    assert prompt.startswith(found["prompt"].rstrip("…")) and len(found["prompt"]) < len(prompt)
    png = pp.embed_provenance(encode(busy((64, 64))), {"prompt": prompt})
    assert pp.read_provenance(png)["prompt"] == prompt  # PNG has room for all of it


def test_control_characters_are_dropped_not_fatal():
    found = pp.read_provenance(with_provenance("JPEG", {"prompt": "a\x00b\x07c\ud800d"}))
    assert found["prompt"] == "abcd"


def test_digital_source_type_can_be_overridden():
    data = with_provenance("PNG", {"digital_source_type": "compositeWithTrainedAlgorithmicMedia"})
    assert pp.read_provenance(data)["digital_source_type"].endswith("/compositeWithTrainedAlgorithmicMedia")


@pytest.mark.parametrize("info", [{"bad key": 1}, {"1x": 1}, {"ok": object()}, "prompt"])
def test_bad_provenance_info(info):
    with pytest.raises(ValueError):
        pp.embed_provenance(encode(dark((10, 10))), info)


def test_provenance_needs_png_jpeg_or_webp():
    with pytest.raises(ValueError, match="PNG, JPEG and WebP"):
        pp.embed_provenance(encode(dark((10, 10)), "GIF"), INFO)


def test_no_provenance_reads_empty():
    assert pp.read_provenance(encode(dark((10, 10)))) == {}
    assert pp.read_provenance(encode(dark((10, 10)), "JPEG")) == {}


def test_reads_an_automatic1111_png():
    info = PngInfo()
    info.add_text("parameters", "a lighthouse\nSteps: 20, Sampler: Euler a, Seed: 5")
    found = pp.read_provenance(encode(dark((10, 10)), pnginfo=info))
    assert found == {"parameters": "a lighthouse\nSteps: 20, Sampler: Euler a, Seed: 5"}


def test_hostile_xmp_with_entities_is_ignored():
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><x>&b;</x></x:xmpmeta>'
    )
    data = encode(dark((10, 10)), "JPEG", xmp=evil)
    assert pp.read_provenance(data) == {}


@pytest.mark.parametrize("out_format", [None, "png", "jpeg", "webp"])
@pytest.mark.parametrize("source", ["PNG", "JPEG", "WEBP"])
def test_provenance_survives_every_operation(source, out_format):
    data = with_provenance(source)
    operations = [
        lambda d: pp.watermark(d, pp.WatermarkSpec(text="© Blog"), output_format=out_format),
        lambda d: pp.resize_to_format(d, "social", output_format=out_format),
        lambda d: pp.upscale(d, 1.5, output_format=out_format),
        lambda d: pp.convert(d, out_format or "png"),
    ]
    for operation in operations:
        found = pp.read_provenance(operation(data))
        for key, value in INFO.items():
            assert found[key] == value, key
        assert found["digital_source_type"] == AI


def test_carried_png_parameters_get_the_new_size():
    out = pp.resize(with_provenance("PNG"), width=100, height=50)
    assert "Size: 100x50" in decode(out).text["parameters"]


def test_stripped_copies_stay_stripped_through_operations():
    stripped = pp.embed_provenance(with_provenance("PNG"), INFO, strip_parameters=True)
    out = pp.watermark(stripped, pp.WatermarkSpec(text="© Blog"), output_format="jpeg")
    assert pp.read_provenance(out) == {"digital_source_type": AI, "generator": "blogimages"}


# ------------------------------------------------------------------------ bad input


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
        lambda d: pp.watermark(d, pp.WatermarkSpec(text="x")),
        lambda d: pp.resize(d, width=10, height=10),
        lambda d: pp.convert(d, "png"),
        lambda d: pp.upscale(d),
        lambda d: pp.embed_provenance(d, INFO),
        pp.read_provenance,
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
        pp.convert(eps, "png")


def test_respects_pillow_pixel_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    data = encode(dark((120, 100)))
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(InvalidImage, match="limit"):
        pp.convert(data, "png")
    assert Image.MAX_IMAGE_PIXELS == 10_000  # read, never changed


def test_gif_input_becomes_png():
    out = decode(pp.resize(encode(busy((100, 80)).quantize(32), "GIF"), width=50, height=40))
    assert out.format == "PNG" and out.size == (50, 40)


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


def test_multiline_text_and_invisible_text():
    data = encode(dark((400, 300)))
    out = pp.watermark(data, pp.WatermarkSpec(text="line one\nline two", position="center", opacity=1))
    left, top, right, bottom = changed_bbox(data, out)
    assert bottom - top > 30  # two lines tall
    with pytest.raises(ValueError, match="nothing visible"):
        pp.watermark(data, pp.WatermarkSpec(text="\u200b"))


def test_convert_rejects_a_bad_background():
    with pytest.raises(ValueError, match="background must be a colour"):
        pp.convert(encode(transparent_rgba()), "jpeg", background="nope")


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
    assert pp.read_provenance(data) == {}
    for out in (pp.resize(data, width=200, height=None), pp.watermark(data, pp.WatermarkSpec(text="©"))):
        assert pp.read_provenance(out) == {}
        assert b"trainedAlgorithmicMedia" not in out


def test_a_camera_photo_keeps_its_own_source_type():
    body = (
        "<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
        '</Iptc4xmpExt:DigitalSourceType><dc:description><rdf:Alt><rdf:li xml:lang="x-default">A caption'
        "</rdf:li></rdf:Alt></dc:description>"
    )
    data = encode(light(), "JPEG", xmp=xmp_packet(body))
    found = pp.read_provenance(data)
    assert found == {"digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}
    out = pp.resize(data, width=200, height=None)
    assert pp.read_provenance(out)["digital_source_type"].endswith("/digitalCapture")


def test_an_automatic1111_png_is_carried_as_generated():
    info = PngInfo()
    info.add_text("parameters", "a lighthouse\nSteps: 20, Seed: 5")
    data = encode(dark((100, 100)), pnginfo=info)
    found = pp.read_provenance(pp.convert(data, "webp"))
    assert found["digital_source_type"] == AI
