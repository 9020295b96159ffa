"""A recording provider for tests that are not about a protocol (like Django's locmem email).

It records every request and answers from a script: queue outcomes with `script()` —
`b"..."` bytes to return as an image, an exception instance to raise — and anything not
scripted gets a small solid-colour PNG whose colour follows the seed.
"""

from __future__ import annotations

import io
import threading
import time
from decimal import Decimal

from PIL import Image

from .base import BaseProvider, Capabilities, GeneratedImage, GenerationRequest, GenerationResult


def solid_png(width: int, height: int, seed: int | None) -> bytes:
    seed = seed or 0
    color = (seed * 67 % 256, seed * 131 % 256, seed * 29 % 256)
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


class RecordingProvider(BaseProvider):
    display_name = "Recording (tests)"

    def __init__(self, *, alias: str, options=None) -> None:
        super().__init__(alias=alias, options=options)
        self.requests: list[GenerationRequest] = []
        self._script: list[object] = []
        self._lock = threading.Lock()
        # Optional simulated latency in seconds (benchmarks).
        self.latency = float(self.options.get("latency", 0))

    def script(self, *outcomes: object) -> None:
        with self._lock:
            self._script.extend(outcomes)

    def capabilities(self, model: str = "") -> Capabilities:
        return Capabilities(
            models=("recorder", "recorder-xl"),
            default_model="recorder",
            min_size=16,
            max_size=4096,
            max_n=10,
            supports_negative_prompt=True,
            supports_seed=True,
            supports_steps=True,
            supports_guidance=True,
            qualities=("standard", "hd"),
            styles=("vivid", "natural"),
            output_formats=("png",),
            prices={"hd:*": Decimal("0.08"), "*": Decimal("0.04")},
            deterministic=bool(self.options.get("deterministic", False)),
        )

    def generate(self, request: GenerationRequest) -> GenerationResult:
        with self._lock:
            self.requests.append(request)
            outcome = self._script.pop(0) if self._script else None
        if self.latency:
            time.sleep(self.latency)
        if isinstance(outcome, BaseException):
            raise outcome
        images = []
        for index in range(request.n):
            seed = request.seed_for(index)
            data = outcome if isinstance(outcome, bytes) else solid_png(request.width, request.height, seed)
            images.append(GeneratedImage(data=data, mime_type="image/png", seed=seed, metadata={"index": index}))
        return GenerationResult(images=tuple(images), model=request.model or "recorder", request_id="rec-1")
