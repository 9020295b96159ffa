"""Unused imports are defects ruff finds: the shipped packages carry none."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_packages_have_no_unused_imports():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "--select", "F401", "--output-format", "concise",
                             "blogimages", "config", "posts"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
