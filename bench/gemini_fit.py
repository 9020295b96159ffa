"""How long fitting a Gemini answer to the requested size takes (imaging/gemini_fit.fit_exact).

    .venv/bin/python bench/gemini_fit.py [--repeat 5]

For each case a photo-like PNG of the size Gemini returns (noise over a gradient, so the
encoder has real work) is fitted to the requested size; the script prints the median and
worst time per fit and the output size in bytes. It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from blogimages.imaging.gemini_fit import fit_exact  # noqa: E402

# (what the model returns, what was asked for)
CASES = [
    ((1376, 768), (1200, 630)),    # social card from 16:9 1K
    ((2752, 1536), (1600, 900)),   # the demo's 1600x900 from 16:9 2K
    ((1856, 2304), (1080, 1350)),  # a 4:5 portrait from 2K
    ((5504, 3072), (3840, 2160)),  # 4K UHD from 16:9 4K
]


def photo_like(size: tuple[int, int]) -> bytes:
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    noise = Image.effect_noise(size, 40).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(gradient, noise, 0.35).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'generated':>11} -> {'requested':<10} {'median ms':>10} {'max ms':>8} {'out bytes':>11}")
    for native, wanted in CASES:
        data = photo_like(native)
        times = []
        out = b""
        for _ in range(args.repeat):
            started = time.perf_counter()
            out = fit_exact(data, *wanted)
            times.append((time.perf_counter() - started) * 1000)
        print(f"{native[0]:>5}x{native[1]:<5} -> {wanted[0]}x{wanted[1]:<5} {statistics.median(times):>10.1f} "
              f"{max(times):>8.1f} {len(out):>11,}")


if __name__ == "__main__":
    main()
