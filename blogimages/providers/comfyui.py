"""ComfyUI through its HTTP API, driven by API-format workflow templates with placeholders.

A template is a workflow exported with "Export (API)" in which some input values are
*exactly* one of these strings:

    "{{prompt}}"  "{{negative_prompt}}"  "{{seed}}"  "{{steps}}"  "{{cfg}}"
    "{{width}}"  "{{height}}"  "{{checkpoint}}"  "{{batch_size}}"  "{{filename_prefix}}"

Each is replaced by a typed value (int for seed/steps/width/height/batch_size, float for
cfg, str for the rest). The replacement works on the parsed JSON, never on its text, so a
prompt with quotes, braces or "{{seed}}" in it is just a string: it cannot break the JSON
or be substituted again. A placeholder inside a longer string ("a photo of {{prompt}}") is
*not* replaced; `validate_workflow()` reports it.

Templates: the shipped `blogimages/workflows/txt2img.json` (default), a file path, or the
name of a `ComfyWorkflow` row registered in the admin. Option `workflow` picks the
provider's default; `request.extra["workflow"]` picks one per request (same rule: a slug is
a name, anything else is a path). The provider knows no database: a registered workflow
reaches it as data, a `Workflow` in `request.extra["workflow"]`, put there by the service
that looks the row up by name (`blogimages.comfy_workflows`).

A workflow exported as it is ("Export (API)", no hand edits) works with a *node map*
instead of placeholders: `{"prompt": "6.text", "seed": "3.seed", ...}` (Open WebUI's
COMFYUI_WORKFLOW_NODES list of `{"type", "node_ids", "key"}` is read too). A registered
workflow keeps its map in the admin; `guess_node_map()` proposes one for the standard graph.

The run: the workflow is queued under a prompt id we choose (so a /prompt whose answer was
lost can still be cancelled), followed until /history has its entry — a failed or slow
status check is retried until the deadline — and cancelled whenever we give up on it.
Images of one batch share the seed; ComfyUI varies the noise by batch index, so an image
is (seed, batch index k of n), and a request for one image with `extra["batch_index"]`
and `extra["batch_size"]` runs that batch and keeps image k: the same pixels.

OPTIONS: base_url, auth ("user:password" → HTTP Basic, anything else → a bearer token),
workflow, checkpoint (default checkpoint), models (static list used when the server cannot
be asked), poll_interval (s, default 0.5), timeout (overall s, default 120), status_timeout (s one
status check may take, default 10),
connect_timeout, max_n (default 4), min_size / max_size / size_multiple (the default
template's size limits; a registered workflow has its own), defaults, max_concurrency,
prices.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import math
import random
import re
import struct
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as websocket_connect

from ..exceptions import (
    InvalidProviderError,
    ProviderBadRequest,
    ProviderCancelled,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
    UnsupportedFeature,
)
from .base import (
    BATCH_INDEX_SEEDS,
    MAX_SEED_64,
    Capabilities,
    GeneratedImage,
    EditRequest,
    GenerationRequest,
    GenerationResult,
    PartialCallback,
    PartialImage,
    Progress,
    report_job,
)
from .base import apply_defaults
from .http import HttpProvider, describe_error_payload, sniff_image_mime

logger = logging.getLogger("blogimages.providers.comfyui")

WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"
DEFAULT_WORKFLOW = WORKFLOWS_DIR / "txt2img.json"

#: Placeholder name → the type its value gets.
PLACEHOLDERS: dict[str, type] = {
    "prompt": str, "negative_prompt": str, "seed": int, "steps": int, "cfg": float,
    "width": int, "height": int, "checkpoint": str, "batch_size": int, "filename_prefix": str,
    "denoise": float, "image": str,
}
# Edits: the uploaded source's file name (with the mask in its alpha when there is one),
# the name of the file whose alpha is the mask (for LoadImageMask), the KSampler denoise.
PLACEHOLDERS.update({"image": str, "mask": str, "denoise": float})
EDIT_WORKFLOW = WORKFLOWS_DIR / "img2img.json"
INPAINT_WORKFLOW = WORKFLOWS_DIR / "inpaint.json"
DEFAULT_DENOISE = 0.75
#: Size limits a template (or the provider's options) may set; the rest come from DEFAULT_LIMITS.
SIZE_LIMITS = ("min_size", "max_size", "size_multiple", "max_pixels")
DEFAULT_LIMITS = {"min_size": 64, "max_size": 2048, "size_multiple": 8, "max_pixels": 0}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# ComfyWorkflow.name is a SlugField: a slug names a row (or a shipped template), anything else is a path.
_SLUG = re.compile(r"[-A-Za-z0-9_]+")
# Whether a node is an output node is only known from /object_info; by name is good enough to
# catch the usual mistake (a graph exported without its Save/Preview node).
_OUTPUT_NODE = re.compile(r"Save|Preview")

DEFAULT_STEPS = 20
DEFAULT_CFG = 7.0
# Exceptions inside a node that the same graph may not hit on a later try.
_TRANSIENT_EXCEPTIONS = re.compile(r"OutOfMemory|CUDA|Timeout|Connection", re.IGNORECASE)


# ComfyUI's binary WebSocket frames (server.py BinaryEventTypes, send_image/encode_bytes):
# a big-endian uint32 event type, then for PREVIEW_IMAGE a uint32 image format and the bytes.
PREVIEW_IMAGE = 1
PREVIEW_FORMATS = {1: "image/jpeg", 2: "image/png"}
_PREVIEW_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
#: Previews /v1 may ask for (OpenAI's partial_images is 0–3).
MAX_PREVIEWS = 3


def parse_preview_frame(frame: bytes) -> tuple[bytes, str] | None:
    """(image bytes, mime type) of a PREVIEW_IMAGE frame; None for any other frame (other
    binary events, an unknown image format, bytes that are not that format's)."""
    if len(frame) < 8:
        return None
    event, image_format = struct.unpack(">II", frame[:8])
    mime = PREVIEW_FORMATS.get(image_format)
    data = bytes(frame[8:])
    if event != PREVIEW_IMAGE or mime is None or not data.startswith(_PREVIEW_MAGIC[mime]):
        return None
    return data, mime


class PreviewForwarder:
    """Hands at most `most` of a run's preview frames to `on_partial`, spread over its steps:
    ComfyUI sends one per sampler step (after that step's `progress` message), OpenAI's
    partial_images asks for a few. Without a known step count, the first ones go."""

    def __init__(self, most: int, on_partial: PartialCallback) -> None:
        self.most, self.on_partial = most, on_partial
        self.sent = 0
        self.step = self.steps = 0

    def progress(self, value: int, maximum: int) -> None:
        self.step, self.steps = value, maximum

    def frame(self, frame: bytes) -> None:
        parsed = parse_preview_frame(frame)
        if parsed is None or self.sent >= self.most:
            return
        if self.steps and self.step < math.ceil(self.steps * (self.sent + 1) / (self.most + 1)):
            return
        data, mime = parsed
        self.on_partial(PartialImage(index=self.sent, data=data, mime_type=mime,
                                     metadata={"output_format": mime.split("/")[1], "step": self.step}))
        self.sent += 1


# -- templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workflow:
    """A template as data: its name (for metadata and messages), its API-format graph, the
    node map of an exported graph (value → "node.input"), and its own options (size limits)."""

    name: str
    graph: Mapping[str, Any]
    nodes: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def node_map(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Placeholder or mapped value → the (node id, input name) pairs it fills."""
        found: dict[str, list[tuple[str, str]]] = {}
        for name, exact, node_id, input_name in _placeholder_uses(self.graph):
            if exact:
                found.setdefault(name, []).append((node_id, input_name))
        for name, targets in parse_node_map(self.nodes).items():
            uses = found.setdefault(name, [])
            for target in targets:
                if target not in uses:
                    uses.append(target)
        return {name: tuple(uses) for name, uses in found.items()}

    def limits(self, fallback: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Size limits: the workflow's own options, else `fallback` (the provider's), else defaults."""
        limits = dict(DEFAULT_LIMITS)
        for source in (fallback or {}, self.options or {}):
            limits.update({key: int(source[key]) for key in SIZE_LIMITS if source.get(key) not in (None, "")})
        return limits

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(self.node_map)


def parse_node_map(spec: Any) -> dict[str, tuple[tuple[str, str], ...]]:
    """A node map as (node id, input) pairs per value. Takes `{"seed": "3.seed"}` (a value
    may also be a list of such strings) or Open WebUI's COMFYUI_WORKFLOW_NODES list
    `[{"type": "seed", "node_ids": ["3"], "key": "seed"}]`; raises ValueError otherwise."""
    if not spec:
        return {}
    if isinstance(spec, str):
        spec = json.loads(spec)
    pairs: dict[str, list[tuple[str, str]]] = {}
    if isinstance(spec, list):  # Open WebUI's shape
        for entry in spec:
            if not isinstance(entry, Mapping) or not entry.get("type"):
                raise ValueError(f"node map entry {entry!r} needs \"type\", \"node_ids\" and \"key\"")
            name = _OPEN_WEBUI_TYPES.get(str(entry["type"]), str(entry["type"]))
            key = str(entry.get("key") or _OPEN_WEBUI_KEYS.get(name, name))
            for node_id in entry.get("node_ids") or ():
                pairs.setdefault(name, []).append((str(node_id), key))
        return {name: tuple(targets) for name, targets in pairs.items()}
    if not isinstance(spec, Mapping):
        raise ValueError("a node map is a JSON object like {\"prompt\": \"6.text\", \"seed\": \"3.seed\"}")
    for name, targets in spec.items():
        for target in [targets] if isinstance(targets, str) else list(targets or ()):
            node_id, dot, input_name = str(target).partition(".")
            if not dot or not node_id or not input_name:
                raise ValueError(f"node map {name!r}: {target!r} is not \"node id.input name\" (e.g. \"3.seed\")")
            pairs.setdefault(str(name), []).append((node_id, input_name))
    return {name: tuple(targets) for name, targets in pairs.items()}


# Open WebUI names two values differently and leaves `key` out for the usual ones.
_OPEN_WEBUI_TYPES = {"model": "checkpoint", "n": "batch_size"}
_OPEN_WEBUI_KEYS = {"prompt": "text", "negative_prompt": "text", "checkpoint": "ckpt_name", "width": "width",
                    "height": "height", "batch_size": "batch_size", "seed": "seed", "steps": "steps",
                    "cfg": "cfg", "denoise": "denoise", "image": "image"}


def guess_node_map(graph: Mapping[str, Any]) -> dict[str, str]:
    """A node map for the standard graph (CheckpointLoaderSimple → CLIPTextEncode ×2 →
    KSampler ← EmptyLatentImage → VAEDecode → SaveImage), to be shown and confirmed.
    Positive and negative prompts are told apart by the KSampler input they feed."""
    found: dict[str, str] = {}
    by_class: dict[str, list[str]] = {}
    if not isinstance(graph, Mapping):
        return found
    for node_id, node in graph.items():
        if isinstance(node, Mapping) and isinstance(node.get("class_type"), str) \
                and isinstance(node.get("inputs"), Mapping):
            by_class.setdefault(node["class_type"], []).append(str(node_id))
    samplers = by_class.get("KSampler", []) + by_class.get("KSamplerAdvanced", [])
    if samplers:
        sampler_id = samplers[0]
        inputs = graph[sampler_id]["inputs"]
        seed_key = "seed" if "seed" in inputs else "noise_seed"
        for name, key in (("seed", seed_key), ("steps", "steps"), ("cfg", "cfg"), ("denoise", "denoise")):
            if key in inputs and not _is_link(inputs[key]):
                found[name] = f"{sampler_id}.{key}"
        for name, key in (("prompt", "positive"), ("negative_prompt", "negative")):
            link = inputs.get(key)
            if _is_link(link) and graph.get(link[0], {}).get("class_type") == "CLIPTextEncode":
                found[name] = f"{link[0]}.text"
    for loader, key in (("CheckpointLoaderSimple", "ckpt_name"), ("UNETLoader", "unet_name")):
        if by_class.get(loader) and "checkpoint" not in found:
            found["checkpoint"] = f"{by_class[loader][0]}.{key}"
    for latent in ("EmptyLatentImage", "EmptySD3LatentImage", "EmptyImage"):
        if by_class.get(latent):
            for key in ("width", "height", "batch_size"):
                found[key] = f"{by_class[latent][0]}.{key}"
            break
    if "prompt" not in found and len(by_class.get("CLIPTextEncode", [])) == 1:
        found["prompt"] = f"{by_class['CLIPTextEncode'][0]}.text"
    if by_class.get("SaveImage"):
        found["filename_prefix"] = f"{by_class['SaveImage'][0]}.filename_prefix"
    if by_class.get("LoadImage"):
        found["image"] = f"{by_class['LoadImage'][0]}.image"
    return found


def is_workflow_name(ref: str | None) -> bool:
    """Whether `ref` names a workflow (a registered row or a shipped template) rather than a file."""
    return bool(ref) and _SLUG.fullmatch(ref) is not None


def load_workflow(ref: str | None = None, *, error: type[Exception] = UnsupportedFeature) -> Workflow:
    """The workflow `ref` names: None → the shipped template; a slug → the shipped template of
    that name; anything else → a JSON file. A registered row never gets here: the service
    that looks it up passes it in as a `Workflow`."""
    if not ref:
        return _workflow_from_file(DEFAULT_WORKFLOW, name="txt2img", error=error)
    if not is_workflow_name(ref):
        return _workflow_from_file(Path(ref).expanduser(), name=ref, error=error)
    shipped = WORKFLOWS_DIR / f"{ref}.json"
    if shipped.is_file():
        return _workflow_from_file(shipped, name=ref, error=error)
    raise error(
        f"No ComfyUI workflow named {ref!r}: register it in the admin (ComfyUI workflows) "
        "or give the path of an API-format .json file."
    )


def _workflow_from_file(path: Path, *, name: str, error: type[Exception]) -> Workflow:
    try:
        graph = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"ComfyUI workflow file {str(path)!r} does not exist.") from None
    except OSError as exc:
        raise error(f"ComfyUI workflow file {str(path)!r} cannot be read: {exc.strerror}.") from None
    except ValueError as exc:
        raise error(f"ComfyUI workflow file {str(path)!r} is not valid JSON: {exc}.") from None
    return Workflow(name=name, graph=graph)


def validate_workflow(graph: Any, nodes: Any = None) -> list[str]:
    """Every problem that stops `graph` (with its node map `nodes`) from working as a
    template; empty when it is fine.

    For the admin form that registers ComfyWorkflow rows, and checked before every run.
    """
    if isinstance(graph, Mapping) and ("last_node_id" in graph or ("nodes" in graph and "links" in graph)):
        return [
            "this is a UI-format workflow (what 'Save' writes); /prompt only runs the API format: "
            "in ComfyUI use Workflow → Export (API) (older builds: enable dev mode, then 'Save (API Format)')."
        ]
    if not isinstance(graph, Mapping) or not graph:
        return ["a workflow must be a JSON object of node id → {\"class_type\", \"inputs\"} (API format)."]
    problems = [problem for node_id, node in graph.items() for problem in _node_problems(graph, node_id, node)]
    if problems:
        return problems
    if not any(_OUTPUT_NODE.search(node["class_type"]) for node in graph.values()):
        problems.append("no output node: end the workflow with SaveImage (or PreviewImage).")
    exact: set[str] = set()
    try:
        mapped = parse_node_map(nodes)
    except ValueError as exc:
        return [f"node map: {exc}."]
    for name, targets in mapped.items():
        if name not in PLACEHOLDERS:
            problems.append(f"node map names an unknown value {name!r}; known: {', '.join(PLACEHOLDERS)}.")
            continue
        for node_id, input_name in targets:
            node = graph.get(node_id)
            if node is None:
                problems.append(f"node map {name!r}: node {node_id} is not in the workflow.")
            elif input_name not in node["inputs"]:
                problems.append(f"node map {name!r}: node {node_id} ({node['class_type']}) has no input "
                                f"{input_name!r}; it has: {', '.join(node['inputs']) or 'none'}.")
            elif _is_link(node["inputs"][input_name]):
                problems.append(f"node map {name!r}: input {input_name!r} of node {node_id} is a link to another "
                                "node, not a value.")
        exact.add(name)
    for name, is_exact, node_id, input_name in _placeholder_uses(graph):
        where = f"node {node_id} input {input_name!r}"
        if name not in PLACEHOLDERS:
            problems.append(f"unknown placeholder {{{{{name}}}}} in {where}; known: {_known_placeholders()}.")
        elif not is_exact:
            problems.append(
                f"placeholder {{{{{name}}}}} in {where} is part of a longer string; only a value that is "
                "exactly the placeholder is replaced."
            )
        else:
            exact.add(name)
    if "prompt" not in exact:
        problems.append("no {{prompt}} placeholder and no \"prompt\" in the node map: the prompt would be ignored.")
    return problems


def object_info_problems(graph: Mapping[str, Any], info: Mapping[str, Any], nodes: Any = None) -> list[str]:
    """What the server's /object_info says cannot run: node classes it lacks, values outside
    an input's min/max, and choices (model names, samplers) it does not list. Inputs the
    node map fills are left out: each run sets them."""
    mapped = {target for targets in parse_node_map(nodes).values() for target in targets}
    problems = []
    for node_id, node in graph.items():
        spec = info.get(node["class_type"])
        if not isinstance(spec, Mapping):
            problems.append(f"node {node_id}: the server has no node class {node['class_type']!r} "
                            "(a custom node that is not installed?).")
            continue
        declared = {**(spec.get("input", {}).get("required") or {}), **(spec.get("input", {}).get("optional") or {})}
        for name, value in node["inputs"].items():
            if _is_link(value) or name not in declared or _PLACEHOLDER.fullmatch(str(value)) \
                    or (node_id, name) in mapped:
                continue
            kind = declared[name]
            where = f"node {node_id} ({node['class_type']}) input {name!r}"
            try:
                choices = _combo_options(kind)
            except ValueError:
                choices = None
            if kind and kind[0] == "COMBO" and len(kind) > 1 and isinstance(kind[1], Mapping) \
                    and "options" not in kind[1]:
                # A combo the UI lists from a route of its own (LoadImageOutput's "remote"): no
                # choices to check against here.
                continue
            if choices is not None and kind and (isinstance(kind[0], list) or kind[0] == "COMBO"):
                if value not in choices:
                    listed = ", ".join(map(str, choices[:8])) + (" …" if len(choices) > 8 else "")
                    problems.append(f"{where}: {value!r} is not on the server; it lists: {listed or 'nothing'}.")
            elif kind and kind[0] in ("INT", "FLOAT") and len(kind) > 1 and isinstance(kind[1], Mapping) \
                    and isinstance(value, int | float) and not isinstance(value, bool):
                low, high = kind[1].get("min"), kind[1].get("max")
                if (low is not None and value < low) or (high is not None and value > high):
                    problems.append(f"{where}: {value} is outside {low} … {high}.")
    return problems


def _node_problems(graph: Mapping[str, Any], node_id: str, node: Any) -> list[str]:
    if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str) \
            or not isinstance(node.get("inputs"), Mapping):
        return [f"node {node_id} is not an API-format node: it needs \"class_type\" and \"inputs\"."]
    return [
        f"node {node_id} ({node['class_type']}) input {name!r} links to node {value[0]}, which does not exist."
        for name, value in node["inputs"].items()
        if _is_link(value) and value[0] not in graph
    ]


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int) and not isinstance(value[1], bool))


