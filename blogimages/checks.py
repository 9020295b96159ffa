"""System checks: bad provider configuration shows up in `manage.py check`, not at 2 a.m."""

from django.core.checks import Error, Warning, register

from .conf import blogimages_settings
from .exceptions import InvalidProviderError


@register()
def check_providers(app_configs=None, **kwargs):
    from .providers import providers

    messages = []
    configured = blogimages_settings.PROVIDERS
    if blogimages_settings.DEFAULT_PROVIDER not in configured:
        messages.append(
            Error(
                f"BLOGIMAGES_DEFAULT_PROVIDER {blogimages_settings.DEFAULT_PROVIDER!r} is not in BLOGIMAGES_PROVIDERS.",
                hint=f"Configured providers: {', '.join(configured) or 'none'}.",
                id="blogimages.E001",
            )
        )
    for alias in configured:
        try:
            provider = providers[alias]
        except InvalidProviderError as exc:
            messages.append(Error(str(exc), id="blogimages.E002"))
            continue
        for problem in provider.check():
            messages.append(Warning(f"Provider {alias!r}: {problem}", id="blogimages.W001"))
    return messages
