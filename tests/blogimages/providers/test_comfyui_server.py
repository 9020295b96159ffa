"""The ComfyUI backend against the loopback ComfyUI of comfy_standin (its queue, history,
interrupt, view and object_info as the real server keeps them), for the defects seen on a
real ComfyUI 0.3.64: lost status checks, uncancelled prompts, batch seeds, 64-bit seeds,
outside interrupts, authentication, size limits and exported workflows."""

from __future__ import annotations

import base64
import copy
import io
import json

import pytest
from PIL import Image

from blogimages.exceptions import ProviderAuthError, ProviderCancelled, ProviderTimeout, UnsupportedFeature
from blogimages.providers.base import MAX_SEED_64, GenerationRequest
from blogimages.providers.comfyui import (
    DEFAULT_WORKFLOW,
    ComfyUIProvider,
    Workflow,
    guess_node_map,
    object_info_problems,
    parse_node_map,
    validate_workflow,
)
from tests.celery_worker import wait_until

from .comfy_standin import CHECKPOINTS, OBJECT_INFO, Behaviour, FakeComfy, pixels_for


@pytest.fixture
def fake():
    server = FakeComfy().start()
    yield server
    server.stop()


@pytest.fixture
def make_provider(fake):
    made = []

    def make(server: FakeComfy | None = None, **options) -> ComfyUIProvider:
        server = server or fake
        options = {"base_url": server.url, "checkpoint": CHECKPOINTS[0], "poll_interval": 0.01, "timeout": 10,
                   **options}
        provider = ComfyUIProvider(alias="comfyui", options=options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def request(**fields) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse at dusk", "width": 64, "height": 64, **fields})


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def exported_graph() -> dict:
    """The default graph as ComfyUI's "Export (API)" writes it: plain values, no placeholders."""
    return {
        "3": {"class_type": "KSampler", "_meta": {"title": "KSampler"}, "inputs": {
            "seed": 156680208700286, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "_meta": {"title": "Load Checkpoint"},
              "inputs": {"ckpt_name": CHECKPOINTS[1]}},
        "5": {"class_type": "EmptyLatentImage", "_meta": {"title": "Empty Latent Image"},
              "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "_meta": {"title": "CLIP Text Encode (Prompt)"},
              "inputs": {"text": "beautiful scenery nature glass bottle landscape", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "_meta": {"title": "CLIP Text Encode (Prompt)"},
              "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "_meta": {"title": "VAE Decode"},
              "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "_meta": {"title": "Save Image"},
              "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


OPEN_WEBUI_NODES = {"prompt": "6.text", "negative_prompt": "7.text", "seed": "3.seed", "steps": "3.steps",
                    "cfg": "3.cfg", "width": "5.width", "height": "5.height", "batch_size": "5.batch_size",
                    "checkpoint": "4.ckpt_name"}


# -- status checks and cancelling --------------------------------------------------------------


def test_failed_status_checks_are_asked_again_until_the_prompt_finishes(fake, make_provider):
    provider = make_provider(status_timeout=0.2)
    fake.stall_s = 0.6  # longer than one status check may take: a read timeout
    fake.history_faults = ["500", "stall", "500"]

    result = provider.run(request())

    assert len(result.images) == 1
    assert len(fake.calls("GET", f"/history/{result.request_id}")) >= 4
    assert fake.calls("POST", "/interrupt") == []


def test_a_prompt_given_up_on_is_cancelled_even_when_every_status_check_failed(fake, make_provider):
    provider = make_provider(timeout=0.6, status_timeout=0.1)
    fake.behave(Behaviour(hold=True))
    fake.history_faults = ["500"] * 10_000

    with pytest.raises(ProviderTimeout, match="it was cancelled; the last status check failed") as caught:
        provider.run(request())

    sent = fake.calls("POST", "/prompt")[0]
    assert fake.calls("POST", "/interrupt") == [{"prompt_id": sent["prompt_id"]}]
    assert fake.calls("POST", "/queue") == [{"delete": [sent["prompt_id"]]}]
    # The server really stopped it: it ends in the history as interrupted, nothing runs on.
    fake.history_faults = []
    entry = _wait_for_history(fake, sent["prompt_id"])
    assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
    assert caught.value.retryable


def test_a_permanent_failure_while_waiting_still_cancels_the_prompt(fake, make_provider):
    provider = make_provider()
    fake.behave(Behaviour(hold=True))
    # The proxy's session runs out mid-run: permanent, and the prompt would run on unseen.
    fake.history_faults = ["401"]

    with pytest.raises(ProviderAuthError):
        provider.run(request())

    sent = fake.calls("POST", "/prompt")[0]
    assert fake.calls("POST", "/queue") == [{"delete": [sent["prompt_id"]]}]
    assert _never_finishes(fake, sent["prompt_id"])


def test_a_prompt_that_starts_while_being_cancelled_is_still_stopped(fake, make_provider):
    provider = make_provider()
    fake.behave(Behaviour(hold=True))
    fake.history_faults = ["401"]
    # Seen pending, it starts running before the delete lands: only a look after the delete
    # can tell that it needs an interrupt.
    fake.start_before_delete = True

    with pytest.raises(ProviderAuthError):
        provider.run(request())

    sent = fake.calls("POST", "/prompt")[0]
    assert fake.calls("POST", "/interrupt") == [{"prompt_id": sent["prompt_id"]}]
    assert _never_finishes(fake, sent["prompt_id"])


def _never_finishes(fake: FakeComfy, prompt_id: str) -> bool:
    """Once nothing of ours is queued or running: it was dequeued, or stopped mid-run."""
    def idle() -> bool:
        with fake.lock:
            return not ((fake.running and fake.running.prompt_id == prompt_id) or any(
                item.prompt_id == prompt_id for item in fake.pending))

    # Polled by the clock: the stand-in's worker leaves fake._wake set while it runs a
    # prompt, so waits on that event return at once.
    wait_until(idle, timeout=5, what=f"{prompt_id} neither queued nor running")
    with fake.lock:
        entry = fake.history.get(prompt_id)
    return entry is None or entry["status"]["messages"][-1][0] == "execution_interrupted"


def _wait_for_history(fake: FakeComfy, prompt_id: str) -> dict:
    fake._wake.set()
    wait_until(lambda: prompt_id in fake.history, timeout=5, what=f"{prompt_id} in the history")
    with fake.lock:
        return fake.history[prompt_id]


def test_a_cancel_pressed_in_comfyui_is_a_permanent_cancelled(fake, make_provider):
    provider = make_provider()
    fake.behave(Behaviour(outcome="interrupt"))

    with pytest.raises(ProviderCancelled, match="cancelled on the ComfyUI server at node 3 \\(KSampler\\)") as caught:
        provider.run(request())

    assert not caught.value.retryable
    assert caught.value.code == "cancelled"


def test_an_error_history_with_completed_false_names_the_node(fake, make_provider):
    provider = make_provider()
    fake.behave(Behaviour(outcome="error", exception_type="ValueError", exception_message="bad latent", node="5"))

    with pytest.raises(Exception, match="node 5 \\(EmptyLatentImage\\): ValueError: bad latent") as caught:
        provider.run(request())
    assert not caught.value.retryable


def test_node_errors_from_validation_name_the_node(fake, make_provider):
    provider = make_provider(checkpoint="missing.safetensors", models=["missing.safetensors"])
    provider._listings["checkpoints"] = (float("inf"), ("missing.safetensors",))

    with pytest.raises(Exception, match="node 4 \\(CheckpointLoaderSimple\\): Value not in list"):
        provider.run(request())


# -- seeds ----------------------------------------------------------------------------------------


def test_a_batch_is_one_seed_with_comfyuis_batch_index_per_image(fake, make_provider):
    provider = make_provider()

    result = provider.run(request(n=2, seed=42))

    assert [image.seed for image in result.images] == [42, 42]
    assert [image.metadata["batch_index"] for image in result.images] == [0, 1]
    assert [image.metadata["batch_size"] for image in result.images] == [2, 2]
    assert pixels(result.images[1].data) == pixels(pixels_for(42, 1, 64, 64))


def test_image_k_of_a_batch_is_made_again_from_its_seed_and_index(fake, make_provider):
    provider = make_provider()
    batch = provider.run(request(n=2, seed=42))

    again = provider.run(request(seed=42, extra={"batch_index": 1, "batch_size": 2}))
    seed_43 = provider.run(request(seed=43))

    assert len(again.images) == 1
    assert pixels(again.images[0].data) == pixels(batch.images[1].data)
    assert pixels(seed_43.images[0].data) != pixels(batch.images[1].data)
    assert fake.calls("POST", "/prompt")[1]["prompt"]["5"]["inputs"]["batch_size"] == 2


def test_seeds_go_up_to_two_to_the_64_minus_one(fake, make_provider):
    provider = make_provider()

    result = provider.run(request(seed=MAX_SEED_64))

    assert result.images[0].seed == MAX_SEED_64
    assert fake.calls("POST", "/prompt")[0]["prompt"]["3"]["inputs"]["seed"] == MAX_SEED_64
    with pytest.raises(UnsupportedFeature, match=f"seed must be between 0 and {MAX_SEED_64}"):
        provider.run(request(seed=MAX_SEED_64 + 1))


def test_a_random_seed_is_drawn_from_the_whole_64_bit_range(make_provider):
    caps = make_provider().capabilities()
    assert caps.max_seed == MAX_SEED_64


# -- the file ---------------------------------------------------------------------------------


def test_the_downloaded_png_carries_comfyuis_graph_and_the_metadata_the_filled_graph(fake, make_provider):
    provider = make_provider()

    image = provider.run(request(seed=7)).images[0]

    sent = fake.calls("POST", "/prompt")[0]["prompt"]
    with Image.open(io.BytesIO(image.data)) as png:
        assert json.loads(png.text["prompt"]) == sent
    assert image.metadata["comfyui_prompt"] == sent


# -- authentication, timeout, sizes -----------------------------------------------------------


@pytest.mark.parametrize(("auth", "header"), [
    ("s3cret-token-123", "Bearer s3cret-token-123"),
    ("artist:pa55word", "Basic " + base64.b64encode(b"artist:pa55word").decode()),
])
def test_a_comfyui_behind_a_proxy_is_reached_with_its_credentials(make_provider, auth, header):
    server = FakeComfy(auth=header).start()
    try:
        assert len(make_provider(server, auth=auth).run(request()).images) == 1
        with pytest.raises(ProviderAuthError):
            make_provider(server).run(request())
        assert auth.split(":")[-1] not in repr(make_provider(server, auth=auth).options)
    finally:
        server.stop()


def test_a_templates_own_size_limits_replace_the_default_ones(make_provider):
    provider = make_provider()
    workflow = Workflow(name="sdxl", graph=json.loads(DEFAULT_WORKFLOW.read_text()),
                        options={"min_size": 512, "max_size": 1024, "size_multiple": 64})

    provider.validate(request(width=640, height=960, extra={"workflow": workflow}))
    with pytest.raises(UnsupportedFeature, match="512 to 1024 px a side in steps of 64"):
        provider.validate(request(width=600, height=600, extra={"workflow": workflow}))
    # The provider's options set the limits of its default template.
    small = make_provider(max_size=768)
    assert not small.capabilities().allows_size(1024, 1024)
    assert small.capabilities().allows_size(768, 512)


# -- exported workflows with a node map --------------------------------------------------------


def test_an_exported_workflow_runs_as_it_is_with_an_open_webui_node_map(fake, make_provider):
    provider = make_provider()
    workflow = Workflow(name="exported", graph=exported_graph(), nodes=OPEN_WEBUI_NODES)

    result = provider.run(request(n=2, seed=5, negative_prompt="blurry", steps=12,
                                  extra={"workflow": workflow}))

    sent = fake.calls("POST", "/prompt")[0]["prompt"]
    assert sent["6"]["inputs"]["text"] == "a lighthouse at dusk"
    assert sent["7"]["inputs"]["text"] == "blurry"
    assert (sent["3"]["inputs"]["seed"], sent["3"]["inputs"]["steps"]) == (5, 12)
    assert (sent["5"]["inputs"]["width"], sent["5"]["inputs"]["batch_size"]) == (64, 2)
    assert sent["4"]["inputs"]["ckpt_name"] == CHECKPOINTS[0]
    assert len(result.images) == 2
    assert workflow.graph["6"]["inputs"]["text"].startswith("beautiful")  # the registered graph is untouched


def test_open_webuis_list_shape_reads_the_same():
    listed = [{"type": "prompt", "key": "text", "node_ids": ["6"]}, {"type": "model", "node_ids": ["4"]},
              {"type": "seed", "key": "seed", "node_ids": ["3"]}]
    assert parse_node_map(listed) == {"prompt": (("6", "text"),), "checkpoint": (("4", "ckpt_name"),),
                                      "seed": (("3", "seed"),)}


def test_the_standard_graph_gets_its_node_map_guessed():
    guessed = guess_node_map(exported_graph())
    assert {key: guessed[key] for key in OPEN_WEBUI_NODES} == OPEN_WEBUI_NODES
    assert guessed["filename_prefix"] == "9.filename_prefix"


def test_a_node_map_pointing_nowhere_is_reported():
    problems = validate_workflow(exported_graph(), {"prompt": "6.text", "seed": "30.seed", "steps": "3.stepz",
                                                    "cfg": "3.model"})
    assert "node map 'seed': node 30 is not in the workflow." in problems
    assert any("node 3 (KSampler) has no input 'stepz'" in p for p in problems)
    assert any("input 'model' of node 3 is a link" in p for p in problems)
    assert validate_workflow(exported_graph(), OPEN_WEBUI_NODES) == []
    assert any("no {{prompt}} placeholder" in p for p in validate_workflow(exported_graph()))


def test_object_info_finds_missing_nodes_unlisted_models_and_values_out_of_range(fake, make_provider):
    graph = exported_graph()
    graph["4"]["inputs"]["ckpt_name"] = "not-there.safetensors"
    graph["3"]["inputs"]["steps"] = 0
    graph["10"] = {"class_type": "FancyUpscaler", "inputs": {}}

    problems = object_info_problems(graph, make_provider().object_info())

    assert any("node 4 (CheckpointLoaderSimple) input 'ckpt_name': 'not-there.safetensors' is not on the server"
               in p for p in problems)
    assert any("node 3 (KSampler) input 'steps': 0 is outside 1 … 10000" in p for p in problems)
    assert any("no node class 'FancyUpscaler'" in p for p in problems)
    assert object_info_problems(exported_graph(), OBJECT_INFO) == []


def test_models_come_from_the_folders_of_the_templates_loaders(make_provider):
    graph = exported_graph()
    graph["11"] = {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1],
                                                          "lora_name": "detail.safetensors",
                                                          "strength_model": 1, "strength_clip": 1}}
    graph["12"] = {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors",
                                                          "weight_dtype": "default"}}

    listed = make_provider().models_for(Workflow(name="x", graph=copy.deepcopy(graph)))

    assert listed == {"checkpoints": tuple(CHECKPOINTS), "loras": ("detail.safetensors",),
                      "diffusion_models": ("flux1-dev.safetensors",)}


# -- live progress -----------------------------------------------------------------------------


def test_steps_come_from_comfyuis_websocket_for_our_prompt_only(fake, make_provider):
    provider = make_provider()
    fake.behave(Behaviour(steps=4))
    seen = []

    provider.run(request(), progress=lambda value, maximum, queue_position=None, source="": seen.append(
        (value, maximum, queue_position, source)))

    steps = [entry for entry in seen if entry[1]]
    assert steps == [(1, 4, None, "websocket"), (2, 4, None, "websocket"), (3, 4, None, "websocket"),
                     (4, 4, None, "websocket")]
    assert len(fake.ws_connects) == 1
    assert fake.calls("POST", "/prompt")[0]["client_id"] == fake.ws_connects[0]


def test_a_prompt_waiting_behind_another_reports_its_place_in_the_queue(fake, make_provider):
    import threading

    import requests as http

    provider = make_provider()
    fake.behave(Behaviour(hold=True), Behaviour(steps=2))
    # Someone else's prompt runs first, held until the test lets it go.
    http.post(f"{fake.url}/prompt", json={"prompt": json.loads(DEFAULT_WORKFLOW.read_text().replace(
        '"{{prompt}}"', '"theirs"').replace('"{{negative_prompt}}"', '""').replace('"{{seed}}"', "1").replace(
        '"{{steps}}"', "2").replace('"{{cfg}}"', "7").replace('"{{width}}"', "64").replace('"{{height}}"', "64").replace(
        '"{{checkpoint}}"', json.dumps(CHECKPOINTS[0])).replace('"{{batch_size}}"', "1").replace(
        '"{{filename_prefix}}"', '"theirs"'))}, timeout=5)
    waiting = threading.Event()
    seen = []

    def report(value, maximum, queue_position=None, source=""):
        seen.append((value, maximum, queue_position))
        if queue_position == 1:
            waiting.set()

    done = []
    runner = threading.Thread(target=lambda: done.append(provider.run(request(), progress=report)))
    runner.start()
    assert waiting.wait(10), seen
    fake.release()
    runner.join(10)

    assert done and len(done[0].images) == 1
    assert (0, 0, 1) in seen and (2, 2, None) in seen


def test_without_a_websocket_the_run_is_followed_by_polling(fake, make_provider):
    fake.websocket_enabled = False
    provider = make_provider()
    seen = []

    result = provider.run(request(), progress=lambda *args, **kwargs: seen.append(kwargs.get("source")))

    assert len(result.images) == 1
    assert fake.ws_connects == []
    assert len(fake.calls("GET", f"/history/{result.request_id}")) >= 1


# -- previews: ComfyUI's binary /ws frames as partial images ---------------------------------------


def test_preview_frames_become_partial_images_spread_over_the_steps(fake, make_provider):
    provider = make_provider()
    fake.behave(Behaviour(steps=8))
    partials, steps = [], []

    result = provider.run(request(), on_partial=partials.append, partial_images=3,
                          progress=lambda value, maximum, queue_position=None, source="": steps.append(value))

    assert provider.capabilities().max_partial_images == 3
    sent = {step: image for _client, step, image in fake.previews_sent}
    assert sorted(sent) == list(range(1, 9))  # one frame per step reached us
    # Three of eight, after steps 2, 4 and 6, passed on as they were.
    assert [(p.index, p.metadata["step"], p.mime_type) for p in partials] == [
        (0, 2, "image/jpeg"), (1, 4, "image/jpeg"), (2, 6, "image/jpeg")]
    assert [p.data for p in partials] == [sent[2], sent[4], sent[6]]
    assert len(result.images) == 1 and 8 in steps  # progress still reported alongside


def test_png_previews_and_fewer_asked_for(fake, make_provider):
    fake.preview_format = "PNG"
    fake.behave(Behaviour(steps=4))
    partials = []
    make_provider().run(request(), on_partial=partials.append, partial_images=1)
    [only] = partials
    assert (only.index, only.metadata["step"], only.mime_type) == (0, 2, "image/png")
    with Image.open(io.BytesIO(only.data)) as preview:
        assert preview.format == "PNG" and preview.size == (8, 8)


def test_a_server_without_previews_still_makes_the_image(fake, make_provider):
    fake.preview_format = None
    partials = []
    result = make_provider().run(request(), on_partial=partials.append, partial_images=2)
    assert partials == [] and len(result.images) == 1


def test_without_the_websocket_no_previews_are_offered(make_provider):
    assert make_provider(websocket=False).capabilities().max_partial_images == 0


def test_only_preview_image_frames_of_a_known_format_are_previews():
    import struct

    from blogimages.providers.comfyui import parse_preview_frame

    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, format="JPEG")
    good = struct.pack(">II", 1, 1) + jpeg.getvalue()
    assert parse_preview_frame(good) == (jpeg.getvalue(), "image/jpeg")
    assert parse_preview_frame(struct.pack(">II", 3, 1) + jpeg.getvalue()) is None  # TEXT, not a preview
    assert parse_preview_frame(struct.pack(">II", 1, 9) + jpeg.getvalue()) is None  # unknown format
    assert parse_preview_frame(struct.pack(">II", 1, 2) + jpeg.getvalue()) is None  # says PNG, is JPEG
    assert parse_preview_frame(b"\x00\x00\x00\x01") is None


# -- as a real ComfyUI (0.3.64, run on the CPU) answers --------------------------------------------

# A graph that needs no model weights, as run against the real server: the prompt has a node of
# its own that no output depends on (ComfyUI runs only what the outputs need).
WEIGHTLESS = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": "{{width}}", "height": "{{height}}",
                                                 "batch_size": "{{batch_size}}", "color": 3368601}},
    "2": {"class_type": "ImageAddNoise", "inputs": {"image": ["1", 0], "seed": "{{seed}}", "strength": 0.5}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "{{filename_prefix}}"}},
    "4": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "{{prompt}}"}},
}
# SaveImage's refusal of a prefix that leaves the output folder, as the real server words it.
OUTSIDE_OUTPUT = ("**** ERROR: Saving image outside the output folder is not allowed.\n"
                  " full_output_folder: /srv/comfy/outside\n         output_dir: /srv/comfy/output\n"
                  "         commonpath: /srv/comfy\n")


