"""OpenAI Images API (dall-e-2, dall-e-3, gpt-image-1) through the official openai SDK.

Everything that talks to the network lives here once: the lazily built client, the call,
translating the SDK's errors into the app's hierarchy, decoding base64 answers and
downloading URL answers. `OpenAICompatibleProvider` (openai_compatible.py) subclasses this
and only changes what differs: configuration, capabilities and the request body.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import logging
import struct
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from PIL import Image, ImageOps

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
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    validation_problems,
)
from .http import parse_retry_after, sniff_image_mime

logger = logging.getLogger("blogimages.providers.openai")

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_DOWNLOAD_MAX_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 3
RESPONSE_FORMATS = ("b64_json", "url")
# OpenAI answers a refused prompt with a plain 400; only the code tells it apart.
CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked"})
QUOTA_CODES = frozenset({"insufficient_quota"})
# POST /images/variations (reference/providers.md 1.4): dall-e-2 only, a square PNG.
VARIATION_MODELS = ("dall-e-2",)
VARIATION_SIZES = ("256x256", "512x512", "1024x1024")
VARIATION_MAX_N = 10
# The API wants "less than 4 MB"; counted in decimal megabytes to stay clear of either reading.
VARIATION_MAX_BYTES = 4_000_000
# Keys that would only leak a fragment of a short key (or mangle messages) are not redacted.
MIN_REDACTABLE_SECRET = 8


def _usd(table: Mapping[str, str]) -> dict[str, Decimal]:
    return {key: Decimal(value) for key, value in table.items()}


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What one OpenAI model accepts, and which request fields it must never be sent."""

    capabilities: Capabilities
    # dall-e answers with URLs unless asked for base64; GPT image models reject the field.
    takes_response_format: bool = False
    takes_output_format: bool = False
    # Model-specific API fields a request may carry in `extra`.
    extra_params: tuple[str, ...] = ()


