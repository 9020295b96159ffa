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

Progress is followed by polling `/history/{prompt_id}` (no WebSocket: it would need a
client dependency for no gain in a background job; the issue allows polling).

OPTIONS: base_url, workflow, checkpoint (default checkpoint), models (static list used when
the server cannot be asked), poll_interval (s, default 0.5), timeout (overall s, default
120), connect_timeout, max_n (default 4), defaults, max_concurrency, prices.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..exceptions import (
    InvalidProviderError,
    ProviderBadRequest,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    UnsupportedFeature,
)
from .base import MAX_SEED, Capabilities, EditRequest, GeneratedImage, GenerationRequest, GenerationResult
from .base import apply_defaults
from .http import HttpProvider, describe_error_payload, sniff_image_mime

logger = logging.getLogger("blogimages.providers.comfyui")

WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"
DEFAULT_WORKFLOW = WORKFLOWS_DIR / "txt2img.json"

#: Placeholder name → the type its value gets.
PLACEHOLDERS: dict[str, type] = {
    "prompt": str, "negative_prompt": str, "seed": int, "steps": int, "cfg": float,
    "width": int, "height": int, "checkpoint": str, "batch_size": int, "filename_prefix": str,
}
# Edits: the uploaded source's file name (with the mask in its alpha when there is one),
# the name of the file whose alpha is the mask (for LoadImageMask), the KSampler denoise.
PLACEHOLDERS.update({"image": str, "mask": str, "denoise": float})
EDIT_WORKFLOW = WORKFLOWS_DIR / "img2img.json"
INPAINT_WORKFLOW = WORKFLOWS_DIR / "inpaint.json"
DEFAULT_DENOISE = 0.75
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


