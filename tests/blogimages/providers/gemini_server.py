"""A loopback stand-in for the Gemini API's image generation, speaking its REST shapes.

`POST /v1beta/models/{model}:generateContent` with the key in `x-goog-api-key`; answers
`{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType", "data"}}]}, "finishReason"}],
"usageMetadata": {...}, "modelVersion", "responseId"}`; `GET /v1beta/models` lists models with
their `supportedGenerationMethods`; errors are `{"error": {"code", "message", "status",
"details"}}` as Google's APIs send them. Like the real service it checks the key, the model,
candidateCount and imageConfig, and answers an image of the size the aspect ratio and
resolution tier make (its own table, independent of the provider's).
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API_KEY = "AIzaSy-test-0123456789SECRETKEY"
GENERATE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")
MODELS = "/v1beta/models"

_BASE_1K = {
    "1:1": (1024, 1024), "2:3": (848, 1264), "3:2": (1264, 848), "3:4": (896, 1200), "4:3": (1200, 896),
    "4:5": (928, 1152), "5:4": (1152, 928), "9:16": (768, 1376), "16:9": (1376, 768), "21:9": (1584, 672),
}
_FLASH_EXTRA = {"9:21": (672, 1584), "1:4": (512, 2048), "4:1": (2048, 512), "1:8": (384, 3072), "8:1": (3072, 384)}
_OLD_1K = {
    "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864),
    "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672),
}


@dataclass(frozen=True)
class StandInModel:
    sizes_1k: dict[str, tuple[int, int]]
    tiers: tuple[str, ...]  # () = takes no imageSize
    image_tokens: dict[str, int]
    thinks: bool = True


STAND_IN_MODELS = {
    "gemini-3.1-flash-image": StandInModel({**_BASE_1K, **_FLASH_EXTRA}, ("1K", "2K", "4K"),
                                           {"1K": 1120, "2K": 1680, "4K": 2520}),
    "gemini-3-pro-image": StandInModel(dict(_BASE_1K), ("1K", "2K", "4K"), {"1K": 1120, "2K": 1120, "4K": 2000}),
    "gemini-2.5-flash-image": StandInModel(dict(_OLD_1K), (), {"1K": 1290}, thinks=False),
}
_SCALE = {"1K": 1, "2K": 2, "4K": 4}


def png(size: tuple[int, int], color: str = "teal", centre: str = "orange") -> bytes:
    """A PNG with a `centre`-coloured square in the middle, so crops can be checked."""
    image = Image.new("RGB", size, color)
    w, h = size
    side = max(1, min(w, h) // 4)
    ImageDraw.Draw(image).rectangle((w // 2 - side // 2, h // 2 - side // 2, w // 2 + side // 2, h // 2 + side // 2),
                                    fill=centre)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error_body(code: int, message: str, status: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def bad_key_error() -> dict[str, Any]:
    return error_body(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
        "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"},
    }])


def quota_error(retry_delay: str = "32s") -> dict[str, Any]:
    return error_body(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        "RESOURCE_EXHAUSTED",
        [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaDimensions": {"model": "gemini-3.1-flash-image", "location": "global"}, "quotaValue": "10",
            }]},
            {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                "description": "Learn more about Gemini API quotas",
                "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
            }]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


def usage_metadata(*, prompt_tokens: int, image_tokens: int, thoughts: int = 0,
                   prompt_image_tokens: int = 0) -> dict[str, Any]:
    prompt_details = [{"modality": "TEXT", "tokenCount": prompt_tokens - prompt_image_tokens}]
    if prompt_image_tokens:
        prompt_details.append({"modality": "IMAGE", "tokenCount": prompt_image_tokens})
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": image_tokens,
        "totalTokenCount": prompt_tokens + image_tokens + thoughts,
        "promptTokensDetails": prompt_details,
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": image_tokens}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def image_answer(data: bytes, *, model: str, mime_type: str = "image/png", usage: dict[str, Any] | None = None,
                 text: str = "", thought_image: bytes | None = None, response_id: str = "resp-1") -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if thought_image is not None:
        parts.append({"inlineData": {"mimeType": "image/png", "data": b64(thought_image)}, "thought": True})
    if text:
        parts.append({"text": text})
    parts.append({"inlineData": {"mimeType": mime_type, "data": b64(data)}, "thoughtSignature": "c2lnbmF0dXJl"})
    body: dict[str, Any] = {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
        "modelVersion": model,
        "responseId": response_id,
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


@dataclass
class GeminiStandIn:
    """Registers the API on `server`. Scripted answers (`then_answer`) take precedence, in
    order, over the built-in behaviour; every generateContent body is kept in `requests`."""

    server: HTTPServer
    api_key: str = API_KEY
    models: dict[str, StandInModel] = field(default_factory=lambda: dict(STAND_IN_MODELS))
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    list_calls: int = 0
    _script: list[Callable[[Request, dict[str, Any]], Response]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.expect_request(GENERATE, method="POST").respond_with_handler(self._generate)
        self.server.expect_request(MODELS, method="GET").respond_with_handler(self._list)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    # -- scripting ---------------------------------------------------------------------------

    def then_answer(self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None,
                    content_type: str = "application/json") -> None:
        text = body if isinstance(body, str | bytes) else json.dumps(body)
        self._script.append(lambda request, payload: Response(text, status=status, headers=headers or {},
                                                              content_type=content_type))

    def then_handle(self, handler: Callable[[Request, dict[str, Any]], Response]) -> None:
        self._script.append(handler)

    # -- the API -----------------------------------------------------------------------------

    def _json(self, body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _key_problem(self, request: Request) -> Response | None:
        key = request.headers.get("x-goog-api-key") or request.args.get("key")
        if not key:
            return self._json(error_body(
                403, "Method doesn't allow unregistered callers (callers without established identity). "
                     "Please use API Key or other form of API consumer identity to call this API.",
                "PERMISSION_DENIED"), 403)
        if key != self.api_key:
            return self._json(bad_key_error(), 400)
        return None

    def _list(self, request: Request) -> Response:
        self.list_calls += 1
        if problem := self._key_problem(request):
            return problem
        models = [
            {"name": f"models/{name}", "version": "001", "displayName": name,
             "supportedGenerationMethods": ["generateContent", "countTokens", "batchGenerateContent"]}
            for name in self.models
        ]
        # Text and Imagen models are listed too; the provider must leave them out.
        models += [
            {"name": "models/gemini-3-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/imagen-4.0-generate-001", "supportedGenerationMethods": ["predict"]},
        ]
        return self._json({"models": models})

    def _generate(self, request: Request) -> Response:
        try:
            payload = json.loads(request.get_data() or b"{}")
        except ValueError:
            return self._json(error_body(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"), 400)
        with self._lock:
            self.requests.append(payload)
            self.headers.append(dict(request.headers))
            scripted = self._script.pop(0) if self._script else None
        if scripted is not None:
            return scripted(request, payload)
        if problem := self._key_problem(request):
            return problem
        name = GENERATE.match(request.path)["model"]
        model = self.models.get(name)
        if model is None:
            return self._json(error_body(
                404, f"models/{name} is not found for API version v1beta, or is not supported for generateContent. "
                     "Call ListModels to see the list of available models and their supported methods.",
                "NOT_FOUND"), 404)
        config = payload.get("generationConfig") or {}
        if int(config.get("candidateCount") or 1) > 1:
            return self._json(error_body(400, f"Multiple candidates is not enabled for models/{name}",
                                         "INVALID_ARGUMENT"), 400)
        image_config = config.get("imageConfig") or {}
        aspect = image_config.get("aspectRatio") or "1:1"
        tier = image_config.get("imageSize") or "1K"
        if aspect not in model.sizes_1k:
            return self._json(error_body(400, f"Unsupported aspect ratio: {aspect}", "INVALID_ARGUMENT"), 400)
        if image_config.get("imageSize") and tier not in model.tiers:
            return self._json(error_body(400, f"Unsupported image size: {tier}", "INVALID_ARGUMENT"), 400)
        parts = [part for content in payload.get("contents") or () for part in content.get("parts") or ()]
        text = " ".join(part.get("text", "") for part in parts)
        references = [part for part in parts if part.get("inlineData") or part.get("inline_data")]
        width, height = model.sizes_1k[aspect]
        size = (width * _SCALE[tier], height * _SCALE[tier])
        usage = usage_metadata(prompt_tokens=len(text) // 4 + 1 + 560 * len(references),
                               prompt_image_tokens=560 * len(references),
                               image_tokens=model.image_tokens[tier], thoughts=180 if model.thinks else 0)
        return self._json(image_answer(png(size), model=name, usage=usage,
                                       response_id=f"resp-{len(self.requests)}"))
