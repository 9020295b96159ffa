"""What C2PA signing costs per stored image: a 1024×1024 PNG (a `cards` image) and the same
image as JPEG and WebP, signed as an original (CREATE) and as a derived copy (EDIT, with the
original as the parent ingredient), then read back and validated.

    .venv/bin/python bench/c2pa_sign.py [--rounds 30] [--size 1536x864]

Uses a throwaway CA and leaf made at start (tests/blogimages/c2pa_certs.py). Prints the median
and p95 milliseconds of each step and the bytes the manifest adds; asserts nothing about time.

Then one image's renditions (a photo-like signed PNG original of --size, its srcset in WebP and
PNG plus the 1200×630 crop, as renditions.py makes them): signed with the original read and
validated as the parent for each file and the result read back (as before) against the parent
read once per image (`parent_ingredient`) and no read-back, alternating round by round.
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
    parser.add_argument("--size", default="1536x864", help="the original of the renditions' figure")
    args = parser.parse_args()
    rounds = args.rounds
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
    renditions_figure(signer, pki, args.size, max(3, rounds // 3))


def renditions_figure(signer, pki, size: str, rounds: int) -> None:
    import os

    from bench.renditions import original as photo_like
    from blogimages.imaging.renditions import RenditionSpec, render_each, srcset_widths

    width, height = (int(side) for side in size.split("x"))
    created = [credentials.created_action(source_type="trainedAlgorithmicMedia", software="bench")]
    original = credentials.sign(photo_like(width, height), signer=signer, actions=created,
                                source_type="trainedAlgorithmicMedia", trust_anchors=pki.ca_pem)
    specs = [RenditionSpec(width=w, height=None, format=f) for f in ("webp", "png")
             for w in srcset_widths(width, [480, 800, 1200, 1600])]
    specs.append(RenditionSpec(width=1200, height=630, format="png"))
    files = [data for _spec, data in render_each(original, specs, quality=lambda s: 82 if s.format != "png" else None)]
    edited = [credentials.edit_action("c2pa.resized", description="rendition")]

    def per_file():
        for data in files:
            signed = credentials.sign(data, signer=signer, actions=edited, parent=original, parent_title="image",
                                      trust_anchors=pki.ca_pem)
            credentials.read(signed, trust_anchors=pki.ca_pem)  # the record a rendition threw away

    def per_image():
        ingredient = credentials.parent_ingredient(original, parent_title="image", trust_anchors=pki.ca_pem)
        for data in files:
            credentials.sign(data, signer=signer, actions=edited, ingredient=ingredient, trust_anchors=pki.ca_pem)

    before, after = [], []
    for _ in range(rounds):  # side by side: A then B in every round
        for work, times in ((per_file, before), (per_image, after)):
            started = time.perf_counter()
            work()
            times.append((time.perf_counter() - started) * 1000)
    print(f"Renditions of one {width}x{height} PNG original ({len(original):,} B), {len(files)} files signed, "
          f"median of {rounds} rounds (load {os.getloadavg()[0]:.1f}):")
    print(f"  parent read per file + read-back: {statistics.median(before):7.1f} ms "
          f"({statistics.median(before) / len(files):5.1f} ms a file)")
    print(f"  parent read once per image:       {statistics.median(after):7.1f} ms "
          f"({statistics.median(after) / len(files):5.1f} ms a file)")


if __name__ == "__main__":
    main()
