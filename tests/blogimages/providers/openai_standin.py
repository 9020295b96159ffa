"""A loopback stand-in for OpenAI's Images API as it is today (2026-12-01).

It keeps its own rules, written from the openai SDK 3.54 types and OpenAI's deprecations
(not read from the app's model table, so a wrong table entry fails a test):

- `GET /v1/models` lists the live models with their optional `shutdown_date`;
- `POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart) validate
  model, size, quality, n and the parameters GPT image models reject, and answer
  `ImagesResponse` bodies with base64 PNGs of the asked size and a `usage` object;
- a shut-down model answers `404 model_not_found` with OpenAI's deprecation message.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from .openai_server import API_KEY

RETIRED = ("dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "chatgpt-image-latest")
FREE_SIZE = ("gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-flare", "gpt-image-2.5-flare-2026-09-08",
             "gpt-image-2.5-sunburst", "gpt-image-2.5-sunburst-2026-09-08")
LIVE = (*FREE_SIZE, "gpt-image-2.6-flare", "gpt-image-2.6-sunburst")
STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
QUALITIES = ("auto", "low", "medium", "high")
EXTRA_QUALITIES = ("xhigh", "max")
# Image-output tokens for one 1024x1024 image; other sizes scale with the pixel count.
TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}
# What the API picks for `auto`: the stand-in says medium, so an estimate (which assumes
# the worst, high) and the usage-based price differ.
AUTO_QUALITY = "medium"


def deprecated_message(model: str) -> str:
    return (f"The model `{model}` has been deprecated, learn more here: "
            "https://platform.openai.com/docs/deprecations")


@dataclass
class Call:
    path: str
    params: dict[str, Any]
    files: dict[str, list[bytes]] = field(default_factory=dict)


class OpenAIStandIn:
    """Registers permanent handlers on `httpserver`; `calls` lists every images request."""

    def __init__(self, httpserver: HTTPServer, *, shutdown_dates: dict[str, str] | None = None,
                 usage: bool = True, output_tokens_details: bool = True) -> None:
        self.httpserver = httpserver
        self.shutdown_dates = dict(shutdown_dates or {})
        self.usage = usage
        self.output_tokens_details = output_tokens_details
        self.calls: list[Call] = []
        # The usage object of every successful answer, in order.
        self.usages: list[dict[str, Any]] = []
        self.model_listings = 0
        # A message: streams end with an `error` event after their partial images.
        self.stream_error = ""
        # What `size: "auto"` makes (OpenAI picks the size from the prompt).
        self.auto_size = (1024, 1024)
        httpserver.expect_request("/v1/models", method="GET").respond_with_handler(self.models)
        httpserver.expect_request("/v1/images/generations", method="POST").respond_with_handler(self.generations)
        httpserver.expect_request("/v1/images/edits", method="POST").respond_with_handler(self.edits)

    @property
    def base_url(self) -> str:
        return self.httpserver.url_for("/v1")

    # -- handlers --------------------------------------------------------------------------

    def models(self, request: Request) -> Response:
        if (denied := self.auth(request)) is not None:
            return denied
        self.model_listings += 1
        data = [{"id": model, "object": "model", "created": 1776729600, "owned_by": "system",
                 "shutdown_date": self.shutdown_dates.get(model)} for model in LIVE]
        return self.json({"object": "list", "data": data})

    def generations(self, request: Request) -> Response:
        if (denied := self.auth(request)) is not None:
            return denied
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return self.error(400, "Unsupported content type; send application/json.")
        params = json.loads(request.get_data() or b"{}")
        self.calls.append(Call(path=request.path, params=params))
        return self.answer(params, input_images=0)

    def edits(self, request: Request) -> Response:
        if (denied := self.auth(request)) is not None:
            return denied
        if not request.headers.get("Content-Type", "").startswith("multipart/form-data"):
            return self.error(400, "Unsupported content type; send multipart/form-data.")
        params: dict[str, Any] = request.form.to_dict()
        if "stream" in params:
            # The SDK sends a multipart boolean as "true"/"false".
            params["stream"] = params["stream"] == "true"
        for name in ("n", "partial_images"):
            if name in params:
                try:
                    params[name] = int(params[name])
                except ValueError:
                    return self.error(400, f"Invalid type for '{name}': expected an integer.", param=name)
        files = {name: [f.read() for f in request.files.getlist(name)] for name in request.files}
        self.calls.append(Call(path=request.path, params=params, files=files))
        images = files.get("image", []) + files.get("image[]", [])
        if not images:
            return self.error(400, "Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
        if len(images) > 16:
            return self.error(400, "At most 16 images may be provided.", param="image")
        for data in images:
            try:
                with Image.open(io.BytesIO(data)) as opened:
                    if opened.format not in ("PNG", "WEBP", "JPEG"):
                        raise ValueError(opened.format)
            except Exception:
                return self.error(400, "Invalid image file or mode for image 1, please check your image file.",
                                  param="image", code="invalid_image_file")
        masks = files.get("mask", [])
        if masks:
            # As OpenAI checks a mask: a PNG with an alpha channel, the size of the first image.
            try:
                with Image.open(io.BytesIO(masks[0])) as mask, Image.open(io.BytesIO(images[0])) as first:
                    if mask.format != "PNG" or mask.mode not in ("RGBA", "LA"):
                        return self.error(400, "Invalid mask image format - mask must be a PNG with an alpha channel.",
                                          param="mask", code="invalid_image_format")
                    if mask.size != first.size:
                        return self.error(400, "Invalid mask: it must have the same dimensions as the image.",
                                          param="mask", code="invalid_image_dimensions")
            except Exception:
                return self.error(400, "Invalid image file or mode for mask.", param="mask", code="invalid_image_file")
        if "input_fidelity" in params:
            if params["input_fidelity"] not in ("high", "low"):
                return self.error(400, f"Invalid value: '{params['input_fidelity']}'.", param="input_fidelity")
            if params.get("model") in LIVE:
                return self.error(400, f"input_fidelity is not supported for {params['model']}; omit this parameter.",
                                  param="input_fidelity", code="unsupported_parameter")
        return self.answer(params, input_images=len(images), kind="image_edit")

    # -- the rules -------------------------------------------------------------------------

    def answer(self, params: dict[str, Any], *, input_images: int, kind: str = "image_generation") -> Response:
        model = params.get("model")
        if not model:
            return self.error(400, "Missing required parameter: 'model'.", param="model",
                              code="missing_required_parameter")
        if model in RETIRED or self.shut_down(model):
            return self.error(404, deprecated_message(model), param=None, code="model_not_found")
        if model not in LIVE:
            return self.error(404, f"The model `{model}` does not exist or you do not have access to it.",
                              code="model_not_found")
        prompt = params.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return self.error(400, "Missing required parameter: 'prompt'.", param="prompt")
        for name in ("response_format", "style"):
            if name in params:
                return self.error(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
        n = params.get("n", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
            return self.error(400, f"Invalid value: {n!r}. 'n' must be between 1 and 10.", param="n",
                              code="invalid_value")
        size = params.get("size", "auto")
        problem = self.size_problem(model, size)
        if problem:
            return self.error(400, problem, param="size", code="invalid_value")
        quality = params.get("quality", "auto")
        allowed = QUALITIES + (EXTRA_QUALITIES if model.startswith("gpt-image-2.5") else ())
        if quality not in allowed:
            return self.error(400, f"Invalid value: '{quality}'. Supported values are: "
                                   f"{', '.join(repr(q) for q in allowed)}.", param="quality", code="invalid_value")
        output_format = params.get("output_format", "png")
        if output_format not in ("png", "jpeg", "webp"):
            return self.error(400, f"Invalid value: '{output_format}'.", param="output_format", code="invalid_value")
        background = params.get("background", "auto")
        if background == "transparent" and output_format not in ("png", "webp"):
            return self.error(400, "Transparent background requires png or webp output.", param="background")
        if background not in ("transparent", "opaque", "auto"):
            return self.error(400, f"Invalid value: '{background}'.", param="background", code="invalid_value")
        if params.get("moderation", "auto") not in ("low", "auto"):
            return self.error(400, f"Invalid value: '{params['moderation']}'.", param="moderation",
                              code="invalid_value")
        if "output_compression" in params and output_format == "png":
            return self.error(400, "output_compression is only supported for jpeg and webp.",
                              param="output_compression", code="invalid_value")
        if "input_fidelity" in params and not input_images:
            return self.error(400, "Unknown parameter: 'input_fidelity'.", param="input_fidelity",
                              code="unknown_parameter")
        width, height = self.auto_size if size == "auto" else (int(side) for side in size.split("x"))
        png = self.png(width, height)
        body: dict[str, Any] = {
            "created": 1764547200,
            "data": [{"b64_json": base64.b64encode(png).decode("ascii")} for _ in range(n)],
            "background": "opaque" if background == "auto" else background,
            "output_format": "png",
            "size": f"{width}x{height}",
            "quality": AUTO_QUALITY if quality == "auto" else quality,
        }
        if self.usage:
            body["usage"] = self.usage_for(prompt, n=n, width=width, height=height, quality=body["quality"],
                                           input_images=input_images)
            self.usages.append(body["usage"])
        if params.get("stream"):
            return self.stream(body, params, kind=kind)
        return self.json(body, headers={"x-request-id": f"req_{len(self.calls)}"})

    def stream(self, body: dict[str, Any], params: dict[str, Any], *, kind: str = "image_generation") -> Response:
        """stream=true: `partial_images` previews (smaller, grey), then one completed event per
        image, as server-sent events in OpenAI's shapes (image_gen_*_event.py, and
        image_edit_*_event.py with `kind="image_edit"`)."""
        partials = params.get("partial_images", 0)
        if not isinstance(partials, int) or not 0 <= partials <= 3:
            return self.error(400, "partial_images must be between 0 and 3.", param="partial_images")
        common = {name: body[name] for name in ("background", "output_format", "quality", "size")}
        width, height = (int(side) for side in body["size"].split("x"))
        events = []
        for index in range(partials):
            buffer = io.BytesIO()
            Image.new("RGB", (width // 4, height // 4), (60 * (index + 1),) * 3).save(buffer, format="PNG")
            events.append((f"{kind}.partial_image", {
                "type": f"{kind}.partial_image", "b64_json": base64.b64encode(buffer.getvalue()).decode(),
                "partial_image_index": index, "created_at": 1764547200, **common}))
        if self.stream_error:
            events.append(("error", {"type": "error", "error": {
                "type": "server_error", "code": "server_error", "message": self.stream_error, "param": None}}))
            body = {**body, "data": []}
        for item in body["data"]:
            events.append((f"{kind}.completed", {
                "type": f"{kind}.completed", "b64_json": item["b64_json"], "created_at": 1764547201,
                **common, "usage": body.get("usage") or {}}))
        text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
        return Response(text, status=200, content_type="text/event-stream",
                        headers={"x-request-id": f"req_{len(self.calls)}"})

    def shut_down(self, model: str) -> bool:
        # The listing's dates are in the future here; a test that wants a past one sets it.
        date = self.shutdown_dates.get(model)
        return bool(date) and date <= "2026-12-01"

    def size_problem(self, model: str, size: Any) -> str:
        if size == "auto" or (size in STANDARD_SIZES):
            return ""
        if model not in FREE_SIZE:
            return f"Invalid size '{size}'. Supported sizes are 1024x1024, 1536x1024, 1024x1536 and auto."
        try:
            width, height = (int(side) for side in str(size).lower().split("x"))
        except ValueError:
            return f"Invalid size '{size}'. Use WIDTHxHEIGHT."
        if width % 16 or height % 16:
            return f"Invalid size '{size}'. Width and height must both be divisible by 16."
        if not 1 / 3 <= width / height <= 3:
            return f"Invalid size '{size}'. The aspect ratio must be between 1:3 and 3:1."
        if max(width, height) > 3840 or width * height > 3840 * 2160:
            return f"Invalid size '{size}'. The maximum supported resolution is 3840x2160."
        if width * height < 655_360:
            return f"Invalid size '{size}'. The image must have at least 655,360 pixels."
        return ""

    def usage_for(self, prompt: str, *, n: int, width: int, height: int, quality: str,
                  input_images: int) -> dict[str, Any]:
        text_in = max(1, math.ceil(len(prompt) / 4))
        image_in = 1 * 1536 * input_images  # roughly what a 1024-ish reference costs
        image_out = math.ceil(TOKENS_1024[quality] * width * height / (1024 * 1024)) * n
        usage: dict[str, Any] = {
            "input_tokens": text_in + image_in,
            "input_tokens_details": {"image_tokens": image_in, "text_tokens": text_in},
            "output_tokens": image_out,
            "total_tokens": text_in + image_in + image_out,
        }
        if self.output_tokens_details:
            usage["output_tokens_details"] = {"image_tokens": image_out, "text_tokens": 0}
        return usage

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def png(width: int, height: int) -> bytes:
        buffer = io.BytesIO()
        # Left half teal, right half orange: a test can see how a crop was centred.
        picture = Image.new("RGB", (width, height), "teal")
        picture.paste(Image.new("RGB", (width // 2, height), "orange"), (width // 2, 0))
        picture.save(buffer, format="PNG")
        return buffer.getvalue()

    def auth(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self.error(401, "Incorrect API key provided.", code="invalid_api_key", status_type="invalid_request_error")
        return None

    @staticmethod
    def json(body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})

    def error(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
              status_type: str = "invalid_request_error") -> Response:
        return self.json({"error": {"message": message, "type": status_type, "param": param, "code": code}},
                         status=status, headers={"x-request-id": f"req_err_{len(self.calls)}"})


def configure_app(settings, httpserver: HTTPServer) -> OpenAIStandIn:
    """A stand-in, and the app's `openai` provider (the default) pointed at it beside cards."""
    standin = OpenAIStandIn(httpserver)
    settings.BLOGIMAGES_PROVIDERS = {
        "openai": {"BACKEND": "blogimages.providers.openai.OpenAIProvider",
                   "OPTIONS": {"api_key": API_KEY, "base_url": standin.base_url, "timeout": 10}},
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "openai"
    return standin
