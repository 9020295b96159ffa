"""A request id on every request, its response and every log line written while it runs.

The id is the caller's `X-Request-ID` when it is a sane token (a proxy's id ties the logs
together), otherwise a new one; the response carries it back in `X-Request-ID`. With
DEBUG off, Django logs an unhandled error with its traceback through `django.request`;
`RequestIdFilter` puts the id on that line, so a user's report finds its traceback.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

_current: contextvars.ContextVar[str] = contextvars.ContextVar("blogimages_request_id", default="-")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def current() -> str:
    return _current.get()


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _SANE.match(given) else f"req_{uuid.uuid4().hex}"
        request.request_id = request_id
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        if not response.has_header("X-Request-ID"):
            response["X-Request-ID"] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (from the request being logged, else the current one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or current()
        return True