def _placeholder_uses(graph: Mapping[str, Any]) -> Iterator[tuple[str, bool, str, str]]:
    """(name, is the whole value, node id, input name) for every placeholder in node inputs."""
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        for input_name, value in (inputs or {}).items():
            for text in _strings_in(value):
                whole = _PLACEHOLDER.fullmatch(text)
                if whole:
                    yield whole.group(1), True, node_id, input_name
                else:
                    for match in _PLACEHOLDER.finditer(text):
                        yield match.group(1), False, node_id, input_name


def _strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings_in(item)


def _known_placeholders() -> str:
    return ", ".join(f"{{{{{name}}}}}" for name in PLACEHOLDERS)


def fill_workflow(graph: Mapping[str, Any], values: Mapping[str, Any], nodes: Any = None) -> dict[str, Any]:
    """A copy of `graph` with every input that is exactly a placeholder named in `values`,
    or that the node map `nodes` names, set to that value, cast to its type. Substituted
    values are not scanned again, so text inside a prompt is never taken for a placeholder."""
    typed = {name: PLACEHOLDERS[name](value) for name, value in values.items() if name in PLACEHOLDERS}
    filled = {}
    for node_id, node in graph.items():
        node = copy.deepcopy(dict(node))
        node["inputs"] = _fill(node["inputs"], typed)
        filled[node_id] = node
    for name, targets in parse_node_map(nodes).items():
        if name in typed:
            for node_id, input_name in targets:
                filled[node_id]["inputs"][input_name] = typed[name]
    return filled


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        return values[whole.group(1)] if whole and whole.group(1) in values else value
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, Mapping):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


