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
import contextvars
import json
import logging
import math
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from .. import generation, ratelimit, signed_media, tokens
from ..budgets import BudgetExceeded, PriceUnknown, seconds_until_reset
from ..conf import blogimages_settings
from ..exceptions import BlogImagesError, InvalidProviderError, ModelRetired, ProviderError, UnsupportedFeature
from ..models import ApiToken, ImageOutput, ImagePrompt, OutputStatus
from ..providers import BaseProvider, Capabilities, get_provider, providers
from ..providers.base import MAX_SEED_64, PartialCallback, given_seed
from ..after_response import after_response

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
    "background", "moderation", "output_compression", "input_fidelity", "partial_images", "stream",
})
# Model names for which OpenAI answered with a URL unless asked otherwise.
URL_DEFAULT_MODELS = re.compile(r"^(?:[\w.-]+/)?dall-e-[23]$")
# OpenAI's values for the GPT image options (openai-python types/image_generate_params.py,
# image_edit_params.py); a value outside them is a 400 whatever the model.
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATIONS = ("low", "auto")
INPUT_FIDELITIES = ("high", "low")
MAX_PARTIAL_IMAGES = 3
# The response header that lists the parameters accepted but not used for this provider.
IGNORED_HEADER = "x-blogimages-ignored-parameters"


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


def rate_limit_error(exc: ratelimit.RateLimited | ratelimit.RateLimitUnavailable) -> OpenAIError:
    """A refusal of the rate limits (counted by generation) in OpenAI's words and headers."""
    if isinstance(exc, ratelimit.RateLimitUnavailable):
        return OpenAIError(503, str(exc), type="server_error", code="service_unavailable",
                           headers={"Retry-After": str(exc.retry_after)})
    headers = exc.headers()
    if exc.retry_after > 60:
        # The SDK would retry within seconds: tell it not to bother.
        headers["x-should-retry"] = "false"
    return OpenAIError(429, str(exc), type="requests", code="rate_limit_exceeded", headers=headers)


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
    # OpenAI's GPT image options (None = not sent); see gpt_image_options().
    background: str | None = None
    moderation: str | None = None
    output_compression: int | None = None
    input_fidelity: str | None = None
    partial_images: int | None = None
    stream: bool = False
    # `size: "auto"` was sent: passed through to a model that takes it (Capabilities.auto_size).
    size_auto: bool = False


def gpt_image_options(data: Mapping[str, Any]) -> dict[str, Any]:
    """`background`, `moderation`, `output_compression`, `input_fidelity`, `partial_images` and
    `stream`, type-checked against OpenAI's own values (shared by generations and edits)."""
    options: dict[str, Any] = {}
    for name, allowed in (("background", BACKGROUNDS), ("moderation", MODERATIONS),
                          ("input_fidelity", INPUT_FIDELITIES)):
        value = _string(data, name)
        if value is not None:
            _choice(name, value, allowed)
            options[name] = value
    options["output_compression"] = _integer(data, "output_compression", minimum=0, maximum=100)
    options["partial_images"] = _integer(data, "partial_images", minimum=0, maximum=MAX_PARTIAL_IMAGES)
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream", f"Invalid type for 'stream': expected a boolean, but got {_json_type(stream)} "
                                 "instead.", "invalid_type")
    options["stream"] = bool(stream)
    return options


def parse_images_request(data: Mapping[str, Any]) -> ImagesRequest:
    for name in data:
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
        size_auto=size_text == "auto",
        quality=_string(data, "quality") or "",
        style=_string(data, "style") or "",
        response_format=response_format,
        user=user,
        negative_prompt=_string(data, "negative_prompt") or "",
        # −1 is "random" (A1111's and many OpenAI clients' convention): no seed, for any provider.
        seed=given_seed(_integer(data, "seed", minimum=-1, maximum=MAX_SEED_64)),
        steps=_integer(data, "steps", minimum=1, maximum=10_000),
        output_format=_string(data, "output_format") or "",
        **gpt_image_options(data),
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