OPENAI_MODELS: dict[str, ModelSpec] = {
    "dall-e-2": ModelSpec(
        capabilities=Capabilities(
            sizes=((256, 256), (512, 512), (1024, 1024)),
            max_n=10,
            max_prompt_length=1000,
            qualities=("standard",),
            prices=_usd({"*:256x256": "0.016", "*:512x512": "0.018", "*:1024x1024": "0.020"}),
        ),
        takes_response_format=True,
    ),
    "dall-e-3": ModelSpec(
        capabilities=Capabilities(
            sizes=((1024, 1024), (1792, 1024), (1024, 1792)),
            max_n=1,
            max_prompt_length=4000,
            qualities=("standard", "hd"),
            styles=("vivid", "natural"),
            prices=_usd({
                # No quality sent means the API's default, standard.
                "*:1024x1024": "0.040", "*:1792x1024": "0.080", "*:1024x1792": "0.080",
                "standard:1024x1024": "0.040", "standard:1792x1024": "0.080", "standard:1024x1792": "0.080",
                "hd:1024x1024": "0.080", "hd:1792x1024": "0.120", "hd:1024x1792": "0.120",
            }),
        ),
        takes_response_format=True,
    ),
    "gpt-image-1": ModelSpec(
        capabilities=Capabilities(
            sizes=((1024, 1024), (1536, 1024), (1024, 1536)),
            max_n=10,
            max_prompt_length=32000,
            qualities=("low", "medium", "high", "auto"),
            output_formats=("png", "jpeg", "webp"),
            prices=_usd({
                "low:1024x1024": "0.011", "low:1536x1024": "0.016", "low:1024x1536": "0.016",
                "medium:1024x1024": "0.042", "medium:1536x1024": "0.063", "medium:1024x1536": "0.063",
                "high:1024x1024": "0.167", "high:1536x1024": "0.25", "high:1024x1536": "0.25",
                # auto (the API default) may pick high: estimate the worst case.
                "auto:1024x1024": "0.167", "auto:1536x1024": "0.25", "auto:1024x1536": "0.25",
                "*:1024x1024": "0.167", "*:1536x1024": "0.25", "*:1024x1536": "0.25",
            }),
        ),
        takes_output_format=True,
        extra_params=("background", "moderation", "output_compression"),
    ),
}


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


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def display_url(url: str) -> str:
    """A URL fit for messages: no credentials, no query (signed URLs carry tokens there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class OpenAIProvider(BaseProvider):
    """OpenAI's Images API. OPTIONS: api_key (required), base_url, organization, timeout,
    max_retries, defaults, max_concurrency, prices ({model: {price key: USD}}),
    response_format ("b64_json" or "url", dall-e only), download_max_bytes."""

    display_name = "OpenAI"
    default_model_name = "dall-e-3"
    allowed_response_formats: tuple[str, ...] = RESPONSE_FORMATS
    #: Models served by POST /images/variations (derive.variations looks here); () = none.
    variation_models: tuple[str, ...] = VARIATION_MODELS

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        self.api_key: str = self.options.get("api_key") or ""
        self.base_url: str = self.options.get("base_url") or DEFAULT_BASE_URL
        self.max_retries = int(self.options.get("max_retries", 0))
        self.response_format: str = self.options.get("response_format", "b64_json") or ""
        self.download_max_bytes = int(self.options.get("download_max_bytes", DEFAULT_DOWNLOAD_MAX_BYTES))
        self.prices: dict[str, Mapping[str, Any]] = dict(self.options.get("prices") or {})
        self._check_configuration()
        self._client: openai.OpenAI | None = None
        # One instance serves every thread of the process; build the client only once.
        self._client_lock = threading.Lock()

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
        return tuple(OPENAI_MODELS)

    def model_spec(self, model: str) -> ModelSpec:
        # An unknown model gets the default's spec; validation then names the offered models.
        return OPENAI_MODELS.get(model) or OPENAI_MODELS[self.default_model_name]

    def capabilities(self, model: str = "") -> Capabilities:
        models = self.model_names()
        default = self.defaults.get("model") or self.default_model_name
        model = model or default
        caps = self.model_spec(model).capabilities
        return replace(caps, models=models, default_model=default, prices=self._prices_for(model, caps.prices))

    def _prices_for(self, model: str, builtin: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """The built-in table overlaid with OPTIONS["prices"][model] (and its "*" entry)."""
        merged = dict(builtin)
        for key in ("*", model):
            merged.update({k: Decimal(str(v)) for k, v in (self.prices.get(key) or {}).items()})
        return merged

    def check(self) -> list[str]:
        problems = []
        if self.defaults.get("model") and self.defaults["model"] not in self.model_names():
            problems.append(f"default model {self.defaults['model']!r} is not one of {', '.join(self.model_names())}")
        return problems

    # -- request -------------------------------------------------------------------------

    def validate(self, request: GenerationRequest, caps: Capabilities | None = None) -> None:
        caps = caps or self.capabilities(request.model)
        problems = validation_problems(request, caps) + self.extra_problems(request)
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))

    def extra_problems(self, request: GenerationRequest) -> list[str]:
        allowed = self.model_spec(request.model).extra_params
        unknown = sorted(set(request.extra) - set(allowed))
        if not unknown:
            return []
        offered = ", ".join(allowed) if allowed else "none"
        return [f"this model does not take {', '.join(unknown)}; extra parameters allowed: {offered}"]

    def common_params(self, request: GenerationRequest) -> dict[str, Any]:
        """The fields every OpenAI-style images endpoint understands."""
        params: dict[str, Any] = {"prompt": request.prompt, "n": request.n, "size": request.size}
        for name in ("model", "quality", "style", "user"):
            if value := getattr(request, name):
                params[name] = value
        return params

    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        """Keyword arguments for `client.images.generate` (validation already ran)."""
        spec = self.model_spec(request.model)
        params = self.common_params(request)
        if spec.takes_response_format:
            params["response_format"] = self.response_format
        if spec.takes_output_format and request.output_format:
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

    def create_variation(
        self, *, image: bytes, n: int = 1, model: str = "dall-e-2", size: str = "1024x1024"
    ) -> GenerationResult:
        """`n` variations of `image` from POST /images/variations (dall-e-2 only).

        Everything is checked before any request: the model must be in `variation_models`,
        n 1 to 10, size one of 256x256, 512x512, 1024x1024; the image is made the square PNG
        under 4 MB the endpoint insists on (see `variation_png`). Errors and answers are
        handled exactly as for `generate`. The images have no seed; their metadata says
        `"variation": True`.
        """
        self.check_variation(n=n, model=model, size=size)
        png = variation_png(image, alias=self.alias)
        width, height = (int(side) for side in size.split("x"))
        # Only what to_image and to_result read: the model, size, n (no prompt goes out).
        request = GenerationRequest(prompt="", model=model, width=width, height=height, n=n)
        params: dict[str, Any] = {"image": ("image.png", png, "image/png"), "model": model, "n": n, "size": size}
        if self.response_format:
            params["response_format"] = self.response_format
        logger.debug(
            "provider %s: images.create_variation model=%s size=%s n=%d image=%d bytes",
            self.alias, model, size, n, len(png),
        )
        started = time.monotonic()
        try:
            raw = self.call(
                lambda client: client.images.with_raw_response.create_variation(
                    **params, extra_headers=self.request_headers()
                )
            )
            result = self.to_result(raw, request)
        except ProviderError as exc:
            # As BaseProvider.run logs a failed generation (messages are already redacted).
            logger.warning(
                "provider %s model %s variations failed after %d ms: %s",
                self.alias, model, (time.monotonic() - started) * 1000, exc,
            )
            raise
        elapsed = int((time.monotonic() - started) * 1000)
        logger.info("provider %s model %s made %d variation(s) in %d ms",
                    self.alias, model, len(result.images), elapsed)
        images = tuple(
            replace(item, seed=None, metadata={**item.metadata, "variation": True}) for item in result.images
        )
        return replace(result, images=images, provider_ms=elapsed)

    def check_variation(self, *, n: int, model: str, size: str) -> None:
        problems: list[str] = []
        if not self.variation_models:
            problems.append("this provider offers no image variations")
        elif model not in self.variation_models:
            problems.append(
                f"model {model!r} does not make variations; choose one of: {', '.join(self.variation_models)}"
            )
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= VARIATION_MAX_N:
            problems.append(f"n={n!r} is not allowed; allowed: 1 to {VARIATION_MAX_N}")
        if size not in VARIATION_SIZES:
            problems.append(f"size {size!r} is not allowed; allowed: {', '.join(VARIATION_SIZES)}")
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

    def redact(self, text: str) -> str:
        """`text` without our API key, in case a host echoes it back."""
        if text and len(self.api_key) >= MIN_REDACTABLE_SECRET:
            return text.replace(self.api_key, "[redacted]")
        return text or ""

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


def variation_png(image: bytes, *, alias: str = "openai", max_bytes: int = VARIATION_MAX_BYTES) -> bytes:
    """`image` as POST /images/variations takes it: a square PNG of less than `max_bytes`.

    A square PNG that small is sent as it is. Anything else (another format, not square,
    too big) is converted with Pillow: EXIF orientation applied, centre-cropped to a square,
    re-encoded as a PNG (RGB, or RGBA when it has transparency; no metadata carried). If that
    PNG is still over the limit it is downscaled to 1024x1024 - and on to 512 and 256, which
    always fit - since the endpoint rejects larger uploads outright.

    Raises UnsupportedFeature for bytes Pillow cannot decode (or too big to decode safely).
    """
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its pixel limit; treat the warning as the bomb it is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(image))) as opened:
                opened.load()
                if opened.format == "PNG" and opened.width == opened.height and len(image) < max_bytes:
                    return bytes(image)
                picture = ImageOps.exif_transpose(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnsupportedFeature(f"{alias}: the image for variations is too large to decode safely") from exc
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, struct.error, zlib.error) as exc:
        # UnidentifiedImageError is an OSError; truncated files fail in load().
        raise UnsupportedFeature(f"{alias}: the image for variations is not a readable image") from exc

    transparent = picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in picture.info
    picture = picture.convert("RGBA" if transparent else "RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    picture = picture.crop((left, top, left + side, top + side))
    for target in (side, *(s for s in (1024, 512, 256) if s < side)):
        if target != picture.width:
            picture = picture.resize((target, target), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=target <= 1024)
        if buffer.tell() < max_bytes:
            return buffer.getvalue()
    raise UnsupportedFeature(f"{alias}: the image for variations does not fit in {max_bytes} bytes as a PNG")


def provider_message(exc: openai.APIStatusError) -> str:
    """The provider's own explanation: the error body's message, else its text."""
    body = exc.body
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("detail") or body.get("error")
        if isinstance(message, str) and message:
            return message
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return exc.message
