"""The import graph of `blogimages`: no circle, and every arrow pointing one way.

    faces (views, admin, APIs, CLI, tasks, forms, checks, signals)
      -> services (generation, batches, review, derive, ...)
        -> backends (providers, imaging, llms) and models

The graph is read from the source with `ast`: imports at module level AND inside functions
(an import moved into a function to dodge a circle still counts), `if TYPE_CHECKING:` ones
included. Every module must be placed in exactly one layer below: a new module that is in
none fails `test_every_module_has_a_layer` until it is given one.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "blogimages"

# -- the layers: extend these when a module is added -------------------------------------------
# A name covers the module and everything under it (`blogimages.api` covers `blogimages.api.json`);
# the bare package name covers only its own __init__.

#: Anything may import these; they import nothing of blogimages but each other.
FOUNDATION = (
    "blogimages",  # the package's own (empty) __init__
    "blogimages.conf",
    "blogimages.exceptions",
    "blogimages.fonts",
)
#: Image and text backends, pure image functions: they know no database, no request, no service.
BACKENDS = (
    "blogimages.alttext",  # pure text: the offline alt text suggestion
    "blogimages.providers",
    "blogimages.imaging",
    "blogimages.llms",
)
MODELS = (
    "blogimages.models",
)
#: The only writers (and the selectors that read for pages and APIs).
SERVICES = (
    "blogimages.access",
    "blogimages.after_response",
    "blogimages.archive",
    "blogimages.assist",
    "blogimages.automation",
    "blogimages.batches",
    "blogimages.boards",
    "blogimages.bulk",
    "blogimages.chat",
    "blogimages.budgets",
    "blogimages.comfy_workflows",
    "blogimages.concurrency",
    "blogimages.heap",
    "blogimages.heartbeat",
    "blogimages.content_credentials",
    "blogimages.dbstorage",
    "blogimages.derive",
    "blogimages.describe",
    "blogimages.editing",
    "blogimages.generation",
    "blogimages.integration",
    "blogimages.llm_calls",
    "blogimages.media_storage",
    "blogimages.messages",
    "blogimages.paging",
    "blogimages.post_renditions",
    "blogimages.moving",
    "blogimages.presets",
    "blogimages.publishing",
    "blogimages.queueing",
    "blogimages.ratelimit",
    "blogimages.reconcile",
    "blogimages.renditions",
    "blogimages.review",
    "blogimages.s3_storage",
    "blogimages.selectors",
    "blogimages.signed_media",
    "blogimages.similar",
    "blogimages.slots",
    "blogimages.storage",
    "blogimages.style_guide",
    "blogimages.tokens",
    "blogimages.warmup",
)
#: What translates between the outside world and the services.
FACES = (
    "blogimages.admin",
    "blogimages.api",
    "blogimages.checks",
    "blogimages.forms",
    "blogimages.forms_admin",
    "blogimages.management",
    "blogimages.public_urls",
    "blogimages.request_id",
    "blogimages.signals",
    "blogimages.tasks",
    "blogimages.templatetags",
    "blogimages.urls",
    "blogimages.usage",
    "blogimages.views",
)
#: The composition root: wires faces to services at app ready; nothing imports it.
WIRING = (
    "blogimages.apps",
)
#: Not part of the graph: generated, and never imported by the code.
SKIPPED = ("blogimages.migrations",)

LAYERS: Mapping[str, tuple[str, ...]] = {
    "foundation": FOUNDATION,
    "backends": BACKENDS,
    "models": MODELS,
    "services": SERVICES,
    "faces": FACES,
    "wiring": WIRING,
}
#: Which layers each layer may import (besides itself).
ALLOWED: Mapping[str, frozenset[str]] = {
    "foundation": frozenset(),
    "backends": frozenset({"foundation"}),
    "models": frozenset({"foundation", "backends"}),
    "services": frozenset({"foundation", "backends", "models"}),
    "faces": frozenset({"foundation", "backends", "models", "services"}),
    "wiring": frozenset({"foundation", "backends", "models", "services", "faces"}),
}


# -- reading the graph ---------------------------------------------------------------------------


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every .py file of `package` under `root`."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if not any(within(name, skipped) for skipped in SKIPPED):
            modules[name] = path
    return modules


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def covers(prefix: str, name: str) -> bool:
    if "." not in prefix:  # the top package: its __init__ only, not every module in it
        return name == prefix
    return within(name, prefix)


def _resolve(target: str, modules: Iterable[str]) -> str | None:
    """The module `target` lands in: itself, or the nearest enclosing package we know."""
    known = set(modules)
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module → the package's modules it imports, anywhere in its body."""
    modules = find_modules(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        base = name.split(".") if is_package else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base[: len(base) - (node.level - 1)]
                    module = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # `from pkg import mod` imports pkg.mod; `from mod import name` imports mod.
                names = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                         for alias in node.names]
            else:
                continue
            for target in names:
                if within(target, package):
                    resolved = _resolve(target, modules)
                    if resolved and resolved != name:
                        targets.add(resolved)
        graph[name] = targets
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def layer_of(name: str, layers: Mapping[str, tuple[str, ...]] = LAYERS) -> str | None:
    """The layer of the most specific prefix that covers `name`."""
    best, best_len = None, -1
    for layer, prefixes in layers.items():
        for prefix in prefixes:
            if covers(prefix, name) and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


