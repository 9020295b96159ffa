"""Registered ComfyUI workflows (ComfyWorkflow rows), handed to the ComfyUI provider as data.

The provider knows no database. A request that names a registered workflow — in its
`extra["workflow"]`, or through the provider's `workflow` option — reaches the provider with
the row's graph attached (`attach`); what is stored names the workflow and never carries
its graph (`detach`). A name without a row is left alone: the provider then looks for a
shipped template of that name, or says it knows none.
"""

from __future__ import annotations

import json
from dataclasses import replace

from .exceptions import InvalidProviderError, ProviderError
from .models import ComfyWorkflow
from .providers import BaseProvider, GenerationRequest, providers
from .providers.comfyui import ComfyUIProvider, Workflow, is_workflow_name, object_info_problems, validate_workflow


def registered(name: str) -> Workflow | None:
    """The workflow registered under `name`, as data, or None."""
    row = ComfyWorkflow.objects.filter(name=name).first()
    if row is None:
        return None
    graph = json.loads(row.workflow) if isinstance(row.workflow, str) else row.workflow
    return Workflow(name=name, graph=graph, nodes=row.nodes or {}, options=row.options or {})


def attach(backend: BaseProvider, request: GenerationRequest) -> GenerationRequest:
    """The request to send `backend`: a registered workflow it names comes along as data."""
    if not isinstance(backend, ComfyUIProvider):
        return request
    ref = request.extra.get("workflow") or backend.workflow_ref
    if not isinstance(ref, str) or not is_workflow_name(ref):
        return request
    workflow = registered(ref)
    if workflow is None:
        return request
    return replace(request, extra={**request.extra, "workflow": workflow})


def detach(request: GenerationRequest, *, named: str | None) -> GenerationRequest:
    """The request as stored: the workflow by the name it was asked for (`named`), no graph."""
    if not isinstance(request.extra.get("workflow"), Workflow):
        return request
    extra = dict(request.extra)
    if named:
        extra["workflow"] = named
    else:
        del extra["workflow"]
    return replace(request, extra=extra)


def comfy_backends() -> list[ComfyUIProvider]:
    """Every configured ComfyUI provider."""
    found = []
    for alias in providers.aliases():
        try:
            backend = providers[alias]
        except InvalidProviderError:
            continue
        if isinstance(backend, ComfyUIProvider):
            found.append(backend)
    return found


def server_problems(graph, nodes=None) -> list[str]:
    """What each reachable ComfyUI server says cannot run in `graph` (missing node classes,
    values out of range, model names it does not list); servers that cannot be asked right
    now are skipped — the graph is judged again when it runs."""
    problems = []
    for backend in comfy_backends():
        try:
            info = backend.object_info()
        except ProviderError:
            continue
        problems += [f"on {backend.alias}: {problem}" for problem in object_info_problems(graph, info, nodes)]
    return problems


def check_registered() -> list[str]:
    """Problems of every registered workflow, for `manage.py check`."""
    problems = []
    for row in ComfyWorkflow.objects.order_by("name"):
        graph = json.loads(row.workflow) if isinstance(row.workflow, str) else row.workflow
        found = validate_workflow(graph, row.nodes) or server_problems(graph, row.nodes)
        problems += [f"ComfyUI workflow {row.name!r}: {problem}" for problem in found]
    return problems
