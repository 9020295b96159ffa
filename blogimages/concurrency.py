"""Per-provider concurrency limits shared by every worker and web process.

`max_concurrency` in a provider's OPTIONS caps the calls in flight to it. With Redis
(REDIS_URL) the slots are a sorted set of expiring leases, so all workers on all hosts
share them and a killed worker's lease lapses by itself; without Redis (the embedded
default, one process) a semaphore per provider does.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from django.conf import settings

from .conf import blogimages_settings
from .exceptions import ProviderUnavailable


class ProviderBusy(ProviderUnavailable):
    """Every slot of the provider is taken; try again shortly. Not a provider failure."""


# KEYS[1] = slot set; ARGV = limit, lease seconds, token. Server time keeps hosts consistent.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
  return 1
end
return 0
"""

logger = logging.getLogger("blogimages.concurrency")

_local_lock = threading.Lock()
_local_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    return client, client.register_script(_ACQUIRE)


def _semaphore(alias: str, limit: int) -> threading.BoundedSemaphore:
    with _local_lock:
        return _local_semaphores.setdefault((alias, limit), threading.BoundedSemaphore(limit))


def slot_key(alias: str) -> str:
    return f"blogimages:slots:{alias}"


def in_flight(alias: str) -> int:
    """Leases currently held for `alias` (Redis only; 0 without it). For progress and tests."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return 0
    client, _ = _redis(url)
    client.zremrangebyscore(slot_key(alias), "-inf", time.time())
    return int(client.zcard(slot_key(alias)))


def _acquire(acquire, alias: str, limit: int, lease: float, token: str, retry_after: float) -> bool:
    try:
        return bool(acquire(keys=[slot_key(alias)], args=[limit, lease, token]))
    except Exception as exc:
        import redis

        if not isinstance(exc, redis.exceptions.RedisError):
            raise
        # Nothing was sent to the provider: the image waits (a task comes back later).
        raise ProviderBusy(f"the slot store (Redis) is unreachable: {exc}", provider=alias,
                           retry_after=max(retry_after, 5.0)) from exc


@contextmanager
def provider_slot(provider, *, blocking: bool = True) -> Iterator[None]:
    """Hold one of the provider's slots for the block.

    blocking=False raises ProviderBusy at once when none is free (tasks step aside and
    come back, leaving the worker free); blocking=True waits up to the provider timeout.
    """
    limit = getattr(provider, "max_concurrency", None)
    if not limit:
        yield
        return
    limit = int(limit)
    deadline = time.monotonic() + provider.timeout
    retry_after = float(blogimages_settings.CONCURRENCY_RETRY_DELAY)
    url = getattr(settings, "REDIS_URL", "")
    if url:
        client, acquire = _redis(url)
        token = uuid.uuid4().hex
        # The lease outlives the call's own timeout a little, then lapses if we died.
        lease = provider.timeout + 30
        while not _acquire(acquire, provider.alias, limit, lease, token, retry_after):
            if not blocking or time.monotonic() > deadline:
                raise ProviderBusy(f"all {limit} slot(s) are busy", provider=provider.alias, retry_after=retry_after)
            time.sleep(0.05)
        try:
            yield
        finally:
            # Best effort: the call's answer matters more than the lease, which lapses by
            # itself; Redis gone now must not throw away images already received.
            try:
                client.zrem(slot_key(provider.alias), token)
            except Exception as exc:
                logger.warning("could not release %s's slot (it lapses in %g s): %s", provider.alias, lease, exc)
        return
    semaphore = _semaphore(provider.alias, limit)
    if not semaphore.acquire(blocking=blocking, timeout=provider.timeout if blocking else None):
        raise ProviderBusy(f"all {limit} slot(s) are busy", provider=provider.alias, retry_after=retry_after)
    try:
        yield
    finally:
        semaphore.release()
