"""The ComfyUI backend against a loopback server speaking its HTTP API (reference §3)."""

from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path

import pytest
from PIL import Image
from werkzeug import Request, Response

from blogimages.exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    UnsupportedFeature,
)
from blogimages.providers.base import GenerationRequest
from blogimages.providers.comfyui import (
    DEFAULT_WORKFLOW,
    ComfyUIProvider,
    Workflow,
    fill_workflow,
    load_workflow,
    validate_workflow,
)

PROMPT_ID = "8f6a2c1e-4b0d-4d7e-9a51-2f3c6b7d8e90"
CHECKPOINTS = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]


def png(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def shipped() -> dict:
    return json.loads(DEFAULT_WORKFLOW.read_text())


def history_entry(outputs: dict, *, status_str: str = "success", messages: list | None = None) -> dict:
    """A /history/{id} answer as execution.py writes it once the prompt finished."""
    return {PROMPT_ID: {
        "prompt": [3, PROMPT_ID, {}, {"client_id": "x", "create_time": 1732000000000}, ["9"]],
        "outputs": outputs,
        "status": {"status_str": status_str, "completed": status_str == "success",
                   "messages": messages or [["execution_start", {"prompt_id": PROMPT_ID, "timestamp": 1}],
                                            ["execution_success", {"prompt_id": PROMPT_ID, "timestamp": 2}]]},
        "meta": {"9": {"node_id": "9", "display_node": "9", "parent_node": None, "real_node_id": "9"}},
    }}


def saved(*names: str, kind: str = "output", subfolder: str = "blogimages") -> dict:
    return {"images": [{"filename": name, "subfolder": subfolder, "type": kind} for name in names]}


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def requests_to(httpserver, path: str) -> list[Request]:
    return [request for request, _ in httpserver.log if request.path == path]


@pytest.fixture
def comfy(httpserver):
    httpserver.expect_request("/models/checkpoints", method="GET").respond_with_json(CHECKPOINTS)
    return httpserver


@pytest.fixture
def make_provider(httpserver):
    made = []

    def make(**options) -> ComfyUIProvider:
        options = {"base_url": httpserver.url_for("/").rstrip("/"), "checkpoint": CHECKPOINTS[0],
                   "poll_interval": 0.01, "timeout": 5, **options}
        provider = ComfyUIProvider(alias="comfyui", options=options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider) -> ComfyUIProvider:
    return make_provider()


def queue_ok(httpserver) -> None:
    httpserver.expect_request("/prompt", method="POST").respond_with_json(
        {"prompt_id": PROMPT_ID, "number": 3, "node_errors": {}})


def history_after(httpserver, polls: int, answer: dict) -> list[int]:
    """/history/{id} answers {} until the prompt has been asked about `polls` times."""
    calls = []

    def handler(request: Request) -> Response:
        calls.append(1)
        body = answer if len(calls) > polls else {}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(f"/history/{PROMPT_ID}", method="GET").respond_with_handler(handler)
    return calls


def serve_view(httpserver, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        httpserver.expect_request("/view", method="GET", query_string={
            "filename": name, "subfolder": "blogimages", "type": "output"}).respond_with_data(
            data, content_type="image/png")


# -- success ---------------------------------------------------------------------------------


def test_a_run_queues_the_filled_template_polls_history_and_downloads_every_image(comfy, provider):
    queue_ok(comfy)
    polls = history_after(comfy, 2, history_entry({"9": saved("ComfyUI_00001_.png", "ComfyUI_00002_.png")}))
    images = {"ComfyUI_00001_.png": png("red"), "ComfyUI_00002_.png": png("blue")}
    serve_view(comfy, images)

    result = provider.run(GenerationRequest(
        prompt="a lighthouse at dusk", negative_prompt="blurry", width=512, height=768, n=2,
        seed=42, steps=30, guidance_scale=6,
    ))

    (sent,) = requests_to(comfy, "/prompt")
    assert sent.method == "POST"
    assert sent.headers["Content-Type"] == "application/json"
    assert "Origin" not in sent.headers  # ComfyUI's anti-CSRF check answers 403 to a foreign Origin
    body = sent.get_json()
    assert body["client_id"].startswith(provider.client_id)  # one client id per run, for its WebSocket events
    assert body["prompt_id"]  # ours, so a lost answer can still be cancelled
    graph = body["prompt"]
    prefix = graph["9"]["inputs"]["filename_prefix"]
    assert prefix.startswith("blogimages/")
    expected = shipped()
    expected["3"]["inputs"].update(seed=42, steps=30, cfg=6.0)
    expected["4"]["inputs"]["ckpt_name"] = CHECKPOINTS[0]
    expected["5"]["inputs"].update(width=512, height=768, batch_size=2)
    expected["6"]["inputs"]["text"] = "a lighthouse at dusk"
    expected["7"]["inputs"]["text"] = "blurry"
    expected["9"]["inputs"]["filename_prefix"] = prefix
    assert graph == expected
    assert isinstance(graph["3"]["inputs"]["cfg"], float) and isinstance(graph["3"]["inputs"]["seed"], int)

    assert len(polls) == 3  # {} twice, then the entry
    assert [image.data for image in result.images] == list(images.values())
    assert [image.mime_type for image in result.images] == ["image/png", "image/png"]
    assert [image.seed for image in result.images] == [42, 42]  # one batch shares its seed
    assert [image.metadata["batch_index"] for image in result.images] == [0, 1]
    assert result.images[0].metadata["filename"] == "ComfyUI_00001_.png"
    assert result.images[0].metadata["workflow"] == "txt2img"
    assert result.request_id == PROMPT_ID
    assert result.model == CHECKPOINTS[0]


def test_view_is_asked_with_url_encoded_names_and_the_right_type(comfy, provider):
    queue_ok(comfy)
    odd = "my image & co #1.png"
    history_after(comfy, 0, history_entry({"12": saved(odd, kind="temp", subfolder="a b")}))
    comfy.expect_request("/view", query_string={"filename": odd, "subfolder": "a b", "type": "temp"}
                         ).respond_with_data(png())

    result = provider.run(GenerationRequest(prompt="x", width=512, height=512))

    (view,) = requests_to(comfy, "/view")
    assert view.query_string == b"filename=my+image+%26+co+%231.png&subfolder=a+b&type=temp"
    assert result.images[0].metadata["type"] == "temp"


def test_previews_are_not_downloaded_when_the_graph_also_saves(comfy, provider):
    queue_ok(comfy)
    history_after(comfy, 0, history_entry({"9": saved("kept.png"), "10": saved("preview.png", kind="temp")}))
    serve_view(comfy, {"kept.png": png()})

    result = provider.run(GenerationRequest(prompt="x", width=512, height=512))

    assert [image.metadata["filename"] for image in result.images] == ["kept.png"]


def test_a_random_seed_is_chosen_and_reported(comfy, provider):
    queue_ok(comfy)
    history_after(comfy, 0, history_entry({"9": saved("a.png")}))
    serve_view(comfy, {"a.png": png()})

    result = provider.run(GenerationRequest(prompt="x", width=512, height=512))

    sent_seed = requests_to(comfy, "/prompt")[0].get_json()["prompt"]["3"]["inputs"]["seed"]
    assert isinstance(sent_seed, int) and result.images[0].seed == sent_seed


def test_non_image_bytes_from_view_are_passed_on(comfy, provider):
    queue_ok(comfy)
    history_after(comfy, 0, history_entry({"9": saved("a.png")}))
    serve_view(comfy, {"a.png": b"%PDF-1.7 not an image"})

    result = provider.run(GenerationRequest(prompt="x", width=512, height=512))

    assert result.images[0].mime_type == "application/octet-stream"


# -- templates -------------------------------------------------------------------------------


def test_substitution_is_structural_so_a_prompt_cannot_inject(comfy, provider):
    nasty = 'say "hi" }, "4": {"class_type": "Evil"} {{seed}} {{checkpoint}} \\ {{'
    queue_ok(comfy)
    history_after(comfy, 0, history_entry({"9": saved("a.png")}))
    serve_view(comfy, {"a.png": png()})

    provider.run(GenerationRequest(prompt=nasty, negative_prompt="{{prompt}}", seed=7, width=512, height=512))

    graph = requests_to(comfy, "/prompt")[0].get_json()["prompt"]
    assert graph["6"]["inputs"]["text"] == nasty
    assert graph["7"]["inputs"]["text"] == "{{prompt}}"
    assert graph["4"] == {**shipped()["4"], "inputs": {"ckpt_name": CHECKPOINTS[0]}}
    assert graph["3"]["inputs"]["seed"] == 7


def test_fill_workflow_types_values_and_leaves_the_template_untouched():
    template = shipped()

    graph = fill_workflow(template, {"prompt": "p", "seed": "5", "cfg": 7, "steps": 20.0, "width": 512,
                                     "height": 512, "batch_size": 1, "checkpoint": "c", "negative_prompt": "",
                                     "filename_prefix": "x"})

    assert graph["3"]["inputs"]["seed"] == 5 and graph["3"]["inputs"]["cfg"] == 7.0
    assert isinstance(graph["3"]["inputs"]["cfg"], float) and isinstance(graph["3"]["inputs"]["steps"], int)
    assert template == shipped()


def test_the_shipped_template_is_the_default_comfyui_graph():
    graph = shipped()

    assert validate_workflow(graph) == []
    assert {node_id: node["class_type"] for node_id, node in graph.items()} == {
        "3": "KSampler", "4": "CheckpointLoaderSimple", "5": "EmptyLatentImage", "6": "CLIPTextEncode",
        "7": "CLIPTextEncode", "8": "VAEDecode", "9": "SaveImage"}
    assert graph["3"]["inputs"]["latent_image"] == ["5", 0] and graph["8"]["inputs"]["vae"] == ["4", 2]
    assert load_workflow(None).placeholders == {"prompt", "negative_prompt", "seed", "steps", "cfg", "width",
                                                "height", "checkpoint", "batch_size", "filename_prefix"}


def test_a_workflow_maps_each_placeholder_to_the_inputs_it_fills():
    graph = shipped()
    graph["9"]["inputs"]["filename_prefix"] = "run {{seed}}"  # inside a longer string: not filled
    graph["10"] = {"class_type": "PreviewImage", "inputs": {"seed_copy": "{{seed}}", "images": ["8", 0]}}

    node_map = Workflow(name="x", graph=graph).node_map

    assert node_map["seed"] == (("3", "seed"), ("10", "seed_copy"))
    assert node_map["prompt"] == (("6", "text"),) and node_map["checkpoint"] == (("4", "ckpt_name"),)
    assert "filename_prefix" not in node_map


def test_validate_workflow_reports_each_problem():
    ui_format = {"last_node_id": 9, "last_link_id": 9, "nodes": [], "links": [], "version": 0.4}
    assert "Export (API)" in validate_workflow(ui_format)[0]
    assert "API format" in validate_workflow([1, 2])[0]
    assert "not an API-format node" in validate_workflow({"1": {"inputs": {}}})[0]

    graph = shipped()
    graph["6"]["inputs"]["text"] = "a photo of {{prompt}}"
    graph["3"]["inputs"]["sampler_name"] = "{{sampler}}"
    graph["8"]["inputs"]["vae"] = ["44", 2]
    problems = validate_workflow(graph)
    assert any("links to node 44" in problem for problem in problems)

    del graph["8"]["inputs"]["vae"]
    problems = validate_workflow(graph)
    assert any("unknown placeholder {{sampler}} in node 3 input 'sampler_name'" in problem for problem in problems)
    assert any("{{prompt}} in node 6 input 'text' is part of a longer string" in problem for problem in problems)
    assert any("no {{prompt}} placeholder" in problem for problem in problems)

    no_output = {key: node for key, node in shipped().items() if key != "9"}
    assert any("no output node" in problem for problem in validate_workflow(no_output))


def test_a_ui_format_template_is_refused_with_how_to_export(tmp_path, make_provider):
    path = tmp_path / "saved-from-the-ui.json"
    path.write_text(json.dumps({"last_node_id": 9, "last_link_id": 9, "nodes": [{"id": 3, "type": "KSampler"}],
                                "links": [], "version": 0.4}))
    provider = make_provider(workflow=str(path))

    with pytest.raises(InvalidProviderError, match=r"Export \(API\)"):
        provider.generate(GenerationRequest(prompt="x", width=512, height=512))
    assert provider.check() and "Export (API)" in provider.check()[0]


def test_a_template_path_from_the_options_is_used(comfy, tmp_path, make_provider):
    graph = shipped()
    graph["3"]["inputs"]["sampler_name"] = "dpmpp_2m"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(graph))
    provider = make_provider(workflow=str(path))
    queue_ok(comfy)
    history_after(comfy, 0, history_entry({"9": saved("a.png")}))
    serve_view(comfy, {"a.png": png()})

    result = provider.run(GenerationRequest(prompt="x", width=512, height=512))

    assert requests_to(comfy, "/prompt")[0].get_json()["prompt"]["3"]["inputs"]["sampler_name"] == "dpmpp_2m"
    assert result.images[0].metadata["workflow"] == str(path)
    assert provider.check() == []


def test_a_missing_template_file_is_a_configuration_error(make_provider, tmp_path):
    provider = make_provider(workflow=str(tmp_path / "nope.json"))

    with pytest.raises(InvalidProviderError, match="does not exist"):
        provider.generate(GenerationRequest(prompt="x", width=512, height=512))
    assert "does not exist" in provider.check()[0]


def test_a_request_can_bring_its_workflow_as_data(comfy, provider):
    # How a registered workflow arrives (blogimages.comfy_workflows looks the row up): the
    # provider itself never touches the database.
    graph = shipped()
    graph["3"]["inputs"]["scheduler"] = "karras"
    queue_ok(comfy)
    history_after(comfy, 0, history_entry({"9": saved("a.png")}))
    serve_view(comfy, {"a.png": png()})

    workflow = Workflow(name="karras-portrait", graph=graph)
    result = provider.run(GenerationRequest(prompt="x", width=512, height=512, extra={"workflow": workflow}))

    assert requests_to(comfy, "/prompt")[0].get_json()["prompt"]["3"]["inputs"]["scheduler"] == "karras"
    assert result.images[0].metadata["workflow"] == "karras-portrait"


def test_an_unknown_workflow_name_is_refused_before_queueing(comfy, provider):
    with pytest.raises(UnsupportedFeature, match="No ComfyUI workflow named 'nope'"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512, extra={"workflow": "nope"}))
    assert requests_to(comfy, "/prompt") == []


