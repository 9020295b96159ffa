"""imaging/watermark.py: text and logo marks, placement, tone, halo, specs."""

import json

import pytest
from PIL import Image, ImageChops, ImageStat

from blogimages.imaging.watermark import POSITIONS, WatermarkSpec, watermark
from tests.blogimages.imaging.images import (
    busy,
    changed_bbox,
    changed_mask,
    dark,
    decode,
    encode,
    light,
    logo_png,
    mean_luma_where,
    transparent_rgba,
)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_watermark_keeps_size_and_format(fmt):
    data = encode(dark((700, 400)), fmt)
    out = watermark(data, WatermarkSpec(text="© Example Blog"))
    im = decode(out)
    assert im.format == fmt and im.size == (700, 400)


def test_watermark_output_format_override():
    out = watermark(encode(light()), WatermarkSpec(text="x"), output_format="webp", quality=80)
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
    out = watermark(data, WatermarkSpec(text="© Example Blog", position=position, margin=0.04))
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
    out = watermark(data, WatermarkSpec(text="© Example Blog", position="center", scale=0.3))
    left, top, right, bottom = changed_bbox(data, out)
    assert left < 400 < right and top < 300 < bottom
    assert abs((left + right) / 2 - 400) <= 3 and abs((top + bottom) / 2 - 300) <= 3
    assert right - left <= 0.3 * 800 + 40  # scale is the text width; the halo adds a little


def test_scale_is_the_text_width():
    data = encode(dark((1000, 600)))
    small = changed_bbox(data, watermark(data, WatermarkSpec(text="© Example Blog", scale=0.1, opacity=1)), 60)
    large = changed_bbox(data, watermark(data, WatermarkSpec(text="© Example Blog", scale=0.4, opacity=1)), 60)
    assert 80 <= small[2] - small[0] <= 110
    assert 360 <= large[2] - large[0] <= 410


