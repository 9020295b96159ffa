"""An OpenAI-compatible images endpoint: `POST /v1/images/generations` and `GET /v1/models`.

Plain Django views that speak OpenAI's exact shapes, so the openai SDK (and anything else
written for the Images API) works against this app unchanged:

    OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=TOKEN).images.generate(model="cards", prompt="...")

Requests authenticate with a personal API token (`Authorization: Bearer bi_...`), count
against the rate limits, are checked against the budgets before any provider is called,
and go through `generation.generate` like every other image: each one is an ImageOutput
in the gallery. Errors are OpenAI's error object, `{"error": {"message", "type", "param",
"code"}}`, with the status codes the SDK maps to its exception classes.

`model` names a provider and model: a provider alias (`cards`, `openai`, `sd`...) for its
default model, `alias/model` (`sd/<checkpoint>`), or a bare model name that one configured
provider offers (`gpt-image-2`). `GET /v1/models` lists the ids.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .. import generation, ratelimit, signed_media, tokens
from ..budgets import BudgetExceeded, seconds_until_reset
from ..conf import blogimages_settings
from ..exceptions import BlogImagesError, InvalidProviderError, ModelRetired, ProviderError, UnsupportedFeature
from ..models import ApiToken, ImageOutput, ImagePrompt, OutputStatus
from ..providers import BaseProvider, Capabilities, get_provider, providers
from ..providers.base import MAX_SEED_64

logger = logging.getLogger("blogimages.api")

# `created` of every model in /v1/models: one fixed instant (2026-12-01T00:00:00Z), so every
# web process and every restart lists the same models the same way.
STARTED = 1_796_083_200
MAX_N = 10
# No provider takes more; longer prompts are refused before a provider is even looked up.
ABSOLUTE_MAX_PROMPT = 32_000
SIZE_RE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
RESPONSE_FORMATS = ("url", "b64_json")
KNOWN_FIELDS = frozenset({
    "prompt", "model", "n", "size", "quality", "style", "response_format", "user", "safety_identifier",
    "negative_prompt", "seed", "steps", "output_format",
})
# Model names for which OpenAI answered with a URL unless asked otherwise.
URL_DEFAULT_MODELS = re.compile(r"^(?:[\w.-]+/)?dall-e-[23]$")
# OpenAI fields for GPT image models that this server does not implement. A value that
# asks for nothing (null, false, "auto") is accepted and ignored.
UNSUPPORTED_FIELDS = frozenset({"background", "moderation", "output_compression", "partial_images", "stream"})


class OpenAIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = dict(headers or {})

    def response(self) -> JsonResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        response = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def _invalid(param: str, message: str, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


# -- authentication ----------------------------------------------------------------------


def authenticate(request: HttpRequest) -> ApiToken:
    """The request's API token, or a 401 like OpenAI's. Never a session: /v1 is for programs."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.strip().partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="blogimages"'}
    if not header or scheme.lower() != "bearer" or not raw.strip():
        raise OpenAIError(
            401,
            "You didn't provide an API key. Send your blogimages API token in an Authorization header "
            "using Bearer auth (Authorization: Bearer bi_...). Create one with `python manage.py "
            "create_api_token USER` or in the admin.",
            code="invalid_api_key", headers=challenge,
        )
    token = tokens.authenticate_token(raw.strip())
    if token is None:
        raise OpenAIError(
            401, "Incorrect API key provided, or the key was revoked or has expired.",
            code="invalid_api_key", headers=challenge,
        )
    return token


def _limit(token: ApiToken) -> dict[str, str]:
    try:
        statuses = ratelimit.hit(user=token.user, token=token)
    except ratelimit.RateLimited as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        if exc.retry_after > 60:
            # The SDK would retry within seconds: tell it not to bother.
            headers["x-should-retry"] = "false"
        raise OpenAIError(429, str(exc), type="requests", code="rate_limit_exceeded", headers=headers) from exc
    except ratelimit.RateLimitUnavailable as exc:
        raise OpenAIError(503, str(exc), type="server_error", code="service_unavailable",
                          headers={"Retry-After": str(exc.retry_after)}) from exc
    return ratelimit.headers_for(statuses)


