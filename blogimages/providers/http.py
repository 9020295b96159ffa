"""HTTP plumbing shared by the backends that speak plain JSON over HTTP (AUTOMATIC1111, ComfyUI).

`HttpProvider` owns one `requests.Session` per provider instance, the (connect, read)
timeouts, the mapping of transport failures and status codes onto the
`blogimages.exceptions` hierarchy, and a small TTL cache for what a server lists about
itself (models, samplers) so a capability report costs one round trip every few minutes,
not one per validation.

Secrets: credentials live only on the session (`session.auth`), never in a URL, a message,
a log line or an exception; URLs shown to people go through `redact_url()`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

from ..exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnreachable,
)
from .base import BaseProvider

logger = logging.getLogger("blogimages.providers.http")

T = TypeVar("T")

#: A server that cannot even accept a connection in this long is down, whatever the read timeout.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Listing models or samplers is a cheap call: never wait the full generation timeout for it.
LISTING_READ_TIMEOUT = 10.0

# A refusal heuristic. Neither AUTOMATIC1111 nor ComfyUI has a safety system of its own,
# but hosted front-ends and extensions (NSFW filters, moderation proxies) refuse with a
# 400/403/451 or an error body naming the reason. Matching these words in the *error
# message* (not a whole traceback) separates "this prompt will never pass" (ContentRefused,
# never retried) from an ordinary bad request or a crash.
_REFUSAL = re.compile(
    r"\bnsfw\b|\bsafety\b|content[\s_-]?polic|content[\s_-]?filter|moderation|inappropriate content|unsafe content",
    re.IGNORECASE,
)
REFUSAL_STATUSES = frozenset({400, 403, 451})

#: Fields of `GenerationRequest` that per-provider defaults may fill, with their "unset" value.
# -- small pure helpers -------------------------------------------------------------------


def redact_url(url: str) -> str:
    """`url` without any `user:password@` part, safe for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def looks_like_refusal(text: str) -> bool:
    return bool(text and _REFUSAL.search(text))


