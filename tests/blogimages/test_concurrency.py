import os
import threading
import time

import pytest

from blogimages.concurrency import ProviderBusy, in_flight, provider_slot
from tests.conftest import require_service


class FakeProvider:
    def __init__(self, alias: str, limit: int | None, timeout: float = 5) -> None:
        self.alias, self.max_concurrency, self.timeout = alias, limit, timeout


def peak_concurrency(provider, workers: int = 6) -> int:
    active = peak = 0
    lock = threading.Lock()

    def work():
        nonlocal active, peak
        with provider_slot(provider):
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.05)
            with lock:
                active -= 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return peak


def test_no_limit_means_no_waiting(settings):
    settings.REDIS_URL = ""
    assert peak_concurrency(FakeProvider("free", None)) > 1


def test_local_semaphore_caps_calls_in_flight(settings):
    settings.REDIS_URL = ""
    assert peak_concurrency(FakeProvider(f"local-{time.time_ns()}", 2)) == 2


def test_non_blocking_slot_steps_aside(settings):
    settings.REDIS_URL = ""
    provider = FakeProvider(f"busy-{time.time_ns()}", 1)
    with provider_slot(provider):
        with pytest.raises(ProviderBusy) as excinfo:
            with provider_slot(provider, blocking=False):
                pass
    assert excinfo.value.retryable and excinfo.value.retry_after


def test_redis_leases_cap_calls_across_threads_and_are_released(settings):
    url = os.environ.get("REDIS_URL")
    if not url:
        require_service("Redis", "REDIS_URL is not set")
    settings.REDIS_URL = url
    provider = FakeProvider(f"redis-{time.time_ns()}", 2)
    assert peak_concurrency(provider) == 2
    assert in_flight(provider.alias) == 0
    with provider_slot(provider):
        assert in_flight(provider.alias) == 1
        with provider_slot(provider):
            with pytest.raises(ProviderBusy):
                with provider_slot(provider, blocking=False):
                    pass
    assert in_flight(provider.alias) == 0