# -- request parsing -----------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def read_json(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, or 413 / 400 in OpenAI's words."""
    limit = int(blogimages_settings.API_MAX_BODY_BYTES)
    too_big = OpenAIError(413, f"The request body is too large; at most {limit} bytes are accepted.",
                          code="request_too_large")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_big
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(raw) > limit:
        raise too_big
    unparsable = OpenAIError(
        400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
             "HTTP library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)",
    )
    if not raw.strip():
        raise unparsable

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise unparsable from None
    if not isinstance(data, dict):
        raise OpenAIError(400, f"The request body must be a JSON object, not {_json_type(data)}.")
    return data


def _check_text(name: str, value: str) -> None:
    # NUL cannot be stored by PostgreSQL, and lone surrogates cannot be encoded at all.
    if "\x00" in value:
        raise _invalid(name, f"Invalid '{name}': the string contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(name, f"Invalid '{name}': the string is not valid Unicode.") from None


def _string(data: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _invalid(name, f"Missing required parameter: '{name}'.", "missing_required_parameter")
        return None
    if not isinstance(value, str):
        raise _invalid(name, f"Invalid type for '{name}': expected a string, but got {_json_type(value)} instead.",
                       "invalid_type")
    _check_text(name, value)
    return value


def _integer(data: Mapping[str, Any], name: str, *, minimum: int, maximum: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, f"Invalid type for '{name}': expected an integer, but got {_json_type(value)} instead.",
                       "invalid_type")
    if value < minimum:
        raise _invalid(name, f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, "
                             f"but got {value} instead.", "integer_below_min_value")
    if value > maximum:
        raise _invalid(name, f"Invalid '{name}': integer above maximum value. Expected a value <= {maximum}, "
                             f"but got {value} instead.", "integer_above_max_value")
    return value


def _choice(name: str, value: str, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        quoted = ", ".join(f"'{item}'" for item in allowed)
        raise _invalid(name, f"Invalid value: '{value}'. Supported values are: {quoted}.")


@dataclass(frozen=True, kw_only=True)
class ImagesRequest:
    """A /v1/images/generations body, type-checked (not yet checked against a provider)."""

    prompt: str
    model: str
    n: int
    size: tuple[int, int] | None  # None: the provider's default ("auto" or not given)
    quality: str
    style: str
    response_format: str
    user: str
    negative_prompt: str
    seed: int | None
    steps: int | None
    output_format: str


def parse_images_request(data: Mapping[str, Any]) -> ImagesRequest:
    for name in data:
        if name in UNSUPPORTED_FIELDS:
            if data[name] in (None, False, "auto"):
                continue
            raise _invalid(name, f"'{name}' is not supported by this server.", "unsupported_parameter")
        if name not in KNOWN_FIELDS:
            raise _invalid(name, f"Unrecognized request argument supplied: {name}", "unknown_parameter")

    prompt = _string(data, "prompt", required=True)
    if not prompt.strip():
        raise _invalid("prompt", "Invalid 'prompt': empty string. Expected a string with minimum length 1.",
                       "empty_string")
    if len(prompt) > ABSOLUTE_MAX_PROMPT:
        raise _prompt_too_long(len(prompt), ABSOLUTE_MAX_PROMPT)
    n = _integer(data, "n", minimum=1, maximum=MAX_N)

    size_text = _string(data, "size")
    size = None
    if size_text not in (None, "", "auto"):
        match = SIZE_RE.match(size_text)
        if not match:
            raise _invalid("size", f"Invalid 'size': '{size_text[:40]}'. Expected 'auto' or WIDTHxHEIGHT in "
                                   "pixels, such as '1024x1024'.")
        size = (int(match.group(1)), int(match.group(2)))

    model = (_string(data, "model") or "").strip()
    response_format = _string(data, "response_format") or default_response_format(model)
    _choice("response_format", response_format, RESPONSE_FORMATS)
    # Current SDKs send `safety_identifier` where older ones sent `user`: both name the end user.
    user = _string(data, "safety_identifier") or _string(data, "user") or ""
    if len(user) > 256:
        raise _invalid("user", "Invalid 'user': at most 256 characters.", "string_above_max_length")
    return ImagesRequest(
        prompt=prompt,
        model=model,
        n=n or 1,
        size=size,
        quality=_string(data, "quality") or "",
        style=_string(data, "style") or "",
        response_format=response_format,
        user=user,
        negative_prompt=_string(data, "negative_prompt") or "",
        seed=_integer(data, "seed", minimum=-1, maximum=MAX_SEED_64),
        steps=_integer(data, "steps", minimum=1, maximum=10_000),
        output_format=_string(data, "output_format") or "",
    )


def default_response_format(model: str) -> str:
    """What a request without response_format gets (see V1_DEFAULT_RESPONSE_FORMAT)."""
    if URL_DEFAULT_MODELS.match(model):
        return "url"
    value = blogimages_settings.V1_DEFAULT_RESPONSE_FORMAT
    return value if value in RESPONSE_FORMATS else "b64_json"


def _prompt_too_long(length: int, maximum: int) -> OpenAIError:
    return _invalid("prompt", f"Invalid 'prompt': string too long. Expected a string with maximum length "
                              f"{maximum}, but got a string with length {length} instead.", "string_above_max_length")


# -- model names -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Target:
    alias: str
    provider: BaseProvider
    model: str  # "" = the provider's default model
    caps: Capabilities


def _provider_or_none(alias: str) -> BaseProvider | None:
    try:
        return get_provider(alias)
    except InvalidProviderError as exc:
        logger.warning("provider %s is not usable: %s", alias, exc)
        return None


def _model_not_found(name: str) -> OpenAIError:
    retired = _retired_model_error(name)
    if retired is not None:
        return retired
    return OpenAIError(
        404, f"The model '{name[:200]}' does not exist or you do not have access to it. "
             "GET /v1/models lists the available models.",
        param="model", code="model_not_found",
    )


def _retired_model_error(name: str, exc: ModelRetired | None = None) -> OpenAIError | None:
    """OpenAI's own answer for a shut-down model (404 model_not_found), naming the replacement."""
    if exc is None:
        alias, slash, model = name.partition("/")
        candidates = [(alias, model)] if slash else [(a, name) for a in providers.aliases()]
        for alias, model in candidates:
            provider = _provider_or_none(alias) if alias in providers.aliases() else None
            lifecycle = provider.lifecycle(model) if provider is not None and model else None
            if lifecycle is not None and lifecycle.retired:
                message = lifecycle.message()
                break
        else:
            return None
    else:
        message = str(exc).split(": ", 1)[-1]
    return OpenAIError(404, f"The model `{name[:200]}` has been deprecated: {message}", param="model",
                       code="model_not_found")


def resolve_model(name: str) -> Target:
    """The provider and model `name` means (see the module docstring), or 404 model_not_found."""
    aliases = providers.aliases()
    if not name:
        provider = get_provider(None)
        return Target(alias=provider.alias, provider=provider, model="", caps=provider.capabilities(""))
    if name in aliases:
        provider = _provider_or_none(name)
        if provider is None:
            raise _model_not_found(name)
        return Target(alias=name, provider=provider, model="", caps=provider.capabilities(""))
    alias, slash, model = name.partition("/")
    if slash and alias in aliases:
        provider = _provider_or_none(alias)
        if provider is None or not model:
            raise _model_not_found(name)
        caps = provider.capabilities(model)
        # A provider that cannot list its models (some OpenAI-style hosts) lets the server judge.
        if caps.models and model not in caps.models:
            raise _model_not_found(name)
        return Target(alias=alias, provider=provider, model=model, caps=caps)
    # A bare model name: the provider that offers it (the default provider first).
    default = blogimages_settings.DEFAULT_PROVIDER
    for alias in sorted(aliases, key=lambda a: a != default):
        provider = _provider_or_none(alias)
        if provider is not None and name in provider.capabilities("").models:
            return Target(alias=alias, provider=provider, model=name, caps=provider.capabilities(name))
    raise _model_not_found(name)


def model_ids() -> list[tuple[str, str]]:
    """[(id, owning provider alias)], one entry per model: the alias names the provider's
    default model, `alias/model` each other model it offers (both are accepted either way)."""
    out = []
    for alias in providers.aliases():
        provider = _provider_or_none(alias)
        if provider is None:
            continue
        caps = provider.capabilities("")
        out.append((alias, alias))
        out.extend((f"{alias}/{model}", alias) for model in caps.models if model != (caps.default_model or ""))
    return out


def _model_object(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": STARTED, "owned_by": owner}


# -- from an OpenAI request to generation.generate ------------------------------------------


def generation_arguments(req: ImagesRequest, target: Target) -> tuple[ImagePrompt, dict[str, Any]]:
    """The prompt and overrides for `generation.generate`, checked against the model's
    capabilities so every refusal names the field (`param`) at fault."""
    caps = target.caps
    if len(req.prompt) > caps.max_prompt_length:
        raise _prompt_too_long(len(req.prompt), caps.max_prompt_length)
    if req.n > caps.max_n:
        raise _invalid("n", f"Invalid 'n': {target.alias} model {target.model or caps.default_model or 'default'} "
                            f"makes at most {caps.max_n} image(s) per request.", "integer_above_max_value")
    overrides: dict[str, Any] = {"model": target.model}
    if req.size is not None:
        if not caps.allows_size(*req.size):
            raise _invalid("size", f"Invalid 'size': {req.size[0]}x{req.size[1]} is not supported by "
                                   f"{target.alias}; supported: {caps.describe_sizes()}.")
        overrides["width"], overrides["height"] = req.size
    # "auto" is every model's default quality; "standard" is the default of a model without choices.
    if req.quality and req.quality != "auto" and not (req.quality == "standard" and not caps.qualities):
        if not caps.qualities:
            raise _invalid("quality", f"Invalid 'quality': {target.alias} has no quality setting; leave it out "
                                      "or send 'auto'.")
        _choice("quality", req.quality, caps.qualities)
        overrides["quality"] = req.quality
    prompt_style = ""
    if req.style:
        if req.style in caps.styles:
            overrides["style"] = req.style
        elif caps.styles:
            _choice("style", req.style, caps.styles)
        else:
            # A model without style presets takes the style as words of the prompt ("noir",
            # "watercolor"), as the CLI and the prompt library do.
            prompt_style = req.style
    if req.negative_prompt and not caps.supports_negative_prompt:
        raise _invalid("negative_prompt", f"Invalid 'negative_prompt': {target.alias} does not take one.",
                       "unsupported_parameter")
    if req.seed is not None:
        if not caps.supports_seed:
            raise _invalid("seed", f"Invalid 'seed': {target.alias} does not take a seed.", "unsupported_parameter")
        overrides["seed"] = req.seed
    if req.steps is not None:
        if not caps.supports_steps:
            raise _invalid("steps", f"Invalid 'steps': {target.alias} does not take a step count.",
                           "unsupported_parameter")
        if req.steps > caps.max_steps:
            raise _invalid("steps", f"Invalid 'steps': at most {caps.max_steps}.", "integer_above_max_value")
        overrides["steps"] = req.steps
    if req.output_format:
        fmt = "jpeg" if req.output_format == "jpg" else req.output_format
        _choice("output_format", fmt, caps.output_formats)
        overrides["output_format"] = fmt
    prompt = ImagePrompt(description=req.prompt, style=prompt_style, negative_prompt=req.negative_prompt)
    return prompt, overrides


def seconds_until_budget_reset(scope: str) -> int:
    return seconds_until_reset(scope.split("_", 1)[1])  # "daily" or "monthly"


def _budget_error(exc: BudgetExceeded) -> OpenAIError:
    # Retrying will not help before the budget's period resets; the SDK must not retry.
    return OpenAIError(429, str(exc), type="insufficient_quota", code="budget_exceeded",
                       headers={"Retry-After": str(seconds_until_budget_reset(exc.scope)), "x-should-retry": "false"})


def _failure_error(outputs: list[ImageOutput]) -> OpenAIError:
    reasons = "; ".join(sorted({o.error for o in outputs if o.error})) or "the provider made no image"
    kinds = {((o.provider_metadata or {}).get("error") or {}).get("type") for o in outputs}
    if "ContentRefused" in kinds:
        return OpenAIError(400, f"Your request was rejected by the image provider's safety system: {reasons}",
                           code="content_policy_violation")
    return OpenAIError(502, f"The image provider failed: {reasons}", type="server_error", code="provider_error")


def _image_data(request: HttpRequest, output: ImageOutput, response_format: str) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if output.revised_prompt and output.revised_prompt != output.prompt_text:
        item["revised_prompt"] = output.revised_prompt  # only a provider that rewrote the prompt says so
    if response_format == "b64_json":
        with output.file.open("rb") as fh:
            item["b64_json"] = base64.b64encode(fh.read()).decode("ascii")
    else:
        item["url"] = signed_media.url_for(output.file.name, request=request)
    return item


def _usage(outputs: list[ImageOutput]) -> dict[str, Any]:
    """OpenAI's usage object, summed from what providers reported (zeros when they report none)."""
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "image_tokens": 0, "text_tokens": 0}
    for output in outputs:
        usage = (output.provider_metadata or {}).get("usage") or {}
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            value = usage.get(key)
            totals[key] += value if isinstance(value, int) else 0
        details = usage.get("input_tokens_details") or {}
        for key in ("image_tokens", "text_tokens"):
            value = details.get(key) if isinstance(details, Mapping) else None
            totals[key] += value if isinstance(value, int) else 0
    return {
        "input_tokens": totals["input_tokens"],
        "input_tokens_details": {"image_tokens": totals["image_tokens"], "text_tokens": totals["text_tokens"]},
        "output_tokens": totals["output_tokens"],
        "total_tokens": totals["total_tokens"] or totals["input_tokens"] + totals["output_tokens"],
    }


def _with_headers(response: JsonResponse, headers: Mapping[str, str]) -> JsonResponse:
    for name, value in headers.items():
        response[name] = value
    return response


# -- views -----------------------------------------------------------------------------------


def _method_not_allowed(request: HttpRequest, allowed: str) -> JsonResponse:
    error = OpenAIError(405, f"Method {request.method} is not allowed here; use {allowed}.",
                        headers={"Allow": allowed})
    return error.response()


@csrf_exempt
def images_generations(request: HttpRequest) -> JsonResponse:
    """POST /v1/images/generations"""
    if request.method != "POST":
        return _method_not_allowed(request, "POST")
    request_id = getattr(request, "openai_request_id", None) or f"req_{uuid.uuid4().hex}"
    headers: dict[str, str] = {"x-request-id": request_id}
    started = time.monotonic()
    try:
        token = authenticate(request)
        headers.update(_limit(token))
        req = parse_images_request(read_json(request))
        target = resolve_model(req.model)
        prompt, overrides = generation_arguments(req, target)
        try:
            outputs = generation.generate(prompt=prompt, provider=target.alias, overrides=overrides, n=req.n,
                                          user=token.user, api_token=token)
        except BudgetExceeded as exc:
            raise _budget_error(exc) from exc
        except ModelRetired as exc:
            raise _retired_model_error(req.model, exc) from exc
        except UnsupportedFeature as exc:
            raise OpenAIError(400, str(exc)) from exc
        except ProviderError as exc:
            # Raised before any image was claimed, e.g. every concurrency slot stayed busy.
            retry = {"Retry-After": str(math.ceil(getattr(exc, "retry_after", None) or 1))} if exc.retryable else {}
            raise OpenAIError(503 if exc.retryable else 502, f"The image provider is not available: {exc}",
                              type="server_error", code="provider_unavailable", headers=retry) from exc
        except BlogImagesError as exc:
            logger.error("v1 generation failed: %s", exc)
            raise OpenAIError(500, f"The server could not generate the image: {exc}", type="server_error") from exc
        succeeded = [o for o in outputs if o.status == OutputStatus.SUCCEEDED]
        failed = [o for o in outputs if o.status != OutputStatus.SUCCEEDED]
        if not succeeded:
            raise _failure_error(failed)
        body = {
            "created": int(time.time()),
            "data": [_image_data(request, output, req.response_format) for output in succeeded],
            "size": f"{succeeded[0].width}x{succeeded[0].height}",
            "output_format": (succeeded[0].mime_type or "image/png").split("/")[-1],
            "quality": overrides.get("quality") or "auto",
            # One call's usage is stored once (on its first image, which may have failed).
            "usage": _usage(outputs),
            # Not OpenAI's (the SDKs keep unknown keys): how the request was served.
            "metadata": {"duration": int((time.monotonic() - started) * 1000), "provider": target.alias,
                         "model": succeeded[0].model},
            # Not OpenAI's (the SDK keeps unknown keys): where the images are in this app.
            "blogimages": {
                "images": [
                    {"id": o.pk, "uid": str(o.uid), "status": o.status, "provider": o.provider, "model": o.model,
                     "seed": o.seed, "cost_estimate": None if o.cost_estimate is None else f"{o.cost_estimate:.4f}",
                     "error": o.error or None}
                    for o in outputs
                ],
            },
        }
    except OpenAIError as exc:
        return _with_headers(exc.response(), headers)
    except Exception:
        # A bug must still answer in OpenAI's shape, or the SDK shows an HTML page as the error.
        logger.exception("v1 images/generations failed (%s)", request_id)
        error = OpenAIError(500, f"The server had an error while processing your request ({request_id}).",
                            type="server_error")
        return _with_headers(error.response(), headers)
    headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
    return _with_headers(JsonResponse(body), headers)


@csrf_exempt
def models_list(request: HttpRequest) -> JsonResponse:
    """GET /v1/models"""
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    try:
        authenticate(request)
    except OpenAIError as exc:
        return exc.response()
    return JsonResponse({"object": "list", "data": [_model_object(mid, owner) for mid, owner in model_ids()]})


@csrf_exempt
def model_detail(request: HttpRequest, model: str) -> JsonResponse:
    """GET /v1/models/<id> (ids may contain a slash: `sd/<checkpoint>`)."""
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    try:
        authenticate(request)
        _check_text("model", model)
        target = resolve_model(model)
    except OpenAIError as exc:
        return exc.response()
    return JsonResponse(_model_object(model, target.alias))


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other /v1/ URL: OpenAI's answer for an endpoint this server does not have."""
    message = f"Invalid URL ({request.method} /v1/{path[:200]})"
    if path.endswith("/") and path.rstrip("/") in ("images/generations", "models"):
        message += f"; did you mean /v1/{path.rstrip('/')} (without the trailing slash)?"
    return OpenAIError(404, message).response()


@csrf_exempt
def missing_prefix(request: HttpRequest) -> JsonResponse:
    """/images/generations or /models without /v1: the client's base URL lacks its /v1."""
    base = request.build_absolute_uri("/v1").rstrip("/")
    return OpenAIError(404, f"Invalid URL ({request.method} {request.path[:200]}): the API is under /v1. Set the "
                            f"client's base URL to {base} (for the openai SDK: base_url='{base}').").response()