def sniff_image_mime(data: bytes) -> str:
    """The MIME type the bytes really are. Anything else is passed on as octet-stream so the
    generation layer (which opens every image with Pillow) fails it with a clear message."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return "application/octet-stream"


def _one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"<[^>]+>", " ", text)  # an HTML error page from a proxy: keep its words
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_error_payload(payload: Any) -> str:
    """A readable one-liner from the error bodies these servers send.

    Handles AUTOMATIC1111's `{"error", "detail", "body", "errors"}`, FastAPI's validation
    `{"detail": [{"loc", "msg"}...]}` and plain `{"detail": "..."}`, and ComfyUI's
    `{"error": {"type", "message", "details"}}`; anything else is shown as trimmed text.
    """
    if isinstance(payload, str):
        return _one_line(payload)
    if not isinstance(payload, Mapping):
        return _one_line(repr(payload))
    detail = payload.get("detail")
    error = payload.get("error")
    if isinstance(detail, list):  # FastAPI request validation (422)
        return "; ".join(_describe_validation_item(item) for item in detail) or "invalid request"
    if isinstance(error, Mapping):  # ComfyUI
        parts = [str(error.get(key) or "") for key in ("message", "details")]
        return _one_line(": ".join(part for part in parts if part) or str(error.get("type") or "error"))
    # AUTOMATIC1111's handler: error = exception class, detail = HTTPException detail,
    # errors = str(exception). Prefer the human part, keep the class as context.
    message = str(detail or payload.get("errors") or payload.get("message") or "")
    if error and message:
        return _one_line(f"{error}: {message}")
    if error or message:
        return _one_line(str(error or message))
    return _one_line(repr(dict(payload)))


def _describe_validation_item(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    message = str(item.get("msg") or item.get("type") or "invalid")
    return f"{location}: {message}" if location else message


def response_payload(response: requests.Response) -> Any:
    """The body as JSON when it is JSON, else as text (error pages are often HTML)."""
    try:
        return response.json()
    except ValueError:
        return response.text


def decode_json(response: requests.Response, *, action: str) -> Any:
    """The JSON of a 2xx answer; a garbled one is a server fault worth retrying."""
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderServerError(
            f"{action}: malformed JSON from the server: {_one_line(response.text, 120)!r}",
            status_code=response.status_code,
            response=response.text,
        ) from exc


def error_for_response(
    response: requests.Response,
    *,
    action: str,
    describe: Callable[[Any], str] = describe_error_payload,
    redact: Callable[[str], str] = str,
) -> ProviderError:
    """The exception that a non-2xx `response` means, carrying the server's own message.

    The body is redacted before anything shortens it (`describe` keeps one line of it): a
    secret the server echoed must not survive as a tail past the cut.
    """
    status = response.status_code
    body = redact(response.text)
    try:
        payload = json.loads(body)
    except ValueError:
        payload = body
    message = describe(payload) or response.reason or "error"
    text = f"{action} failed: {message}"
    common = {"status_code": status, "response": body,
              "request_id": response.headers.get("X-Request-Id", "")}
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        wait = f" (retry after {retry_after:g} s)" if retry_after is not None else ""
        return ProviderRateLimited(f"{action}: rate limited{wait}: {message}", retry_after=retry_after, **common)
    if status == 451 or (status in REFUSAL_STATUSES and looks_like_refusal(message)):
        return ContentRefused(f"{action} refused by the server's content filter: {message}", **common)
    if status >= 500:
        # An A1111 extension that blocks NSFW output raises inside generation, so it arrives
        # as a 500 whose *message* (not traceback) says why: permanent, not a server fault.
        if looks_like_refusal(message):
            return ContentRefused(f"{action} refused by the server's content filter: {message}", **common)
        return ProviderServerError(text, retry_after=retry_after, **common)
    if status in (401, 403):
        return ProviderAuthError(text, **common)
    return ProviderBadRequest(text, **common)


# -- the intermediate base ----------------------------------------------------------------


class HttpProvider(BaseProvider):
    """A backend spoken to with JSON over HTTP through one `requests.Session`."""

    #: Seconds a server's own listing (models, samplers) is trusted before asking again.
    listing_ttl = 300.0
    #: Seconds a failed listing is remembered, so a down server costs one connect attempt
    #: per this interval instead of one per capability check.
    listing_error_ttl = 30.0

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        base_url = str(self.options.get("base_url") or "").strip().rstrip("/")
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
            raise InvalidProviderError(
                f"Provider {alias!r}: base_url must be an http(s) URL, got {redact_url(base_url)!r}."
            )
        self.base_url = base_url
        self.connect_timeout = float(self.options.get("connect_timeout") or min(DEFAULT_CONNECT_TIMEOUT, self.timeout))
        self.session = requests.Session()
        # No Origin header ever: ComfyUI's anti-CSRF middleware answers 403 to a mismatched one.
        self.session.headers.update({"User-Agent": "blogimages", "Accept": "application/json"})
        self._listings: dict[str, tuple[float, Any]] = {}

    def close(self) -> None:
        self.session.close()

    # -- requests -----------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def call(
        self,
        method: str,
        path: str,
        *,
        action: str = "",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        read_timeout: float | None = None,
        describe: Callable[[Any], str] = describe_error_payload,
        data: Any = None,
        files: Any = None,
    ) -> requests.Response:
        """Send one request; a 2xx response comes back, anything else is raised mapped.
        `data` + `files` send a multipart form (uploads) instead of `json`."""
        try:
            return self._call(method, path, action=action or f"{method} {path}", json=json, params=params,
                              read_timeout=read_timeout, describe=describe, data=data, files=files)
        except ProviderError as exc:
            exc.provider = exc.provider or self.alias
            raise

    def _call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        json: Any,
        params: Mapping[str, Any] | None,
        read_timeout: float | None,
        describe: Callable[[Any], str],
        data: Any = None,
        files: Any = None,
    ) -> requests.Response:
        read_timeout = self.timeout if read_timeout is None else read_timeout
        started = time.monotonic()
        try:
            response = self.session.request(
                method, self.url(path), json=json, params=params, data=data, files=files,
                timeout=(self.connect_timeout, read_timeout)
            )
        except requests.ConnectTimeout as exc:
            raise ProviderUnreachable(
                f"{action}: could not connect to {redact_url(self.base_url)} within {self.connect_timeout:g} s"
            ) from exc
        except requests.Timeout as exc:
            raise ProviderTimeout(f"{action}: no answer from the server within {read_timeout:g} s") from exc
        except requests.ConnectionError as exc:
            raise ProviderUnreachable(
                f"{action}: could not connect to {redact_url(self.base_url)}: {_connection_reason(exc)}"
            ) from exc
        except requests.RequestException as exc:
            raise ProviderServerError(f"{action}: the HTTP exchange failed: {type(exc).__name__}") from exc
        logger.debug("%s %s %s -> %d in %d ms", self.alias, method, path, response.status_code,
                     (time.monotonic() - started) * 1000)
        if not 200 <= response.status_code < 300:
            raise error_for_response(response, action=action, describe=describe, redact=self.redact)
        return response

    def call_json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.decode_json(self.call(method, path, **kwargs), action=kwargs.get("action") or path)

    def decode_json(self, response: requests.Response, *, action: str) -> Any:
        try:
            return decode_json(response, action=action)
        except ProviderError as exc:
            exc.provider = exc.provider or self.alias
            raise

    # -- listings -----------------------------------------------------------------------

    def cached_listing(self, key: str, fetch: Callable[[], T]) -> T | None:
        """`fetch()`'s value, cached for `listing_ttl`; None while the server can't tell.

        Listing failures never propagate: a capability report falls back to configuration
        rather than failing validation because the server was briefly unreachable.
        """
        now = time.monotonic()
        cached = self._listings.get(key)
        if cached and cached[0] > now:
            return cached[1]
        try:
            value: T | None = fetch()
            ttl = self.listing_ttl
        except (ProviderError, ValueError, TypeError, KeyError) as exc:
            logger.info("provider %s could not list %s: %s", self.alias, key, exc)
            value, ttl = None, self.listing_error_ttl
        self._listings[key] = (now + ttl, value)
        return value

    def clear_listings(self) -> None:
        self._listings.clear()

    @property
    def listing_timeout(self) -> float:
        return min(self.timeout, LISTING_READ_TIMEOUT)


def _connection_reason(exc: requests.ConnectionError) -> str:
    """The useful tail of a urllib3 connection error ("[Errno 111] Connection refused")."""
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    text = re.sub(r"<[^>]*>:\s*", "", str(reason))
    return _one_line(text, 200) or type(exc).__name__