def test_a_weightless_workflow_runs_with_its_prompt_in_a_node_of_its_own(fake, make_provider):
    result = make_provider().run(request(n=2, seed=MAX_SEED_64, width=320, height=192,
                                         extra={"workflow": Workflow(name="noise", graph=WEIGHTLESS)}))

    sent = fake.calls("POST", "/prompt")[0]
    assert sent["prompt"]["4"]["inputs"]["value"] == "a lighthouse at dusk"
    assert sent["prompt"]["2"]["inputs"]["seed"] == MAX_SEED_64
    assert [Image.open(io.BytesIO(image.data)).size for image in result.images] == [(320, 192)] * 2


def test_a_multi_line_exception_from_a_node_is_one_line_and_kept_whole(fake, make_provider):
    fake.behave(Behaviour(outcome="error", exception_type="Exception", exception_message=OUTSIDE_OUTPUT, node="3"))

    with pytest.raises(Exception) as caught:
        make_provider().run(request(extra={"workflow": Workflow(name="noise", graph=WEIGHTLESS)}))

    assert str(caught.value).endswith(
        "the workflow failed at node 3 (SaveImage): Exception: **** ERROR: Saving image outside the output "
        "folder is not allowed. full_output_folder: /srv/comfy/outside output_dir: /srv/comfy/output "
        "commonpath: /srv/comfy")
    assert json.loads(caught.value.response)["exception_message"] == OUTSIDE_OUTPUT
    assert not caught.value.retryable


def test_an_unknown_node_class_is_refused_at_queueing_with_comfyuis_words(fake, make_provider):
    graph = copy.deepcopy(WEIGHTLESS)
    graph["2"]["class_type"] = "NoSuchNode"

    with pytest.raises(Exception, match="Cannot execute because node NoSuchNode does not exist.*Node ID '#2'") \
            as caught:
        make_provider().run(request(extra={"workflow": Workflow(name="bad", graph=graph)}))
    assert caught.value.status_code == 400
    assert not fake.history


def test_a_combo_the_server_lists_from_a_route_is_not_checked(make_provider):
    graph = {"1": {"class_type": "LoadImageOutput", "inputs": {"image": "ComfyUI_00001_.png [output]"}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}

    assert object_info_problems(graph, make_provider().object_info()) == []
