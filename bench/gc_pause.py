"""How long does a full garbage collection stop a warmed process? Prints figures; asserts nothing.

    python bench/gc_pause.py [--runs 7]

A full collection holds the GIL for as long as it walks the process's container objects:
every thread of a worker's pool, every request of a web process's threads, waits. Each
row is a fresh process (a temporary SQLite database) warmed the way a long-lived one is:
Django set up, a page served as a signed-in user, a worker's warm-up
(`tasks.import_provider_backends`); then `gc.collect()` is timed `--runs` times (median,
max), with BLOGIMAGES_GC_FREEZE off and on (blogimages.heap). Frozen objects are not walked;
what a live process made since its freeze is (a worker in a batch: 4-12 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import gc, json, statistics, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
client = Client()
client.force_login(get_user_model().objects.create_user("bench", password="bench-only", is_staff=True,
                                                        is_superuser=True))
for url in ("/", "/images/", "/admin/blogimages/imageoutput/"):
    assert client.get(url).status_code == 200, url
from blogimages import tasks
tasks.import_provider_backends()
pauses = []
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    gc.collect()
    pauses.append((time.perf_counter() - started) * 1000)
print(json.dumps({"objects": len(gc.get_objects()), "frozen": gc.get_freeze_count(),
                  "median": statistics.median(pauses), "max": max(pauses)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    started = time.process_time()
    sum(i * i for i in range(10**7))
    print(f"reference loop sum(i*i for i in range(10**7)) {time.process_time() - started:.2f} s of CPU")
    print(f"{'BLOGIMAGES_GC_FREEZE':<21} {'objects walked':>16} {'frozen':>8} {'full collection ms':>19} {'max ms':>7}")
    for freeze in ("false", "true"):
        with tempfile.TemporaryDirectory(prefix="bench-gc-") as tmp:
            env = {**os.environ, "BLOGIMAGES_GC_FREEZE": freeze, "DJANGO_SETTINGS_MODULE": "config.settings",
                   "DATABASE_URL": f"sqlite:///{Path(tmp) / 'db.sqlite3'}", "MEDIA_ROOT": str(Path(tmp) / "media"),
                   "DJANGO_SECRET_KEY": f"bench-only-{os.urandom(24).hex()}",
                   # Static files from their folders: no collectstatic needed for the pages.
                   "DJANGO_DEBUG": "true", "DJANGO_ALLOWED_HOSTS": "testserver"}
            done = subprocess.run([sys.executable, "-c", _PROBE, str(args.runs)], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{freeze:<21} {row['objects']:>16,} {row['frozen']:>8,} {row['median']:>19.1f} {row['max']:>7.1f}")


if __name__ == "__main__":
    main()
