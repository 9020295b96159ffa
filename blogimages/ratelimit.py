"""Request rate limits per user and per API token, per minute and per day.

Counted by the maintained `limits` library with its sliding-window-counter strategy: a
limit of 30 a minute never lets 60 through across a window boundary, as a fixed window
would. The counters live in `BLOGIMAGES_RATE_LIMIT_STORAGE_URI` — Redis (from `REDIS_URL`)
in production, so every web process, host and Celery worker shares them; `memory://`
otherwise, which counts per process (`manage.py check` warns when that matters).

`generation` counts every request that makes images, whatever face sent it (pages, JSON API,
/v1, chat, batches): faces do not call `hit` themselves.

    try:
        statuses = ratelimit.hit(user=request.user, token=api_token)
    except ratelimit.RateLimited as exc:
        ...  # 429 with Retry-After: exc.retry_after and exc.headers()

`BLOGIMAGES_RATE_LIMITS = {"user_per_minute": 30, "user_per_day": 1000,
"token_per_minute": 30, "token_per_day": 1000}`; a missing or None entry is no limit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from .conf import blogimages_settings
from .exceptions import BlogImagesError

logger = logging.getLogger("blogimages.ratelimit")

PERIODS: dict[str, type[RateLimitItem]] = {"minute": RateLimitItemPerMinute, "day": RateLimitItemPerDay}
SCOPES = ("user", "token")


@dataclass(frozen=True)
class WindowStatus:
    """One limit's state (after a request was counted, or as read by `status`)."""

    scope: str  # "user" or "token"
    period: str  # "minute" or "day"
    limit: int
    remaining: int
    reset_in: int  # whole seconds until one more request is allowed (the window's weight drops)

    @property
    def count(self) -> int:
        return self.limit - self.remaining


class RateLimited(BlogImagesError):
    """Too many requests; `retry_after` is the whole seconds until one more is allowed."""

    def __init__(self, message: str, *, scope: str, period: str, limit: int, retry_after: int) -> None:
        super().__init__(message)
        self.scope, self.period, self.limit, self.retry_after = scope, period, limit, retry_after

    def headers(self) -> dict[str, str]:
        """Retry-After and OpenAI's x-ratelimit-* headers for the limit that refused."""
        return {
            "Retry-After": str(self.retry_after),
            **headers_for([WindowStatus(scope=self.scope, period=self.period, limit=self.limit, remaining=0,
                                        reset_in=self.retry_after)]),
        }


class RateLimitUnavailable(BlogImagesError):
    """The store that counts requests did not answer and the policy is to deny (answered as 503)."""

    retry_after = 30


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


def storage_uri() -> str:
    """Where the counters live: the setting, else Redis from REDIS_URL, else this process."""
    return (blogimages_settings.RATE_LIMIT_STORAGE_URI or getattr(settings, "REDIS_URL", "") or "memory://").strip()


def is_shared() -> bool:
    """Whether every process counts in the same place (anything but `memory://`)."""
    return not storage_uri().startswith("memory://")


_limiters: dict[str, SlidingWindowCounterRateLimiter] = {}
_limiters_lock = threading.Lock()


def _limiter() -> SlidingWindowCounterRateLimiter:
    # One storage (and its connection pool) per URI for the life of the process.
    uri = storage_uri()
    with _limiters_lock:
        limiter = _limiters.get(uri)
        if limiter is None:
            storage: Storage = storage_from_string(uri, **({"socket_timeout": 2, "socket_connect_timeout": 2}
                                                            if uri.startswith(("redis://", "rediss://")) else {}))
            limiter = _limiters[uri] = SlidingWindowCounterRateLimiter(storage)
        return limiter


def _items(user, token) -> list[tuple[str, str, int, RateLimitItem, str]]:
    subjects = {}
    if getattr(user, "is_authenticated", False):
        subjects["user"] = str(user.pk)
    if token is not None:
        subjects["token"] = str(token.pk)
    prefix = blogimages_settings.RATE_LIMIT_KEY_PREFIX
    return [(scope, period, limit, PERIODS[period](limit, namespace=prefix), subjects[scope])
            for scope, period, limit in configured_limits() if scope in subjects]


def _status(limiter, scope, period, limit, item, subject) -> WindowStatus:
    stats = limiter.get_window_stats(item, scope, subject)
    return WindowStatus(scope=scope, period=period, limit=limit, remaining=int(stats.remaining),
                        reset_in=max(1, math.ceil(stats.reset_time - time.time())))


def _guarded(operation):
    try:
        return operation()
    except RateLimited:
        raise
    except Exception as exc:
        policy = str(blogimages_settings.RATE_LIMIT_ON_CACHE_ERROR or "deny").lower()
        if policy == "allow":
            logger.warning("rate limit store unreachable (%s); request allowed uncounted", type(exc).__name__)
            return []
        logger.error("rate limit store unreachable (%s: %s); request refused", type(exc).__name__, exc)
        raise RateLimitUnavailable(
            "Requests cannot be counted right now (the rate limit store is unreachable); try again shortly."
        ) from exc


def hit(*, user=None, token=None) -> list[WindowStatus]:
    """Count one request against every applicable limit, or raise RateLimited.

    `user` is counted when authenticated; `token` when given. Returns the state of each
    limit (for the x-ratelimit-* headers). When the store cannot be reached,
    BLOGIMAGES_RATE_LIMIT_ON_CACHE_ERROR decides: "deny" (the default) raises
    RateLimitUnavailable, "allow" lets the request through uncounted.
    """
    return _guarded(lambda: _hit(user, token))


def _hit(user, token) -> list[WindowStatus]:
    limiter = _limiter()
    items = _items(user, token)
    # Every limit is tested before any is counted, so a request refused by the day's limit
    # does not use up the minute's (and the reverse). Two requests racing for the last
    # slot are still decided atomically by each hit.
    full = [_status(limiter, *entry) for entry in items if not limiter.test(entry[3], entry[0], entry[4])]
    if full:
        raise _refused(full)
    statuses = []
    for scope, period, limit, item, subject in items:
        if not limiter.hit(item, scope, subject):
            raise _refused([_status(limiter, scope, period, limit, item, subject)])
        statuses.append(_status(limiter, scope, period, limit, item, subject))
    return statuses


def _refused(full: list[WindowStatus]) -> RateLimited:
    # Wait for the limit that frees last among those that are full.
    worst = max(full, key=lambda s: s.reset_in)
    who = "your account" if worst.scope == "user" else "this API token"
    return RateLimited(
        f"Rate limit reached: {worst.limit} request(s) per {worst.period} for {who}. "
        f"Try again in {worst.reset_in} second(s).",
        scope=worst.scope, period=worst.period, limit=worst.limit, retry_after=worst.reset_in,
    )


def status(*, user=None, token=None) -> list[WindowStatus]:
    """Every applicable limit's state, without counting anything ([] if the store is down)."""
    try:
        limiter = _limiter()
        return [_status(limiter, *entry) for entry in _items(user, token)]
    except Exception as exc:
        logger.warning("rate limit store unreachable (%s); no x-ratelimit headers", type(exc).__name__)
        return []


def headers_for(statuses: list[WindowStatus]) -> dict[str, str]:
    """OpenAI's x-ratelimit-*-requests headers for the tightest limit, if any."""
    if not statuses:
        return {}
    tightest = min(statuses, key=lambda s: (s.remaining, s.reset_in))
    return {
        "x-ratelimit-limit-requests": str(tightest.limit),
        "x-ratelimit-remaining-requests": str(tightest.remaining),
        "x-ratelimit-reset-requests": f"{tightest.reset_in}s",
    }
