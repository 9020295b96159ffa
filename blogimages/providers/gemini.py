"""Google's Gemini image models (generateContent with inline image data) through google-genai.

Gemini takes an aspect ratio and a resolution tier, not pixel sizes, and makes one image per
call (candidateCount is fixed at 1 for the image models). So a request for n images of
W x H becomes n calls with the nearest aspect ratio and the smallest tier that covers
W x H; each answer is then centre-cropped and resized to exactly W x H
(imaging/gemini_fit.py), and both sizes are recorded in the image's metadata.

Everything that talks to the network is here once: the lazily built client, the calls, the
translation of the SDK's errors and of safety blocks into the app's hierarchy, and the
model listing (GET /v1beta/models, cached) with a static table as the fallback.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

try:
    import httpx2
    from google import genai
    from google.genai import errors as genai_errors
    from google.genai import types as genai_types
except ImportError as exc:  # pragma: no cover - google-genai is pinned in requirements.txt
    raise ImportError("The gemini provider needs the google-genai package: pip install google-genai") from exc
import pydantic

from ..exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    UnsupportedFeature,
)
from ..imaging import gemini_fit
from .base import (
    BaseProvider,
    Capabilities,
    EditRequest,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    validation_problems,
)
from .http import looks_like_refusal, parse_retry_after, sniff_image_mime

logger = logging.getLogger("blogimages.providers.gemini")

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
DEFAULT_MODEL = "gemini-3.1-flash-image"
DEFAULT_MAX_N = 4
# Requests may name any size in this range; the answer is fitted to it exactly.
MIN_SIZE = 64
MAX_SIZE = 4096
# Inline request data is capped at 20 MB by the API; base64 grows bytes by a third.
MAX_INLINE_BYTES = 14 * 1024 * 1024
REFERENCE_MIME_TYPES = ("image/png", "image/jpeg", "image/webp")
# How long the model listing is trusted, and how long a failed listing is remembered.
LISTING_TTL = 300.0
LISTING_ERROR_TTL = 30.0
LISTING_TIMEOUT = 5.0

# finishReason / blockReason values that mean "the safety system said no".
REFUSAL_REASONS = frozenset({
    "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
    "RECITATION", "IMAGE_RECITATION", "JAILBREAK", "MODEL_ARMOR",
})
# 400s that are really about the credentials (google.rpc.ErrorInfo reasons).
AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED"})

_TEN_ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# Nominal 1K pixels per aspect for the Gemini 3 family; 2K and 4K are twice and four times
# these. Only used to choose a tier and to describe what the model makes: the fit always
# works from the pixels actually returned.
_GEMINI3_1K = {
    "1:1": (1024, 1024), "2:3": (848, 1264), "3:2": (1264, 848), "3:4": (896, 1200), "4:3": (1200, 896),
    "4:5": (928, 1152), "5:4": (1152, 928), "9:16": (768, 1376), "16:9": (1376, 768), "21:9": (1584, 672),
    "9:21": (672, 1584), "1:4": (512, 2048), "4:1": (2048, 512), "1:8": (384, 3072), "8:1": (3072, 384),
}
_GEMINI25_1K = {
    "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864),
    "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672),
}
_TIER_SCALE = {"1K": 1, "2K": 2, "4K": 4}


def _usd(**prices: str) -> dict[str, Decimal]:
    return {key: Decimal(value) for key, value in prices.items()}


@dataclass(frozen=True, kw_only=True)
class GeminiModel:
    """What one Gemini image model takes and what it costs.

    `prices` are USD per 1M tokens by token type (text_input, image_input, text_output -
    which includes thinking - and image_output); `output_tokens` is the image output tokens
    per image by tier, used to estimate before a call.
    """

    aspect_ratios: tuple[str, ...]
    # Resolution tiers sent as imageConfig.imageSize; () = the model has one and takes no field.
    image_sizes: tuple[str, ...]
    nominal_1k: Mapping[str, tuple[int, int]]
    max_reference_images: int
    output_tokens: Mapping[str, int]
    input_image_tokens: int
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    max_prompt_length: int = 32000

    def tiers(self) -> tuple[str, ...]:
        return self.image_sizes or ("1K",)

    def native_size(self, aspect: str, tier: str) -> tuple[int, int]:
        width, height = self.nominal_1k[aspect]
        scale = _TIER_SCALE.get(tier, 1)
        return width * scale, height * scale


# Gemini API list prices and token counts (Google's model and pricing pages, read
# 2026-12-01). Override per deployment with OPTIONS["prices"]; prices change.
GEMINI_MODELS: dict[str, GeminiModel] = {
    "gemini-3.1-flash-image": GeminiModel(
        aspect_ratios=tuple(_GEMINI3_1K),
        image_sizes=("1K", "2K", "4K"),
        nominal_1k=_GEMINI3_1K,
        max_reference_images=14,
        output_tokens={"1K": 1120, "2K": 1680, "4K": 2520},
        input_image_tokens=1120,
        prices=_usd(text_input="0.50", image_input="0.50", text_output="3.00", image_output="60.00"),
    ),
    "gemini-3-pro-image": GeminiModel(
        aspect_ratios=_TEN_ASPECTS,
        image_sizes=("1K", "2K", "4K"),
        nominal_1k={aspect: _GEMINI3_1K[aspect] for aspect in _TEN_ASPECTS},
        max_reference_images=14,
        output_tokens={"1K": 1120, "2K": 1120, "4K": 2000},
        input_image_tokens=560,
        prices=_usd(text_input="2.00", image_input="2.00", text_output="12.00", image_output="120.00"),
    ),
    "gemini-2.5-flash-image": GeminiModel(
        aspect_ratios=_TEN_ASPECTS,
        image_sizes=(),
        nominal_1k=_GEMINI25_1K,
        max_reference_images=3,
        output_tokens={"1K": 1290},
        input_image_tokens=1290,
        prices=_usd(text_input="0.30", image_input="0.30", text_output="2.50", image_output="30.00"),
    ),
}
# A model the API lists that the table does not know: the common subset, no price.
_UNKNOWN_MODEL = GeminiModel(
    aspect_ratios=_TEN_ASPECTS, image_sizes=(), nominal_1k=_GEMINI25_1K, max_reference_images=3,
    output_tokens={"1K": 1290}, input_image_tokens=1290,
)


def model_key(name: str) -> str:
    """"models/gemini-3-pro-image-preview" -> "gemini-3-pro-image": the table's key for it."""
    name = name.removeprefix("models/")
    for suffix in ("-preview", "-latest"):
        name = name.removesuffix(suffix)
    return name