def generation_arguments(req: ImagesRequest, target: Target,
                         ignored: list[str] | None = None) -> tuple[ImagePrompt, dict[str, Any]]:
    """The prompt and overrides for `generation.generate`, checked against the model's
    capabilities so every refusal names the field (`param`) at fault.

    A value that means nothing to the model (a quality level on a model without qualities,
    an opaque background on a renderer that only paints opaque images) is accepted and its
    name appended to `ignored`, for the response to say so; only what the model cannot
    honour (a transparent background it cannot make) is refused.
    """
    ignored = [] if ignored is None else ignored
    caps = target.caps
    if len(req.prompt) > caps.max_prompt_length:
        raise _prompt_too_long(len(req.prompt), caps.max_prompt_length)
    if req.n > caps.max_n:
        raise _invalid("n", f"Invalid 'n': {target.alias} model {target.model or caps.default_model or 'default'} "
                            f"makes at most {caps.max_n} image(s) per request.", "integer_above_max_value")
    overrides: dict[str, Any] = {"model": target.model}
    if req.user:
        overrides["user"] = req.user  # the end user, for the provider's abuse monitoring
    if req.size is not None:
        if not caps.allows_size(*req.size):
            raise _invalid("size", f"Invalid 'size': {req.size[0]}x{req.size[1]} is not supported by "
                                   f"{target.alias}; supported: {caps.describe_sizes()}.")
        overrides["width"], overrides["height"] = req.size
    # "auto" is every model's default quality; "standard" is the default of a model without choices.
    if req.quality and req.quality != "auto" and not (req.quality == "standard" and not caps.qualities):
        if not caps.qualities:
            ignored.append("quality")
        else:
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
    extra = gpt_image_extra(req, target, overrides.get("output_format") or "", ignored)
    if req.size_auto and caps.auto_size:
        extra["size"] = "auto"  # the model picks the size itself; others make their default size
    if extra:
        overrides["extra"] = extra
    prompt = ImagePrompt(description=req.prompt, style=prompt_style, negative_prompt=req.negative_prompt)
    return prompt, overrides


def gpt_image_extra(req: ImagesRequest, target: Target, output_format: str, ignored: list[str]) -> dict[str, Any]:
    """The GPT image options `target` takes, for the provider's `request.extra`; the names of
    the others are appended to `ignored`."""
    caps = target.caps
    extra: dict[str, Any] = {}
    label = f"{target.alias} model {target.model or caps.default_model or 'default'}"
    if req.background is not None:
        if req.background in caps.backgrounds and "background" in caps.extra_params:
            if req.background == "transparent" and (output_format or "png") not in ("png", "webp"):
                raise _invalid("background", "Invalid 'background': a transparent background needs "
                                             "output_format 'png' or 'webp'.", "unsupported_value")
            extra["background"] = req.background
        elif req.background == "transparent":
            raise _invalid("background", f"Invalid 'background': {label} cannot make a transparent background; "
                                         "leave it out or send 'opaque' or 'auto'.", "unsupported_value")
        else:
            ignored.append("background")  # opaque or auto: what this renderer makes anyway
    if req.moderation is not None:
        if req.moderation in caps.moderations and "moderation" in caps.extra_params:
            extra["moderation"] = req.moderation
        else:
            ignored.append("moderation")
    if req.output_compression is not None:
        # OpenAI applies compression only to jpeg and webp; png is lossless whatever is asked.
        if "output_compression" in caps.extra_params and output_format in ("jpeg", "webp"):
            extra["output_compression"] = req.output_compression
        else:
            ignored.append("output_compression")
    if req.input_fidelity is not None:
        ignored.append("input_fidelity")  # about input images: a generation has none
    if req.partial_images is not None:
        if not (req.stream and caps.max_partial_images):
            # Without streaming there is nothing to send partial images in; a provider that
            # makes none streams only its final image.
            ignored.append("partial_images")
    return extra


def seconds_until_budget_reset(scope: str) -> int:
    return seconds_until_reset(scope.split("_", 1)[1])  # "daily" or "monthly"


def _budget_error(exc: BudgetExceeded) -> OpenAIError:
    if isinstance(exc, PriceUnknown):
        # Not a matter of time: no retry helps until the operator prices the request.
        return OpenAIError(400, str(exc), code="price_unknown", headers={"x-should-retry": "false"})
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


def quality_made(output: ImageOutput, overrides: Mapping[str, Any]) -> str:
    """What OpenAI's `quality` says: the level the provider chose (for "auto"), else what was sent."""
    said = (output.provider_metadata or {}).get("quality")
    return said if isinstance(said, str) and said else (overrides.get("quality") or "auto")


def background_made(output: ImageOutput, overrides: Mapping[str, Any]) -> str:
    """What OpenAI's `background` says: the provider's own word, else what was sent; a backend
    without a choice paints opaque images."""
    said = (output.provider_metadata or {}).get("background")
    if said in ("transparent", "opaque"):
        return said
    sent = (overrides.get("extra") or {}).get("background")
    return "transparent" if sent == "transparent" else "opaque"


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