@pytest.mark.parametrize("make", [dark, light, busy])
def test_tiled_covers_most_of_the_image(make):
    width, height = 900, 600
    data = encode(make((width, height)))
    out = watermark(data, WatermarkSpec(text="© Example Blog", position="tiled", opacity=0.3))
    mask = changed_mask(decode(data), decode(out), threshold=6)
    cells = [
        mask.crop((x * width // 4, y * height // 4, (x + 1) * width // 4, (y + 1) * height // 4)).getbbox()
        for x in range(4)
        for y in range(4)
    ]
    assert sum(cell is not None for cell in cells) == 16


def test_opacity_controls_strength():
    data = encode(dark())
    faint = decode(watermark(data, WatermarkSpec(text="© Blog", opacity=0.2, position="center")))
    strong = decode(watermark(data, WatermarkSpec(text="© Blog", opacity=1.0, position="center")))
    original = decode(data)
    mask = changed_mask(original, strong, threshold=100)
    assert mean_luma_where(strong, mask) > mean_luma_where(faint, mask) + 80


def test_opacity_zero_is_rejected():
    with pytest.raises(ValueError, match="opacity"):
        WatermarkSpec(text="x", opacity=0)


@pytest.mark.parametrize("position", ["bottom-right", "center", "tiled"])
def test_auto_colour_is_light_on_dark_and_dark_on_light(position):
    spec = WatermarkSpec(text="© Example Blog", opacity=1.0, position=position)
    for make, expect_light in ((dark, True), (light, False)):
        original = make()
        out = decode(watermark(encode(original), spec))
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
    top = decode(watermark(data, WatermarkSpec(text="© Blog", position="top-left", opacity=1)))
    bottom = decode(watermark(data, WatermarkSpec(text="© Blog", position="bottom-left", opacity=1)))
    assert mean_luma_where(top, changed_mask(im, top, 90)) > 200
    assert mean_luma_where(bottom, changed_mask(im, bottom, 90)) < 60


def test_busy_image_gets_a_contrasting_halo():
    """On a busy image the mark brings its own contrast: light glyphs with a dark surround."""
    original = busy((800, 600))
    data = encode(original)
    out = decode(watermark(data, WatermarkSpec(text="© Example Blog", opacity=1, color="white")))
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
    out = decode(watermark(encode(original), WatermarkSpec(text="© Blog", color="#0044ff", opacity=1)))
    mask = changed_mask(original, out, 90)
    r, g, b = ImageStat.Stat(out, mask).mean
    assert b > 150 and r < 80


def test_logo_watermark_with_transparent_png():
    original = light((800, 600))
    data = encode(original)
    spec = WatermarkSpec(logo=logo_png(), position="bottom-right", opacity=1.0, scale=0.25, margin=0.05)
    out = decode(watermark(data, spec))
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
    spec = WatermarkSpec(logo=logo_png(), color="white", opacity=1.0)
    out = decode(watermark(encode(original), spec))
    mask = changed_mask(original, out, 120)
    assert mean_luma_where(out, mask) > 230


@pytest.mark.parametrize("position", POSITIONS)
def test_logo_every_position(position):
    data = encode(busy((500, 400)))
    out = watermark(data, WatermarkSpec(logo=logo_png(), position=position))
    assert decode(out).size == (500, 400) and changed_bbox(data, out) is not None


def test_rgba_input_keeps_transparency():
    original = transparent_rgba()
    out = decode(watermark(encode(original), WatermarkSpec(text="© Blog", position="top-left")))
    assert out.mode == "RGBA" and out.size == original.size
    assert out.getpixel((399, 299))[3] == 0  # far corner: still transparent
    assert out.getpixel((150, 150)) == (200, 30, 30, 255)  # the disc: untouched
    assert out.getchannel("A").crop((0, 0, 200, 60)).getbbox() is not None  # the mark is opaque-ish


def test_palette_and_greyscale_inputs():
    palette = busy((300, 200)).quantize(64)
    out = decode(watermark(encode(palette), WatermarkSpec(text="© Blog")))
    assert out.format == "PNG" and out.size == (300, 200) and out.mode == "RGB"
    palette_alpha = transparent_rgba().quantize(16)
    out = decode(watermark(encode(palette_alpha), WatermarkSpec(text="© Blog")))
    assert out.mode == "RGBA" and out.getpixel((399, 0))[3] == 0
    grey = dark().convert("L")
    out = decode(watermark(encode(grey, "JPEG"), WatermarkSpec(text="© Blog")))
    assert out.mode == "L" and out.format == "JPEG"


def test_tiny_image_still_works():
    out = watermark(encode(dark((24, 16))), WatermarkSpec(text="© A very long blog name indeed", scale=1))
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
        WatermarkSpec(**kwargs)


def test_spec_round_trips_through_json(tmp_path):
    spec = WatermarkSpec(logo=logo_png(), position="tiled", opacity=0.3, scale=0.15, margin=0.02, color="auto")
    stored = json.loads(json.dumps(spec.to_dict()))
    assert stored["logo"].startswith("data:image/png;base64,")
    assert WatermarkSpec.from_dict(stored) == spec
    text = WatermarkSpec(text="© Blog", color="#ffffff", font="regular")
    assert WatermarkSpec.from_dict(json.loads(json.dumps(text.to_dict()))) == text
    path = tmp_path / "logo.png"
    path.write_bytes(logo_png())
    assert WatermarkSpec.from_dict({"logo": str(path)}).logo == logo_png()
    assert WatermarkSpec.from_dict({"logo": logo_png(), "opacity": "0.4"}).opacity == 0.4


def test_spec_from_dict_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown watermark option"):
        WatermarkSpec.from_dict({"text": "x", "opactiy": 0.3})
    with pytest.raises(ValueError, match="Cannot read the watermark logo"):
        WatermarkSpec.from_dict({"logo": str(tmp_path / "missing.png")})


def test_watermark_rejects_a_plain_dict():
    with pytest.raises(TypeError):
        watermark(encode(dark()), {"text": "x"})


def test_multiline_text_and_invisible_text():
    data = encode(dark((400, 300)))
    out = watermark(data, WatermarkSpec(text="line one\nline two", position="center", opacity=1))
    left, top, right, bottom = changed_bbox(data, out)
    assert bottom - top > 30  # two lines tall
    with pytest.raises(ValueError, match="nothing visible"):
        watermark(data, WatermarkSpec(text="\u200b"))