def test_a_template_without_batch_size_takes_one_image(comfy, tmp_path, make_provider):
    graph = shipped()
    graph["5"]["inputs"]["batch_size"] = 1
    graph["7"]["inputs"]["text"] = "watermark"
    path = tmp_path / "single.json"
    path.write_text(json.dumps(graph))
    provider = make_provider(workflow=str(path))

    caps = provider.capabilities()
    assert caps.max_n == 1 and not caps.supports_negative_prompt
    with pytest.raises(UnsupportedFeature, match="n=2 is not allowed"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512, n=2))


# -- failures --------------------------------------------------------------------------------


def test_node_errors_are_a_bad_request_naming_each_node(comfy, provider):
    comfy.expect_request("/prompt", method="POST").respond_with_json({
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                  "details": "", "extra_info": {}},
        "node_errors": {"4": {
            "errors": [{"type": "value_not_in_list", "message": "Value not in list",
                        "details": "ckpt_name: 'x.safetensors' not in []",
                        "extra_info": {"input_name": "ckpt_name", "received_value": "x.safetensors"}}],
            "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"}},
    }, status=400)

    with pytest.raises(ProviderBadRequest) as caught:
        provider.generate(GenerationRequest(prompt="x", model="x.safetensors", width=512, height=512))

    assert ("Prompt outputs failed validation: node 4 (CheckpointLoaderSimple): Value not in list: "
            "ckpt_name: 'x.safetensors' not in []") in str(caught.value)
    assert caught.value.status_code == 400


