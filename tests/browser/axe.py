"""axe-core in the browser tests: the npm package, installed once at test time into a cache
folder (never fetched by the app at run time, never committed), injected as a file.

    from .axe import serious_violations
    assert serious_violations(page) == []
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

from tests.conftest import require_service

AXE_VERSION = "4.14.1"
CACHE = Path(os.environ.get("BLOGIMAGES_AXE_CACHE") or Path(settings.BASE_DIR) / "artifacts" / "npm-cache")
SCRIPT = CACHE / f"axe-core-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def axe_script() -> Path:
    """The path of axe.min.js, running `npm install axe-core@<pin>` into the cache if it is missing."""
    if SCRIPT.exists():
        return SCRIPT
    npm = shutil.which("npm")
    if npm is None:
        require_service("npm", "npm is missing (apt-get install -y npm): axe-core cannot be installed")
    prefix = SCRIPT.parents[2]
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save",
                    f"axe-core@{AXE_VERSION}"], check=True, capture_output=True, timeout=300)
    if not SCRIPT.exists():
        raise RuntimeError(f"npm installed axe-core but {SCRIPT} is missing")
    return SCRIPT


def violations(page, *, impacts=SERIOUS) -> list[dict]:
    """axe's violations on the current page with one of `impacts`, each as {id, impact, help, targets}."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, not as a <script> tag: the page's
        # Content-Security-Policy (rightly) refuses inline scripts, and the test must not weaken it.
        page.evaluate(axe_script().read_text() + "\n;true")
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "targets": [", ".join(map(str, node["target"])) for node in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in impacts
    ]


def serious_violations(page) -> list[dict]:
    return violations(page, impacts=SERIOUS)
