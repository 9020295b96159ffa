"""Batch throughput and pipeline overhead. Prints figures; asserts nothing.

    python bench/batch.py [--latency 1.0] [--sections 24] [--concurrency 1 4 8] [--images 40]

Part 1 starts a real Celery worker (threads pool) on Redis for each concurrency and runs a
24-section batch against a loopback OpenAI-style host that takes `--latency` seconds per
image, then compares the wall time with the ideal latency x ceil(sections / concurrency).
Part 2 measures the pipeline's own cost per image (validate, store original, thumbnail,
sidecar, rows) with a zero-latency provider that returns a realistic 1024x1024 PNG.

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0). Uses DATABASE_URL if set,
otherwise a temporary SQLite file shared with the worker.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup(tmp: Path) -> tuple[str, str]:
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["DATABASE_URL"] = db_url
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ["BLOGIMAGES_TEST_PROVIDERS"] = json.dumps({"placeholder": {"BACKEND": "x"}})
    os.environ["BLOGIMAGES_TEST_QUEUE"] = f"blogimages-bench-{os.getpid()}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.worker_settings"
    os.environ.setdefault("DJANGO_SECRET_KEY", f"bench-only-{os.urandom(24).hex()}")
    os.environ.setdefault("BLOGIMAGES_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return db_url, os.environ["MEDIA_ROOT"]


def realistic_png(size: int = 1024) -> bytes:
    """A smooth gradient with grain: compresses like a generated picture, not like a flat card."""
    import random

    from PIL import Image, ImageFilter

    base = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    rng = random.Random(7)
    noise = Image.frombytes("L", (size, size), bytes(rng.randrange(256) for _ in range(size * size)))
    noise = noise.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")
    image = Image.blend(base, noise, 0.35)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def batch_throughput(args, db_url: str, media_root: str, tmp: Path) -> None:
    from django.conf import settings

    from blogimages import batches
    from blogimages.providers import providers
    from config.celery import app
    from posts.models import Post, Section
    from tests.celery_worker import Worker
    from tests.fake_image_host import FakeImageHost

    host = FakeImageHost(latency=args.latency).start()
    try:
        config = {"fake": host.provider_config(timeout=60)}
        settings.BLOGIMAGES_PROVIDERS = config
        settings.BLOGIMAGES_DEFAULT_PROVIDER = "fake"
        providers.reset()
        app.conf.task_always_eager = False
        print(f"Batch of {args.sections} sections, provider latency {args.latency:.2f} s per image")
        print(f"{'concurrency':>11} {'wall s':>8} {'ideal s':>8} {'ratio':>6}")
        for concurrency in args.concurrency:
            post = Post.objects.create(title=f"Bench {concurrency}", slug=f"bench-{concurrency}-{time.time_ns()}")
            Section.objects.bulk_create(
                Section(post=post, order=i, key=f"s{i}", heading=f"Section {i}") for i in range(args.sections)
            )
            worker = Worker(providers=config, media_root=media_root, log_dir=tmp, concurrency=concurrency,
                            database_url=db_url)
            app.conf.task_default_queue = worker.queue
            worker.start()
            try:
                started = time.monotonic()
                batch = batches.start_post_batch(post=post, overrides={"width": 256, "height": 256}).batch
                while True:
                    batch.refresh_from_db()
                    if batch.is_finished:
                        break
                    if time.monotonic() - started > 600:
                        raise SystemExit("batch did not finish in 600 s")
                    time.sleep(0.02)
                wall = time.monotonic() - started
            finally:
                worker.stop()
            ideal = args.latency * math.ceil(args.sections / concurrency)
            status = "" if batch.status == "succeeded" else f"  ({batch.status}: {batch.failed_count} failed)"
            print(f"{concurrency:>11} {wall:>8.2f} {ideal:>8.2f} {wall / ideal:>6.2f}{status}")
    finally:
        host.stop()


def pipeline_overhead(args) -> None:
    from django.conf import settings

    from blogimages import generation
    from blogimages.providers import providers
    from blogimages.providers.base import GeneratedImage, GenerationResult
    from blogimages.providers.testing import RecordingProvider

    data = realistic_png()

    class Instant(RecordingProvider):
        def generate(self, request):
            return GenerationResult(
                images=tuple(GeneratedImage(data=data, mime_type="image/png", seed=request.seed_for(i))
                             for i in range(request.n)),
                model="instant",
            )

    settings.BLOGIMAGES_PROVIDERS = {"instant": {"BACKEND": "x"}}
    providers.reset()
    providers._settings = {"instant": {"BACKEND": "x"}}
    providers.__dict__["settings"] = providers._settings
    providers["instant"] = Instant(alias="instant")

    overheads = []
    for i in range(args.images + 3):
        started = time.perf_counter()
        [output] = generation.generate(prompt=f"overhead {i}", provider="instant",
                                       overrides={"width": 1024, "height": 1024})
        elapsed = (time.perf_counter() - started) * 1000
        assert output.status == "succeeded", output.error
        if i >= 3:  # warm-up
            overheads.append(elapsed - (output.provider_ms or 0))
    overheads.sort()
    p95 = overheads[max(0, math.ceil(0.95 * len(overheads)) - 1)]
    print(f"\nPipeline overhead per 1024x1024 image ({len(data) / 1024:.0f} KiB PNG, zero-latency provider, "
          f"{len(overheads)} images): median {statistics.median(overheads):.1f} ms, p95 {p95:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--sections", type=int, default=24)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db_url, media_root = setup(tmp)
        print(f"database: {db_url.split('://')[0]}, broker: Redis, worker pool: threads")
        if not args.skip_batch:
            batch_throughput(args, db_url, media_root, tmp)
        pipeline_overhead(args)


if __name__ == "__main__":
    main()
