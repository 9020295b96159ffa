"""Request rate limits per user and per API token, per minute and per day.

Fixed windows counted in Django's cache (Redis in production, so every web process and
host shares them): one counter per subject and window, created with `cache.add` and
raised with `cache.incr`, both atomic. A request that would go over any limit is refused
and its counts are given back, so a refused request does not use up the day's quota.

    try:
        status = ratelimit.hit(user=request.user, token=api_token)
    except ratelimit.RateLimited as exc:
        ...  # 429 with Retry-After: exc.retry_after

`BLOGIMAGES_RATE_LIMITS = {"user_per_minute": 30, "user_per_day": 1000,
"token_per_minute": 30, "token_per_day": 1000}`; a missing or None entry is no limit.
A fixed window lets a client send up to twice a limit across a window boundary; that is
the price of one counter per window.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import caches

from .conf import blogimages_settings
from .exceptions import BlogImagesError

logger = logging.getLogger("blogimages.ratelimit")

PERIODS = {"minute": 60, "day": 86_400}
SCOPES = ("user", "token")


class RateLimited(BlogImagesError):
    """Too many requests; `retry_after` is the whole seconds until the window resets."""

    def __init__(self, message: str, *, scope: str, period: str, limit: int, retry_after: int) -> None:
        super().__init__(message)
        self.scope, self.period, self.limit, self.retry_after = scope, period, limit, retry_after


@dataclass(frozen=True)
class WindowStatus:
    """One limit's state after a request was counted."""

    scope: str  # "user" or "token"
    period: str  # "minute" or "day"
    limit: int
    count: int
    reset_in: int  # seconds until the window resets

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


def configured_limits() -> list[tuple[str, str, int]]:
    """[(scope, period, limit)] for every limit that is set."""
    limits = blogimages_settings.RATE_LIMITS or {}
    out = []
    for scope in SCOPES:
        for period in PERIODS:
            value = limits.get(f"{scope}_per_{period}")
            if value not in (None, ""):
                out.append((scope, period, int(value)))
    return out


def _cache():
    return caches[blogimages_settings.RATE_LIMIT_CACHE]


def _incr(cache, key: str, delta: int, timeout: int) -> int:
    # add() is a no-op when the key exists; incr() raises if it expired in between.
    for _ in range(3):
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key, delta)
        except ValueError:
            continue
    raise RuntimeError(f"could not count request in cache key {key!r}")


class RateLimitUnavailable(BlogImagesError):
    """The cache that counts requests did not answer and the policy is to deny (answered as 503)."""

    retry_after = 30


def hit(*, user=None, token=None, now: float | None = None) -> list[WindowStatus]:
    """Count one request against every applicable limit, or raise RateLimited.

    `user` is counted when authenticated; `token` when given. Returns the state of each
    limit (for X-RateLimit headers) when the request is allowed. When the cache cannot be
    reached, BLOGIMAGES_RATE_LIMIT_ON_CACHE_ERROR decides: "deny" (the default) raises
    RateLimitUnavailable, "allow" lets the request through uncounted.
    """
    try:
        return _hit(user=user, token=token, now=now)
    except (RateLimited, ValueError):
        raise
    except Exception as exc:
        policy = str(blogimages_settings.RATE_LIMIT_ON_CACHE_ERROR or "deny").lower()
        if policy == "allow":
            logger.warning("rate limit cache unreachable (%s); request allowed uncounted", type(exc).__name__)
            return []
        logger.error("rate limit cache unreachable (%s: %s); request refused", type(exc).__name__, exc)
        raise RateLimitUnavailable(
            "Requests cannot be counted right now (the rate limit store is unreachable); try again shortly."
        ) from exc


def _hit(*, user=None, token=None, now: float | None = None) -> list[WindowStatus]:
    subjects = {}
    if getattr(user, "is_authenticated", False):
        subjects["user"] = user.pk
    if token is not None:
        subjects["token"] = token.pk
    now = time.time() if now is None else now
    cache = _cache()
    prefix = blogimages_settings.RATE_LIMIT_KEY_PREFIX
    counted: list[tuple[str, WindowStatus]] = []
    over: list[WindowStatus] = []
    for scope, period, limit in configured_limits():
        if scope not in subjects:
            continue
        window = PERIODS[period]
        index = int(now // window)
        reset_in = max(1, math.ceil((index + 1) * window - now))
        key = f"{prefix}:{scope}:{subjects[scope]}:{period}:{index}"
        count = _incr(cache, key, 1, timeout=reset_in + 5)
        status = WindowStatus(scope=scope, period=period, limit=limit, count=count, reset_in=reset_in)
        counted.append((key, status))
        if count > limit:
            over.append(status)
    if over:
        # Give the counts back: a refused request must not use up the other windows.
        for key, _ in counted:
            try:
                cache.decr(key, 1)
            except ValueError:
                pass  # expired meanwhile: nothing to give back
        # Wait for the window that frees last among those that are full.
        worst = max(over, key=lambda s: s.reset_in)
        who = "your account" if worst.scope == "user" else "this API token"
        raise RateLimited(
            f"Rate limit reached: {worst.limit} request(s) per {worst.period} for {who}. "
            f"Try again in {worst.reset_in} second(s).",
            scope=worst.scope, period=worst.period, limit=worst.limit, retry_after=worst.reset_in,
        )
    return [status for _, status in counted]


def headers_for(statuses: list[WindowStatus]) -> dict[str, str]:
    """OpenAI-style x-ratelimit-* headers for the tightest limit, if any."""
    if not statuses:
        return {}
    tightest = min(statuses, key=lambda s: (s.remaining, s.reset_in))
    return {
        "x-ratelimit-limit-requests": str(tightest.limit),
        "x-ratelimit-remaining-requests": str(tightest.remaining),
        "x-ratelimit-reset-requests": f"{tightest.reset_in}s",
    }
