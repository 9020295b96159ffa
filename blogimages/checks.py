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


@register()
def check_model_lifecycles(app_configs=None, **kwargs):
    """Configured default models and stored settings naming a model that is retired, or
    deprecated with its shutdown within DEPRECATION_WARNING_DAYS."""
    from django.db import DatabaseError

    from .models import ImageSetting
    from .providers import providers

    messages = []
    configured = blogimages_settings.PROVIDERS

    def lifecycle(alias: str, model: str):
        try:
            provider = providers[alias]
        except InvalidProviderError:
            return None
        lifecycle = provider.lifecycle(model or provider.default_model())
        return lifecycle if lifecycle is not None and (lifecycle.retired or lifecycle.soon()) else None

    for alias in configured:
        found = lifecycle(alias, "")
        if found is not None:
            messages.append(Warning(f"Provider {alias!r}: the default {found.message()}", id="blogimages.W002"))
    try:
        settings = list(ImageSetting.objects.filter(provider__in=list(configured)).order_by("name"))
    except DatabaseError:
        # Before `migrate` (or without a database) there is nothing stored to check.
        return messages
    for setting in settings:
        found = lifecycle(setting.provider, setting.model)
        if found is not None:
            messages.append(Warning(
                f"Image setting {setting.name!r} (provider {setting.provider!r}): {found.message()}",
                hint=(f"Edit the setting in the admin: choose {found.replacement}." if found.replacement
                      else "Edit the setting in the admin: choose another model."),
                id="blogimages.W003",
            ))
    return messages


@register()
def check_comfy_workflows(app_configs=None, **kwargs):
    """Registered ComfyUI workflows against their own rules and each reachable server's /object_info."""
    from django.db import DatabaseError

    from .comfy_workflows import check_registered

    try:
        problems = check_registered()
    except DatabaseError:
        return []  # no table yet (before migrate): nothing registered to check
    return [Warning(problem, id="blogimages.W020") for problem in problems]


@register(deploy=True)
def check_private_media(app_configs=None, **kwargs):
    """With BLOGIMAGES_PRIVATE_MEDIA on, the storage must hand out links that are private: the
    site's MediaStorage (signed links) or S3 with presigned URLs. A plain FileSystemStorage would
    link /media/ paths that are refused, and S3 without querystring auth would publish originals."""
    from .media_storage import MediaStorage
    from .signed_media import private_media
    from .storage import get_storage

    if not private_media():
        return []
    storage = get_storage()
    if hasattr(storage, "querystring_auth"):
        if not storage.querystring_auth:
            return [Warning("BLOGIMAGES_PRIVATE_MEDIA is on but the S3 storage hands out unsigned URLs.",
                            hint="Set AWS_QUERYSTRING_AUTH=true and keep the bucket private.", id="blogimages.W010")]
        return []
    if not isinstance(storage, MediaStorage):
        return [Warning(f"BLOGIMAGES_PRIVATE_MEDIA is on but the storage {type(storage).__name__} links plain "
                        "/media/ paths, which are refused.",
                        hint='Use {"BACKEND": "blogimages.media_storage.MediaStorage"} for local files.',
                        id="blogimages.W011")]
    return []