def generation_error(exc: BlogImagesError, model: str) -> OpenAIError:
    """What a refusal raised by `generation` (before any image was made) is in OpenAI's words."""
    if isinstance(exc, (ratelimit.RateLimited, ratelimit.RateLimitUnavailable)):
        return rate_limit_error(exc)
    if isinstance(exc, BudgetExceeded):
        return _budget_error(exc)
    if isinstance(exc, ModelRetired):
        return _retired_model_error(model, exc)
    if isinstance(exc, UnsupportedFeature):
        return OpenAIError(400, str(exc))
    if isinstance(exc, ProviderError):
        # Raised before any image was claimed, e.g. every concurrency slot stayed busy.
        retry = {"Retry-After": str(math.ceil(getattr(exc, "retry_after", None) or 1))} if exc.retryable else {}
        return OpenAIError(503 if exc.retryable else 502, f"The image provider is not available: {exc}",
                           type="server_error", code="provider_unavailable", headers=retry)
    logger.error("v1 generation failed: %s", exc)
    return OpenAIError(500, f"The server could not generate the image: {exc}", type="server_error")


# -- streaming (stream=true) -------------------------------------------------------------------


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_response(request: HttpRequest, req: ImagesRequest, target: Target, prompt: ImagePrompt,
                    overrides: dict[str, Any], token: ApiToken, headers: dict[str, str]) -> HttpResponse:
    """stream=true for /v1/images/generations: see `stream_events`."""
    def run(on_partial: PartialCallback) -> list[ImageOutput]:
        return generation.generate(
            prompt=prompt, provider=target.alias, overrides=overrides, n=req.n, user=token.user, api_token=token,
            on_partial=on_partial, partial_images=req.partial_images or 0, source="v1")

    return stream_events(run, req=req, target=target, overrides=overrides, token=token, headers=headers,
                         kind="image_generation")


def stream_events(run: Callable[[PartialCallback], list[ImageOutput]], *, req: ImagesRequest, target: Target,
                  overrides: dict[str, Any], token: ApiToken, headers: dict[str, str], kind: str,
                  refusal: Callable[[BlogImagesError], OpenAIError] | None = None) -> HttpResponse:
    """`text/event-stream` with OpenAI's events (`kind` is "image_generation" or
    "image_edit"): `<kind>.partial_image` for each preview the provider streams, then
    `<kind>.completed` for each stored image (the last one with the call's usage); `error` if
    the provider failed after the stream began.

    `run(on_partial)` makes the images, in a thread of its own that hands its events over a
    queue. Nothing is sent before its first event, so a refusal (rate limit, budget, a model
    that cannot take the request) is still an ordinary JSON error with its status code
    (`refusal` says which; `generation_error` by default).
    """
    refusal = refusal or (lambda exc: generation_error(exc, req.model))
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        try:
            # The stream waits for the originals and their rows only; thumbnails and
            # sidecars are made here once the completed events have their images.
            with generation.deferring_derivatives() as later:
                outputs = run(lambda image: events.put(("partial", image)))
            events.put(("done", outputs))
            later.run()
        except BaseException as exc:  # handed over whole: the view decides what the client sees
            events.put(("error", exc))
        finally:
            # This thread's own database connections and provider instances (both registries
            # hold one per thread): nobody else would close them.
            connections.close_all()
            for provider in providers.all(initialized_only=True):
                provider.close()

    # In a copy of this request's context: the same provider instances (their HTTP pools live
    # in a context-local registry) and the request id in the log lines.
    threading.Thread(target=contextvars.copy_context().run, args=(work,), name="v1-stream", daemon=True).start()
    first = events.get()
    if first[0] == "error":
        exc = first[1]
        if isinstance(exc, BlogImagesError):
            raise refusal(exc) from exc
        raise exc
    if first[0] == "done" and not any(o.status == OutputStatus.SUCCEEDED for o in first[1]):
        raise _failure_error(first[1])
    headers.update(ratelimit.headers_for(ratelimit.status(user=token.user, token=token)))
    quality = overrides.get("quality") or "auto"
    sent_background = (overrides.get("extra") or {}).get("background") or "auto"

    def stream() -> Iterator[bytes]:
        event, value = first
        while True:
            if event == "partial":
                meta = value.metadata
                yield _sse(f"{kind}.partial_image", {
                    "type": f"{kind}.partial_image",
                    "b64_json": base64.b64encode(value.data).decode("ascii"),
                    "partial_image_index": value.index,
                    "created_at": int(time.time()),
                    "size": meta.get("size") or f"{overrides.get('width') or target.caps.default_size[0]}x"
                                                  f"{overrides.get('height') or target.caps.default_size[1]}",
                    "quality": meta.get("quality") or quality,
                    "background": meta.get("background") or sent_background,
                    "output_format": meta.get("output_format") or value.mime_type.split("/")[-1],
                })
            elif event == "done":
                yield from _completed_events(value, quality, kind=kind)
                return
            else:
                logger.error("v1 stream failed after it began: %s", value)
                error = (refusal(value) if isinstance(value, BlogImagesError)
                         else OpenAIError(500, "The server had an error while streaming.", type="server_error"))
                yield _sse("error", {"type": "error", "error": {"message": error.message, "type": error.type,
                                                                "param": error.param, "code": error.code}})
                return
            event, value = events.get()

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must pass each event on as it comes
    return response