def test_an_execution_error_names_the_node_and_exception(comfy, provider):
    queue_ok(comfy)
    error = ["execution_error", {"prompt_id": PROMPT_ID, "node_id": "8", "node_type": "VAEDecode",
                                 "executed": ["4", "5"], "exception_message": "Expected 4D input\n",
                                 "exception_type": "RuntimeError", "traceback": ["..."],
                                 "current_inputs": {}, "current_outputs": {}}]
    history_after(comfy, 1, history_entry({}, status_str="error", messages=[error]))

    with pytest.raises(ProviderBadRequest) as caught:
        provider.run(GenerationRequest(prompt="x", width=512, height=512))

    assert "node 8 (VAEDecode): RuntimeError: Expected 4D input" in str(caught.value)


def test_out_of_memory_during_execution_is_worth_retrying(comfy, provider):
    queue_ok(comfy)
    error = ["execution_error", {"prompt_id": PROMPT_ID, "node_id": "3", "node_type": "KSampler",
                                 "exception_message": "Allocation on device",
                                 "exception_type": "torch.OutOfMemoryError"}]
    history_after(comfy, 0, history_entry({}, status_str="error", messages=[error]))

    with pytest.raises(ProviderServerError, match="node 3 \\(KSampler\\): torch.OutOfMemoryError") as caught:
        provider.run(GenerationRequest(prompt="x", width=512, height=512))
    assert caught.value.retryable


