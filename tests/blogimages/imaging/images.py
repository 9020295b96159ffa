"""Images made in code for the imaging tests, and ways to compare them."""

import io
import random

from PIL import Image, ImageChops, ImageDraw, ImageStat

HOSTILE_PROMPT = 'A <script>alert("x")</script> & \'quotes\' — café 🦊 日本語\nsecond line\r\nthird ]]> <!-- -->'


INFO = {
    "prompt": HOSTILE_PROMPT,
    "negative_prompt": "blurry, <low> & \"bad\"",
    "provider": "openai",
    "model": "gpt-image-1",
    "seed": 424242,
}


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