def backward_arrows(graph: Mapping[str, set[str]], layers=LAYERS, allowed=ALLOWED) -> list[str]:
    """Every import from a layer into one it may not import, as 'a -> b (layer -> layer)'."""
    wrong = []
    for source, targets in sorted(graph.items()):
        source_layer = layer_of(source, layers)
        for target in sorted(targets):
            target_layer = layer_of(target, layers)
            if source_layer is None or target_layer is None or source_layer == target_layer:
                continue
            if target_layer not in allowed[source_layer]:
                wrong.append(f"{source} -> {target} ({source_layer} -> {target_layer})")
    return wrong


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT, PACKAGE)


# -- the rules -----------------------------------------------------------------------------------


def test_every_module_has_a_layer(graph):
    unplaced = sorted(name for name in graph if layer_of(name) is None)
    assert not unplaced, f"add these modules to a layer at the top of {Path(__file__).name}: {unplaced}"


def test_the_layer_lists_name_only_modules_that_exist(graph):
    stale = sorted(prefix for prefixes in LAYERS.values() for prefix in prefixes
                   if not any(covers(prefix, name) for name in graph) and prefix != "blogimages.llms")
    assert not stale, f"these layer entries match no module: {stale}"


def test_there_is_no_import_circle(graph):
    assert cycles(graph) == []


def test_backends_know_no_models_services_or_faces(graph):
    wrong = [arrow for arrow in backward_arrows(graph) if arrow.split(" (")[1].startswith("backends ")]
    assert wrong == []


def test_models_never_import_a_service_or_a_face(graph):
    wrong = [arrow for arrow in backward_arrows(graph) if arrow.split(" (")[1].startswith("models ")]
    assert wrong == []


def test_services_never_import_a_face(graph):
    wrong = [arrow for arrow in backward_arrows(graph) if arrow.split(" (")[1].startswith("services ")]
    assert wrong == []


def test_no_arrow_points_backwards(graph):
    assert backward_arrows(graph) == []


def test_the_provider_registry_imports_before_the_app_registry_is_ready():
    """Settings-time code (a settings module, a Celery config) may import the providers and
    build them; that must not need models, and so not the app registry."""
    script = """
import importlib, pkgutil, sys
import django.apps
import blogimages.imaging, blogimages.providers
for package in (blogimages.providers, blogimages.imaging):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
from blogimages.providers import providers
for alias in providers:
    providers[alias]
assert not django.apps.apps.ready, "the app registry got loaded"
loaded = sorted(name for name in sys.modules if name.startswith("blogimages.") and
                not name.startswith(("blogimages.providers", "blogimages.imaging")))
print(" ".join(loaded))
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) <= {"blogimages.conf", "blogimages.exceptions", "blogimages.fonts"}


# -- the check itself can fail -------------------------------------------------------------------


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_graph_sees_function_level_imports_and_the_circles_they_hide(tmp_path):
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/models.py": "def clean():\n    from . import service  # dodging the circle\n",
        "pkg/service.py": "from .models import clean\nfrom pkg.backend import sub\n",
        "pkg/backend/__init__.py": "",
        "pkg/backend/sub.py": "import pkg.models\n",
        "pkg/face.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import service\n",
    })
    found = import_graph(tmp_path, "pkg")

    assert found["pkg.models"] == {"pkg.service"}
    assert found["pkg.service"] == {"pkg.models", "pkg.backend.sub"}
    assert found["pkg.face"] == {"pkg.service"}
    assert cycles(found) == [["pkg.backend.sub", "pkg.models", "pkg.service"]]

    layers = {"models": ("pkg.models",), "services": ("pkg.service",), "backends": ("pkg.backend",),
              "faces": ("pkg.face",), "foundation": ("pkg",)}
    assert backward_arrows(found, layers, ALLOWED) == [
        "pkg.backend.sub -> pkg.models (backends -> models)",
        "pkg.models -> pkg.service (models -> services)",
    ]


def test_a_service_importing_a_face_is_caught(tmp_path):
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/tasks.py": "from pkg import generation\n",
        "pkg/generation.py": "def submit():\n    from .tasks import enqueue\n",
    })
    found = import_graph(tmp_path, "pkg")
    layers = {"services": ("pkg.generation",), "faces": ("pkg.tasks",), "foundation": ("pkg",)}

    assert backward_arrows(found, layers, ALLOWED) == ["pkg.generation -> pkg.tasks (services -> faces)"]
    assert cycles(found) == [["pkg.generation", "pkg.tasks"]]