def test_a_run_without_images_is_reported(comfy, provider):
    queue_ok(comfy)
    history_after(comfy, 0, history_entry({"12": {"text": ["hello"]}}))

    with pytest.raises(ProviderBadRequest, match="finished without any image"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512))


def test_waiting_too_long_cancels_our_prompt_and_times_out(comfy, make_provider):
    provider = make_provider(timeout=0.3)
    queue_ok(comfy)
    history_after(comfy, 10_000, {})
    comfy.expect_request("/queue", method="GET").respond_with_json(
        {"queue_running": [[3, PROMPT_ID, {}, {"client_id": provider.client_id}, ["9"]]], "queue_pending": []})
    comfy.expect_request("/interrupt", method="POST").respond_with_data("")
    comfy.expect_request("/queue", method="POST").respond_with_data("")

    with pytest.raises(ProviderTimeout, match=f"did not finish prompt {PROMPT_ID}") as caught:
        provider.run(GenerationRequest(prompt="x", width=512, height=512))

    assert caught.value.retryable
    assert requests_to(comfy, "/interrupt")[0].get_json() == {"prompt_id": PROMPT_ID}
    dequeue = [request for request in requests_to(comfy, "/queue") if request.method == "POST"]
    assert dequeue[0].get_json() == {"delete": [PROMPT_ID]}


