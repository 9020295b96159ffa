#!/usr/bin/env python
"""What one image's srcset costs to make: every spec decoding the original again (as before)
against one decode for all of them (imaging.renditions.render_each). Prints figures; asserts nothing.

    python bench/renditions.py [--rounds 5] [--size 1536x864]

Pure pixels (no Django): a `cards`-like PNG original, the default widths (480, 800, 1200 and its
own) in WebP and PNG plus the 1200×630 social crop, alternating the two ways round after round.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def original(width: int, height: int) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), (30, 60, 90))
    draw = ImageDraw.Draw(im)
    for i in range(0, width, 24):  # some edges and gradients, not a flat card
        draw.line([(i, 0), (width - i, height)], fill=(i % 255, (i * 3) % 255, 200), width=3)
    noise = Image.frombytes("L", (width, height), os.urandom(width * height)).convert("RGB")
    im = Image.blend(im, noise, 0.15)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", default="1536x864")
    args = parser.parse_args()
    from blogimages.imaging.renditions import RenditionSpec, render, render_each, srcset_widths

    width, height = (int(side) for side in args.size.split("x"))
    data = original(width, height)
    widths = srcset_widths(width, [480, 800, 1200, 1600])
    specs = [RenditionSpec(width=w, height=None, format=f) for f in ("webp", "png") for w in widths]
    specs.append(RenditionSpec(width=1200, height=630, format="png"))

    def quality(spec):
        return 82 if spec.format != "png" else None

    each, once = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for spec in specs:
            render(data, spec, quality=quality(spec))
        each.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        list(render_each(data, specs, quality=quality))
        once.append((time.perf_counter() - start) * 1000)
    print(f"{len(specs)} files of a {width}x{height} PNG, median of {args.rounds} rounds (load {os.getloadavg()[0]:.1f}):")
    print(f"  decoded per file: {statistics.median(each):8.1f} ms")
    print(f"  decoded once:     {statistics.median(once):8.1f} ms")


if __name__ == "__main__":
    main()