def _completed_events(outputs: list[ImageOutput], quality: str, *, kind: str = "image_generation") -> Iterator[bytes]:
    succeeded = [o for o in outputs if o.status == OutputStatus.SUCCEEDED]
    if not succeeded:
        error = _failure_error(outputs)
        yield _sse("error", {"type": "error", "error": {"message": error.message, "type": error.type,
                                                        "param": error.param, "code": error.code}})
        return
    usage = _usage(outputs)
    zero = {"input_tokens": 0, "input_tokens_details": {"image_tokens": 0, "text_tokens": 0}, "output_tokens": 0,
            "total_tokens": 0}
    for position, output in enumerate(succeeded):
        with output.file.open("rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
        yield _sse(f"{kind}.completed", {
            "type": f"{kind}.completed",
            "b64_json": data,
            "created_at": int(time.time()),
            "size": f"{output.width}x{output.height}",
            "quality": quality_made(output, output.setting_snapshot or {}) if quality == "auto" else quality,
            "background": background_made(output, output.setting_snapshot or {}),
            "output_format": (output.mime_type or "image/png").split("/")[-1],
            # The call's usage once, on its last image, so a client that adds them up is right.
            "usage": usage if position == len(succeeded) - 1 else zero,
            "metadata": {"provider": output.provider, "model": output.model, "id": output.pk},
        })


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
    # The response waits for the validated originals and their rows; each image's thumbnail,
    # perceptual hash and sidecar are made after it is sent, on this worker.
    later = generation.Derivatives()
    try:
        token = authenticate(request)
        req = parse_images_request(read_json(request))
        target = resolve_model(req.model)
        ignored: list[str] = []
        prompt, overrides = generation_arguments(req, target, ignored)
        if ignored:
            headers[IGNORED_HEADER] = ", ".join(ignored)
        if req.stream:
            return _with_headers(stream_response(request, req, target, prompt, overrides, token, headers), headers)
        try:
            with generation.deferring_derivatives() as later:
                outputs = generation.generate(prompt=prompt, provider=target.alias, overrides=overrides, n=req.n,
                                              user=token.user, api_token=token, source="v1")
        except BlogImagesError as exc:
            raise generation_error(exc, req.model) from exc
        headers.update(ratelimit.headers_for(ratelimit.status(user=token.user, token=token)))
        succeeded = [o for o in outputs if o.status == OutputStatus.SUCCEEDED]
        failed = [o for o in outputs if o.status != OutputStatus.SUCCEEDED]
        if not succeeded:
            raise _failure_error(failed)
        body = {
            "created": int(time.time()),
            "data": [_image_data(request, output, req.response_format) for output in succeeded],
            "size": f"{succeeded[0].width}x{succeeded[0].height}",
            "output_format": (succeeded[0].mime_type or "image/png").split("/")[-1],
            "quality": quality_made(succeeded[0], overrides),
            "background": background_made(succeeded[0], overrides),
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
        return after_response(_with_headers(exc.response(), headers), later.run)
    except Exception:
        # A bug must still answer in OpenAI's shape, or the SDK shows an HTML page as the error.
        logger.exception("v1 images/generations failed (%s)", request_id)
        error = OpenAIError(500, f"The server had an error while processing your request ({request_id}).",
                            type="server_error")
        return after_response(_with_headers(error.response(), headers), later.run)
    headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
    return after_response(_with_headers(JsonResponse(body), headers), later.run)


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