def test_a_pending_prompt_is_only_dequeued_never_interrupted(comfy, make_provider):
    provider = make_provider(timeout=0.1)
    queue_ok(comfy)
    history_after(comfy, 10_000, {})
    comfy.expect_request("/queue", method="GET").respond_with_json(
        {"queue_running": [[2, "someone-elses", {}, {}, ["9"]]], "queue_pending": [[3, PROMPT_ID, {}, {}, ["9"]]]})
    comfy.expect_request("/queue", method="POST").respond_with_data("")

    with pytest.raises(ProviderTimeout):
        provider.run(GenerationRequest(prompt="x", width=512, height=512))

    assert requests_to(comfy, "/interrupt") == []


def test_rate_limit_from_a_proxy_carries_retry_after(comfy, provider):
    comfy.expect_request("/prompt", method="POST").respond_with_data(
        "Too Many Requests", status=429, headers={"Retry-After": "12"})

    with pytest.raises(ProviderRateLimited) as caught:
        provider.run(GenerationRequest(prompt="x", width=512, height=512))
    assert caught.value.retry_after == 12


def test_a_server_crash_is_a_server_error(comfy, provider):
    comfy.expect_request("/prompt", method="POST").respond_with_data(
        "500 Internal Server Error\n\nServer got itself in trouble", status=500, content_type="text/plain")

    with pytest.raises(ProviderServerError, match="Server got itself in trouble"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512))