# -- templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workflow:
    """A template as data: its name (for metadata and messages) and its API-format graph."""

    name: str
    graph: Mapping[str, Any]

    @property
    def node_map(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Placeholder → the (node id, input name) pairs it fills."""
        found: dict[str, list[tuple[str, str]]] = {}
        for name, exact, node_id, input_name in _placeholder_uses(self.graph):
            if exact:
                found.setdefault(name, []).append((node_id, input_name))
        return {name: tuple(uses) for name, uses in found.items()}

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(self.node_map)


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


def validate_workflow(graph: Any) -> list[str]:
    """Every problem that stops `graph` from working as a template; empty when it is fine.

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
        problems.append("no {{prompt}} placeholder: the prompt would be ignored.")
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


def fill_workflow(graph: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `graph` with every input that is exactly a placeholder named in `values`
    replaced by that value, cast to the placeholder's type. Substituted values are not
    scanned again, so text inside a prompt is never taken for a placeholder."""
    typed = {name: PLACEHOLDERS[name](value) for name, value in values.items() if name in PLACEHOLDERS}
    filled = {}
    for node_id, node in graph.items():
        node = copy.deepcopy(dict(node))
        node["inputs"] = _fill(node["inputs"], typed)
        filled[node_id] = node
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
            text = f"the workflow failed at {where}: {kind}: {data.get('exception_message', '').strip()}"
            # Out of memory may pass on a quieter server; anything else will fail the same way.
            error_cls = ProviderServerError if _TRANSIENT_EXCEPTIONS.search(kind) else ProviderBadRequest
            return error_cls(text, response=json.dumps(data, default=str))
        if event == "execution_interrupted":
            return ProviderServerError(
                f"the workflow was interrupted at node {data.get('node_id', '?')} ({data.get('node_type', '?')})"
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


class ComfyUIProvider(HttpProvider):
    display_name = "ComfyUI"

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        self.workflow_ref: str | None = self.options.get("workflow") or None
        self.checkpoint = str(self.options.get("checkpoint") or "")
        self.poll_interval = float(self.options.get("poll_interval", 0.5))
        self.max_n = int(self.options.get("max_n", 4))
        # ComfyUI routes progress events by client id; one per provider instance.
        self.client_id = uuid.uuid4().hex

    def check(self) -> list[str]:
        if is_workflow_name(self.workflow_ref):
            return []  # a registered row: checked by the admin form; system checks don't query
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
        )

    def validate(self, request: GenerationRequest, caps: Capabilities | None = None) -> None:
        caps = caps or self.capabilities(request.model)
        if request.extra.get("workflow"):  # the request's own template decides what it takes
            caps = self._capabilities_for(self._workflow_for(request).placeholders,
                                          models=caps.models, default_model=caps.default_model)
        super().validate(request, caps)

    def _capabilities_for(self, placeholders: frozenset[str], *, models: tuple[str, ...],
                          default_model: str) -> Capabilities:
        takes_checkpoint = "checkpoint" in placeholders
        return Capabilities(
            # A template with a fixed checkpoint takes no model choice.
            models=models if takes_checkpoint else (),
            default_model=default_model if takes_checkpoint else "",
            min_size=64,
            max_size=2048,
            size_multiple=8,
            max_n=self.max_n if "batch_size" in placeholders else 1,
            supports_negative_prompt="negative_prompt" in placeholders,
            supports_seed="seed" in placeholders,
            supports_steps="steps" in placeholders,
            max_steps=150,
            supports_guidance="cfg" in placeholders,
            # Edits run the shipped img2img / inpaint templates (or the request's own).
            supports_edit=True, supports_mask=True, supports_strength=True,
            output_formats=("png",),
            prices={key: Decimal(str(value)) for key, value in (self.options.get("prices") or {"*": 0}).items()},
        )

    @staticmethod
    def _ships(name: str) -> bool:
        return (WORKFLOWS_DIR / f"{name}.json").is_file()

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

    def _workflow_for(self, request: GenerationRequest) -> Workflow:
        ref = request.extra.get("workflow")
        if isinstance(ref, Workflow):
            return ref
        if ref:
            return load_workflow(str(ref), error=UnsupportedFeature)
        return load_workflow(self.workflow_ref, error=InvalidProviderError)

    # -- generation ---------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> GenerationResult:
        deadline = time.monotonic() + self.timeout
        request = apply_defaults(request, self.defaults)
        workflow = self._workflow_for(request)
        problems = validate_workflow(workflow.graph)
        if problems:
            error = UnsupportedFeature if request.extra.get("workflow") else InvalidProviderError
            raise error(f"{self.alias}: workflow {workflow.name!r} cannot run: " + " ".join(problems))
        values = self._values(request, workflow)
        prompt_id = self._submit(fill_workflow(workflow.graph, values), deadline)
        entry = self._wait(prompt_id, deadline)
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            raise execution_failure(status)
        refs = image_refs(entry)
        if not refs:
            raise ProviderBadRequest(
                f"workflow {workflow.name!r} finished without any image; its outputs: "
                f"{', '.join(entry.get('outputs') or {}) or 'none'}. End it with SaveImage or PreviewImage."
            )
        images = tuple(self._download(ref, values=values, workflow=workflow, prompt_id=prompt_id) for ref in refs)
        return GenerationResult(
            images=images,
            model=values.get("checkpoint") or request.model or f"workflow:{workflow.name}",
            request_id=prompt_id,
            usage={"images": len(images)},
        )

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
        values = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            # ComfyUI has no "random" seed value: pick one so it can be reported and reproduced.
            "seed": request.seed if request.seed is not None else random.randint(0, MAX_SEED),
            "steps": request.steps or DEFAULT_STEPS,
            "cfg": DEFAULT_CFG if request.guidance_scale is None else request.guidance_scale,
            "width": request.width,
            "height": request.height,
            "checkpoint": checkpoint,
            "batch_size": request.n,
            # A fresh prefix per run: ComfyUI would otherwise serve an identical graph from its
            # cache; the folder keeps our files together in ComfyUI's output directory.
            "filename_prefix": f"blogimages/{uuid.uuid4().hex[:12]}",
        }
        return {name: value for name, value in values.items() if name in used}

    def _submit(self, graph: Mapping[str, Any], deadline: float) -> str:
        body = self.call_json(
            "POST", "/prompt", action="queueing the workflow",
            json={"prompt": graph, "client_id": self.client_id},
            read_timeout=_remaining(deadline), describe=describe_comfy_error,
        )
        prompt_id = body.get("prompt_id") if isinstance(body, Mapping) else None
        if not prompt_id:
            raise ProviderServerError("queueing the workflow: the answer has no prompt_id", response=str(body))
        if body.get("node_errors"):
            # Queued, but some output nodes failed validation and will be skipped.
            logger.warning("provider %s: prompt %s queued with node errors: %s",
                           self.alias, prompt_id, describe_comfy_error(body))
        return str(prompt_id)

    def _wait(self, prompt_id: str, deadline: float) -> Mapping[str, Any]:
        """The history entry of `prompt_id` once it finished; it is `{}` until then."""
        while True:
            history = self.call_json("GET", f"/history/{prompt_id}", action="checking progress",
                                     read_timeout=min(self.listing_timeout, _remaining(deadline)))
            if not isinstance(history, Mapping):
                raise ProviderServerError("checking progress: /history answered something else than an object")
            entry = history.get(prompt_id)
            if isinstance(entry, Mapping) and entry:
                return entry
            if time.monotonic() + self.poll_interval >= deadline:
                self._cancel(prompt_id)
                raise ProviderTimeout(
                    f"ComfyUI did not finish prompt {prompt_id} within {self.timeout:g} s; it was cancelled"
                )
            time.sleep(self.poll_interval)

    def _cancel(self, prompt_id: str) -> None:
        """Take our prompt out of the queue, or stop it if it is running — and only ours:
        builds that ignore the prompt_id in /interrupt stop whatever runs."""
        try:
            queue = self.call_json("GET", "/queue", action="reading the queue", read_timeout=self.listing_timeout)
            running = [item for item in queue.get("queue_running") or () if isinstance(item, list)]
            if any(len(item) > 1 and item[1] == prompt_id for item in running):
                self.call("POST", "/interrupt", action="interrupting", json={"prompt_id": prompt_id},
                          read_timeout=self.listing_timeout)
            self.call("POST", "/queue", action="dequeuing", json={"delete": [prompt_id]},
                      read_timeout=self.listing_timeout)
        except (ProviderError, AttributeError) as exc:
            logger.warning("provider %s: could not cancel prompt %s: %s", self.alias, prompt_id, exc)

    def _download(self, ref: tuple[str, int, Mapping[str, Any]], *, values: Mapping[str, Any],
                  workflow: Workflow, prompt_id: str) -> GeneratedImage:
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
            **params,
            **{key: values[key] for key in ("checkpoint", "steps", "cfg") if key in values},
        }
        return GeneratedImage(data=data, mime_type=sniff_image_mime(data), seed=values.get("seed"), metadata=metadata)


    # -- edits ------------------------------------------------------------------------------

    def edit_image(self, edit: EditRequest) -> GenerationResult:
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
        problems = validate_workflow(workflow.graph)
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
        prompt_id = self._submit(fill_workflow(workflow.graph, values), deadline)
        entry = self._wait(prompt_id, deadline)
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            raise execution_failure(status)
        refs = image_refs(entry)
        if not refs:
            raise ProviderBadRequest(f"workflow {workflow.name!r} finished without any image.")
        images = tuple(self._download(r, values=values, workflow=workflow, prompt_id=prompt_id) for r in refs)
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
