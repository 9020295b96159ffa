"""A worker's threads share one provider instance (and its SDK client), and a worker warms
the store path and the providers' clients once at start instead of in every thread's first
task."""

from __future__ import annotations

import sys
import threading

import pytest

from blogimages import warmup
from blogimages.providers import providers

from .providers.openai_server import API_KEY


def _in_thread(work):
    got = []
    thread = threading.Thread(target=lambda: got.append(work()))
    thread.start()
    thread.join()
    return got[0]


@pytest.fixture
def flux(settings, httpserver):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider"},
        "flux": {"BACKEND": "blogimages.providers.openai_compatible.OpenAICompatibleProvider",
                 "OPTIONS": {"base_url": httpserver.url_for("/v1"), "api_key": API_KEY, "models": ["flux-test"]}},
    }
    yield
    providers.reset()


def test_every_thread_gets_the_same_provider_instance(flux):
    mine = providers["flux"]
    assert _in_thread(lambda: providers["flux"]) is mine
    # And so the same SDK client: one HTTP pool per process, built once.
    assert _in_thread(lambda: providers["flux"].client) is mine.client


def test_threads_asking_at_once_build_one_instance(flux):
    barrier = threading.Barrier(6)
    got = []

    def ask():
        barrier.wait()
        got.append(providers["flux"])

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 6 and len({id(p) for p in got}) == 1


def test_reset_drops_the_shared_instances(flux):
    before = providers["flux"]
    providers.reset()
    assert providers["flux"] is not before


def test_an_unknown_alias_is_a_clear_error(flux):
    from blogimages.exceptions import InvalidProviderError

    with pytest.raises(InvalidProviderError, match="nope"):
        providers["nope"]


def test_warm_up_builds_each_providers_client_and_calls_nothing(flux, httpserver):
    warmup.warm_up()
    flux_provider = providers["flux"]
    assert flux_provider._client is not None  # built at start, not in the first task
    assert "imagehash" in sys.modules and "scipy.fftpack" in sys.modules
    assert httpserver.log == []  # no request reached the backend


def test_warm_up_survives_a_provider_that_cannot_be_built(settings, caplog):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider"},
        "broken": {"BACKEND": "blogimages.providers.does_not_exist.Provider"},
    }
    try:
        warmup.warm_up()
    finally:
        providers.reset()
    assert "provider broken could not be warmed up" in caplog.text
    assert "cards" in providers.settings
