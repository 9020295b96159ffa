"""Failures phrased for authors: one function every page uses (tester, compare, gallery, develop).

The kind of failure comes from what generation recorded (`provider_metadata["error"]`, see
`generation.error_details`), never from matching words in the error text: the text goes,
unchanged, into the folded-away technical detail.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.utils.module_loading import import_string

from .exceptions import BlogImagesError


class AuthorMessage(NamedTuple):
    headline: str  # what happened, in the author's words
    detail: str  # the technical text (provider, status, request id), shown folded away
    retryable: bool  # False: the same request would fail the same way, so no Retry


# Failure kinds (exception class names) that mean "change the request": no Retry.
BAD_INPUT = frozenset({"ProviderBadRequest", "UnsupportedFeature", "InvalidImage", "ContentRefused"})
# Refusals this app words itself (budget, unknown provider or section, unfilled placeholders).
OWN_REFUSALS = frozenset({"ValueError", "PlaceholderError", "BudgetExceeded", "PriceUnknown", "InvalidProviderError"})
# The form field a bad-input failure points at, for pages that highlight it.
FIELD_FOR_KIND = {"ContentRefused": "description"}


def provider_label(alias: str) -> str:
    """The provider's name for people ("Stable Diffusion WebUI"), without building a client."""
    from .providers import providers

    config = providers.settings.get(alias) if alias else None
    if not config:
        return alias or "The provider"
    try:
        name = import_string(config["BACKEND"]).display_name
    except (ImportError, KeyError, AttributeError):
        return alias
    # "Stable Diffusion WebUI (AUTOMATIC1111 / Forge)" -> "Stable Diffusion WebUI"
    name = re.sub(r"\s*\(.*\)\s*$", "", str(name)).strip()
    return name if name and name != "Provider" else alias


def provider_host(alias: str) -> str:
    """host:port of the provider's server (never its credentials or path), or ""."""
    from .providers import providers

    config = providers.settings.get(alias) if alias else None
    base_url = str(((config or {}).get("OPTIONS") or {}).get("base_url") or "")
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        return f"{host}:{parts.port}" if host and parts.port else host
    except ValueError:
        return ""


def _strip_alias(text: str, alias: str) -> str:
    """Error texts start with "<alias>: "; the headline names the provider itself."""
    prefix = f"{alias}: "
    return text[len(prefix):] if alias and text.startswith(prefix) else text


def _detail(error: str, kind: dict[str, Any]) -> str:
    lines = [error.strip()] if error.strip() else []
    facts = [f"{name.replace('_', ' ')}: {kind[name]}" for name in ("type", "status_code", "code", "request_id")
             if kind.get(name)]
    if facts:
        lines.append(" · ".join(facts))
    return "\n".join(lines)


def describe_failure(*, error: str, kind: dict[str, Any] | None, provider: str) -> AuthorMessage:
    """The author's message for a failure of `kind` (generation.error_details) at `provider`."""
    kind = kind or {}
    name = kind.get("type") or ""
    label = provider_label(provider)
    said = _strip_alias(error.strip(), provider)
    detail = _detail(error, kind)
    if name == "ProviderUnreachable":
        host = provider_host(provider)
        where = f"{label} at {host}" if host else label
        return AuthorMessage(f"{where} is not reachable — is it running?", detail, True)
    if name == "ProviderRateLimited":
        wait = kind.get("retry_after")
        when = f"retry in {round(float(wait))} s" if isinstance(wait, int | float) and wait > 0 else "retry in a minute"
        return AuthorMessage(f"The provider is rate limited; {when}.", detail, True)
    if name == "ProviderTimeout":
        return AuthorMessage(f"{label} did not answer in time; it may be busy. Retry in a moment.", detail, True)
    if name == "ProviderServerError":
        return AuthorMessage(f"{label} had a problem on its side; retrying usually works.", detail, True)
    if name == "ContentRefused":
        return AuthorMessage(f"{label} refused the prompt: {said}. Reword the description and try again.",
                             detail, False)
    if name == "ProviderAuthError":
        return AuthorMessage(f"{label} did not accept our credentials or its quota is used up: {said}. "
                             "An administrator must check its API key or billing.", detail, False)
    if name in OWN_REFUSALS:  # already written for people
        return AuthorMessage(said, "", False)
    if name in BAD_INPUT:
        return AuthorMessage(f"{label} cannot make this image as asked: {said}. Change the highlighted field "
                             "or the setting and try again.", detail, False)
    if name:
        return AuthorMessage(f"{label} failed: {said}", detail, bool(kind.get("retryable")))
    # Nothing recorded (an older image, retries given up, a worker that died): say what we know.
    return AuthorMessage(said or "The image could not be made.", detail if said != error.strip() else "", True)


def author_message(output) -> AuthorMessage:
    """(headline, detail, retryable) for a failed ImageOutput."""
    kind = (output.provider_metadata or {}).get("error") if isinstance(output.provider_metadata, dict) else None
    return describe_failure(error=output.error or "", kind=kind if isinstance(kind, dict) else None,
                            provider=output.provider or "")


def author_message_for_exception(exc: BaseException, *, provider: str = "") -> AuthorMessage:
    """The same phrasing for a request refused before any image row existed (the tester's submit)."""
    from .generation import error_details

    provider = provider or str(getattr(exc, "provider", "") or "")
    kind = error_details(exc) if isinstance(exc, BlogImagesError | ValueError) else None
    return describe_failure(error=str(exc), kind=kind, provider=provider)


def error_field(output) -> str:
    """The form field a bad-input failure points at ("" when none)."""
    kind = (output.provider_metadata or {}).get("error") or {} if isinstance(output.provider_metadata, dict) else {}
    return FIELD_FOR_KIND.get(kind.get("type", ""), "") if isinstance(kind, dict) else ""