# -- server answers --------------------------------------------------------------------------


def describe_comfy_error(payload: Any) -> str:
    """ComfyUI's 400 from /prompt, with every failing node named:
    "Prompt outputs failed validation: node 4 (CheckpointLoaderSimple): Value not in list: ckpt_name: ..."."""
    node_errors = payload.get("node_errors") if isinstance(payload, Mapping) else None
    if not node_errors or not isinstance(node_errors, Mapping):
        return describe_error_payload(payload)
    summaries = []
    for node_id, entry in node_errors.items():
        entry = entry if isinstance(entry, Mapping) else {}
        for error in entry.get("errors") or [{}]:
            text = ": ".join(str(error.get(key)) for key in ("message", "details") if error.get(key))
            summaries.append(f"node {node_id} ({entry.get('class_type', '?')}): {text or 'invalid'}")
    error = payload.get("error")
    headline = str(error.get("message") or "") if isinstance(error, Mapping) else str(error or "")
    return f"{headline}: {'; '.join(summaries)}" if headline else "; ".join(summaries)


def execution_failure(status: Mapping[str, Any]) -> ProviderError:
    """The error a history entry with status_str "error" stands for."""
    for event, data in _messages(status):
        if event == "execution_error":
            where = f"node {data.get('node_id', '?')} ({data.get('node_type', '?')})"
            kind = str(data.get("exception_type") or "an exception")
            # A real server's message can span lines (SaveImage's refusal lists three folders)
            # and quote "<class ...>": one line, words kept; the whole message stays in `response`.
            message = " ".join(str(data.get("exception_message") or "").split())
            text = f"the workflow failed at {where}: {kind}: {message}"
            # Out of memory may pass on a quieter server; anything else will fail the same way.
            error_cls = ProviderServerError if _TRANSIENT_EXCEPTIONS.search(kind) else ProviderBadRequest
            return error_cls(text, response=json.dumps(data, default=str))
        if event == "execution_interrupted":
            # We never read the history of a prompt we cancelled ourselves: this was someone
            # pressing Cancel in ComfyUI, and a person's cancel is not to be retried.
            return ProviderCancelled(
                f"the workflow was cancelled on the ComfyUI server at node {data.get('node_id', '?')} "
                f"({data.get('node_type', '?')})", code="cancelled",
            )
    return ProviderServerError("the workflow failed without saying why")


