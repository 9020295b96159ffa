"""What crosses the boundary between the app and a text/vision model, and the base class.

Like providers/base.py: frozen keyword-only dataclasses, capability flags the base class
checks before any call, one abstract method (`complete`). Backends know no database and no
request; usage comes back in the Completion and the service prices and records it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..exceptions import UnsupportedFeature

logger = logging.getLogger("blogimages.llms")

# One token is about four characters of English: enough to estimate a call before it is made.
CHARS_PER_TOKEN = 4
# An image input is billed by tiles; a flat figure keeps estimates on the safe side.
IMAGE_INPUT_TOKENS = 1100
PER_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, kw_only=True)
class ImageInput:
    """An image the model should look at: its bytes and MIME type."""

    data: bytes
    mime_type: str = "image/png"


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Message:
    role: str  # "system", "user", "assistant" or "tool"
    content: str = ""
    images: Sequence[ImageInput] = ()
    tool_calls: Sequence[ToolCall] = ()
    tool_call_id: str = ""


@dataclass(frozen=True, kw_only=True)
class Tool:
    """A function the model may call, described by a JSON schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class CompletionRequest:
    messages: Sequence[Message]
    tools: Sequence[Tool] = ()
    # "auto" lets the model answer or call; "required" forces a tool call.
    tool_choice: str = "auto"
    json_output: bool = False
    max_tokens: int = 800
    temperature: float | None = None
    model: str = ""
    stream: bool = False

    @property
    def has_images(self) -> bool:
        return any(message.images for message in self.messages)


@dataclass(frozen=True, kw_only=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class Completion:
    text: str = ""
    tool_calls: Sequence[ToolCall] = ()
    usage: Usage | None = None
    model: str = ""
    finish_reason: str = ""
    request_id: str = ""
    streamed: bool = False

    def json(self) -> Any:
        """The answer parsed as JSON (for json_output requests)."""
        return json.loads(self.text)


@dataclass(frozen=True, kw_only=True)
class LlmCapabilities:
    #: Takes images in user messages (alt text from the image needs this).
    vision: bool = False
    #: Can be given tools and answer with tool calls (the chat's generate_image).
    tools: bool = False
    #: Can be held to a JSON object answer.
    json: bool = False
    #: Streams its answer as it is written (server-sent events).
    streaming: bool = False
    #: A deterministic interpreter, not a language model: the interface says so.
    offline: bool = False


class BaseLLM:
    """One configured text/vision backend. Subclasses implement `complete_request`."""

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        self.alias = alias
        self.options = dict(options or {})
        self.timeout = float(self.options.get("timeout", 60))

    # -- what it can do ---------------------------------------------------------------

    def capabilities(self, model: str = "") -> LlmCapabilities:
        return LlmCapabilities()

    @property
    def model(self) -> str:
        return self.options.get("model", "")

    @property
    def vision_model(self) -> str:
        return self.options.get("vision_model", "") or ""

    def model_for(self, request: CompletionRequest) -> str:
        if request.model:
            return request.model
        if request.has_images and self.vision_model:
            return self.vision_model
        return self.model

    @property
    def label(self) -> str:
        model = self.model
        return f"{self.alias} ({model})" if model else self.alias

    # -- prices -----------------------------------------------------------------------

    def prices(self, model: str) -> Mapping[str, Decimal] | None:
        """USD per 1M tokens {"input": ..., "output": ...}, from OPTIONS["prices"]; None = unknown."""
        table = self.options.get("prices") or {}
        entry = table.get(model) if isinstance(table, Mapping) else None
        if entry is None and isinstance(table, Mapping) and {"input", "output"} <= set(table):
            entry = table
        if not entry:
            return None
        return {key: Decimal(str(entry[key])) for key in ("input", "output") if key in entry}

    def cost_from_usage(self, model: str, usage: Usage | None) -> Decimal | None:
        prices = self.prices(model)
        if prices is None or usage is None:
            return None
        return (Decimal(usage.input_tokens) * prices.get("input", Decimal(0))
                + Decimal(usage.output_tokens) * prices.get("output", Decimal(0))) / PER_MILLION

    def estimate_usage(self, request: CompletionRequest) -> Usage:
        chars = sum(len(m.content) for m in request.messages)
        chars += sum(len(json.dumps(dict(t.parameters))) + len(t.description) for t in request.tools)
        images = sum(len(m.images) for m in request.messages)
        return Usage(input_tokens=chars // CHARS_PER_TOKEN + 1 + images * IMAGE_INPUT_TOKENS,
                     output_tokens=request.max_tokens)

    def estimate_cost(self, request: CompletionRequest) -> Decimal | None:
        """The most the call can cost: its input plus every output token it may write."""
        return self.cost_from_usage(self.model_for(request), self.estimate_usage(request))

    # -- the call ---------------------------------------------------------------------

    def validate(self, request: CompletionRequest) -> None:
        caps = self.capabilities(self.model_for(request))
        problems = []
        if request.has_images and not caps.vision:
            problems.append("it cannot look at images (configure a vision model)")
        if request.tools and not caps.tools:
            problems.append("it cannot call tools")
        if request.json_output and not caps.json:
            problems.append("it cannot be held to JSON output")
        if not request.messages:
            problems.append("there is nothing to answer")
        if problems:
            raise UnsupportedFeature(f"LLM {self.alias!r}: " + "; ".join(problems) + ".")

    def complete(self, request: CompletionRequest, *, on_text: Callable[[str], None] | None = None) -> Completion:
        """Answer `request`. With `on_text` and a streaming backend, text arrives piece by piece."""
        self.validate(request)
        logger.debug("llm %s: complete model=%s messages=%d tools=%d", self.alias, self.model_for(request),
                     len(request.messages), len(request.tools))
        return self.complete_request(request, on_text=on_text)

    def complete_request(self, request: CompletionRequest, *, on_text=None) -> Completion:
        raise NotImplementedError

    def stream(self, request: CompletionRequest) -> Iterator[str | Completion]:
        """Answer `request` as it is written: text pieces (str), then the Completion, last.

        A backend that does not stream yields its Completion alone, so callers need one loop."""
        self.validate(request)
        if self.capabilities(self.model_for(request)).streaming:
            yield from self.stream_request(request)
        else:
            yield self.complete_request(request)

    def stream_request(self, request: CompletionRequest) -> Iterator[str | Completion]:
        yield self.complete_request(request)

    def check(self) -> list[str]:
        """Configuration problems, for `manage.py check`."""
        return []

    def close(self) -> None:
        pass
