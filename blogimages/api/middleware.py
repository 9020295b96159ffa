"""Under /v1, every answer is OpenAI's: JSON error objects and an x-request-id, always.

Clients of the Images API (the openai SDKs, LiteLLM, Open WebUI) show an HTML error page as
a bare "Error code: 400". Django answers some requests before any view runs — a Host that is
not in ALLOWED_HOSTS, an exception that escapes a view — so this middleware, first in the
chain, gives those answers OpenAI's shape too and tags every /v1 response with its request id.
"""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

from .openai import OpenAIError

logger = logging.getLogger("blogimages.api")

# Paths a client reaches when its base URL lacks /v1 (see urls.py): answered in the same shape.
PREFIXLESS = ("/images/generations", "/images/edits", "/images/variations", "/models")


def is_openai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/") or path.rstrip("/") in PREFIXLESS


class OpenAIShapeMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_openai_path(request.path_info):
            return self.get_response(request)
        request.openai_request_id = f"req_{uuid.uuid4().hex}"
        try:
            request.get_host()
        except DisallowedHost:
            host = request.META.get("HTTP_HOST", "")[:200]
            response = OpenAIError(
                400, f"The Host header {host!r} is not one this server answers to. Add it to DJANGO_ALLOWED_HOSTS "
                     "(comma-separated) in the server's environment, or call the server by a name listed there.",
                code="disallowed_host",
            ).response()
        else:
            response = self.get_response(request)
        if not response.has_header("x-request-id"):
            response["x-request-id"] = request.openai_request_id
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_openai_path(request.path_info):
            return None
        request_id = getattr(request, "openai_request_id", "")
        logger.error("v1 request failed (%s)", request_id, exc_info=exception)
        return OpenAIError(500, f"The server had an error while processing your request ({request_id}).",
                           type="server_error").response()
