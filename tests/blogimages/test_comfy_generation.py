"""ComfyUI through the one generation path (rows, files, sidecars, CLI, admin, checks),
against the loopback ComfyUI of tests/blogimages/providers/comfy_standin.py."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from PIL import Image

from blogimages import generation
from blogimages.comfy_workflows import check_registered
from blogimages.forms_admin import ComfyWorkflowForm
from blogimages.imaging import provenance
from blogimages.models import ComfyWorkflow, ImageOutput, ImageSetting, OutputStatus
from blogimages.providers import get_provider
from blogimages.providers.base import MAX_SEED_64
from blogimages.storage import get_storage
from tests.blogimages.providers.comfy_standin import Behaviour, FakeComfy, comfy_providers
from tests.blogimages.providers.test_comfyui_server import OPEN_WEBUI_NODES, exported_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    server = FakeComfy().start()
    settings.BLOGIMAGES_PROVIDERS = comfy_providers(server, timeout=10)
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "comfy"
    yield server
    server.stop()


def read(name: str) -> bytes:
    with get_storage().open(name, "rb") as handle:
        return handle.read()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def test_a_batch_records_comfyuis_seed_and_batch_index_and_image_k_is_made_again(fake):
    first, second = generation.generate(prompt="a lighthouse", provider="comfy", n=2,
                                        overrides={"seed": 42, "width": 64, "height": 64})

    assert (first.status, second.status) == (OutputStatus.SUCCEEDED, OutputStatus.SUCCEEDED)
    assert (second.seed, second.provider_metadata["batch_index"], second.provider_metadata["batch_size"]) == (42, 1, 2)
    assert second.setting_snapshot["seed"] == 42
    assert (second.setting_snapshot["extra"]["batch_index"], second.setting_snapshot["extra"]["batch_size"]) == (1, 2)

    # Made again from what image 2 recorded (a retry, a re-delivered task): the same pixels.
    plan = generation.Plan(provider=get_provider("comfy"),
                           request=generation.request_from_snapshot(second.setting_snapshot))
    [again] = generation.queue_outputs(plan, prompt=second.prompt)
    generation.execute([again])
    again.refresh_from_db()
    assert again.status == OutputStatus.SUCCEEDED
    assert pixels(read(again.file.name)) == pixels(read(second.file.name))
    assert pixels(read(again.file.name)) != pixels(read(first.file.name))


def test_the_stored_png_keeps_comfyuis_graph_next_to_our_provenance_and_the_sidecar_has_it(fake):
    [output] = generation.generate(prompt="a lighthouse", provider="comfy",
                                   overrides={"seed": 3, "width": 64, "height": 64})

    sent = fake.calls("POST", "/prompt")[0]["prompt"]
    data = read(output.file.name)
    with Image.open(io.BytesIO(data)) as png:
        assert json.loads(png.text["prompt"]) == sent  # drags back into ComfyUI
    facts = provenance.read_provenance(data)
    assert facts["prompt"] == "a lighthouse" and facts["provider"] == "comfy" and facts["seed"] == 3
    sidecar = json.loads(read(output.sidecar.name))
    assert sidecar["provider_metadata"]["comfyui_prompt"] == sent


def test_64_bit_seeds_are_kept_exactly_by_rows_settings_and_the_cli(fake, capsys):
    [output] = generation.generate(prompt="a lighthouse", provider="comfy",
                                   overrides={"seed": MAX_SEED_64, "width": 64, "height": 64})
    assert ImageOutput.objects.get(pk=output.pk).seed == MAX_SEED_64
    assert ImageOutput.objects.filter(seed=MAX_SEED_64).count() == 1

    setting = ImageSetting(name="comfy-max", provider="comfy", seed=MAX_SEED_64)
    setting.full_clean()
    setting.save()
    assert ImageSetting.objects.get(pk=setting.pk).seed == MAX_SEED_64
    for bad in (MAX_SEED_64 + 1, -5):
        with pytest.raises(ValidationError):
            ImageSetting(name=f"bad{bad}", provider="comfy", seed=bad).full_clean()

    call_command("generate_image", "a lighthouse", "--provider", "comfy", "--size", "64x64",
                 "--seed", str(MAX_SEED_64 - 1), "--raw")
    printed = json.loads(capsys.readouterr().out)
    assert printed["images"][0]["seed"] == MAX_SEED_64 - 1
    assert fake.calls("POST", "/prompt")[-1]["prompt"]["3"]["inputs"]["seed"] == MAX_SEED_64 - 1


def test_minus_one_asks_for_a_random_seed_which_is_then_fixed_and_recorded(fake):
    [output] = generation.generate(prompt="a lighthouse", provider="comfy",
                                   overrides={"seed": -1, "width": 64, "height": 64})
    sent = fake.calls("POST", "/prompt")[0]["prompt"]["3"]["inputs"]["seed"]
    assert 0 <= sent <= MAX_SEED_64 and output.seed == sent


def test_a_cancel_pressed_in_comfyui_fails_the_image_as_cancelled_not_retried(fake):
    fake.behave(Behaviour(outcome="interrupt"))

    [output] = generation.generate(prompt="a lighthouse", provider="comfy", overrides={"width": 64, "height": 64})

    assert output.status == OutputStatus.FAILED
    assert "cancelled on the ComfyUI server" in output.error
    assert output.provider_metadata["error"] == {"type": "ProviderCancelled", "retryable": False, "code": "cancelled"}
    assert not output.file.name


def test_an_exported_workflow_registered_with_a_node_map_generates(fake):
    ComfyWorkflow.objects.create(name="exported", workflow=exported_graph(), nodes=OPEN_WEBUI_NODES)

    [output] = generation.generate(prompt="a lighthouse", provider="comfy",
                                   overrides={"width": 64, "height": 64, "seed": 9, "extra": {"workflow": "exported"}})

    assert output.status == OutputStatus.SUCCEEDED, output.error
    sent = fake.calls("POST", "/prompt")[0]["prompt"]
    assert sent["6"]["inputs"]["text"] == "a lighthouse" and sent["3"]["inputs"]["seed"] == 9
    assert output.setting_snapshot["extra"]["workflow"] == "exported"


def test_the_admin_form_guesses_the_node_map_of_an_exported_graph_and_checks_it_against_the_server(fake):
    form = ComfyWorkflowForm(data={"name": "exported", "workflow": json.dumps(exported_graph()), "nodes": "",
                                   "options": "{}"})
    assert not form.is_valid()
    assert "this map was guessed" in str(form.errors["nodes"])
    guessed = json.loads(form.data["nodes"])
    assert guessed["prompt"] == "6.text" and guessed["seed"] == "3.seed"

    confirmed = ComfyWorkflowForm(data={**form.data, "nodes": json.dumps(guessed)})
    assert confirmed.is_valid(), confirmed.errors
    confirmed.save()

    graph = exported_graph()
    graph["4"]["inputs"]["ckpt_name"] = "mapped-so-each-run-sets-it.safetensors"
    graph["11"] = {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1],
                                                          "lora_name": "gone.safetensors",
                                                          "strength_model": 1, "strength_clip": 1}}
    stale = ComfyWorkflowForm(data={"name": "stale", "workflow": json.dumps(graph), "nodes": json.dumps(guessed),
                                    "options": '{"max_size": 1024}'})
    assert not stale.is_valid()
    [problem] = stale.errors["workflow"]
    assert problem == ("on comfy: node 11 (LoraLoader) input 'lora_name': 'gone.safetensors' is not on the server; "
                       "it lists: detail.safetensors.")


def test_manage_py_check_reports_registered_workflows_the_server_cannot_run(fake):
    graph = exported_graph()
    graph["10"] = {"class_type": "FancyUpscaler", "inputs": {}}
    ComfyWorkflow.objects.create(name="custom-nodes", workflow=graph, nodes=OPEN_WEBUI_NODES)

    problems = check_registered()

    assert problems == ["ComfyUI workflow 'custom-nodes': on comfy: node 10: the server has no node class "
                        "'FancyUpscaler' (a custom node that is not installed?)."]


def test_a_registered_workflows_size_limits_are_what_validation_allows(fake):
    ComfyWorkflow.objects.create(name="sdxl-only", workflow=exported_graph(), nodes=OPEN_WEBUI_NODES,
                                 options={"min_size": 512, "max_size": 1024, "size_multiple": 64})

    with pytest.raises(ValueError, match="512 to 1024 px a side in steps of 64"):
        generation.build_request(prompt_text="x", provider="comfy",
                                 overrides={"width": 100, "height": 100, "extra": {"workflow": "sdxl-only"}})
    plan = generation.build_request(prompt_text="x", provider="comfy",
                                    overrides={"width": 640, "height": 640, "extra": {"workflow": "sdxl-only"}})
    assert plan.request.size == "640x640"
    assert replace(plan.request).extra["workflow"] == "sdxl-only"
