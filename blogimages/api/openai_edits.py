"""`POST /v1/images/edits` and `POST /v1/images/variations` in OpenAI's shapes (multipart).

The same tokens, rate limits, budgets, model names, answers and error objects as
`/v1/images/generations` (its helpers are shared from `openai.py`); the images go through
`editing.edit`, the one edit path, and are derived ImageOutputs in the gallery.

    OpenAI(base_url=".../v1", api_key=TOKEN).images.edit(image=..., mask=..., prompt="...", model="cards")

Edits: `image` (one file, or `image[]` up to 16: the first is the source, the others its
references), `mask` (PNG the first image's size, transparent = change), `prompt`, `model`,
`n`, `size`, `quality`, `background`, `output_format`, `output_compression`,
`input_fidelity`, `response_format`, `user`, `stream` / `partial_images` (OpenAI's
`image_edit.*` events, see `openai.stream_events`). Variations: `image`, `model`, `n`, `size`,
`response_format`, `user` — an edit of the image with its own prompt (read from the
file's provenance when it has one) and a new seed per image.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .. import editing, ratelimit
from ..conf import blogimages_settings
from ..exceptions import BlogImagesError, InvalidImage, UnsupportedFeature
from ..imaging import provenance
from ..models import OutputStatus
# Through the module, not its names: the helpers and OpenAIError are one set even if the
# module is reloaded (a test recomputes its constants that way).
from . import openai as v1

logger = logging.getLogger("blogimages.api")

MAX_IMAGES = 16
EDIT_FIELDS = frozenset({"prompt", "model", "n", "size", "quality", "background", "output_format",
                         "output_compression", "input_fidelity", "response_format", "user", "safety_identifier",
                         "stream", "partial_images"})
VARIATION_FIELDS = frozenset({"model", "n", "size", "response_format", "user", "safety_identifier"})
VARIATION_PROMPT = "Another version of this image."


def _form(request: HttpRequest, allowed: frozenset[str]) -> tuple[Mapping[str, str], list[bytes], bytes | None]:
    """The multipart form's fields, its images (in order) and its mask; 400s in OpenAI's words."""
    if not request.content_type.startswith("multipart/form-data"):
        raise v1.OpenAIError(400, "Unsupported content type: send multipart/form-data with the image file(s).",
                          param="image", code="invalid_content_type")
    try:
        fields, files = request.POST, request.FILES
    except RequestDataTooBig:
        raise v1.OpenAIError(413, "The request body is too large.", code="request_too_large") from None
    data: dict[str, str] = {}
    for name in fields:
        if name not in allowed:
            raise v1._invalid(name, f"Unrecognized request argument supplied: {name}", "unknown_parameter")
        value = fields.get(name)
        v1._check_text(name, value)
        data[name] = value
    for name in files:
        if name not in ("image", "image[]", "mask"):
            raise v1._invalid(name, f"Unrecognized file supplied: {name}", "unknown_parameter")
    uploads = files.getlist("image") + files.getlist("image[]")
    if not uploads:
        raise v1._invalid("image", "Missing required parameter: 'image'.", "missing_required_parameter")
    if len(uploads) > MAX_IMAGES:
        raise v1._invalid("image", f"Invalid 'image': at most {MAX_IMAGES} images may be provided, "
                                f"got {len(uploads)}.", "array_above_max_length")
    limit = blogimages_settings.MAX_UPLOAD_BYTES
    images = []
    for upload in [*uploads, *files.getlist("mask")]:
        if upload.size > limit:
            raise v1.OpenAIError(413, f"Invalid file {upload.name!r}: {upload.size:,} bytes; at most {limit:,} are "
                                   "accepted.", param="image", code="request_too_large")
        images.append(upload.read())
    mask = images.pop() if files.getlist("mask") else None
    return data, images, mask


def _integer_field(data: Mapping[str, str], name: str, *, minimum: int, maximum: int) -> int | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise v1._invalid(name, f"Invalid type for '{name}': expected an integer, but got '{raw[:20]}' instead.",
                       "invalid_type") from None
    if not minimum <= value <= maximum:
        raise v1._invalid(name, f"Invalid '{name}': expected a value from {minimum} to {maximum}, got {value}.",
                       "integer_above_max_value" if value > maximum else "integer_below_min_value")
    return value


def _boolean_field(data: Mapping[str, str], name: str) -> bool:
    """A multipart boolean as the SDKs send one ("true"/"false"); nothing is false."""
    raw = (data.get(name) or "").strip().lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise v1._invalid(name, f"Invalid type for '{name}': expected a boolean, but got '{raw[:20]}' instead.",
                      "invalid_type")


def _images_request(data: Mapping[str, str], *, prompt: str) -> v1.ImagesRequest:
    if not prompt.strip():
        raise v1._invalid("prompt", "Invalid 'prompt': empty string. Expected a string with minimum length 1.",
                       "empty_string")
    if len(prompt) > v1.ABSOLUTE_MAX_PROMPT:
        raise v1._prompt_too_long(len(prompt), v1.ABSOLUTE_MAX_PROMPT)
    size_text = data.get("size") or ""
    size = None
    if size_text not in ("", "auto"):
        match = v1.SIZE_RE.match(size_text)
        if not match:
            raise v1._invalid("size", f"Invalid 'size': '{size_text[:40]}'. Expected 'auto' or WIDTHxHEIGHT in "
                                   "pixels, such as '1024x1024'.")
        size = (int(match.group(1)), int(match.group(2)))
    model = (data.get("model") or "").strip()
    response_format = data.get("response_format") or v1.default_response_format(model)
    v1._choice("response_format", response_format, v1.RESPONSE_FORMATS)
    user = data.get("safety_identifier") or data.get("user") or ""
    if len(user) > 256:
        raise v1._invalid("user", "Invalid 'user': at most 256 characters.", "string_above_max_length")
    return v1.ImagesRequest(
        prompt=prompt, model=model, n=_integer_field(data, "n", minimum=1, maximum=v1.MAX_N) or 1, size=size,
        quality=data.get("quality") or "", style="", response_format=response_format, user=user,
        negative_prompt="", seed=None, steps=None, output_format=data.get("output_format") or "",
        partial_images=_integer_field(data, "partial_images", minimum=0, maximum=v1.MAX_PARTIAL_IMAGES),
        stream=_boolean_field(data, "stream"),
    )


def _extras(data: Mapping[str, str], target) -> dict[str, Any]:
    """background / output_compression for models that take them; "auto" and nothing are no choice."""
    extra: dict[str, Any] = {}
    info = getattr(target.provider, "model_info", None)
    model_info = info(target.model or target.caps.default_model) if callable(info) else None
    background = data.get("background") or ""
    if background and background != "auto":
        if model_info is None or background not in (model_info.backgrounds or ()):
            raise v1._invalid("background", f"Invalid 'background': {target.alias} does not take '{background}'.",
                           "unsupported_parameter")
        extra["background"] = background
    compression = _integer_field(data, "output_compression", minimum=0, maximum=100)
    if compression is not None:
        if model_info is None or "output_compression" not in (model_info.extra_params or ()):
            raise v1._invalid("output_compression", f"Invalid 'output_compression': {target.alias} does not take it.",
                           "unsupported_parameter")
        extra["output_compression"] = compression
    return extra


def _refused(exc: BlogImagesError) -> v1.OpenAIError:
    message = str(exc)
    param = "mask" if message.startswith("The mask") else "image" if isinstance(exc, InvalidImage) else None
    code = "invalid_image" if isinstance(exc, InvalidImage) else None
    return v1.OpenAIError(400, message, param=param, code=code)


def _answer(request: HttpRequest, *, kind: str, allowed: frozenset[str], variation: bool) -> JsonResponse:
    if request.method != "POST":
        return v1._method_not_allowed(request, "POST")
    request_id = getattr(request, "openai_request_id", None) or f"req_{uuid.uuid4().hex}"
    headers: dict[str, str] = {"x-request-id": request_id}
    started = time.monotonic()
    try:
        token = v1.authenticate(request)
        data, images, mask = _form(request, allowed)
        if variation:
            if len(images) > 1 or mask is not None:
                raise v1._invalid("image", "Invalid 'image': variations take exactly one image and no mask.")
            prompt = str(provenance.read_provenance(images[0]).get("prompt") or "") or VARIATION_PROMPT \
                if _is_image(images[0]) else VARIATION_PROMPT
        else:
            prompt = data.get("prompt")
            if prompt is None:
                raise v1._invalid("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter")
        req = _images_request(data, prompt=prompt)
        target = v1.resolve_model(req.model)
        if not target.caps.supports_edit:
            raise v1._invalid("model", f"Invalid 'model': {target.alias} cannot edit images; models that can: "
                                    f"{', '.join(editing.editing_providers()) or 'none'}.", "unsupported_model")
        ignored: list[str] = []
        _prompt, overrides = v1.generation_arguments(req, target, ignored)
        if ignored:
            headers[v1.IGNORED_HEADER] = ", ".join(ignored)
        extra = _extras(data, target)
        if extra:
            overrides["extra"] = {**(overrides.get("extra") or {}), **extra}
        fidelity = data.get("input_fidelity") or ""
        if fidelity:
            v1._choice("input_fidelity", fidelity, editing.INPUT_FIDELITIES)

        def run(on_partial=None) -> list:
            outputs = editing.edit(image=images[0], mask=mask, references=images[1:], prompt=req.prompt,
                                   input_fidelity=fidelity, provider=target.alias, overrides=overrides, n=req.n,
                                   user=token.user, api_token=token, on_partial=on_partial,
                                   partial_images=req.partial_images or 0)
            for output in outputs:
                output.refresh_from_db()
            return outputs

        def refusal(exc: BlogImagesError) -> v1.OpenAIError:
            if isinstance(exc, (InvalidImage, UnsupportedFeature)):
                return _refused(exc)
            return v1.generation_error(exc, req.model)

        if req.stream:
            response = v1.stream_events(run, req=req, target=target, overrides=overrides, token=token,
                                        headers=headers, kind="image_edit", refusal=refusal)
            return v1._with_headers(response, headers)
        try:
            outputs = run()
        except BlogImagesError as exc:
            raise refusal(exc) from exc
        headers.update(ratelimit.headers_for(ratelimit.status(user=token.user, token=token)))
        succeeded = [o for o in outputs if o.status == OutputStatus.SUCCEEDED]
        if not succeeded:
            raise v1._failure_error(outputs)
        body = {
            "created": int(time.time()),
            "data": [v1._image_data(request, output, req.response_format) for output in succeeded],
            "size": f"{succeeded[0].width}x{succeeded[0].height}",
            "output_format": (succeeded[0].mime_type or "image/png").split("/")[-1],
            "quality": overrides.get("quality") or "auto",
            "usage": v1._usage(outputs),
            "metadata": {"duration": int((time.monotonic() - started) * 1000), "provider": target.alias,
                         "model": succeeded[0].model},
            "blogimages": {"images": [
                {"id": o.pk, "uid": str(o.uid), "status": o.status, "provider": o.provider, "model": o.model,
                 "seed": o.seed, "derivation": o.derivation, "error": o.error or None}
                for o in outputs
            ]},
        }
    except v1.OpenAIError as exc:
        return v1._with_headers(exc.response(), headers)
    except Exception:
        logger.exception("v1 images/%s failed (%s)", kind, request_id)
        error = v1.OpenAIError(500, f"The server had an error while processing your request ({request_id}).",
                            type="server_error")
        return v1._with_headers(error.response(), headers)
    headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
    return v1._with_headers(JsonResponse(body), headers)


def _is_image(data: bytes) -> bool:
    try:
        editing.check_image(data)
    except InvalidImage:
        return False
    return True


@csrf_exempt
def images_edits(request: HttpRequest) -> JsonResponse:
    """POST /v1/images/edits"""
    return _answer(request, kind="edits", allowed=EDIT_FIELDS, variation=False)


@csrf_exempt
def images_variations(request: HttpRequest) -> JsonResponse:
    """POST /v1/images/variations"""
    return _answer(request, kind="variations", allowed=VARIATION_FIELDS, variation=True)
