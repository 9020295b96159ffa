"""comfy_workflows.py: registered ComfyUI workflows reach the provider as data, through the
one generation path, against a loopback server speaking ComfyUI's HTTP API."""

from __future__ import annotations

import pytest

from blogimages import comfy_workflows, generation
from blogimages.exceptions import UnsupportedFeature
from blogimages.models import ComfyWorkflow, ImageOutput, ImagePrompt, OutputStatus
from blogimages.providers import GenerationRequest, get_provider
from blogimages.providers.comfyui import Workflow
from tests.blogimages.providers.test_comfyui import (
    CHECKPOINTS,
    history_after,
    history_entry,
    png,
    queue_ok,
    requests_to,
    saved,
    serve_view,
    shipped,
)
from tests.factories import ImageSettingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def comfy(httpserver, settings):
    """A `comfy` provider alias pointed at the loopback ComfyUI, answering one run."""
    httpserver.expect_request("/models/checkpoints", method="GET").respond_with_json(CHECKPOINTS)
    queue_ok(httpserver)
    history_after(httpserver, 0, history_entry({"9": saved("a.png")}))
    serve_view(httpserver, {"a.png": png()})

    def configure(**options):
        settings.BLOGIMAGES_PROVIDERS = {"comfy": {
            "BACKEND": "blogimages.providers.comfyui.ComfyUIProvider",
            "OPTIONS": {"base_url": httpserver.url_for("/").rstrip("/"), "checkpoint": CHECKPOINTS[0],
                        "poll_interval": 0.01, "timeout": 5, **options},
        }}
        settings.BLOGIMAGES_DEFAULT_PROVIDER = "comfy"
        return httpserver

    return configure


def karras_row(name: str = "karras-portrait") -> ComfyWorkflow:
    graph = shipped()
    graph["3"]["inputs"]["scheduler"] = "karras"
    return ComfyWorkflow.objects.create(name=name, workflow=graph)


def sent_graph(server) -> dict:
    return requests_to(server, "/prompt")[0].get_json()["prompt"]


def test_a_setting_naming_a_registered_workflow_runs_its_graph_and_stores_only_its_name(comfy):
    server = comfy()
    karras_row()
    setting = ImageSettingFactory(provider="comfy", width=512, height=512,
                                  extra_settings={"workflow": "karras-portrait"})

    [output] = generation.generate(prompt="a lighthouse", setting=setting)

    assert output.status == OutputStatus.SUCCEEDED, output.error
    assert sent_graph(server)["3"]["inputs"]["scheduler"] == "karras"
    stored = ImageOutput.objects.get(pk=output.pk)
    assert stored.setting_snapshot["extra"] == {"workflow": "karras-portrait"}  # the name, never the graph


def test_the_provider_option_can_name_a_registered_workflow(comfy):
    server = comfy(workflow="karras-portrait")
    karras_row()

    [output] = generation.generate(prompt="a lighthouse", provider="comfy", overrides={"width": 512, "height": 512})

    assert output.status == OutputStatus.SUCCEEDED, output.error
    assert sent_graph(server)["3"]["inputs"]["scheduler"] == "karras"
    assert "workflow" not in output.setting_snapshot["extra"]


def test_a_row_edited_after_queueing_runs_as_edited(comfy):
    # Queued images name their workflow; the row is read when the image is made.
    server = comfy()
    row = karras_row()
    setting = ImageSettingFactory(provider="comfy", width=512, height=512,
                                  extra_settings={"workflow": "karras-portrait"})
    plan = generation.build_request(prompt_text="x", setting=setting)
    outputs = generation.queue_outputs(plan, prompt=ImagePrompt.objects.create(description="x"), setting=setting)
    row.workflow["3"]["inputs"]["scheduler"] = "exponential"
    row.save()

    generation.execute(outputs, plan=plan)

    assert sent_graph(server)["3"]["inputs"]["scheduler"] == "exponential"


def test_an_unregistered_name_is_refused_before_anything_is_stored(comfy):
    server = comfy()
    setting = ImageSettingFactory(provider="comfy", width=512, height=512, extra_settings={"workflow": "nope"})

    with pytest.raises(UnsupportedFeature, match="No ComfyUI workflow named 'nope'"):
        generation.generate(prompt="x", setting=setting)
    assert ImageOutput.objects.count() == 0
    assert requests_to(server, "/prompt") == []


def test_attach_and_detach(comfy, recorder):
    comfy()
    karras_row()
    backend = get_provider("comfy")
    request = GenerationRequest(prompt="x", width=512, height=512, extra={"workflow": "karras-portrait"})

    attached = comfy_workflows.attach(backend, request)

    assert isinstance(attached.extra["workflow"], Workflow)
    assert attached.extra["workflow"].graph["3"]["inputs"]["scheduler"] == "karras"
    assert comfy_workflows.detach(attached, named="karras-portrait") == request
    # Paths, unknown names and other backends pass through untouched.
    for ref in ("/srv/flows/x.json", "unknown"):
        other = GenerationRequest(prompt="x", width=512, height=512, extra={"workflow": ref})
        assert comfy_workflows.attach(backend, other) is other
    assert comfy_workflows.attach(recorder, request) is request
