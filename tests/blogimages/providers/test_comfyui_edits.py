"""ComfyUI edits: uploads through /upload/image and /upload/mask, then the shipped img2img and
inpaint templates, against a loopback server that handles uploads as ComfyUI's server.py does
(the mask's alpha written into the original it names) and checks that LoadImage / LoadImageMask
name files it holds, as prompt validation does."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from werkzeug import Request, Response

from blogimages.exceptions import ProviderError, UnsupportedFeature
from blogimages.providers.base import EditRequest, GenerationRequest
from blogimages.providers.comfyui import EDIT_WORKFLOW, INPAINT_WORKFLOW, load_workflow, validate_workflow

from .test_comfyui import CHECKPOINTS, PROMPT_ID, history_entry, make_provider, png, saved

__all__ = ["make_provider"]  # a fixture, used by name


class ComfyUploads:
    def __init__(self, httpserver):
        self.files: dict[str, bytes] = {}
        self.graphs: list[dict] = []
        httpserver.expect_request("/models/checkpoints", method="GET").respond_with_json(CHECKPOINTS)
        httpserver.expect_request("/upload/image", method="POST").respond_with_handler(self.upload_image)
        httpserver.expect_request("/upload/mask", method="POST").respond_with_handler(self.upload_mask)
        httpserver.expect_request("/prompt", method="POST").respond_with_handler(self.prompt)
        httpserver.expect_request(f"/history/{PROMPT_ID}", method="GET").respond_with_json(
            history_entry({"9": saved("out_00001_.png")}))
        httpserver.expect_request("/view", method="GET").respond_with_data(png("blue"), content_type="image/png")

    @staticmethod
    def key(subfolder: str, name: str) -> str:
        return f"{subfolder}/{name}" if subfolder else name

    def upload_image(self, request: Request) -> Response:
        if "image" not in request.files:
            return Response("", status=400)
        upload = request.files["image"]
        subfolder = request.form.get("subfolder", "")
        self.files[self.key(subfolder, upload.filename)] = upload.read()
        return Response(json.dumps({"name": upload.filename, "subfolder": subfolder,
                                    "type": request.form.get("type", "input")}), content_type="application/json")

    def upload_mask(self, request: Request) -> Response:
        if "image" not in request.files or "original_ref" not in request.form:
            return Response("", status=400)
        ref = json.loads(request.form["original_ref"])
        original = self.files.get(self.key(ref.get("subfolder", ""), ref["filename"]))
        if original is None:
            return Response("", status=404)
        upload = request.files["image"]
        with Image.open(io.BytesIO(original)) as source, Image.open(upload.stream) as mask:
            combined = source.convert("RGBA")
            combined.putalpha(mask.convert("RGBA").getchannel("A"))
        buffer = io.BytesIO()
        combined.save(buffer, "PNG")
        subfolder = request.form.get("subfolder", "")
        self.files[self.key(subfolder, upload.filename)] = buffer.getvalue()
        return Response(json.dumps({"name": upload.filename, "subfolder": subfolder, "type": "input"}),
                        content_type="application/json")

    def prompt(self, request: Request) -> Response:
        graph = request.get_json()["prompt"]
        self.graphs.append(graph)
        for node_id, node in graph.items():
            if node["class_type"] in ("LoadImage", "LoadImageMask") and node["inputs"]["image"] not in self.files:
                return Response(json.dumps({
                    "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                              "details": "", "extra_info": {}},
                    "node_errors": {node_id: {"errors": [{"type": "custom_validation_failed",
                                                          "message": "Custom validation failed for node",
                                                          "details": f"image - Invalid image file: {node['inputs']['image']}",
                                                          "extra_info": {}}],
                                              "dependent_outputs": ["9"], "class_type": node["class_type"]}},
                }), status=400, content_type="application/json")
        return Response(json.dumps({"prompt_id": PROMPT_ID, "number": 1, "node_errors": {}}),
                        content_type="application/json")


@pytest.fixture
def comfy(httpserver):
    return ComfyUploads(httpserver)


def mask_png(size=(64, 64)) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 32))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def source_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, "PNG")
    return buffer.getvalue()


def test_the_shipped_edit_templates_are_valid_and_take_the_edit_placeholders():
    for path, wanted in ((EDIT_WORKFLOW, {"image", "denoise"}), (INPAINT_WORKFLOW, {"image", "mask", "denoise"})):
        workflow = load_workflow(str(path))
        assert validate_workflow(workflow.graph) == []
        assert wanted <= workflow.placeholders


def test_img2img_uploads_the_source_and_fills_image_and_denoise(comfy, make_provider):
    provider = make_provider()
    request = GenerationRequest(prompt="a watercolour", width=64, height=64, seed=3)
    result = provider.run_edit(EditRequest(request=request, image=source_png(), strength=0.35))
    [graph] = comfy.graphs
    [name] = comfy.files
    assert name.startswith("blogimages/") and name.endswith("-source.png")
    loads = [n for n in graph.values() if n["class_type"] == "LoadImage"]
    assert [n["inputs"]["image"] for n in loads] == [name]
    [sampler] = [n for n in graph.values() if n["class_type"] == "KSampler"]
    assert sampler["inputs"]["denoise"] == 0.35 and sampler["inputs"]["seed"] == 3
    assert not [n for n in graph.values() if n["class_type"] == "LoadImageMask"]
    assert len(result.images) == 1


def test_inpaint_uploads_the_mask_onto_the_source_and_loads_its_alpha(comfy, make_provider):
    provider = make_provider()
    request = GenerationRequest(prompt="a boat", width=64, height=64)
    provider.run_edit(EditRequest(request=request, image=source_png(), mask=mask_png()))
    [graph] = comfy.graphs
    masked = next(name for name in comfy.files if name.endswith("-source-mask.png"))
    with Image.open(io.BytesIO(comfy.files[masked])) as combined:
        # What ComfyUI's LoadImage reads as MASK (1 - alpha): the transparent corner.
        assert combined.getchannel("A").getpixel((5, 5)) == 0 and combined.getchannel("A").getpixel((50, 50)) == 255
    [load_mask] = [n for n in graph.values() if n["class_type"] == "LoadImageMask"]
    assert load_mask["inputs"] == {"image": masked, "channel": "alpha"}
    [sampler] = [n for n in graph.values() if n["class_type"] == "KSampler"]
    assert sampler["inputs"]["denoise"] == 0.75


def test_a_failed_upload_queues_nothing(comfy, make_provider):
    provider = make_provider()
    request = GenerationRequest(prompt="x", width=64, height=64)
    # The server cannot open the mask (ComfyUI answers 500 from PIL): no prompt is queued.
    with pytest.raises(ProviderError):
        provider.run_edit(EditRequest(request=request, image=source_png(), mask=b"\x89PNG not really"))
    assert comfy.graphs == []


def test_a_template_without_an_image_placeholder_cannot_edit(comfy, make_provider):
    provider = make_provider()
    request = GenerationRequest(prompt="x", width=64, height=64, extra={"workflow": "txt2img"})
    with pytest.raises(UnsupportedFeature, match=r"no \{\{image\}\} placeholder"):
        provider.run_edit(EditRequest(request=request, image=source_png()))
    assert comfy.files == {} and comfy.graphs == []


def test_an_edit_reports_its_prompt_id_before_queueing_it_and_the_servers_own_if_it_gives_another(
        comfy, make_provider, httpserver):
    provider = make_provider()
    recorded: list[tuple[dict, int]] = []

    def progress(value, maximum, queue_position=None, source=""):
        pass

    progress.submitted = lambda job: recorded.append((job, len(comfy.graphs)))
    request = GenerationRequest(prompt="a watercolour", width=64, height=64, seed=3)

    provider.run_edit(EditRequest(request=request, image=source_png()), progress=progress)

    sent = [r.get_json() for r, _ in httpserver.log if r.path == "/prompt"][0]
    # Ours first, before /prompt; this server answered with an id of its own: that one next.
    assert recorded == [({"prompt_id": sent["prompt_id"]}, 0), ({"prompt_id": PROMPT_ID}, 1)]
