"""OpenAI's Chat Completions API through the `openai` SDK: text, images in, tools, JSON, SSE.

The model names come from the environment (`OPENAI_LLM_MODEL`, `OPENAI_LLM_VISION_MODEL`):
OpenAI retires chat models every few months, so none is built in as a default. Names OpenAI
has shut down are refused before any call, naming the replacement OpenAI recommends.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import openai

from ..exceptions import (
    ContentRefused,
    ModelRetired,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnreachable,
)
from ..providers.base import redact_secrets, secrets_in
from ..providers.openai import (
    CONTENT_POLICY_CODES,
    DEFAULT_BASE_URL,
    QUOTA_CODES,
    display_url,
    provider_message,
    retry_after_seconds,
)
from .base import BaseLLM, Completion, CompletionRequest, LlmCapabilities, Message, ToolCall, Usage

# OpenAI's deprecations page (read 2026-12-01): shut down -> the replacement it names.
RETIRED = {
    "gpt-5.1-chat-latest": "gpt-5.6-terra",
    "gpt-5.2-chat-latest": "gpt-5.6-terra",
    "gpt-5.3-chat-latest": "gpt-5.6-terra",
    "gpt-5.1-codex": "gpt-5.6-terra",
}
# Announced, still answering until the date.
DEPRECATED = {
    "gpt-5": (dt.date(2026, 12, 11), "gpt-6.1-sol"),
    "gpt-5-2025-08-07": (dt.date(2026, 12, 11), "gpt-6.1-sol"),
    "gpt-5-mini": (dt.date(2026, 12, 11), "gpt-6.1-terra"),
    "gpt-5-mini-2025-08-07": (dt.date(2026, 12, 11), "gpt-6.1-terra"),
}
# USD per 1M tokens where a published figure was found; OPTIONS["prices"] adds or overrides.
PRICES = {
    "gpt-5.6-terra": {"input": "2", "output": "12"},
    "gpt-5.6-sol": {"input": "5", "output": "30"},
}


class OpenAILLM(BaseLLM):
    #: OpenAI's reasoning models take max_completion_tokens; many compatible hosts only max_tokens.
    max_tokens_field = "max_completion_tokens"

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        self.api_key = self.options.get("api_key") or ""
        self.base_url = (self.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.max_retries = int(self.options.get("max_retries", 0))
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()

    def capabilities(self, model: str = "") -> LlmCapabilities:
        vision = bool(self.options.get("vision", bool(self.vision_model)))
        return LlmCapabilities(vision=vision, tools=bool(self.options.get("tools", True)),
                               json=bool(self.options.get("json", True)),
                               streaming=bool(self.options.get("streaming", True)))

    def prices(self, model: str) -> Mapping[str, Decimal] | None:
        return super().prices(model) or (
            {k: Decimal(v) for k, v in PRICES[model].items()} if model in PRICES else None
        )

    def check(self) -> list[str]:
        problems = []
        if not self.model:
            problems.append(f"LLM {self.alias!r} has no model (OPENAI_LLM_MODEL).")
        for model in filter(None, (self.model, self.vision_model)):
            if model in RETIRED:
                problems.append(f"LLM {self.alias!r}: {model} was shut down; use {RETIRED[model]}.")
            elif model in DEPRECATED:
                date, replacement = DEPRECATED[model]
                problems.append(f"LLM {self.alias!r}: {model} shuts down on {date:%Y-%m-%d}; use {replacement}.")
        return problems

    def validate(self, request: CompletionRequest) -> None:
        model = self.model_for(request)
        if model in RETIRED:
            raise ModelRetired(f"{self.alias}: {model} was shut down by OpenAI; use {RETIRED[model]}.",
                               model=model, replacement=RETIRED[model])
        if not model:
            raise ProviderBadRequest("no model configured", provider=self.alias)
        super().validate(request)

    # -- the call ---------------------------------------------------------------------

    @property
    def client(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                # No SDK retries: the caller decides, and retries would multiply the cost.
                self._client = openai.OpenAI(api_key=self.api_key or "not-needed", base_url=self.base_url,
                                             timeout=self.timeout, max_retries=self.max_retries)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def params(self, request: CompletionRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model_for(request),
            "messages": [to_openai_message(m) for m in request.messages],
            self.max_tokens_field: request.max_tokens,
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.tools:
            params["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": dict(t.parameters)}}
                for t in request.tools
            ]
            params["tool_choice"] = request.tool_choice
        if request.json_output:
            params["response_format"] = {"type": "json_object"}
        return params

    def complete_request(self, request: CompletionRequest, *, on_text=None) -> Completion:
        params = self.params(request)
        stream = bool(on_text) and self.capabilities(params["model"]).streaming
        try:
            if stream:
                return self._stream(params, on_text)
            raw = self.client.chat.completions.with_raw_response.create(**params)
            return self._answer(raw.parse(), raw.headers.get("x-request-id", ""))
        except openai.OpenAIError as exc:
            raise self.translate_error(exc) from exc

    def _answer(self, answer: Any, request_id: str) -> Completion:
        if not getattr(answer, "choices", None):
            raise ProviderServerError("the answer has no choices", provider=self.alias, request_id=request_id)
        choice = answer.choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal or choice.finish_reason == "content_filter":
            raise ContentRefused(f"the model refused: {refusal or 'content filter'}", provider=self.alias,
                                 request_id=request_id, code="refusal")
        calls = [self._tool_call(c.id, c.function.name, c.function.arguments, request_id)
                 for c in (message.tool_calls or [])]
        return Completion(text=message.content or "", tool_calls=calls, usage=usage_of(answer.usage),
                          model=answer.model or "", finish_reason=choice.finish_reason or "",
                          request_id=request_id)

    def _stream(self, params: dict[str, Any], on_text: Callable[[str], None]) -> Completion:
        for piece in self._events(params):
            if isinstance(piece, Completion):
                return piece
            on_text(piece)
        raise ProviderServerError("the stream ended without an answer", provider=self.alias)

    def stream_request(self, request: CompletionRequest) -> Iterator[str | Completion]:
        try:
            yield from self._events(self.params(request))
        except openai.OpenAIError as exc:
            raise self.translate_error(exc) from exc

    def _events(self, params: dict[str, Any]) -> Iterator[str | Completion]:
        """The SSE answer: each text delta as it arrives, then the assembled Completion."""
        stream = self.client.chat.completions.create(**params, stream=True, stream_options={"include_usage": True})
        request_id = stream.response.headers.get("x-request-id", "")
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = None
        model = finish = refusal = ""
        with stream:
            for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = usage_of(chunk.usage)
                for choice in chunk.choices or []:
                    delta = choice.delta
                    if choice.finish_reason:
                        finish = choice.finish_reason
                    if getattr(delta, "refusal", None):
                        refusal += delta.refusal
                    if delta.content:
                        text.append(delta.content)
                        yield delta.content
                    for part in delta.tool_calls or []:
                        entry = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                        entry["id"] = part.id or entry["id"]
                        if part.function is not None:
                            entry["name"] += part.function.name or ""
                            entry["arguments"] += part.function.arguments or ""
        if refusal or finish == "content_filter":
            raise ContentRefused(f"the model refused: {refusal or 'content filter'}", provider=self.alias,
                                 request_id=request_id, code="refusal")
        tool_calls = [self._tool_call(c["id"], c["name"], c["arguments"], request_id)
                      for _, c in sorted(calls.items())]
        yield Completion(text="".join(text), tool_calls=tool_calls, usage=usage, model=model,
                         finish_reason=finish, request_id=request_id, streamed=True)

    def _tool_call(self, call_id: str, name: str, arguments: str, request_id: str) -> ToolCall:
        try:
            parsed = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            # A model that wrote broken JSON may write it right the next time.
            raise ProviderServerError(f"tool call {name!r} has arguments that are not JSON: {exc}",
                                      provider=self.alias, request_id=request_id) from exc
        if not isinstance(parsed, dict):
            raise ProviderServerError(f"tool call {name!r} arguments are not an object", provider=self.alias,
                                      request_id=request_id)
        return ToolCall(id=call_id, name=name, arguments=parsed)

    # -- errors (the same split as the image providers) -------------------------------

    def redact(self, text: str) -> str:
        """`text` without our key, whole or in part, in case a host echoes it back."""
        return redact_secrets(text, secrets_in(self.options))

    def translate_error(self, exc: openai.OpenAIError) -> ProviderError:
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeout(f"no answer within {self.timeout:g} s", provider=self.alias)
        if isinstance(exc, openai.APIConnectionError):
            return ProviderUnreachable(self.redact(f"connection to {display_url(self.base_url)} failed"),
                                       provider=self.alias)
        if isinstance(exc, openai.APIStatusError):
            status, code = exc.status_code, exc.code or ""
            kwargs: dict[str, Any] = {"provider": self.alias, "status_code": status,
                                      "response": self.redact(exc.response.text),
                                      "request_id": exc.request_id or "", "code": code}
            said = self.redact(provider_message(exc))
            retry_after = retry_after_seconds(exc.response.headers)
            if status == 429:
                if code in QUOTA_CODES or getattr(exc, "type", None) in QUOTA_CODES:
                    return ProviderAuthError(f"quota exhausted: {said}", **kwargs)
                return ProviderRateLimited(f"rate limited: {said}", retry_after=retry_after, **kwargs)
            if status in (401, 403):
                return ProviderAuthError(f"authentication failed: {said}", **kwargs)
            if status == 408:
                return ProviderTimeout(f"the server timed out: {said}", retry_after=retry_after, **kwargs)
            if status >= 500:
                return ProviderServerError(f"server error: {said}", retry_after=retry_after, **kwargs)
            if code in CONTENT_POLICY_CODES:
                return ContentRefused(f"refused by the provider's safety system: {said}", **kwargs)
            return ProviderBadRequest(f"bad request: {said}", **kwargs)
        if isinstance(exc, openai.APIResponseValidationError):
            return ProviderServerError(f"malformed answer: {exc.message}", provider=self.alias)
        return ProviderError(self.redact(str(exc)), provider=self.alias)


def to_openai_message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.images:
        import base64

        content: Any = [{"type": "text", "text": message.content}] if message.content else []
        for image in message.images:
            url = f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"
            content.append({"type": "image_url", "image_url": {"url": url}})
    else:
        content = message.content
    data: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        data["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))}}
            for c in message.tool_calls
        ]
    return data


def usage_of(usage: Any) -> Usage | None:
    if usage is None:
        return None
    return Usage(input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                 output_tokens=int(getattr(usage, "completion_tokens", 0) or 0))
