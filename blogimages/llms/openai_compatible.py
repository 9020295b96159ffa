"""Any OpenAI-style chat host: Ollama, vLLM, LocalAI, LiteLLM (`LLM_BASE_URL`, `LLM_MODEL`...).

Same protocol as OpenAI, so the same client; what differs is what the host can do, which the
operator states in OPTIONS (`vision` follows from a vision model being named), and the
token limit field most of them read (`max_tokens`). No price unless OPTIONS["prices"] gives one.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..exceptions import InvalidProviderError
from .base import BaseLLM, LlmCapabilities
from .openai import OpenAILLM


class OpenAICompatibleLLM(OpenAILLM):
    max_tokens_field = "max_tokens"

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        if not self.options.get("base_url"):
            raise InvalidProviderError(f"LLM {alias!r} needs a base_url (LLM_BASE_URL).")

    def capabilities(self, model: str = "") -> LlmCapabilities:
        return LlmCapabilities(vision=bool(self.options.get("vision", bool(self.vision_model))),
                               tools=bool(self.options.get("tools", True)),
                               json=bool(self.options.get("json", True)),
                               streaming=bool(self.options.get("streaming", True)))

    def prices(self, model: str) -> Mapping[str, Decimal] | None:
        return BaseLLM.prices(self, model)

    def check(self) -> list[str]:
        return [] if self.model else [f"LLM {self.alias!r} has no model (LLM_MODEL)."]

    def validate(self, request) -> None:
        BaseLLM.validate(self, request)