def test_malformed_json_from_prompt_is_a_server_error(comfy, provider):
    comfy.expect_request("/prompt", method="POST").respond_with_data("{'prompt_id': ", content_type="application/json")

    with pytest.raises(ProviderServerError, match="malformed JSON"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512))


def test_a_slow_server_is_a_timeout(httpserver, make_provider):
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response(json.dumps({"prompt_id": PROMPT_ID}), content_type="application/json")

    httpserver.expect_request("/prompt", method="POST").respond_with_handler(slow)
    provider = make_provider(timeout=0.1, checkpoint=CHECKPOINTS[0])

    with pytest.raises(ProviderTimeout, match="no answer"):
        provider.generate(GenerationRequest(prompt="x", width=512, height=512))


def test_a_missing_output_file_is_reported(comfy, provider):
    queue_ok(comfy)
    history_after(comfy, 0, history_entry({"9": saved("gone.png")}))
    comfy.expect_request("/view").respond_with_data("404: Not Found", status=404)

    with pytest.raises(ProviderBadRequest, match="downloading gone.png failed"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512))


def test_a_refusing_front_end_is_content_refused(comfy, provider):
    comfy.expect_request("/prompt", method="POST").respond_with_json(
        {"error": {"type": "content_policy", "message": "Prompt blocked by the safety filter", "details": ""},
         "node_errors": {}}, status=400)

    with pytest.raises(ContentRefused, match="safety filter"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512))


def test_connection_refused_is_a_timeout_and_capabilities_fall_back():
    provider = ComfyUIProvider(alias="comfyui", options={
        "base_url": f"http://127.0.0.1:{unused_port()}", "models": ["static.safetensors"], "timeout": 2})
    try:
        caps = provider.capabilities()
        assert caps.models == ("static.safetensors",) and caps.max_n == 4
        with pytest.raises(ProviderTimeout, match="could not connect"):
            provider.run(GenerationRequest(prompt="x", model="static.safetensors", width=512, height=512))
    finally:
        provider.close()


# -- capabilities ----------------------------------------------------------------------------


def test_capabilities_list_the_servers_checkpoints_once(comfy, make_provider):
    provider = make_provider(checkpoint="")

    caps = provider.capabilities()
    provider.capabilities()

    assert caps.models == tuple(CHECKPOINTS)
    assert caps.default_model == CHECKPOINTS[0]
    assert (caps.supports_negative_prompt, caps.supports_seed, caps.supports_steps, caps.supports_guidance) == (
        True, True, True, True)
    assert caps.max_n == 4 and caps.allows_size(512, 768) and not caps.allows_size(500, 768)
    assert len(requests_to(comfy, "/models/checkpoints")) == 1


def test_older_servers_list_checkpoints_through_object_info(httpserver, provider):
    httpserver.expect_request("/models/checkpoints").respond_with_data("404: Not Found", status=404)
    httpserver.expect_request("/object_info/CheckpointLoaderSimple").respond_with_json({
        "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["old.ckpt", "new.safetensors"], {}]}},
                                   "output": ["MODEL", "CLIP", "VAE"], "name": "CheckpointLoaderSimple"}})

    assert provider.capabilities().models == ("old.ckpt", "new.safetensors")


def test_a_checkpoint_the_server_lacks_is_refused_before_queueing(comfy, provider):
    with pytest.raises(UnsupportedFeature, match="model 'missing.safetensors' is not offered"):
        provider.run(GenerationRequest(prompt="x", model="missing.safetensors", width=512, height=512))
    assert requests_to(comfy, "/prompt") == []


def test_the_shipped_workflow_passes_the_system_check(provider):
    assert provider.check() == []
    assert Path(DEFAULT_WORKFLOW).is_file()
