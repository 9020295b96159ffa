"""One hierarchy for everything that can go wrong between a request and a stored image.

Provider failures split in two: `ProviderUnavailable` (worth retrying: rate limits,
timeouts, connection errors, 5xx) and `ProviderRejected` (never retried: bad requests,
refused content, authentication). Callers catch the standard bases too
(`ImproperlyConfigured`, `ValueError`).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class BlogImagesError(Exception):
    """Base of every error this app raises; never raised directly."""


class InvalidProviderError(BlogImagesError, ImproperlyConfigured):
    """A provider alias that is not configured, or a configuration that cannot work."""


class UnsupportedFeature(BlogImagesError, ValueError):
    """A request asks a provider for something it cannot do (size, n, model, option...)."""


class InvalidImage(BlogImagesError, ValueError):
    """Bytes that are not an acceptable image: not an image, too big, a decompression bomb."""


class ProviderError(BlogImagesError):
    """A provider call failed. Carries what the provider said, for the user and the logs."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        response: str = "",
        request_id: str = "",
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        # The provider's response body, trimmed: enough to debug, never a secret we sent.
        self.response = response[:2000] if response else ""
        self.request_id = request_id
        self.code = code

    def __str__(self) -> str:
        prefix = f"{self.provider}: " if self.provider else ""
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{prefix}{self.message}{status}"


class ProviderUnavailable(ProviderError):
    """Transient: the same request may succeed later."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderRateLimited(ProviderUnavailable):
    """HTTP 429 or the provider's equivalent; `retry_after` is in seconds when given."""


class ProviderTimeout(ProviderUnavailable):
    """The provider did not answer in time, or the connection failed."""


class ProviderUnreachable(ProviderTimeout):
    """No connection to the provider at all (refused, unknown host, connect timeout): it is
    probably not running. A subclass of ProviderTimeout so existing handlers still catch it."""


class ProviderServerError(ProviderUnavailable):
    """HTTP 5xx, or a malformed answer from a server that may recover."""


class ProviderRejected(ProviderError):
    """Permanent: retrying the same request would fail the same way."""


class ProviderBadRequest(ProviderRejected):
    """The provider refused the request's parameters (HTTP 400/404/422...)."""


class ContentRefused(ProviderRejected):
    """The provider's safety system refused the prompt or the result."""


class ProviderCancelled(ProviderRejected):
    """Someone stopped the run on the provider's side (ComfyUI's Cancel button): a person's
    decision, never retried and never handed to a fallback provider."""


class ProviderAuthError(ProviderRejected):
    """Missing, wrong or insufficient credentials (HTTP 401/403), or exhausted quota."""


class ModelRetired(UnsupportedFeature):
    """The model was shut down by its provider: refused before any call, naming the replacement."""

    def __init__(self, message: str, *, model: str = "", replacement: str = "", shutdown_date=None) -> None:
        super().__init__(message)
        self.model = model
        self.replacement = replacement
        self.shutdown_date = shutdown_date


class QueueUnavailable(BlogImagesError):
    """The task broker did not take the images. They are saved and queued; the reconciler
    hands them over once the broker is back (`retry_after` seconds is a fair wait)."""

    retry_after = 60

    def __init__(self, message: str = "", *, output_ids: tuple[int, ...] = ()) -> None:
        super().__init__(message or "The task queue is not reachable right now; the images are saved and wait "
                                    "for the queue (they start within a minute of it coming back).")
        self.output_ids = tuple(output_ids)
