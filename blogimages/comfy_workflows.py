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

from .models import ComfyWorkflow
from .providers import BaseProvider, GenerationRequest
from .providers.comfyui import ComfyUIProvider, Workflow, is_workflow_name


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
