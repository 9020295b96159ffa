"""What C2PA signing costs per stored image: a 1024×1024 PNG (a `cards` image) and the same
image as JPEG and WebP, signed as an original (CREATE) and as a derived copy (EDIT, with the
original as the parent ingredient), then read back and validated.

    .venv/bin/python bench/c2pa_sign.py [--rounds 30]

Uses a throwaway CA and leaf made at start (tests/blogimages/c2pa_certs.py). Prints the median
and p95 milliseconds of each step and the bytes the manifest adds; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from blogimages.imaging import credentials
from blogimages.providers.base import GenerationRequest
from tests.blogimages.c2pa_certs import make_pki


def cards_png() -> bytes:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from blogimages.providers.cards import CardsProvider

    provider = CardsProvider(alias="cards")
    result = provider.run(GenerationRequest(prompt="A lighthouse at dusk over a calm sea", width=1024, height=1024,
                                            seed=42))
    return result.images[0].data


def timed(work, rounds: int) -> tuple[float, float, object]:
    times, last = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        last = work()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    pki = make_pki()
    signer = credentials.make_signer(cert_chain=pki.chain_pem, private_key=pki.key_pem)
    png = cards_png()
    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        variants = {"png": png}
        for fmt, name in (("JPEG", "jpeg"), ("WEBP", "webp")):
            buffer = io.BytesIO()
            rgb.save(buffer, fmt, quality=85)
            variants[name] = buffer.getvalue()
    created = [credentials.created_action(source_type="algorithmicMedia", software="cards cards")]
    edited = [credentials.edit_action("c2pa.edited", description="visible watermark")]
    print(f"C2PA signing, 1024×1024, {rounds} rounds each (median / p95 ms)")
    for name, data in variants.items():
        create_med, create_p95, original = timed(lambda d=data: credentials.sign(
            d, signer=signer, actions=created, source_type="algorithmicMedia", trust_anchors=pki.ca_pem), rounds)
        edit_med, edit_p95, _copy = timed(lambda d=data, o=original: credentials.sign(
            d, signer=signer, actions=edited, parent=o, trust_anchors=pki.ca_pem), rounds)
        read_med, read_p95, summary = timed(lambda o=original: credentials.read(o, trust_anchors=pki.ca_pem), rounds)
        print(f"  {name:4} {len(data):>9,} B  create {create_med:6.1f} / {create_p95:6.1f}  "
              f"edit+parent {edit_med:6.1f} / {edit_p95:6.1f}  read+validate {read_med:6.1f} / {read_p95:6.1f}  "
              f"+{len(original) - len(data):,} B  state={summary['state']}")


if __name__ == "__main__":
    main()
