"""A loopback image host that speaks the OpenAI Images API, for worker tests and benchmarks.

Threaded (several workers call it at once) and observable: it records every request and
the most requests it ever had in flight. What it answers depends on the prompt:

- contains "forbidden"  -> 400 content_policy_violation (a permanent refusal)
- contains "ratelimit"  -> 429 with Retry-After the first time, then an image
- contains "slow"       -> an image after `slow_seconds`; while `hold()` is on, the call stays
                           in flight (no answer) until `release()`, however long a test takes
- anything else         -> an image after `latency` seconds
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from dataclasses import dataclass, field

from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API_KEY = "sk-fake-host-key-0123456789"

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per image is noise


def png(width: int, height: int, seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (seed * 67 % 256, seed * 131 % 256, seed * 29 % 256)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Seen:
    at: float
    body: dict


@dataclass
class FakeImageHost:
    latency: float = 0.0
    slow_seconds: float = 4.0
    retry_after: int = 1
    requests: list[Seen] = field(default_factory=list)
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._rate_limited: set[str] = set()
        self._released = threading.Event()
        self._released.set()
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.server.expect_request("/v1/images/generations", method="POST").respond_with_handler(self._generate)
        self.server.expect_request("/v1/models", method="GET").respond_with_json(
            {"object": "list", "data": [{"id": "flux-test", "object": "model", "created": 0, "owned_by": "fake"}]}
        )

    def start(self) -> FakeImageHost:
        self.server.start()
        return self

    def stop(self) -> None:
        self.release()  # a held call's thread ends with the host
        if self.server.is_running():
            self.server.stop()

    def hold(self) -> None:
        """"slow" calls wait, unanswered, until release(): a call surely in flight when a test
        kills its worker, with no duration to race against the worker's staleness timings."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    @property
    def base_url(self) -> str:
        return self.server.url_for("/v1")

    def provider_config(self, **options) -> dict:
        return {
            "BACKEND": "blogimages.providers.openai_compatible.OpenAICompatibleProvider",
            "OPTIONS": {"base_url": self.base_url, "api_key": API_KEY, "models": ["flux-test"], "timeout": 30,
                        **options},
        }

    def prompts(self) -> list[str]:
        with self._lock:
            return [seen.body.get("prompt", "") for seen in self.requests]

    def _generate(self, request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        prompt = body.get("prompt", "")
        with self._lock:
            self.requests.append(Seen(at=time.monotonic(), body=body))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._answer(prompt, body)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, prompt: str, body: dict) -> Response:
        if request_key := ("ratelimit" in prompt and prompt):
            with self._lock:
                first = request_key not in self._rate_limited
                self._rate_limited.add(request_key)
            if first:
                return _error(429, "Rate limit reached for images per minute.", "rate_limit_exceeded",
                              headers={"retry-after": str(self.retry_after)})
        if "forbidden" in prompt:
            return _error(400, "Your request was rejected as a result of our safety system.",
                          "content_policy_violation")
        if "slow" in prompt:
            self._released.wait(timeout=120)
        time.sleep(self.slow_seconds if "slow" in prompt else self.latency)
        width, height = (int(v) for v in body.get("size", "256x256").split("x"))
        seed = int(body.get("seed") or 0)
        data = [{"b64_json": base64.b64encode(png(width, height, seed + i)).decode()} for i in range(body.get("n", 1))]
        return Response(json.dumps({"created": int(time.time()), "data": data}), status=200,
                        content_type="application/json", headers={"x-request-id": f"req_{len(self.requests)}"})


def _error(status: int, message: str, code: str, headers: dict | None = None) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})
