"""Helpers for tests that put a loopback server in the place of an OpenAI-style API.

The shapes follow the real API (reference/providers.md, section 1): `ImagesResponse`
bodies, `{"error": {message, type, param, code}}` error bodies, `x-request-id` headers.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

GENERATIONS = "/v1/images/generations"
MODELS = "/v1/models"
# Long enough to be redacted; never a real key.
API_KEY = "sk-test-0123456789abcdefSECRET"


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (8, 8), color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def images_response(*items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An `ImagesResponse` body; `fields` adds usage, size, output_format and so on."""
    return {"created": 1713833628, "data": list(items), **fields}


def error_body(message: str, *, type: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def sent(httpserver: HTTPServer, index: int = 0) -> Request:
    """The index-th request the server received."""
    return httpserver.log[index][0]


def sent_json(httpserver: HTTPServer, index: int = 0) -> dict[str, Any]:
    request = sent(httpserver, index)
    assert request.headers["Content-Type"].startswith("application/json")
    return json.loads(request.get_data())


def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def stalled_endpoint(httpserver: HTTPServer, uri: str, method: str = "POST") -> Iterator[None]:
    """`uri` answers only after the block ends: a client with a short timeout gives up first.

    Released on exit so the single-threaded server is free for the next request at once.
    """
    release = threading.Event()

    def handler(request: Request) -> Response:
        release.wait(10)
        return Response("{}", status=200, content_type="application/json")

    httpserver.expect_request(uri, method=method).respond_with_handler(handler)
    try:
        yield
    finally:
        release.set()
