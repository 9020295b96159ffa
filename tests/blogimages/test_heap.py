"""A process's startup objects are frozen out of the garbage collector's full passes: at app
ready, after the first request (not every one), after a worker's warm-up; not at all with
BLOGIMAGES_GC_FREEZE=false. In a fresh process each, since a freeze is for the whole process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import gc, json
import django
django.setup()
counts = {"ready": gc.get_freeze_count()}
from django.test import Client
client = Client()
# 10,000 objects alive across each step: frozen by it, or not.
before_first = [[] for _ in range(10_000)]
assert client.get("/accounts/login/").status_code == 200
counts["first request"] = gc.get_freeze_count()
before_second = [[] for _ in range(10_000)]
assert client.get("/accounts/login/").status_code == 200
counts["second request"] = gc.get_freeze_count()
before_warm_up = [[] for _ in range(10_000)]
from blogimages import tasks
tasks.import_provider_backends()
counts["worker warmed up"] = gc.get_freeze_count()
gc.collect()
counts["after a full collection"] = gc.get_freeze_count()
print(json.dumps(counts))
"""


def _counts(tmp_path, freeze: str) -> dict[str, int]:
    # DEBUG: the page's static files from their folders, no collectstatic needed.
    env = {**os.environ, "BLOGIMAGES_GC_FREEZE": freeze, "DJANGO_SETTINGS_MODULE": "config.settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
           "DJANGO_SECRET_KEY": "heap-test-only", "DJANGO_DEBUG": "true", "DJANGO_ALLOWED_HOSTS": "testserver"}
    env.pop("PYTHONPATH", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(databases=[])
def test_startup_the_first_request_and_the_warm_up_are_frozen(tmp_path):
    counts = _counts(tmp_path, "true")
    assert counts["ready"] > 10_000  # Django and every app, imported
    # Serving the first request imported the URLconf, the views and their templates: frozen too.
    assert counts["first request"] >= counts["ready"] + 10_000
    # Only the first: later requests' objects are the collector's, as usual.
    assert counts["second request"] < counts["first request"] + 10_000
    assert counts["worker warmed up"] >= counts["second request"] + 10_000
    # A full collection leaves the frozen objects where they are.
    assert counts["after a full collection"] == counts["worker warmed up"]


@pytest.mark.django_db(databases=[])
def test_nothing_is_frozen_when_turned_off(tmp_path):
    assert set(_counts(tmp_path, "false").values()) == {0}
