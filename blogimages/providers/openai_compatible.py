"""Any OpenAI-style images endpoint (FLUX hosts, LocalAI, gateways) through the openai SDK.

The HTTP plumbing is OpenAIProvider's; this class only changes what the host is told and
what it is assumed to accept: the configured base URL, model list, sizes and host-specific
parameters (steps, seed, guidance, negative prompt) sent through `extra_body`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import openai

from ..exceptions import InvalidProviderError, ProviderError
from .base import Capabilities, GenerationRequest
from .openai import OpenAIProvider, display_url, is_loopback_host

logger = logging.getLogger("blogimages.providers.openai_compatible")

# Without a configured size list: a range that suits diffusion models (FLUX wants /16).
DEFAULT_MIN_SIZE = 256
DEFAULT_MAX_SIZE = 2048
DEFAULT_SIZE_MULTIPLE = 16
DEFAULT_MAX_N = 4
# How long a failed model listing is remembered before the server is asked again.
MODEL_DISCOVERY_RETRY_SECONDS = 60.0
# The SDK insists on some credential; keyless hosts get this and no Authorization header.
NO_KEY_PLACEHOLDER = "no-key"


def parse_size(value: str) -> tuple[int, int]:
    width, sep, height = value.lower().strip().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ValueError(f"size {value!r} is not WIDTHxHEIGHT")
    return int(width), int(height)


class OpenAICompatibleProvider(OpenAIProvider):
    """OPTIONS (besides OpenAIProvider's): base_url (required), api_key (optional), models
    (first = default; empty = ask the server), sizes (["WxH", ...]; empty = 256-2048 in
    steps of 16), max_n, max_prompt_length, supports_negative_prompt (False),
    supports_steps/supports_seed/supports_guidance (True), qualities, styles,
    output_formats, extra_body (merged into every call), response_format ("b64_json";
    "url", a host's own value such as Together's "base64", or "" to send none)."""

    display_name = "OpenAI-compatible"
    # Hosts rarely have /images/edits that keep an image's look (LocalAI, Together, FLUX
    # hosts do not): offer no variations, so derive.variations re-runs the prompt with new
    # seeds instead, and a direct create_variation() raises UnsupportedFeature before any request.
    edit_variations = False
    # Host parameter names for the request fields OpenAI itself does not take.
    extra_body_names: Mapping[str, str] = {
        "negative_prompt": "negative_prompt",
        "steps": "steps",
        "seed": "seed",
        "guidance_scale": "guidance_scale",
    }

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        self.configured_models: tuple[str, ...] = tuple(m.strip() for m in options.get("models") or () if m.strip())
        try:
            self.sizes = tuple(parse_size(size) for size in options.get("sizes") or ())
        except ValueError as exc:
            raise InvalidProviderError(f"Provider {alias!r}: {exc}.") from exc
        self._server_models: tuple[str, ...] | None = None
        self._server_models_failed_at: float | None = None
        # Built from the options and the model list only: planning a 96-section batch asked
        # for them 384 times (3 ms of the start, before any task could begin).
        self._capabilities: dict[tuple[str, tuple[str, ...]], Capabilities] = {}
        super().__init__(alias=alias, options=options)

    def _check_configuration(self) -> None:
        if not self.options.get("base_url"):
            raise InvalidProviderError(f"Provider {self.alias!r}: no base_url configured.")
        # Any response_format: hosts disagree on its values, and "" leaves it out.

    # -- capabilities --------------------------------------------------------------------

    def model_names(self) -> tuple[str, ...]:
        """The configured models, else what the server lists; empty = any model name."""
        return self.configured_models or self.server_models()

    def server_models(self) -> tuple[str, ...]:
        if self._server_models is not None:
            return self._server_models
        failed_at = self._server_models_failed_at
        if failed_at is not None and time.monotonic() - failed_at < MODEL_DISCOVERY_RETRY_SECONDS:
            return ()
        try:
            page = self.call(
                lambda client: client.with_options(timeout=min(self.timeout, 10.0)).models.list(
                    extra_headers=self.request_headers()
                )
            )
            models = tuple(model.id for model in page if isinstance(getattr(model, "id", None), str))
        except ProviderError as exc:
            # Many hosts have no /models; validation then accepts any model name.
            logger.warning("provider %s: could not list models: %s", self.alias, exc)
            self._server_models_failed_at = time.monotonic()
            return ()
        self._server_models = models
        return models

    def capabilities(self, model: str = "") -> Capabilities:
        models = self.model_names()
        if model and model not in models:
            # Any name a request sends (a host without a list takes any): not kept, or the
            # cache would grow with every name tried.
            return self._build_capabilities(model, models)
        # Keyed by the model list too: a host whose /models answers later lists new models.
        key = (model, models)
        known = self._capabilities.get(key)
        if known is None:
            known = self._capabilities[key] = self._build_capabilities(model, models)
        return known

    def _build_capabilities(self, model: str, models: tuple[str, ...]) -> Capabilities:
        default = self.defaults.get("model") or (models[0] if models else "")
        return Capabilities(
            models=models,
            default_model=default,
            sizes=self.sizes,
            min_size=DEFAULT_MIN_SIZE,
            max_size=DEFAULT_MAX_SIZE,
            size_multiple=DEFAULT_SIZE_MULTIPLE,
            default_size=self.sizes[0] if self.sizes and (1024, 1024) not in self.sizes else (1024, 1024),
            max_n=int(self.options.get("max_n", DEFAULT_MAX_N)),
            max_prompt_length=int(self.options.get("max_prompt_length", 4000)),
            supports_negative_prompt=bool(self.options.get("supports_negative_prompt", False)),
            supports_seed=bool(self.options.get("supports_seed", True)),
            supports_steps=bool(self.options.get("supports_steps", True)),
            supports_guidance=bool(self.options.get("supports_guidance", True)),
            qualities=tuple(self.options.get("qualities") or ()),
            styles=tuple(self.options.get("styles") or ()),
            output_formats=tuple(self.options.get("output_formats") or ("png", "jpeg", "webp")),
            prices=self._prices_for(model or default, {}),
        )

    def lifecycle(self, model: str) -> None:
        # OpenAI's retirements are OpenAI's: a host may serve its own model called dall-e-3.
        return None

    def default_model_name(self) -> str:
        return self.capabilities().default_model

    def check(self) -> list[str]:
        problems = []
        if self.defaults.get("model") and self.configured_models and self.defaults["model"] not in self.configured_models:
            problems.append(
                f"default model {self.defaults['model']!r} is not one of {', '.join(self.configured_models)}"
            )
        # A local server without keys is normal; a remote one without keys is a slip.
        if not self.api_key and not is_loopback_host(urlsplit(self.base_url).hostname or ""):
            problems.append(f"no api_key: requests to {display_url(self.base_url)} are sent without credentials")
        return problems

    def estimate_cost(self, request: GenerationRequest) -> Decimal | None:
        # A price needs a model name; asking the server for one is not worth a cost estimate.
        return super().estimate_cost(request) if self.prices else None

    # -- request -------------------------------------------------------------------------

    def extra_problems(self, request: GenerationRequest) -> list[str]:
        # `extra` is host-specific by definition: it goes to the host as it is.
        return []

    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        params = self.common_params(request)
        if self.response_format:
            params["response_format"] = self.response_format
        if request.output_format:
            params["output_format"] = request.output_format
        extra_body = {**(self.options.get("extra_body") or {}), **self.host_params(request), **request.extra}
        if extra_body:
            params["extra_body"] = extra_body
        return params

    def host_params(self, request: GenerationRequest) -> dict[str, Any]:
        """The diffusion parameters OpenAI has no field for (validation allowed them)."""
        values = {
            "negative_prompt": request.negative_prompt or None,
            "steps": request.steps,
            "seed": request.seed,
            "guidance_scale": request.guidance_scale,
        }
        return {self.extra_body_names[name]: value for name, value in values.items() if value is not None}

    def seed_for(self, item: Any, index: int, request: GenerationRequest) -> int | None:
        reported = getattr(item, "seed", None)
        if isinstance(reported, int):
            return reported
        # With n > 1 a host derives the other images' seeds its own way: unknown.
        return request.seed if request.n == 1 else None

    # -- the call ------------------------------------------------------------------------

    def client_options(self) -> dict[str, Any]:
        # Never fall back to the SDK's environment: OPENAI_API_KEY, OPENAI_ORG_ID and
        # OPENAI_PROJECT_ID belong to OpenAI and must not reach a third-party host.
        return {
            "api_key": self.api_key or NO_KEY_PLACEHOLDER,
            "base_url": self.base_url,
            "organization": None,
            "default_headers": {"OpenAI-Organization": openai.omit, "OpenAI-Project": openai.omit},
        }

    def request_headers(self) -> dict[str, Any]:
        return {} if self.api_key else {"Authorization": openai.omit}
