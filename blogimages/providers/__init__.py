"""The provider registry, built from `BLOGIMAGES_PROVIDERS` the way Django builds CACHES.

    from blogimages.providers import providers, default_provider
    providers["cards"].run(request)
"""

from __future__ import annotations

import threading
import types

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.connection import BaseConnectionHandler
from django.utils.module_loading import import_string

from ..conf import blogimages_settings
from ..exceptions import InvalidProviderError
from .base import (
    BaseProvider,
    Capabilities,
    EditRequest,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
)

__all__ = [
    "BaseProvider",
    "Capabilities",
    "EditRequest",
    "GeneratedImage",
    "GenerationRequest",
    "GenerationResult",
    "ProviderHandler",
    "default_provider",
    "get_provider",
    "providers",
]


class ProviderHandler(BaseConnectionHandler):
    """One instance per alias per process, shared by every thread: provider clients hold
    thread-safe HTTP pools, so a worker's threads (and a threaded web server's) reuse one
    client and its connections instead of each building its own (an SDK client costs
    ~0.1-0.2 s to build). Django's handler keeps one per thread (an asgiref Local, whose
    contexts are per thread in plain threads); this one keeps a process-wide namespace."""

    settings_name = "BLOGIMAGES_PROVIDERS"
    exception_class = InvalidProviderError

    def __init__(self, settings=None):
        super().__init__(settings)
        self._connections = types.SimpleNamespace()
        self._create_lock = threading.Lock()

    def __getitem__(self, alias: str) -> BaseProvider:
        try:
            return getattr(self._connections, alias)
        except AttributeError:
            pass
        with self._create_lock:  # two threads asking at once build it once
            try:
                return getattr(self._connections, alias)
            except AttributeError:
                if alias not in self.settings:
                    raise self.exception_class(f"The connection '{alias}' doesn't exist.") from None
                provider = self.create_connection(alias)
                setattr(self._connections, alias, provider)
                return provider

    def configure_settings(self, settings):
        settings = blogimages_settings.PROVIDERS if settings is None else settings
        for alias, config in settings.items():
            if "BACKEND" not in config:
                raise InvalidProviderError(f"Provider {alias!r} has no BACKEND.")
        return settings

    def create_connection(self, alias: str) -> BaseProvider:
        config = self.settings[alias]
        try:
            backend_cls = import_string(config["BACKEND"])
        except ImportError as exc:
            raise InvalidProviderError(f"Provider {alias!r}: could not import {config['BACKEND']!r}: {exc}") from exc
        return backend_cls(alias=alias, options=config.get("OPTIONS", {}))

    def aliases(self) -> list[str]:
        return list(self.settings)

    def reset(self) -> None:
        for provider in self.all(initialized_only=True):
            provider.close()
        self.__dict__.pop("settings", None)
        self._settings = None
        self._connections = types.SimpleNamespace()


providers = ProviderHandler()


def get_provider(alias: str | None = None) -> BaseProvider:
    """The provider named `alias`, or the default one; a clear error for unknown aliases."""
    alias = alias or blogimages_settings.DEFAULT_PROVIDER
    if alias not in providers.settings:
        offered = ", ".join(providers.settings) or "none"
        raise InvalidProviderError(f"Provider {alias!r} is not configured; configured: {offered}.")
    return providers[alias]


class _DefaultProviderProxy:
    """`default_provider.run(...)` reaches whichever provider is the default right now."""

    def __getattr__(self, item):
        return getattr(get_provider(), item)


default_provider = _DefaultProviderProxy()


@receiver(setting_changed)
def _reset_providers(*, setting: str, **kwargs) -> None:
    if setting in ("BLOGIMAGES_PROVIDERS", "BLOGIMAGES_DEFAULT_PROVIDER"):
        providers.reset()
