"""Defects ruff finds: none in the tree.

Gated: pyflakes (F: unused imports and variables, undefined or redefined names, f-strings
without placeholders...), pycodestyle's statement and runtime errors (E4, E7, E9: imports,
`== None`, `== True`, bare excepts, type comparisons, syntax errors), bugbear's likely bugs
(B0: loop variables captured late, mutable defaults, star-args after keywords...) and
pylint's errors (PLE). Style families (import order, line length, naming) are not gated.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GATED = "F,E4,E7,E9,B0,PLE"


def test_the_tree_has_none_of_the_gated_defects():
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():  # a venv layered on another (its site-packages on a .pth line)
        from ruff.__main__ import find_ruff_bin

        ruff = Path(find_ruff_bin())
    result = subprocess.run([str(ruff), "check", "--select", GATED, "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
