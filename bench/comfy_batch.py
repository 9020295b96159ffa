"""ComfyUI batches in the background: runs and images generated per call. Prints figures;
asserts nothing.

    python bench/comfy_batch.py [--n 1 2 4] [--steps 20] [--step-seconds 0.05]

For each n, one `generation.submit()` of n images with a fixed seed goes through the tasks
(inline: no broker) to the loopback ComfyUI of tests/blogimages/providers/comfy_standin.py,
whose prompts take `--steps` × `--step-seconds`. It prints the /prompt submissions, the
images ComfyUI generated (the sum of the batch sizes it ran) and the wall time. One task per
image that re-ran the whole batch would be n runs and n² images; one run of the batch is 1
and n. Uses a temporary SQLite database unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-seconds", type=float, default=0.05)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-comfy-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.sqlite3'}")
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ.pop("REDIS_URL", None)  # tasks inline
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", f"bench-only-{os.urandom(24).hex()}")
    os.environ.setdefault("BLOGIMAGES_LOG_LEVEL", "WARNING")
    os.environ["DJANGO_DEBUG"] = "false"
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import override_settings

    call_command("migrate", verbosity=0)

    from blogimages import generation
    from tests.blogimages.providers.comfy_standin import CHECKPOINTS, Behaviour, FakeComfy

    fake = FakeComfy().start()
    fake.default_behaviour = Behaviour(steps=args.steps)
    original_execute = fake._execute

    def paced(item):  # a run takes --steps × --step-seconds, as a sampler's would
        time.sleep(args.steps * args.step_seconds)
        original_execute(item)

    fake._execute = paced
    providers = {"comfy": {"BACKEND": "blogimages.providers.comfyui.ComfyUIProvider",
                           "OPTIONS": {"base_url": fake.url, "checkpoint": CHECKPOINTS[0], "poll_interval": 0.02,
                                       "timeout": 600}}}
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    print(f"{'n':>3} {'/prompt runs':>13} {'images generated':>17} {'wall s':>8}")
    try:
        with override_settings(BLOGIMAGES_PROVIDERS=providers, BLOGIMAGES_DEFAULT_PROVIDER="comfy",
                               CELERY_TASK_ALWAYS_EAGER=True):
            from config.celery import app

            app.conf.task_always_eager = True
            for n in args.n:
                before = len(fake.calls("POST", "/prompt"))
                started = time.monotonic()
                outputs = generation.submit(prompt="a lighthouse", provider="comfy", n=n,
                                            overrides={"width": 64, "height": 64, "seed": 42})
                wall = time.monotonic() - started
                prompts = fake.calls("POST", "/prompt")[before:]
                generated = sum(int(body["prompt"]["5"]["inputs"]["batch_size"]) for body in prompts)
                failed = sum(1 for o in outputs if o.status != "succeeded")
                print(f"{n:>3} {len(prompts):>13} {generated:>17} {wall:>8.2f}"
                      + (f"  ({failed} failed)" if failed else ""))
    finally:
        fake.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
