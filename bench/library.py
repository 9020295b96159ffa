#!/usr/bin/env python
"""Image storage and identical requests: prints figures; asserts nothing about time.

    python bench/library.py [--images 20] [--size 1024]

1. Store and fetch times of 1024×1024 PNG originals through the `filesystem` and `database`
   storages side by side (save = Storage.save of the bytes; fetch = open + read them back).
2. Similar images across a library of --library stored hashes (similar.similar_images).
3. The latency of a request and of the identical second request (answered from storage with
   no provider call), through generation.generate with the `cards` provider, whose drawing
   time stands in for a provider call.

Without DATABASE_URL a temporary SQLite file; with it, a throwaway test database on that
server (created and dropped here), as bench/gallery.py does.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gallery import setup_django  # noqa: E402  (the same throwaway database set-up)


def png(size: int, seed: int) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    # Noise compresses like a photograph, not like a flat colour: a realistic number of bytes.
    small = Image.frombytes("RGB", (size // 8, size // 8), rng.randbytes((size // 8) ** 2 * 3))
    buffer = io.BytesIO()
    small.resize((size, size), Image.Resampling.BICUBIC).save(buffer, "PNG")
    return buffer.getvalue()


def ms(values: list[float]) -> str:
    values = sorted(v * 1000 for v in values)
    return f"median {statistics.median(values):7.1f} ms   p90 {values[int(len(values) * 0.9) - 1]:7.1f} ms"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--images", type=int, default=20)
    args.add_argument("--size", type=int, default=1024)
    args.add_argument("--library", type=int, default=25_000, help="Stored images for the similar-images figure.")
    opts = args.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        teardown = setup_django(Path(tmp))
        try:
            run(opts)
        finally:
            teardown()


def run(opts) -> None:
    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages
    from django.db import connection

    print(f"database: {connection.vendor}; {opts.images} PNGs of {opts.size}x{opts.size}")
    blobs = [png(opts.size, seed) for seed in range(opts.images)]
    print(f"bytes per image: median {statistics.median(len(b) for b in blobs):,.0f}")
    print(f"{'storage':<11} {'store':<36} {'fetch':<36}")
    for alias in ("filesystem", "database"):
        storage = storages[alias]
        stored, fetched, names = [], [], []
        for index, data in enumerate(blobs):
            started = time.perf_counter()
            names.append(storage.save(f"blogimages/bench/{alias}-{index}.png", ContentFile(data)))
            stored.append(time.perf_counter() - started)
        for name in names:
            started = time.perf_counter()
            with storage.open(name, "rb") as handle:
                handle.read()
            fetched.append(time.perf_counter() - started)
        print(f"{alias:<11} {ms(stored):<36} {ms(fetched):<36}")

    from blogimages import generation, similar
    from blogimages.models import ImageOutput

    rng = random.Random(7)
    rows = [ImageOutput(prompt_text=f"bench {i}", provider="cards", status="succeeded", file=f"bench/{i}.png",
                        phash=f"{rng.getrandbits(64):016x}") for i in range(opts.library)]
    ImageOutput.objects.bulk_create(rows, batch_size=2000)
    probe = ImageOutput.objects.order_by("pk").first()
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        similar.similar_images(probe)
        timings.append(time.perf_counter() - started)
    print(f"similar images among {opts.library:,} hashes: {ms(timings)}")
    ImageOutput.objects.filter(file__startswith="bench/").delete()

    settings.BLOGIMAGES_REUSE_IDENTICAL = True
    first, second = [], []
    for seed in range(max(3, opts.images // 4)):
        for bucket in (first, second):
            started = time.perf_counter()
            [output] = generation.generate(prompt=f"A lighthouse at dusk {seed}", provider="cards",
                                           overrides={"seed": seed, "width": opts.size, "height": opts.size})
            bucket.append(time.perf_counter() - started)
            assert output.status == "succeeded", output.error
        assert output.reused_from_id is not None
    print(f"identical requests ({len(first)} pairs, cards {opts.size}x{opts.size}, storage "
          f"{settings.BLOGIMAGES_STORAGE if hasattr(settings, 'BLOGIMAGES_STORAGE') else 'default'}):")
    print(f"  first request   {ms(first)}")
    print(f"  second (reused) {ms(second)}   provider calls: 0")


if __name__ == "__main__":
    main()
