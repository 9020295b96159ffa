"""OpenAI Images API (the gpt-image-2 family) through the official openai SDK.

What each model accepts, costs and whether it is retired is data (openai_models.json);
the host's own `GET /v1/models` (its `shutdown_date`) adds retirements announced later.

Everything that talks to the network lives here once: the lazily built client, the call,
translating the SDK's errors into the app's hierarchy, decoding base64 answers and
downloading URL answers. `OpenAICompatibleProvider` (openai_compatible.py) subclasses this
and only changes what differs: configuration, capabilities and the request body.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

try:
    import openai
    from openai.types import ImagesResponse
except ImportError as exc:  # pragma: no cover - openai is part of the fixed stack
    raise ImportError("The openai providers need the openai package: pip install openai") from exc

from ..exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnreachable,
    UnsupportedFeature,
)
from .base import (
    MIME_TYPES,
    BaseProvider,
    Capabilities,
    EditRequest,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ModelLifecycle,
    PartialCallback,
    PartialImage,
    apply_defaults,
    validation_problems,
)
from .http import parse_retry_after, sniff_image_mime
from .openai_models import ModelInfo, estimate_text_tokens, estimated_output_tokens, table, token_cost

logger = logging.getLogger("blogimages.providers.openai")

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_DOWNLOAD_MAX_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 3
RESPONSE_FORMATS = ("b64_json", "url")
# OpenAI answers a refused prompt with a plain 400; only the code tells it apart.
CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked"})
QUOTA_CODES = frozenset({"insufficient_quota"})
VARIATION_MAX_N = 10
# Edit inputs: "less than 50MB" each (image_edit_params.py); decimal megabytes to be safe.
EDIT_MAX_BYTES = 50_000_000
# The mask: a PNG "less than 4MB" (image_edit_params.py).
EDIT_MASK_MAX_BYTES = 4_000_000
# How long GET /v1/models is trusted, and how long a failed listing is not asked again.
MODEL_LIST_TTL_SECONDS = 3600.0
MODEL_LIST_RETRY_SECONDS = 60.0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: OpenAI's `retry-after-ms` first, then the standard `retry-after`."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def decode_image_string(value: str) -> tuple[bytes, str | None]:
    """Decode base64 image data, with or without a `data:` URL prefix; also its declared type.

    Raises binascii.Error for anything that is not strict base64.
    """
    declared = None
    if value.startswith("data:"):
        header, sep, value = value.partition(",")
        if not sep or not header.endswith(";base64"):
            raise binascii.Error("not a base64 data: URL")
        declared = header[len("data:"):-len(";base64")] or None
    # Some hosts wrap base64 in lines; whitespace is never part of the data.
    return base64.b64decode("".join(value.split()), validate=True), declared


def _extension(data: bytes) -> str:
    return {"image/jpeg": "jpg", "image/webp": "webp"}.get(sniff_image_mime(bytes(data)), "png")


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_size(value: str, *, alias: str = "openai") -> tuple[int, int]:
    width, sep, height = str(value).lower().strip().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise UnsupportedFeature(f"{alias}: size {value!r} is not WIDTHxHEIGHT")
    return int(width), int(height)


def display_url(url: str) -> str:
    """A URL fit for messages: no credentials, no query (signed URLs carry tokens there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class OpenAIProvider(BaseProvider):
    """OpenAI's Images API. OPTIONS: api_key (required), base_url, organization, timeout,
    max_retries, defaults, max_concurrency, prices ({model: {price key: USD}}),
    response_format ("b64_json" or "url"; only for models that take it, none today), read_model_list
    (True: read shutdown dates from GET /v1/models), download_max_bytes."""

    display_name = "OpenAI"
    allowed_response_formats: tuple[str, ...] = RESPONSE_FORMATS
    #: Whether "more like this" may be an edit with the image as its reference (derive looks here).
    edit_variations = True

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        self.api_key: str = self.options.get("api_key") or ""
        self.base_url: str = self.options.get("base_url") or DEFAULT_BASE_URL
        self.max_retries = int(self.options.get("max_retries", 0))
        self.response_format: str = self.options.get("response_format", "b64_json") or ""
        self.download_max_bytes = int(self.options.get("download_max_bytes", DEFAULT_DOWNLOAD_MAX_BYTES))
        self.prices: dict[str, Mapping[str, Any]] = dict(self.options.get("prices") or {})
        # Ask the host's GET /v1/models for shutdown dates (off for hosts without it).
        self.read_model_list = bool(self.options.get("read_model_list", True))
        self._check_configuration()
        self._client: openai.OpenAI | None = None
        # One instance serves every thread of the process; build the client only once.
        self._client_lock = threading.Lock()
        self._listing: dict[str, dt.date | None] | None = None
        self._listing_at: float | None = None
        self._listing_failed_at: float | None = None
        self._listing_lock = threading.Lock()

    def _check_configuration(self) -> None:
        """Fail at construction for configurations that cannot work at all."""
        if not self.api_key:
            raise InvalidProviderError(f"Provider {self.alias!r}: no api_key configured.")
        if self.response_format not in self.allowed_response_formats:
            raise InvalidProviderError(
                f"Provider {self.alias!r}: response_format {self.response_format!r} is not one of "
                f"{', '.join(self.allowed_response_formats)}."
            )

    # -- capabilities --------------------------------------------------------------------

    def model_names(self) -> tuple[str, ...]:
        """The models offered: every table entry that is not retired (nor listed as shut down)."""
        return tuple(name for name in table().names() if not self.lifecycle(name).retired)

    def model_info(self, model: str) -> ModelInfo:
        # An unknown model gets the default's description; validation then names the offered models.
        return table().get(model) or table().get(self.default_model_name())

    def default_model_name(self) -> str:
        return self.defaults.get("model") or table().default_model

    def capabilities(self, model: str = "") -> Capabilities:
        default = self.default_model_name()
        model = model or default
        info = self.model_info(model)
        caps = info.capabilities
        edits = info.edits or {}
        max_images = int(edits.get("max_images") or 0)
        return replace(caps, models=self.model_names(), default_model=default,
                       prices=self._prices_for(model, caps.prices), backgrounds=info.backgrounds,
                       moderations=info.moderation, extra_params=info.extra_params, auto_size=info.auto_size,
                       # The GPT image models stream up to 3 partial images (image_generate_params.py).
                       max_partial_images=3 if info.gpt_image else 0,
                       supports_edit=max_images > 0, supports_mask=bool(edits.get("mask")),
                       max_references=max(0, max_images - 1))

    def _prices_for(self, model: str, builtin: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """The built-in table overlaid with OPTIONS["prices"][model] (and its "*" entry)."""
        merged = dict(builtin)
        for key in ("*", model):
            merged.update({k: Decimal(str(v)) for k, v in (self.prices.get(key) or {}).items()})
        return merged

    def lifecycle(self, model: str) -> ModelLifecycle:
        """The table's word on `model`, overruled by a shutdown date the host lists for it."""
        info = table().get(model)
        known = info.lifecycle() if info else ModelLifecycle(model=model)
        listed = self.listed_shutdown_dates().get(model)
        if listed is None or (known.shutdown_date and known.shutdown_date <= listed and known.retired):
            return known
        replacement = known.replacement or (table().default_model if model != table().default_model else "")
        return ModelLifecycle.judge(model, shutdown_date=listed, replacement=replacement)

    def listed_shutdown_dates(self) -> dict[str, dt.date | None]:
        """{model id: shutdown date or None} from GET /v1/models, cached; {} when unreachable."""
        if not self.read_model_list:
            return {}
        with self._listing_lock:
            now = time.monotonic()
            if self._listing is not None and self._listing_at is not None and now - self._listing_at < MODEL_LIST_TTL_SECONDS:
                return self._listing
            if self._listing_failed_at is not None and now - self._listing_failed_at < MODEL_LIST_RETRY_SECONDS:
                return self._listing or {}
            try:
                page = self.call(lambda client: client.with_options(timeout=min(self.timeout, 10.0)).models.list(
                    extra_headers=self.request_headers()))
                listing: dict[str, dt.date | None] = {}
                for item in page:
                    shutdown = getattr(item, "shutdown_date", None)
                    try:
                        listing[item.id] = dt.date.fromisoformat(shutdown) if shutdown else None
                    except (TypeError, ValueError):
                        listing[item.id] = None
            except ProviderError as exc:
                # The table still answers; the listing is only asked again after a pause.
                logger.warning("provider %s: could not list models for shutdown dates: %s", self.alias, exc)
                self._listing_failed_at = now
                return self._listing or {}
            self._listing, self._listing_at, self._listing_failed_at = listing, now, None
            return listing

    def check(self) -> list[str]:
        problems = []
        model = self.defaults.get("model")
        if model and table().get(model) is None:
            problems.append(f"default model {model!r} is not one of {', '.join(self.model_names())}")
        # Retired or soon-retired defaults are reported by checks.check_model_lifecycles.
        return problems

    def estimate_cost(self, request: GenerationRequest) -> Decimal | None:
        caps = self.capabilities(request.model)
        if caps.token_prices and not any(key in self.prices for key in ("*", request.model)):
            listed = {size for row in caps.output_tokens.values() for size in row}
            if request.extra.get("size") == "auto" and listed:
                # The model picks the size: estimate the largest it may pick (the table's sizes
                # are the ones `auto` picks from), as `auto` quality is estimated high.
                counts = [estimated_output_tokens(caps, width=int(size.split("x")[0]),
                                                  height=int(size.split("x")[1]), quality=request.quality)
                          for size in sorted(listed)]
                tokens = None if None in counts else max(counts)
            else:
                tokens = estimated_output_tokens(caps, width=request.width, height=request.height,
                                                 quality=request.quality)
            if tokens is None:
                return None
            rates = caps.token_prices
            per_call_text = estimate_text_tokens(request.prompt) * rates.get("text_input", Decimal(0))
            return (tokens * rates.get("image_output", Decimal(0)) * request.n + per_call_text) / Decimal(1_000_000)
        return super().estimate_cost(request)

    def cost_from_usage(self, request: GenerationRequest, usage: Mapping[str, Any]) -> Decimal | None:
        return token_cost(self.capabilities(request.model), usage)

    # -- request -------------------------------------------------------------------------

    def validate(self, request: GenerationRequest, caps: Capabilities | None = None) -> None:
        caps = caps or self.capabilities(request.model)
        problems = validation_problems(request, caps) + self.extra_problems(request)
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))

    def extra_problems(self, request: GenerationRequest) -> list[str]:
        info = self.model_info(request.model)
        allowed = info.extra_params
        unknown = sorted(set(request.extra) - set(allowed) - ({"size"} if info.auto_size else set()))
        problems = []
        if "size" in request.extra and info.auto_size and request.extra["size"] != "auto":
            problems.append("extra size must be 'auto' (give any other size as width and height)")
        if unknown:
            offered = ", ".join(allowed) if allowed else "none"
            problems.append(f"this model does not take {', '.join(unknown)}; extra parameters allowed: {offered}")
        extra = request.extra
        background = extra.get("background")
        if background is not None and background not in info.backgrounds:
            problems.append(f"background {background!r} is not allowed; choose one of: {', '.join(info.backgrounds)}")
        if background == "transparent" and (request.output_format or "png") not in ("png", "webp"):
            problems.append("a transparent background needs png or webp output")
        moderation = extra.get("moderation")
        if moderation is not None and moderation not in info.moderation:
            problems.append(f"moderation {moderation!r} is not allowed; choose one of: {', '.join(info.moderation)}")
        if "output_compression" in extra:
            value = extra["output_compression"]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                problems.append("output_compression must be a whole number from 0 to 100")
            elif request.output_format not in ("jpeg", "webp"):
                problems.append("output_compression needs jpeg or webp output")
        return problems

    def common_params(self, request: GenerationRequest) -> dict[str, Any]:
        """The fields every OpenAI-style images endpoint understands."""
        params: dict[str, Any] = {"prompt": request.prompt, "n": request.n, "size": request.size}
        for name in ("model", "quality", "style", "user"):
            if value := getattr(request, name):
                params[name] = value
        return params

    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        """Keyword arguments for `client.images.generate` (validation already ran).

        GPT image models always answer base64 and reject `response_format`: it is never sent to them.
        """
        info = self.model_info(request.model)
        params = self.common_params(request)
        if info.takes_response_format:
            params["response_format"] = self.response_format
        elif request.output_format:
            params["output_format"] = request.output_format
        params.update(request.extra)
        return params

    # -- the call ------------------------------------------------------------------------

    def client_options(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "organization": self.options.get("organization") or None,
        }

    def request_headers(self) -> dict[str, Any]:
        """Per-call headers (extra_headers) for every request this provider makes."""
        return {}

    @property
    def client(self) -> openai.OpenAI:
        with self._client_lock:
            if self._client is None:
                # max_retries defaults to 0: the task layer retries ProviderUnavailable with
                # backoff; SDK retries on top would multiply the cost of a failing prompt.
                self._client = openai.OpenAI(
                    **self.client_options(), timeout=self.timeout, max_retries=self.max_retries
                )
            return self._client

    def warm(self) -> None:
        self.client  # noqa: B018 - built once, shared by every thread of the process

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def call(self, operation: Callable[[openai.OpenAI], T]) -> T:
        """Run one SDK operation, turning every SDK failure into a ProviderError."""
        try:
            return operation(self.client)
        except openai.OpenAIError as exc:
            raise self.translate_error(exc) from exc

    def generate(self, request: GenerationRequest) -> GenerationResult:
        params = self.request_params(request)
        logger.debug(
            "provider %s: images.generate model=%s size=%s n=%d",
            self.alias, request.model, request.size, request.n,
        )
        raw = self.call(
            lambda client: client.images.with_raw_response.generate(**params, extra_headers=self.request_headers())
        )
        return self.to_result(raw, request)

    def generate_streaming(self, request: GenerationRequest, *, partial_images: int,
                           on_partial: PartialCallback) -> GenerationResult:
        """`images.generate(stream=True, partial_images=N)`: each
        `image_generation.partial_image` event goes to `on_partial` as it arrives; the
        `image_generation.completed` events are the images, with the call's usage."""
        if self.model_info(request.model).takes_response_format:
            return self.generate(request)  # DALL·E never streamed
        params = self.request_params(request)
        logger.debug("provider %s: images.generate stream model=%s size=%s n=%d partial_images=%d",
                     self.alias, request.model, request.size, request.n, partial_images)
        raw = self.call(lambda client: client.images.with_raw_response.generate(
            **params, stream=True, partial_images=partial_images, extra_headers=self.request_headers()))
        return self.read_stream(raw, request, on_partial, kind="image_generation")

    def read_stream(self, raw, request: GenerationRequest, on_partial: PartialCallback, *,
                    kind: str) -> GenerationResult:
        """The images of a streamed answer (`kind` is "image_generation" or "image_edit", the
        events' prefix): each `<kind>.partial_image` goes to `on_partial` as it arrives; the
        `<kind>.completed` events are the images, with the call's usage."""
        partial_type, completed_type = f"{kind}.partial_image", f"{kind}.completed"
        request_id = raw.request_id or ""
        images: list[GeneratedImage] = []
        usage: dict[str, Any] = {}

        def events():
            # Iterating reads the stream: an error event or a connection lost halfway is an
            # SDK error too, translated like any other.
            try:
                yield from raw.parse()
            except openai.OpenAIError as exc:
                raise self.translate_error(exc) from exc

        for event in events():
            event_type = getattr(event, "type", "")
            if event_type not in (partial_type, completed_type):
                continue
            data, declared = self.decode(event.b64_json or "", len(images), request_id)
            metadata = {name: value for name in ("size", "quality", "background", "output_format", "created_at")
                        if (value := getattr(event, name, None)) is not None}
            mime = self.mime_type(data, declared, getattr(event, "output_format", None) or request.output_format)
            if event_type == partial_type:
                on_partial(PartialImage(index=event.partial_image_index, data=data, mime_type=mime,
                                        metadata=metadata))
                continue
            images.append(GeneratedImage(data=data, mime_type=mime, seed=None,
                                         metadata={"index": len(images), "source": "stream", **metadata}))
            if getattr(event, "usage", None) is not None:
                usage = event.usage.model_dump(exclude_none=True)
        if not images:
            raise ProviderServerError("the stream ended without a completed image", provider=self.alias,
                                      request_id=request_id)
        return GenerationResult(images=tuple(images), model=request.model, request_id=request_id, usage=usage)

    # -- edits ---------------------------------------------------------------------------

    def edit_image(self, edit: EditRequest) -> GenerationResult:
        """POST /images/edits (multipart): the source first, then the references, as `image[]`
        when there are several; the mask (PNG, transparent = change) as `mask`.

        `input_fidelity` goes only to models that take the field; gpt-image-2 and later
        always keep the input's detail and refuse it, so it is left out for them.
        """
        params = self.edit_params(edit)
        raw = self.call(
            lambda client: client.images.with_raw_response.edit(**params, extra_headers=self.request_headers())
        )
        return self.to_result(raw, edit.request)

    def edit_image_streaming(self, edit: EditRequest, *, partial_images: int,
                             on_partial: PartialCallback) -> GenerationResult:
        """`images.edit(stream=True, partial_images=N)`: `image_edit.partial_image` events go
        to `on_partial`, the `image_edit.completed` events are the images."""
        if self.model_info(edit.request.model).takes_response_format:
            return self.edit_image(edit)  # DALL·E never streamed
        params = self.edit_params(edit)
        raw = self.call(lambda client: client.images.with_raw_response.edit(
            **params, stream=True, partial_images=partial_images, extra_headers=self.request_headers()))
        return self.read_stream(raw, edit.request, on_partial, kind="image_edit")

    def edit_params(self, edit: EditRequest) -> dict[str, Any]:
        """Keyword arguments for `client.images.edit`: the source first, then the references,
        as `image[]` when there are several; the mask; input_fidelity where the model takes it."""
        request = edit.request
        info = self.model_info(request.model)
        inputs = [edit.image, *edit.references]
        files = [(f"image-{index}.{_extension(data)}", bytes(data), sniff_image_mime(bytes(data)))
                 for index, data in enumerate(inputs, start=1)]
        params: dict[str, Any] = {"image": files[0] if len(files) == 1 else files, **self.request_params(request)}
        if edit.mask is not None:
            params["mask"] = ("mask.png", bytes(edit.mask), "image/png")
        fidelity = tuple((info.edits or {}).get("input_fidelity") or ())
        if edit.input_fidelity and edit.input_fidelity in fidelity:
            params["input_fidelity"] = edit.input_fidelity
        logger.debug("provider %s: images.edit model=%s size=%s n=%d images=%d mask=%s",
                     self.alias, request.model, request.size, request.n, len(files), edit.mask is not None)
        return params

    def validate_edit(self, edit: EditRequest) -> None:
        super().validate_edit(edit)
        problems = []
        fidelity = tuple((self.model_info(edit.request.model).edits or {}).get("input_fidelity") or ())
        if edit.input_fidelity and fidelity and edit.input_fidelity not in fidelity:
            problems.append(f"input_fidelity {edit.input_fidelity!r} is not allowed; choose one of: {', '.join(fidelity)}")
        for index, data in enumerate([edit.image, *edit.references], start=1):
            if len(data) >= EDIT_MAX_BYTES:
                problems.append(f"image {index} must be smaller than {EDIT_MAX_BYTES:,} bytes")
        if edit.mask is not None and len(edit.mask) >= EDIT_MASK_MAX_BYTES:
            problems.append(f"the mask must be smaller than {EDIT_MASK_MAX_BYTES:,} bytes")
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))

    # -- "more like this": an edit with the image as its reference ---------------------

    def variation_models(self) -> tuple[str, ...]:
        """Models that can make variations as an edit (derive.variations looks here)."""
        if not self.edit_variations:
            return ()
        return tuple(name for name in self.model_names() if (self.model_info(name).edits or {}).get("max_images"))

    def create_variation(
        self, *, image: bytes, n: int = 1, model: str = "", size: str = "1024x1024", prompt: str = "",
    ) -> GenerationResult:
        """`n` images like `image`: POST /images/edits with it as the one reference image,
        at high input fidelity where the model takes the field (gpt-image-2 always keeps
        the input's detail and wants the field left out), and the prompt that made it.

        Everything is checked before any request (model, retirement, n, size, image);
        errors and answers are handled as for `generate`. The images have no seed; their
        metadata says `"variation": True`.
        """
        model = model or self.default_model_name()
        self.refuse_retired(model)
        width, height = parse_size(size, alias=self.alias)
        # The provider's defaults (quality...) apply as they do to generate and edit: they are
        # sent, and the estimate prices what is sent (a quality-keyed price list needs them).
        request = apply_defaults(GenerationRequest(prompt=prompt or "Another version of this image.", model=model,
                                                   width=width, height=height, n=n), self.defaults)
        self.check_variation(request, image)
        info = self.model_info(model)
        params: dict[str, Any] = {
            "image": ("image.png", bytes(image), sniff_image_mime(bytes(image))),
            **self.common_params(request),
        }
        fidelity = (info.edits or {}).get("input_fidelity") or ()
        if "high" in fidelity:
            params["input_fidelity"] = "high"
        if info.takes_response_format:
            params["response_format"] = self.response_format
        logger.debug("provider %s: images.edit (variation) model=%s size=%s n=%d image=%d bytes",
                     self.alias, model, size, n, len(image))
        # Timed, priced, logged and redacted as generate and edit are (BaseProvider._timed).
        result = self._timed(request, lambda: self.to_result(self.call(
            lambda client: client.images.with_raw_response.edit(**params, extra_headers=self.request_headers())
        ), request))
        images = tuple(
            replace(item, seed=None, metadata={**item.metadata, "variation": True}) for item in result.images
        )
        return replace(result, images=images)

    def check_variation(self, request: GenerationRequest, image: bytes) -> None:
        problems: list[str] = []
        models = self.variation_models()
        if not models:
            problems.append("this provider offers no image variations")
        elif request.model not in models:
            problems.append(
                f"model {request.model!r} does not make variations; choose one of: {', '.join(models)}"
            )
        if isinstance(request.n, bool) or not isinstance(request.n, int) or not 1 <= request.n <= VARIATION_MAX_N:
            problems.append(f"n={request.n!r} is not allowed; allowed: 1 to {VARIATION_MAX_N}")
        caps = self.capabilities(request.model)
        if not caps.allows_size(request.width, request.height):
            problems.append(f"size {request.size} is not allowed; allowed: {caps.describe_sizes()}")
        if sniff_image_mime(bytes(image)) not in ("image/png", "image/webp", "image/jpeg"):
            problems.append("the image for variations must be a png, webp or jpeg")
        elif len(image) >= EDIT_MAX_BYTES:
            problems.append(f"the image for variations must be smaller than {EDIT_MAX_BYTES} bytes")
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))

    # -- the answer ----------------------------------------------------------------------

    def to_result(self, raw: Any, request: GenerationRequest) -> GenerationResult:
        """The parsed answer of any images endpoint (generations, variations)."""
        request_id = raw.request_id or ""
        response = self.parse_response(raw, request_id)
        images = tuple(
            self.to_image(item, index, request=request, response=response, request_id=request_id)
            for index, item in enumerate(response.data or ())
        )
        usage = response.usage.model_dump(exclude_none=True) if response.usage else {}
        # Hosts that chose the model themselves (none was sent) may say which one.
        model = request.model or str(getattr(response, "model", None) or "")
        return GenerationResult(images=images, model=model, request_id=request_id, usage=usage)

    def parse_response(self, raw: Any, request_id: str) -> ImagesResponse:
        def malformed(message: str) -> ProviderServerError:
            return ProviderServerError(
                message, provider=self.alias, status_code=raw.status_code,
                response=self.redact(raw.text), request_id=request_id,
            )

        try:
            response = raw.parse()
        except (ValueError, openai.APIResponseValidationError) as exc:
            # json.JSONDecodeError and pydantic's ValidationError are both ValueErrors.
            raise malformed(f"the answer was not valid JSON ({type(exc).__name__})") from exc
        if not isinstance(response, ImagesResponse):
            # The SDK hands back plain text when the content type is not JSON.
            content_type = raw.headers.get("content-type", "no content type")
            raise malformed(f"the answer was not JSON ({content_type})")
        if not response.data:
            raise malformed("the answer has no images (no `data`)")
        return response

    def to_image(
        self, item: Any, index: int, *, request: GenerationRequest, response: ImagesResponse, request_id: str
    ) -> GeneratedImage:
        b64 = getattr(item, "b64_json", None)
        url = getattr(item, "url", None)
        metadata: dict[str, Any] = {"index": index}
        declared: str | None = None
        if b64:
            metadata["source"] = "b64_json"
            data, declared = self.decode(b64, index, request_id)
        elif url and url.startswith("data:"):
            metadata["source"] = "data_url"
            data, declared = self.decode(url, index, request_id)
        elif url:
            metadata.update(source="url", url=display_url(url))
            data = self.download(url)
        else:
            raise ProviderServerError(
                f"image {index} in the answer has neither b64_json nor url", provider=self.alias, request_id=request_id
            )
        for name in ("created", "size", "quality", "background", "output_format"):
            if (value := getattr(response, name, None)) is not None:
                metadata[name] = value
        metadata.update(self.item_extras(item))
        return GeneratedImage(
            data=data,
            mime_type=self.mime_type(data, declared, response.output_format or request.output_format),
            seed=self.seed_for(item, index, request),
            revised_prompt=getattr(item, "revised_prompt", None) or "",
            metadata=metadata,
        )

    def mime_type(self, data: bytes, declared: str | None, output_format: str | None) -> str:
        """What the bytes are; failing that, what the answer said they are."""
        sniffed = sniff_image_mime(data)
        if sniffed != "application/octet-stream":
            return sniffed
        return declared or MIME_TYPES.get(output_format or "", sniffed)

    def decode(self, value: str, index: int, request_id: str) -> tuple[bytes, str | None]:
        try:
            return decode_image_string(value)
        except binascii.Error as exc:
            raise ProviderServerError(
                f"malformed image data in image {index}: {exc}", provider=self.alias, request_id=request_id
            ) from exc

    def item_extras(self, item: Any) -> dict[str, Any]:
        """Scalar fields a host adds to an image item beyond OpenAI's (seed, index, ...)."""
        extras = getattr(item, "model_extra", None) or {}
        return {key: value for key, value in extras.items() if isinstance(value, (str, int, float, bool))}

    def seed_for(self, item: Any, index: int, request: GenerationRequest) -> int | None:
        # OpenAI takes no seed and reports none.
        return None

    # -- downloads -----------------------------------------------------------------------

    def check_download_url(self, url: str) -> None:
        """Only https, or plain http to this machine (local hosts serve their own files)."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return
        if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
            return
        raise ProviderRejected(
            f"refusing to download the image from {display_url(url)}: only https or a loopback http URL",
            provider=self.alias,
        )

    def download(self, url: str) -> bytes:
        """The image at `url`, following a few redirects, each one checked like the first.

        Never sends our credentials: the URL may point anywhere the provider chose.
        """
        deadline = time.monotonic() + self.timeout
        for _hop in range(MAX_REDIRECTS + 1):
            self.check_download_url(url)
            try:
                with requests.get(url, stream=True, timeout=self.timeout, allow_redirects=False) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers["location"])
                        continue
                    self.check_download_status(response, url)
                    return self.read_capped(response, url, deadline)
            except requests.Timeout as exc:
                raise ProviderTimeout(
                    f"downloading {display_url(url)} took longer than {self.timeout:g} s", provider=self.alias
                ) from exc
            except requests.RequestException as exc:
                raise ProviderTimeout(
                    f"downloading {display_url(url)} failed: {type(exc).__name__}", provider=self.alias
                ) from exc
        raise ProviderServerError(f"more than {MAX_REDIRECTS} redirects downloading the image", provider=self.alias)

    def check_download_status(self, response: requests.Response, url: str) -> None:
        if response.status_code < 400:
            return
        # An expired or missing file stays so; an overloaded file server may recover.
        transient = response.status_code >= 500 or response.status_code == 429
        error_cls = ProviderServerError if transient else ProviderRejected
        raise error_cls(
            f"downloading {display_url(url)} failed", provider=self.alias, status_code=response.status_code
        )

    def read_capped(self, response: requests.Response, url: str, deadline: float) -> bytes:
        def too_big() -> ProviderRejected:
            return ProviderRejected(
                f"the image at {display_url(url)} is larger than the {self.download_max_bytes}-byte limit",
                provider=self.alias,
            )

        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.download_max_bytes:
            raise too_big()
        chunks: list[bytes] = []
        received = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            received += len(chunk)
            if received > self.download_max_bytes:
                raise too_big()
            # requests' timeout is per read; a server dripping bytes must not hold us forever.
            if time.monotonic() > deadline:
                raise ProviderTimeout(
                    f"downloading {display_url(url)} took longer than {self.timeout:g} s", provider=self.alias
                )
            chunks.append(chunk)
        return b"".join(chunks)

    # -- errors --------------------------------------------------------------------------


    def translate_error(self, exc: openai.OpenAIError) -> ProviderError:
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeout(f"no answer within {self.timeout:g} s", provider=self.alias)
        if isinstance(exc, openai.APIConnectionError):
            cause = f": {exc.__cause__}" if exc.__cause__ else ""
            return ProviderUnreachable(
                self.redact(f"connection to {display_url(self.base_url)} failed{cause}"), provider=self.alias
            )
        if isinstance(exc, openai.APIStatusError):
            return self.translate_status_error(exc)
        if isinstance(exc, openai.APIResponseValidationError):
            return ProviderServerError(
                f"malformed answer: {exc.message}", provider=self.alias, status_code=exc.status_code,
                response=self.redact(exc.response.text),
            )
        return ProviderError(self.redact(str(exc)), provider=self.alias)

    def translate_status_error(self, exc: openai.APIStatusError) -> ProviderError:
        status = exc.status_code
        code = exc.code or ""
        kwargs: dict[str, Any] = {
            "provider": self.alias,
            "status_code": status,
            "response": self.redact(exc.response.text),
            "request_id": exc.request_id or "",
            "code": code,
        }

        def said(summary: str) -> str:
            # Keep the provider's own words: they tell the user what to change.
            return self.redact(f"{summary}: {provider_message(exc)}")

        retry_after = retry_after_seconds(exc.response.headers)
        if status == 429:
            if code in QUOTA_CODES or getattr(exc, "type", None) in QUOTA_CODES:
                return ProviderAuthError(said("quota exhausted"), **kwargs)
            return ProviderRateLimited(said("rate limited"), retry_after=retry_after, **kwargs)
        if status in (401, 403):
            return ProviderAuthError(said("authentication failed" if status == 401 else "permission denied"), **kwargs)
        if status == 408:
            return ProviderTimeout(said("the provider timed out"), retry_after=retry_after, **kwargs)
        if status >= 500:
            return ProviderServerError(said("server error"), retry_after=retry_after, **kwargs)
        if code in CONTENT_POLICY_CODES:
            return ContentRefused(said("refused by the provider's safety system"), **kwargs)
        return ProviderBadRequest(said("bad request"), **kwargs)


def provider_message(exc: openai.APIStatusError) -> str:
    """The provider's own explanation: the error body's message, else its text."""
    body = exc.body
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("detail") or body.get("error")
        if isinstance(message, str) and message:
            return message
    if isinstance(body, str) and body.strip():
        # Not cut here: redaction comes first (BaseProvider.run), then ProviderError trims it.
        return body.strip()
    return exc.message