def _messages(status: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for message in status.get("messages") or ():
        if isinstance(message, list) and len(message) == 2 and isinstance(message[1], Mapping):
            yield str(message[0]), message[1]


def image_refs(entry: Mapping[str, Any]) -> list[tuple[str, int, Mapping[str, Any]]]:
    """(node id, batch index, {filename, subfolder, type}) of every image the run produced.

    SaveImage files (type "output") are the results; PreviewImage files (type "temp") count
    only when there are none, so a graph that both saves and previews is not downloaded twice.
    """
    refs = [
        (str(node_id), index, image)
        for node_id, output in (entry.get("outputs") or {}).items()
        if isinstance(output, Mapping)
        for index, image in enumerate(output.get("images") or ())
        if isinstance(image, Mapping) and image.get("filename")
    ]
    saved = [ref for ref in refs if ref[2].get("type", "output") == "output"]
    return saved or [ref for ref in refs if ref[2].get("type") == "temp"]


# -- the provider --------------------------------------------------------------------------


#: WebSocket events that end a prompt (ours when their prompt_id is ours).
_TERMINAL_EVENTS = frozenset({"execution_success", "execution_error", "execution_interrupted"})


class ComfyUIProvider(HttpProvider):
    display_name = "ComfyUI"
    reports_progress = True

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        self.workflow_ref: str | None = self.options.get("workflow") or None
        self.checkpoint = str(self.options.get("checkpoint") or "")
        self.poll_interval = float(self.options.get("poll_interval", 0.5))
        self.max_n = int(self.options.get("max_n", 4))
        # One status check may take this long; one that takes longer is asked again.
        self.status_timeout = float(self.options.get("status_timeout") or self.listing_timeout)
        # ComfyUI routes progress events by client id: each run gets its own under this one.
        self.client_id = uuid.uuid4().hex
        # Follow a run on ComfyUI's WebSocket (progress, the end at once); /history is polled
        # all the same, and alone when the socket cannot be opened.
        self.websocket = bool(self.options.get("websocket", True))
        self.socket_poll = float(self.options.get("socket_poll", 1.0))
        auth = str(self.options.get("auth") or "")
        if auth:
            # A ComfyUI behind a proxy: "user:password" is HTTP Basic, anything else a bearer
            # token. The session keeps it; our copy of the options may be shown to someone.
            user, colon, password = auth.partition(":")
            if colon and user:
                self.session.auth = (user, password)
            else:
                self.session.headers["Authorization"] = f"Bearer {auth}"
            self.options["auth"] = "<redacted>"

    def check(self) -> list[str]:
        if is_workflow_name(self.workflow_ref) and not self._ships(self.workflow_ref):
            return []  # a registered row: checked by the admin form and comfy_workflows.check_registered
        try:
            workflow = load_workflow(self.workflow_ref, error=InvalidProviderError)
        except InvalidProviderError as exc:
            return [str(exc)]
        return [f"workflow {workflow.name}: {problem}" for problem in validate_workflow(workflow.graph)]

    # -- capabilities -------------------------------------------------------------------

    def capabilities(self, model: str = "") -> Capabilities:
        listed = self._checkpoints() or ()
        return self._capabilities_for(
            self._default_placeholders(),
            models=listed or tuple(self.options.get("models") or ()),
            default_model=self.checkpoint or (listed[0] if listed else ""),
            limits=self._default_limits(),
        )

    def validate(self, request: GenerationRequest, caps: Capabilities | None = None) -> None:
        caps = caps or self.capabilities(request.model)
        if request.extra.get("workflow"):  # the request's own template decides what it takes
            workflow = self._workflow_for(request)
            caps = self._capabilities_for(workflow.placeholders, models=caps.models, default_model=caps.default_model,
                                          limits=workflow.limits(self.options))
        super().validate(request, caps)

    def _capabilities_for(self, placeholders: frozenset[str], *, models: tuple[str, ...],
                          default_model: str, limits: Mapping[str, int]) -> Capabilities:
        takes_checkpoint = "checkpoint" in placeholders
        return Capabilities(
            # A template with a fixed checkpoint takes no model choice.
            models=models if takes_checkpoint else (),
            default_model=default_model if takes_checkpoint else "",
            min_size=limits["min_size"],
            max_size=limits["max_size"],
            size_multiple=limits["size_multiple"],
            max_pixels=limits["max_pixels"],
            max_n=self.max_n if "batch_size" in placeholders else 1,
            supports_negative_prompt="negative_prompt" in placeholders,
            supports_seed="seed" in placeholders,
            # KSampler's seed is 0 … 2^64−1, and one seed covers a whole batch.
            max_seed=MAX_SEED_64,
            batch_seeds=BATCH_INDEX_SEEDS,
            supports_steps="steps" in placeholders,
            max_steps=150,
            supports_guidance="cfg" in placeholders,
            # Edits run the shipped img2img / inpaint templates (or the request's own).
            supports_edit=True, supports_mask=True, supports_strength=True,
            output_formats=("png",),
            # Its /ws preview frames, when the socket is used (and the server makes previews).
            max_partial_images=MAX_PREVIEWS if self.websocket else 0,
            prices={key: Decimal(str(value)) for key, value in (self.options.get("prices") or {"*": 0}).items()},
        )

    @staticmethod
    def _ships(name: str) -> bool:
        return (WORKFLOWS_DIR / f"{name}.json").is_file()

    def _default_limits(self) -> dict[str, int]:
        return Workflow(name="", graph={}).limits(self.options)

    def _default_placeholders(self) -> frozenset[str]:
        if is_workflow_name(self.workflow_ref) and not self._ships(self.workflow_ref):
            # A registered row: its placeholders arrive with each request (see validate()).
            return frozenset(PLACEHOLDERS)

        def load() -> frozenset[str]:
            try:
                return load_workflow(self.workflow_ref, error=InvalidProviderError).placeholders
            except Exception as exc:  # noqa: BLE001 — a broken template surfaces in check() and generate()
                logger.warning("provider %s: cannot read its workflow: %s", self.alias, exc)
                return frozenset(PLACEHOLDERS)

        return self.cached_listing("workflow placeholders", load) or frozenset(PLACEHOLDERS)

    def _checkpoints(self) -> tuple[str, ...] | None:
        return self.cached_listing("checkpoints", self._fetch_checkpoints)

    def _fetch_checkpoints(self) -> tuple[str, ...]:
        try:
            listing = self.call_json("GET", "/models/checkpoints", action="listing checkpoints",
                                     read_timeout=self.listing_timeout)
        except ProviderBadRequest:  # builds without /models: ask the loader node instead
            info = self.call_json("GET", "/object_info/CheckpointLoaderSimple", action="listing checkpoints",
                                  read_timeout=self.listing_timeout)
            listing = _combo_options(info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"])
        if not isinstance(listing, list):
            raise ValueError("the checkpoint listing is not a list")
        return tuple(str(name) for name in listing)

    def models_for(self, workflow: Workflow) -> dict[str, tuple[str, ...]]:
        """The model files the template's loaders can take, from the folder each loader reads:
        checkpoints, diffusion_models (the unet loader; "unet" on older builds) and loras."""
        folders = {"CheckpointLoaderSimple": ("checkpoints",), "UNETLoader": ("diffusion_models", "unet"),
                   "LoraLoader": ("loras",), "LoraLoaderModelOnly": ("loras",)}
        found: dict[str, tuple[str, ...]] = {}
        for node in workflow.graph.values():
            for folder in folders.get(node.get("class_type"), ()):
                if folder in found or folders[node["class_type"]][0] in found:
                    break
                try:
                    listing = self.call_json("GET", f"/models/{folder}", action=f"listing {folder}",
                                             read_timeout=self.listing_timeout)
                except ProviderBadRequest:
                    continue  # "unet" before it was renamed diffusion_models, or the other way
                found[folders[node["class_type"]][0]] = tuple(str(name) for name in listing or ())
                break
        return found

    def object_info(self) -> Mapping[str, Any]:
        """The server's node classes and their inputs (cached like the other listings)."""
        def fetch() -> Mapping[str, Any]:
            info = self.call_json("GET", "/object_info", action="listing node classes",
                                  read_timeout=self.listing_timeout)
            if not isinstance(info, Mapping):
                raise ValueError("/object_info is not an object")
            return info

        info = self.cached_listing("object_info", fetch)
        if info is None:
            raise ProviderServerError(f"{self.alias}: the server cannot list its node classes right now")
        return info

    def _workflow_for(self, request: GenerationRequest) -> Workflow:
        ref = request.extra.get("workflow")
        if isinstance(ref, Workflow):
            return ref
        if ref:
            return load_workflow(str(ref), error=UnsupportedFeature)
        return load_workflow(self.workflow_ref, error=InvalidProviderError)

    # -- generation ---------------------------------------------------------------------

    def generate_streaming(self, request: GenerationRequest, *, partial_images: int, on_partial: PartialCallback,
                           progress: Progress | None = None) -> GenerationResult:
        """`generate`, with up to `partial_images` of ComfyUI's preview frames passed to `on_partial`."""
        return self.generate(request, progress=progress, previews=PreviewForwarder(partial_images, on_partial))

    def generate(self, request: GenerationRequest, *, progress: Progress | None = None,
                 previews: PreviewForwarder | None = None) -> GenerationResult:
        deadline = time.monotonic() + self.timeout
        request = apply_defaults(request, self.defaults)
        workflow = self._workflow_for(request)
        problems = validate_workflow(workflow.graph, workflow.nodes)
        if problems:
            error = UnsupportedFeature if request.extra.get("workflow") else InvalidProviderError
            raise error(f"{self.alias}: workflow {workflow.name!r} cannot run: " + " ".join(problems))
        values = self._values(request, workflow)
        graph = fill_workflow(workflow.graph, values, workflow.nodes)
        prompt_id, entry = self._run_graph(graph, deadline, progress=progress, previews=previews)
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            raise execution_failure(status)
        refs = image_refs(entry)
        keep = _kept_batch_index(request)
        if keep is not None:
            refs = [ref for ref in refs if ref[1] == keep]
        if not refs:
            raise ProviderBadRequest(
                f"workflow {workflow.name!r} finished without any image; its outputs: "
                f"{', '.join(entry.get('outputs') or {}) or 'none'}. End it with SaveImage or PreviewImage."
            )
        images = tuple(self._download(ref, values=values, workflow=workflow, prompt_id=prompt_id, graph=graph)
                       for ref in refs)
        return GenerationResult(
            images=images,
            model=values.get("checkpoint") or request.model or f"workflow:{workflow.name}",
            request_id=prompt_id,
            usage={"images": len(images)},
        )

    def _run_graph(self, graph: Mapping[str, Any], deadline: float, *, progress: Progress | None = None,
                   previews: PreviewForwarder | None = None) -> tuple[str, Mapping[str, Any]]:
        """Queue `graph` and wait for its history entry; a prompt given up on is cancelled."""
        # Our own id: a /prompt whose answer is lost (a timeout) can still be cancelled.
        prompt_id = str(uuid.uuid4())
        client_id = f"{self.client_id}-{uuid.uuid4().hex[:8]}"
        finished = False
        with contextlib.ExitStack() as sockets:
            wanted = progress is not None or previews is not None
            socket = self._open_socket(client_id, deadline, sockets) if wanted and self.websocket else None
            try:
                # On record before it is sent: a worker killed while it runs cannot cancel it,
                # the reconciler that takes its image over can (cancel_job).
                report_job(progress, {"prompt_id": prompt_id})
                answered = self._submit(graph, prompt_id, deadline, client_id=client_id)
                if answered != prompt_id:
                    prompt_id = answered
                    report_job(progress, {"prompt_id": prompt_id})
                entry = self._wait(prompt_id, deadline, progress=progress, socket=socket, previews=previews)
                finished = True  # in the history: nothing left to cancel
            finally:
                if not finished:
                    self._cancel(prompt_id)
        return prompt_id, entry

    def _values(self, request: GenerationRequest, workflow: Workflow) -> dict[str, Any]:
        used = workflow.placeholders
        if request.negative_prompt and "negative_prompt" not in used:
            raise UnsupportedFeature(f"{self.alias}: workflow {workflow.name!r} has no {{{{negative_prompt}}}}.")
        if request.n > 1 and "batch_size" not in used:
            raise UnsupportedFeature(
                f"{self.alias}: workflow {workflow.name!r} has no {{{{batch_size}}}}; n must be 1."
            )
        checkpoint = request.model or self.checkpoint
        if "checkpoint" in used and not checkpoint:
            raise UnsupportedFeature(f"{self.alias}: no checkpoint: choose a model or set the checkpoint option.")
        keep = _kept_batch_index(request)
        values = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            # ComfyUI has no "random" seed value: pick one so it can be reported and reproduced.
            "seed": request.seed if request.seed is not None else random.randint(0, MAX_SEED_64),
            "steps": request.steps or DEFAULT_STEPS,
            "cfg": DEFAULT_CFG if request.guidance_scale is None else request.guidance_scale,
            "width": request.width,
            "height": request.height,
            "checkpoint": checkpoint,
            # Image k of an earlier batch: the same batch again (its noise depends on the index).
            "batch_size": int(request.extra["batch_size"]) if keep is not None else request.n,
            # A fresh prefix per run: ComfyUI would otherwise serve an identical graph from its
            # cache; the folder keeps our files together in ComfyUI's output directory.
            "filename_prefix": f"blogimages/{uuid.uuid4().hex[:12]}",
        }
        for name in ("denoise", "image"):
            if request.extra.get(name) not in (None, ""):
                values[name] = request.extra[name]
        return {name: value for name, value in values.items() if name in used}

    def _submit(self, graph: Mapping[str, Any], prompt_id: str, deadline: float, *, client_id: str) -> str:
        body = self.call_json(
            "POST", "/prompt", action="queueing the workflow",
            json={"prompt": graph, "client_id": client_id, "prompt_id": prompt_id},
            read_timeout=_remaining(deadline), describe=describe_comfy_error,
        )
        answered = body.get("prompt_id") if isinstance(body, Mapping) else None
        if not answered:
            raise ProviderServerError("queueing the workflow: the answer has no prompt_id", response=str(body))
        # A build that ignores our id gives its own: that is the one to follow and cancel.
        prompt_id = str(answered)
        if body.get("node_errors"):
            # Queued, but some output nodes failed validation and will be skipped.
            logger.warning("provider %s: prompt %s queued with node errors: %s",
                           self.alias, prompt_id, describe_comfy_error(body))
        return prompt_id

    def _open_socket(self, client_id: str, deadline: float, stack: contextlib.ExitStack) -> ClientConnection | None:
        """ComfyUI's /ws for `client_id`, or None (then /history alone is polled)."""
        url = "ws" + self.base_url[len("http"):] + f"/ws?clientId={client_id}"
        headers = {}
        if self.session.headers.get("Authorization"):
            headers["Authorization"] = self.session.headers["Authorization"]
        elif isinstance(self.session.auth, tuple):
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.session.auth).encode()).decode()
        try:
            # Previews arrive as binary frames of a few hundred kB: no size limit to trip on.
            return stack.enter_context(websocket_connect(
                url, additional_headers=headers, user_agent_header="blogimages", proxy=None,
                open_timeout=min(self.connect_timeout, _remaining(deadline)), max_size=None, compression=None))
        except (OSError, TimeoutError, WebSocketException) as exc:
            logger.info("provider %s: no WebSocket (%s); following the run by polling /history", self.alias, exc)
            return None

    def _listen(self, socket: ClientConnection, prompt_id: str, deadline: float,
                progress: Progress | None, previews: PreviewForwarder | None = None) -> bool:
        """Read the socket until our prompt ends (True) or it is quiet for socket_poll s (False).
        Binary frames are previews (of our prompt: the socket's client id is this run's own)."""
        while True:
            timeout = min(self.socket_poll, max(deadline - time.monotonic(), 0))
            try:
                raw = socket.recv(timeout=timeout)
            except TimeoutError:
                return False
            if isinstance(raw, bytes):
                if previews is not None:
                    previews.frame(raw)
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            kind = message.get("type") if isinstance(message, Mapping) else None
            data = message.get("data") if isinstance(message, Mapping) else None
            if not isinstance(data, Mapping):
                continue
            ours = data.get("prompt_id") == prompt_id
            if kind == "progress" and ours and previews is not None:
                previews.progress(int(data.get("value") or 0), int(data.get("max") or 0))
            if kind == "progress" and ours and progress is not None:
                progress(int(data.get("value") or 0), int(data.get("max") or 0), source="websocket")
            elif kind == "status" and progress is not None:
                self._report_queue(prompt_id, progress, source="websocket")
            elif ours and (kind in _TERMINAL_EVENTS or (kind == "executing" and data.get("node") is None)):
                return True

    def _report_queue(self, prompt_id: str, progress: Progress, *, source: str) -> None:
        """Where our prompt waits in the queue (1 = next), while it waits."""
        try:
            queue = self.call_json("GET", "/queue", action="reading the queue", read_timeout=self.status_timeout)
        except ProviderError:
            return
        pending = sorted((item for item in queue.get("queue_pending") or () if isinstance(item, list) and item),
                         key=lambda item: item[0])
        for position, item in enumerate(pending, start=1):
            if len(item) > 1 and item[1] == prompt_id:
                progress(0, 0, queue_position=position, source=source)
                return

    def _wait(self, prompt_id: str, deadline: float, *, progress: Progress | None = None,
              socket: ClientConnection | None = None, previews: PreviewForwarder | None = None) -> Mapping[str, Any]:
        """The history entry of `prompt_id` once it finished; it is `{}` until then.

        A status check that fails (no answer in time, a dropped connection, a 5xx) says
        nothing about the prompt, which runs on: it is asked again until the deadline.
        With the socket open, /history is asked when the socket says the prompt ended, or
        when it has been quiet for socket_poll seconds."""
        last_error: ProviderError | None = None
        if progress is not None:
            self._report_queue(prompt_id, progress, source="websocket" if socket else "polling")
        while True:
            if time.monotonic() >= deadline:
                why = f"; the last status check failed: {last_error}" if last_error else ""
                raise ProviderTimeout(
                    f"ComfyUI did not finish prompt {prompt_id} within {self.timeout:g} s; it was cancelled{why}"
                )
            if socket is not None:
                try:
                    self._listen(socket, prompt_id, deadline, progress, previews)
                except (ConnectionClosed, OSError) as exc:
                    logger.info("provider %s: the WebSocket closed (%s); polling /history", self.alias, exc)
                    socket = None
            try:
                history = self.call_json("GET", f"/history/{prompt_id}", action="checking progress",
                                         read_timeout=min(self.status_timeout, _remaining(deadline)))
            except ProviderUnavailable as exc:
                logger.info("provider %s: status check of %s failed, asking again: %s", self.alias, prompt_id, exc)
                last_error = exc
                history = {}
            else:
                last_error = None
            if not isinstance(history, Mapping):
                raise ProviderServerError("checking progress: /history answered something else than an object")
            entry = history.get(prompt_id)
            if isinstance(entry, Mapping) and entry:
                return entry
            if socket is None:
                if progress is not None:
                    self._report_queue(prompt_id, progress, source="polling")
                time.sleep(max(0.0, min(self.poll_interval, deadline - time.monotonic())))

    def cancel_job(self, job: Mapping[str, Any]) -> bool:
        """Cancel the prompt a dead worker left on the server (the reconciler calls this)."""
        prompt_id = str(job.get("prompt_id") or "")
        return bool(prompt_id) and self._cancel(prompt_id)

    def _cancel(self, prompt_id: str) -> bool:
        """Take our prompt out of the queue, or stop it if it is running — and only ours:
        builds that ignore the prompt_id in /interrupt stop whatever runs, so /interrupt is
        sent only when /queue shows ours running. True when the server took both calls.

        Dequeue first, then look: a prompt seen pending can start running before a later
        delete arrives (which no longer touches it), but once deleted it can never start."""
        try:
            self.call("POST", "/queue", action="dequeuing", json={"delete": [prompt_id]},
                      read_timeout=self.listing_timeout)
            queue = self.call_json("GET", "/queue", action="reading the queue", read_timeout=self.listing_timeout)
            running = [item for item in queue.get("queue_running") or () if isinstance(item, list)]
            if any(len(item) > 1 and item[1] == prompt_id for item in running):
                self.call("POST", "/interrupt", action="interrupting", json={"prompt_id": prompt_id},
                          read_timeout=self.listing_timeout)
            return True
        except (ProviderError, AttributeError) as exc:
            logger.warning("provider %s: could not cancel prompt %s: %s", self.alias, prompt_id, exc)
            return False

    def _download(self, ref: tuple[str, int, Mapping[str, Any]], *, values: Mapping[str, Any],
                  workflow: Workflow, prompt_id: str, graph: Mapping[str, Any]) -> GeneratedImage:
        node_id, batch_index, image = ref
        params = {"filename": str(image["filename"]), "subfolder": str(image.get("subfolder") or ""),
                  "type": str(image.get("type") or "output")}
        data = self.call("GET", "/view", action=f"downloading {params['filename']}", params=params).content
        metadata = {
            "workflow": workflow.name,
            "prompt_id": prompt_id,
            "node_id": node_id,
            # Images of one batch share the seed; ComfyUI varies the noise by batch index.
            "batch_index": batch_index,
            "batch_size": values.get("batch_size", 1),
            **params,
            **{key: values[key] for key in ("checkpoint", "steps", "cfg") if key in values},
            # The graph as it ran, for the sidecar: drag it into ComfyUI to run it again.
            "comfyui_prompt": graph,
        }
        return GeneratedImage(data=data, mime_type=sniff_image_mime(data), seed=values.get("seed"), metadata=metadata)

    # -- edits ------------------------------------------------------------------------------

    def edit_image(self, edit: EditRequest, *, progress: Progress | None = None) -> GenerationResult:
        """Upload the source (POST /upload/image) and the mask (POST /upload/mask, which
        ComfyUI writes into the source's alpha: LoadImage's MASK is then the area to change),
        then run the img2img or inpaint template with {{image}}, {{mask}} and {{denoise}}."""
        deadline = time.monotonic() + self.timeout
        request = apply_defaults(edit.request, self.defaults)
        ref = request.extra.get("workflow")
        if isinstance(ref, Workflow):
            workflow = ref
        elif ref:
            workflow = load_workflow(str(ref), error=UnsupportedFeature)
        else:
            option = self.options.get("inpaint_workflow" if edit.mask is not None else "edit_workflow")
            workflow = load_workflow(option or str(INPAINT_WORKFLOW if edit.mask is not None else EDIT_WORKFLOW),
                                     error=InvalidProviderError)
        problems = validate_workflow(workflow.graph, workflow.nodes)
        if "image" not in workflow.placeholders:
            problems.append("no {{image}} placeholder: the source image would be ignored.")
        if edit.mask is not None and "mask" not in workflow.placeholders and "image" not in workflow.placeholders:
            problems.append("no {{mask}} placeholder for the mask.")
        if problems:
            raise UnsupportedFeature(f"{self.alias}: workflow {workflow.name!r} cannot edit: " + " ".join(problems))
        uploaded = self._upload("/upload/image", "source.png", edit.image)
        name = uploaded
        if edit.mask is not None:
            name = self._upload("/upload/mask", "source-mask.png", edit.mask, original=uploaded)
        values = self._values(request, workflow)
        extra_values = {"image": name, "mask": name,
                        "denoise": DEFAULT_DENOISE if edit.strength is None else float(edit.strength)}
        values.update({key: value for key, value in extra_values.items() if key in workflow.placeholders})
        graph = fill_workflow(workflow.graph, values, workflow.nodes)
        prompt_id, entry = self._run_graph(graph, deadline, progress=progress)
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            raise execution_failure(status)
        refs = image_refs(entry)
        keep = _kept_batch_index(request)
        if keep is not None:  # image k of an earlier batch, made again: keep that one
            refs = [ref for ref in refs if ref[1] == keep]
        if not refs:
            raise ProviderBadRequest(f"workflow {workflow.name!r} finished without any image.")
        images = tuple(self._download(r, values=values, workflow=workflow, prompt_id=prompt_id, graph=graph)
                       for r in refs)
        return GenerationResult(images=images, model=values.get("checkpoint") or request.model or
                                f"workflow:{workflow.name}", request_id=prompt_id, usage={"images": len(images)})

    def _upload(self, path: str, filename: str, data: bytes, *, original: str | None = None) -> str:
        """The stored name ("subfolder/name") ComfyUI gives an uploaded input file."""
        unique = f"{uuid.uuid4().hex[:12]}-{filename}"
        form = {"type": "input", "subfolder": "blogimages", "overwrite": "true"}
        if original is not None:
            folder, _slash, base = original.rpartition("/")
            form["original_ref"] = json.dumps({"filename": base, "subfolder": folder, "type": "input"})
        body = self.call_json("POST", path, action=f"uploading {filename}", data=form,
                              files={"image": (unique, data, "image/png")}, describe=describe_comfy_error)
        if not isinstance(body, Mapping) or not body.get("name"):
            raise ProviderServerError(f"uploading {filename}: the answer has no name", response=str(body))
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else str(body["name"])


def _kept_batch_index(request: GenerationRequest) -> int | None:
    """Which image of the batch to keep, when one image of an earlier batch is asked again."""
    index, size = request.extra.get("batch_index"), request.extra.get("batch_size")
    if request.n != 1 or index in (None, "") or size in (None, ""):
        return None
    index, size = int(index), int(size)
    return index if 0 <= index < size and size > 1 else None


def _combo_options(spec: Any) -> list[Any]:
    # Old builds: [[choices...], {config}]; newer: ["COMBO", {"options": [choices...]}].
    if isinstance(spec, list) and spec and isinstance(spec[0], list):
        return spec[0]
    if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], Mapping):
        return list(spec[1].get("options") or [])
    raise ValueError("unknown input spec for ckpt_name")


def _remaining(deadline: float) -> float:
    # Never 0: requests treats a zero timeout as "fail at once" even for a quick answer.
    return max(deadline - time.monotonic(), 0.05)