def is_image_model(name: str, actions: Sequence[str]) -> bool:
    """Gemini image models answer generateContent; Imagen (predict) is another API."""
    short = name.removeprefix("models/")
    return short.startswith("gemini") and "image" in short and "generateContent" in actions


@dataclass(frozen=True, kw_only=True)
class CallPlan:
    """What one call asks for: the aspect and tier chosen for the requested size."""

    aspect_ratio: str
    image_size: str  # "" when the model takes no imageSize
    native_size: tuple[int, int]


class GeminiProvider(BaseProvider):
    """Gemini API image models. OPTIONS: api_key (required), base_url, timeout (seconds),
    models (fixed list; empty = ask the API, falling back to the built-in table), max_n,
    prices ({model: {text_input, image_input, text_output, image_output: USD per 1M tokens}}),
    defaults, max_concurrency."""

    display_name = "Google Gemini"
    supports_edit = True

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        self.api_key: str = str(self.options.get("api_key") or "")
        if not self.api_key:
            raise InvalidProviderError(f"Provider {alias!r}: no api_key configured.")
        self.base_url: str = str(self.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.max_n = int(self.options.get("max_n") or DEFAULT_MAX_N)
        self.configured_models: tuple[str, ...] = tuple(
            m.strip() for m in self.options.get("models") or () if m.strip()
        )
        self.prices: dict[str, Mapping[str, Any]] = dict(self.options.get("prices") or {})
        self._client: genai.Client | None = None
        self._lock = threading.Lock()
        self._listing: tuple[float, tuple[str, ...] | None] | None = None

    # -- models and capabilities -----------------------------------------------------------

    def model_spec(self, model: str) -> GeminiModel:
        return GEMINI_MODELS.get(model_key(model), _UNKNOWN_MODEL)

    def model_names(self) -> tuple[str, ...]:
        """The configured list, else the API's image models, else the built-in table."""
        if self.configured_models:
            return self.configured_models
        listed = self.listed_models()
        return listed or tuple(GEMINI_MODELS)

    def listed_models(self) -> tuple[str, ...] | None:
        """The image models GET /v1beta/models names (cached); None while it cannot tell."""
        now = time.monotonic()
        with self._lock:
            if self._listing and self._listing[0] > now:
                return self._listing[1]
        try:
            names = self._list_models()
            ttl = LISTING_TTL
        except (ProviderError, ValueError) as exc:
            logger.info("provider %s could not list models: %s", self.alias, exc)
            names, ttl = None, LISTING_ERROR_TTL
        with self._lock:
            self._listing = (now + ttl, names)
        return names

    def _list_models(self) -> tuple[str, ...] | None:
        config = genai_types.ListModelsConfig(
            page_size=100, http_options=genai_types.HttpOptions(timeout=int(min(self.timeout, LISTING_TIMEOUT) * 1000))
        )
        models = self.call(lambda client: list(client.models.list(config=config)))
        names = tuple(
            (m.name or "").removeprefix("models/") for m in models
            if is_image_model(m.name or "", m.supported_actions or ())
        )
        return names or None

    def default_model(self) -> str:
        return self.defaults.get("model") or (self.configured_models[0] if self.configured_models else DEFAULT_MODEL)

    def capabilities(self, model: str = "") -> Capabilities:
        default = self.default_model()
        spec = self.model_spec(model or default)
        return Capabilities(
            models=self.model_names(),
            default_model=default,
            min_size=MIN_SIZE,
            max_size=MAX_SIZE,
            default_size=(1024, 1024),
            max_n=self.max_n,
            max_prompt_length=spec.max_prompt_length,
            output_formats=("png",),
            # An edit is the source and references sent inline before the prompt; no mask
            # (the app pastes the unmasked pixels back) and no strength.
            supports_edit=spec.max_reference_images > 0,
            max_references=max(0, spec.max_reference_images - 1),
        )

    def native_sizes(self, model: str = "") -> tuple[tuple[int, int], ...]:
        """Every size the model generates (aspect x tier); requests are fitted from these."""
        spec = self.model_spec(model or self.default_model())
        return tuple(spec.native_size(aspect, tier) for tier in spec.tiers() for aspect in spec.aspect_ratios)

    def max_reference_images(self, model: str = "") -> int:
        return self.model_spec(model or self.default_model()).max_reference_images

    def model_prices(self, model: str) -> dict[str, Decimal]:
        """The built-in prices overlaid with OPTIONS["prices"]["*"] and [model]."""
        merged = dict(self.model_spec(model).prices)
        for key in ("*", model, model_key(model)):
            merged.update({k: Decimal(str(v)) for k, v in (self.prices.get(key) or {}).items()})
        return merged

    def check(self) -> list[str]:
        problems = []
        default = self.default_model()
        if model_key(default) not in GEMINI_MODELS and default not in self.model_names():
            problems.append(f"default model {default!r} is not one of {', '.join(self.model_names())}")
        return problems

    # -- the request -------------------------------------------------------------------------

    def plan_call(self, request: GenerationRequest) -> CallPlan:
        """The aspect ratio nearest the requested size and the smallest tier that covers it.

        `extra` may pin either: {"aspect_ratio": "16:9"} or {"image_size": "4K"}.
        """
        spec = self.model_spec(request.model)
        aspect = request.extra.get("aspect_ratio") or gemini_fit.nearest_aspect(
            request.width, request.height, spec.aspect_ratios
        )
        if request.extra.get("image_size"):
            tier = request.extra["image_size"]
        else:
            tier = gemini_fit.smallest_covering(
                request.width, request.height, [(t, spec.native_size(aspect, t)) for t in spec.tiers()]
            )
        return CallPlan(
            aspect_ratio=aspect,
            image_size=tier if spec.image_sizes else "",
            native_size=spec.native_size(aspect, tier),
        )

    def validate(self, request: GenerationRequest, caps: Capabilities | None = None) -> None:
        spec = self.model_spec(request.model)
        problems = validation_problems(request, caps or self.capabilities(request.model))
        unknown = sorted(set(request.extra) - {"aspect_ratio", "image_size"})
        if unknown:
            problems.append(
                f"this model does not take {', '.join(unknown)}; extra parameters allowed: aspect_ratio, image_size"
            )
        aspect = request.extra.get("aspect_ratio")
        if aspect and aspect not in spec.aspect_ratios:
            problems.append(f"aspect ratio {aspect!r} is not offered; choose one of: {', '.join(spec.aspect_ratios)}")
        tier = request.extra.get("image_size")
        if tier and tier not in spec.image_sizes:
            offered = ", ".join(spec.image_sizes) if spec.image_sizes else "none (this model has one resolution)"
            problems.append(f"image size {tier!r} is not offered; choose one of: {offered}")
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))

    def generation_config(self, plan: CallPlan) -> genai_types.GenerateContentConfig:
        image_config = genai_types.ImageConfig(aspect_ratio=plan.aspect_ratio, image_size=plan.image_size or None)
        # TEXT too: a model that will not draw says why in text, and the message is worth keeping.
        return genai_types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"], image_config=image_config, candidate_count=1,
            # No tools are sent, so the SDK's automatic function calling has nothing to do.
            automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True),
        )

    # -- the calls ---------------------------------------------------------------------------

    @property
    def client(self) -> genai.Client:
        with self._lock:
            if self._client is None:
                # No SDK retries (its default is none; say so): the task layer retries
                # ProviderUnavailable with backoff, and retries here would multiply the cost.
                self._client = genai.Client(
                    api_key=self.api_key,
                    vertexai=False,
                    http_options=genai_types.HttpOptions(
                        base_url=self.base_url, api_version=API_VERSION, timeout=int(self.timeout * 1000),
                        retry_options=None,
                    ),
                )
            return self._client

    def warm(self) -> None:
        self.client  # noqa: B018 - built once, shared by every thread of the process

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def call(self, operation):
        """Run one SDK operation, turning every failure of it into a ProviderError."""
        try:
            return operation(self.client)
        except genai_errors.APIError as exc:
            raise self.translate_status_error(exc) from exc
        except httpx2.TimeoutException as exc:
            raise ProviderTimeout(f"no answer within {self.timeout:g} s", provider=self.alias) from exc
        except httpx2.TransportError as exc:
            raise ProviderTimeout(
                self.redact(f"connection to {self.base_url} failed: {exc}"), provider=self.alias
            ) from exc
        except (json.JSONDecodeError, genai_errors.UnknownApiResponseError, pydantic.ValidationError) as exc:
            raise ProviderServerError(
                f"the answer was not valid JSON ({type(exc).__name__})", provider=self.alias
            ) from exc

    def generate(self, request: GenerationRequest) -> GenerationResult:
        # Gemini takes reference images in a plain generation too: inline, before the prompt.
        references = self.check_references(request.model, request.reference_images) if request.reference_images else ()
        return self._generate(request, references=references)

    def reference_limit(self, model: str = "") -> int:
        return self.max_reference_images(model)

    def edit(self, request: GenerationRequest, *, images: Sequence[bytes]) -> GenerationResult:
        """`request.n` images from the prompt and `images` (sources or references, in order).

        Validated like `run()` plus the references: at least one, at most the model's limit,
        PNG, JPEG or WebP, together small enough to send inline. Logged like `run()`.
        """
        request = self.prepare(request)
        references = self.check_references(request.model, images)
        started = time.monotonic()
        try:
            result = self._generate(request, references=references)
        except ProviderError as exc:
            logger.warning("provider %s model %s edit failed after %d ms: %s",
                           self.alias, request.model, (time.monotonic() - started) * 1000, exc)
            raise
        elapsed = int((time.monotonic() - started) * 1000)
        logger.info("provider %s model %s made %d edited image(s) from %d reference(s) in %d ms",
                    self.alias, request.model, len(result.images), len(references), elapsed)
        return replace(result, provider_ms=elapsed)

    def edit_image(self, edit: EditRequest) -> GenerationResult:
        """The app's edit: the source first, then the references, as inline images."""
        references = self.check_references(edit.request.model, [edit.image, *edit.references])
        return self._generate(edit.request, references=references)

    def check_references(self, model: str, images: Sequence[bytes]) -> tuple[tuple[bytes, str], ...]:
        limit = self.model_spec(model).max_reference_images
        problems = []
        if not images:
            problems.append("an edit needs at least one image")
        elif len(images) > limit:
            problems.append(f"{len(images)} reference images given; {model} takes at most {limit}")
        typed = []
        for index, data in enumerate(images):
            mime = sniff_image_mime(bytes(data))
            if mime not in REFERENCE_MIME_TYPES:
                problems.append(f"reference image {index + 1} is not a PNG, JPEG or WebP image")
            typed.append((bytes(data), mime))
        total = sum(len(data) for data, _mime in typed)
        if total > MAX_INLINE_BYTES:
            problems.append(f"the reference images total {total:,} bytes; at most {MAX_INLINE_BYTES:,} can be sent")
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))
        return tuple(typed)

    def _generate(self, request: GenerationRequest, *, references: Sequence[tuple[bytes, str]]) -> GenerationResult:
        plan = self.plan_call(request)
        config = self.generation_config(plan)
        contents: list[Any] = [genai_types.Part.from_bytes(data=data, mime_type=mime) for data, mime in references]
        contents.append(request.prompt)
        images: list[GeneratedImage] = []
        usages: list[dict[str, int]] = []
        response_ids: list[str] = []
        for index in range(request.n):
            logger.debug("provider %s: generateContent model=%s aspect=%s size=%s call %d of %d",
                         self.alias, request.model, plan.aspect_ratio, plan.image_size or "-", index + 1, request.n)
            try:
                response = self.call(
                    lambda client: client.models.generate_content(model=request.model, contents=contents, config=config)
                )
                image, usage, response_id = self.read_response(response, request=request, plan=plan, index=index)
            except ProviderError as exc:
                if not images:
                    raise
                # The images already made were paid for: keep them; the rest fail with the count.
                logger.warning("provider %s: call %d of %d failed, keeping %d image(s): %s",
                               self.alias, index + 1, request.n, len(images), exc)
                break
            images.append(image)
            usages.append(usage)
            if response_id:
                response_ids.append(response_id)
        return GenerationResult(
            images=tuple(images),
            model=request.model,
            request_id=",".join(response_ids),
            usage=self.usage_record(request, plan, usages, references=len(references)),
        )

    # -- the answer --------------------------------------------------------------------------

    def read_response(
        self, response: genai_types.GenerateContentResponse, *, request: GenerationRequest, plan: CallPlan, index: int
    ) -> tuple[GeneratedImage, dict[str, int], str]:
        response_id = response.response_id or ""
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = _enum_name(feedback.block_reason)
            said = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
            raise ContentRefused(
                f"the prompt was blocked by Gemini's safety system ({reason}){said}",
                provider=self.alias, request_id=response_id, code=reason,
            )
        if not response.candidates:
            raise ProviderServerError("the answer has no candidates", provider=self.alias, request_id=response_id)
        candidate = response.candidates[0]
        finish = _enum_name(candidate.finish_reason) if candidate.finish_reason is not None else ""
        parts = (candidate.content.parts if candidate.content else None) or []
        # Gemini 3 models may show interim "thought" images before the final one.
        final = [p for p in parts if not p.thought]
        inline = [p.inline_data for p in final if p.inline_data is not None and p.inline_data.data]
        text = " ".join(p.text.strip() for p in final if p.text and p.text.strip())
        if not inline:
            said = f": {text}" if text else ""
            if finish in REFUSAL_REASONS or looks_like_refusal(text):
                raise ContentRefused(
                    f"Gemini's safety system refused the image ({finish or 'no image'}){said}"
                    + (f" {candidate.finish_message}" if candidate.finish_message else ""),
                    provider=self.alias, request_id=response_id, code=finish,
                )
            if text:
                raise ProviderBadRequest(
                    f"the model answered without an image ({finish or 'STOP'}){said}",
                    provider=self.alias, request_id=response_id, code=finish,
                )
            raise ProviderServerError(
                f"the answer has no image ({finish or 'no finish reason'})",
                provider=self.alias, request_id=response_id, code=finish,
            )
        blob = inline[-1]
        data = bytes(blob.data)
        return (
            self.to_image(data, declared=blob.mime_type or "", text=text, request=request, plan=plan, index=index),
            usage_counts(response.usage_metadata),
            response_id,
        )

    def to_image(
        self, data: bytes, *, declared: str, text: str, request: GenerationRequest, plan: CallPlan, index: int
    ) -> GeneratedImage:
        metadata: dict[str, Any] = {
            "index": index,
            "aspect_ratio": plan.aspect_ratio,
            "requested_size": request.size,
        }
        if plan.image_size:
            metadata["image_size"] = plan.image_size
        if text:
            metadata["text"] = text[:1000]
        try:
            native = gemini_fit.image_size(data)
            if native != (request.width, request.height):
                data = gemini_fit.fit_exact(data, request.width, request.height)
                metadata["fit"] = "centre-crop+resize"
        except gemini_fit.FitError:
            # Not an image: passed on for the generation layer to fail with its own message.
            return GeneratedImage(data=data, mime_type=sniff_image_mime(data), metadata=metadata)
        metadata["generated_size"] = f"{native[0]}x{native[1]}"
        mime = sniff_image_mime(data)
        return GeneratedImage(data=data, mime_type=mime if mime != "application/octet-stream" else declared,
                              metadata=metadata)

    def usage_record(
        self, request: GenerationRequest, plan: CallPlan, usages: Sequence[Mapping[str, int]], *, references: int
    ) -> dict[str, Any]:
        """The calls' token counts summed once for the whole request, in OpenAI's usage shape
        (so /v1 reports it as it is), with the cost they come to: priced from the counts when
        every call reported them, else the estimate - `cost_basis` says which."""
        totals: dict[str, int] = {}
        reported = [u for u in usages if u]
        for usage in reported:
            for key, value in usage.items():
                totals[key] = totals.get(key, 0) + value
        record: dict[str, Any] = {"calls": len(usages)}
        if reported:
            prompt = totals.get("prompt_tokens", 0)
            image_in = totals.get("prompt_image_tokens", 0)
            output = totals.get("candidates_tokens", 0) + totals.get("thoughts_tokens", 0)
            image_out = totals.get("output_image_tokens", 0)
            record.update(
                input_tokens=prompt,
                input_tokens_details={"text_tokens": max(prompt - image_in, 0), "image_tokens": image_in},
                output_tokens=output,
                # Thinking is billed as text output.
                output_tokens_details={"text_tokens": max(output - image_out, 0), "image_tokens": image_out},
                total_tokens=totals.get("total_tokens", 0) or prompt + output,
                thoughts_tokens=totals.get("thoughts_tokens", 0),
            )
        cost = self.cost_from_usage(request, record) if reported and len(reported) == len(usages) else None
        if cost is not None:
            record.update(cost_usd=str(cost), cost_basis="usage")
        else:
            estimate = self.estimate_cost(replace(request, n=len(usages)), references=references)
            if estimate is not None:
                record.update(cost_usd=str(estimate), cost_basis="estimate")
        return record

    def cost_from_usage(self, request: GenerationRequest, usage: Mapping[str, Any]) -> Decimal | None:
        """USD of a whole call from a usage record of `usage_record`'s shape, by token type;
        None when it has no token counts or the model has no token prices."""
        prices = self.model_prices(request.model or self.default_model())
        if not {"text_input", "image_input", "text_output", "image_output"} <= set(prices):
            return None
        inputs, outputs = usage.get("input_tokens_details"), usage.get("output_tokens_details")
        if not isinstance(inputs, Mapping) or not isinstance(outputs, Mapping):
            return None
        cost = (
            int(inputs.get("text_tokens") or 0) * prices["text_input"]
            + int(inputs.get("image_tokens") or 0) * prices["image_input"]
            + int(outputs.get("text_tokens") or 0) * prices["text_output"]
            + int(outputs.get("image_tokens") or 0) * prices["image_output"]
        ) / 1_000_000
        return cost.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    def estimate_cost(self, request: GenerationRequest, *, references: int = 0) -> Decimal | None:
        """Image output tokens for the tier the request will use, plus its prompt (about four
        characters a token) and any reference images; None for a model without prices."""
        prices = self.model_prices(request.model or self.default_model())
        if "image_output" not in prices:
            return None
        request = request if request.model else replace(request, model=self.default_model())
        spec = self.model_spec(request.model)
        plan = self.plan_call(request)
        tokens = spec.output_tokens.get(plan.image_size or "1K") or max(spec.output_tokens.values())
        per_image = tokens * prices["image_output"]
        per_image += (len(request.prompt) // 4 + 1) * prices.get("text_input", Decimal(0))
        per_image += references * spec.input_image_tokens * prices.get("image_input", Decimal(0))
        return (per_image * request.n / 1_000_000).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    # -- errors ------------------------------------------------------------------------------


    def translate_status_error(self, exc: genai_errors.APIError) -> ProviderError:
        status = int(exc.code or 0)
        rpc_status = str(exc.status or "")
        details = _error_details(exc.details)
        body = self.redact(_response_text(exc))
        message = self.redact(str(exc.message or "").strip() or body[:300] or rpc_status or "error")
        kwargs: dict[str, Any] = {"provider": self.alias, "status_code": status or None, "response": body,
                                  "code": rpc_status}
        reasons = {str(d.get("reason")) for d in details if d.get("reason")}
        header = parse_retry_after(exc.response.headers.get("retry-after")) if exc.response is not None else None
        if status == 429:
            retry_after = _retry_delay(details)
            retry_after = header if retry_after is None else retry_after
            wait = f" (retry after {retry_after:g} s)" if retry_after is not None else ""
            return ProviderRateLimited(f"rate limited or out of quota{wait}: {message}", retry_after=retry_after,
                                       **kwargs)
        if status in (401, 403) or reasons & AUTH_REASONS:
            summary = "permission denied" if status == 403 else "authentication failed"
            return ProviderAuthError(f"{summary}: {message}", **kwargs)
        if status == 408:
            return ProviderTimeout(f"the provider timed out: {message}", **kwargs)
        if status >= 500:
            return ProviderServerError(f"server error: {message}", retry_after=header, **kwargs)
        return ProviderBadRequest(f"bad request: {message}", **kwargs)


def usage_counts(metadata: genai_types.GenerateContentResponseUsageMetadata | None) -> dict[str, int]:
    """Gemini's usageMetadata as flat counts (empty when the answer has none)."""
    if metadata is None:
        return {}
    counts = {
        "prompt_tokens": metadata.prompt_token_count or 0,
        "candidates_tokens": metadata.candidates_token_count or 0,
        "thoughts_tokens": metadata.thoughts_token_count or 0,
        "total_tokens": metadata.total_token_count or 0,
    }
    for key, details in (("prompt", metadata.prompt_tokens_details), ("output", metadata.candidates_tokens_details)):
        for item in details or ():
            modality = _enum_name(item.modality).lower() if item.modality is not None else ""
            if modality in ("text", "image"):
                counts[f"{key}_{modality}_tokens"] = counts.get(f"{key}_{modality}_tokens", 0) + (item.token_count or 0)
    return counts


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def _error_details(payload: Any) -> list[dict[str, Any]]:
    """google.rpc error details ("@type", "reason", "retryDelay"...) from an error body."""
    error = payload.get("error", payload) if isinstance(payload, Mapping) else {}
    details = error.get("details") if isinstance(error, Mapping) else None
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def _retry_delay(details: Sequence[Mapping[str, Any]]) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail ("retryDelay": "32s" or "1.5s")."""
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = str(detail.get("retryDelay") or "").strip()
            try:
                return max(0.0, float(delay.removesuffix("s")))
            except ValueError:
                return None
    return None


def _response_text(exc: genai_errors.APIError) -> str:
    response = exc.response
    try:
        return response.text if response is not None else json.dumps(exc.details)
    except Exception:  # a streamed or closed response has no text to give
        return json.dumps(exc.details, default=str)
