"""The LLM registry, built from `BLOGIMAGES_LLMS` the way providers/ builds its own.

    from blogimages.llms import get_llm
    get_llm().complete(CompletionRequest(messages=[...]))
"""

from __future__ import annotations

from asgiref.local import Local
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.connection import BaseConnectionHandler
from django.utils.module_loading import import_string

from ..conf import blogimages_settings
from ..exceptions import InvalidProviderError
from .base import (
    BaseLLM,
    Completion,
    CompletionRequest,
    ImageInput,
    LlmCapabilities,
    Message,
    Tool,
    ToolCall,
    Usage,
)

__all__ = [
    "BaseLLM", "Completion", "CompletionRequest", "ImageInput", "InvalidLLMError", "LlmCapabilities",
    "LlmHandler", "Message", "Tool", "ToolCall", "Usage", "get_llm", "llms",
]


class InvalidLLMError(InvalidProviderError):
    """An LLM alias that is not configured, or a configuration that cannot work."""


class LlmHandler(BaseConnectionHandler):
    settings_name = "BLOGIMAGES_LLMS"
    exception_class = InvalidLLMError
    # One instance per alias per process: SDK clients hold thread-safe HTTP pools.
    thread_critical = False

    def configure_settings(self, settings):
        settings = blogimages_settings.LLMS if settings is None else settings
        for alias, config in settings.items():
            if "BACKEND" not in config:
                raise InvalidLLMError(f"LLM {alias!r} has no BACKEND.")
        return settings

    def create_connection(self, alias: str) -> BaseLLM:
        config = self.settings[alias]
        try:
            backend_cls = import_string(config["BACKEND"])
        except ImportError as exc:
            raise InvalidLLMError(f"LLM {alias!r}: could not import {config['BACKEND']!r}: {exc}") from exc
        return backend_cls(alias=alias, options=config.get("OPTIONS", {}))

    def aliases(self) -> list[str]:
        return list(self.settings)

    def reset(self) -> None:
        for backend in self.all(initialized_only=True):
            backend.close()
        self.__dict__.pop("settings", None)
        self._settings = None
        self._connections = Local(self.thread_critical)


llms = LlmHandler()


def get_llm(alias: str | None = None) -> BaseLLM:
    """The LLM named `alias`, or the default one; a clear error for unknown aliases."""
    alias = alias or blogimages_settings.DEFAULT_LLM
    if alias not in llms.settings:
        offered = ", ".join(llms.settings) or "none"
        raise InvalidLLMError(f"LLM {alias!r} is not configured; configured: {offered}.")
    return llms[alias]


@receiver(setting_changed)
def _reset_llms(*, setting: str, **kwargs) -> None:
    if setting in ("BLOGIMAGES_LLMS", "BLOGIMAGES_DEFAULT_LLM"):
        llms.reset()
