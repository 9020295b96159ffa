"""System checks: bad provider configuration shows up in `manage.py check`, not at 2 a.m."""

import contextlib
import contextvars

from django.core.checks import Error, Info, Tags, Warning, register

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
def check_visibility_timeout_outlasts_provider_calls(app_configs=None, **kwargs):
    """Redis hands an unacknowledged task to another worker after the broker's visibility
    timeout, whether or not the first worker lives. The heartbeat keeps a live claim live, so
    the copy finds it taken and comes back later rather than paying for a second call, but a
    provider call that may outlast the timeout makes a copy of its task every timeout for as
    long as it runs. Only Redis (and SQS) brokers redeliver this way; RabbitMQ waits for the
    connection to drop."""
    from django.conf import settings

    from .providers import providers

    broker = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    if not broker.startswith(("redis", "rediss", "sqs")):
        return []
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    try:
        visibility = float(options.get("visibility_timeout", 3600))
    except (TypeError, ValueError):
        return []
    messages = []
    for alias in blogimages_settings.PROVIDERS:
        try:
            timeout = float(providers[alias].timeout)
        except (InvalidProviderError, AttributeError, TypeError, ValueError):
            continue  # reported by check_providers, or a backend without a call timeout
        if timeout >= visibility:
            messages.append(Warning(
                f"Provider {alias!r}: a call may last {timeout:g} s, but the broker's visibility timeout is "
                f"{visibility:g} s: Redis would hand a copy of its task to another worker while the call runs.",
                hint="Set CELERY_VISIBILITY_TIMEOUT above the slowest provider's timeout times (1 + its fallbacks).",
                id="blogimages.W004",
            ))
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


# Set while `manage.py check` itself runs (management/commands/check.py): notes meant for
# someone reading the checks, which every other command (migrate, the CLI...) keeps quiet.
_EXPLICIT = contextvars.ContextVar("blogimages_explicit_check", default=False)


@contextlib.contextmanager
def explicit_check():
    token = _EXPLICIT.set(True)
    try:
        yield
    finally:
        _EXPLICIT.reset(token)


@register()
def check_content_credentials(app_configs=None, **kwargs):
    """`manage.py check` says once that nothing is signed; a signer that cannot sign is an error everywhere."""
    from . import content_credentials

    if not content_credentials.is_configured():
        if not _EXPLICIT.get():
            return []
        return [Info(
            "C2PA Content Credentials are off: stored images carry XMP/IPTC provenance but no signed manifest.",
            hint="Set BLOGIMAGES_C2PA_CERT and BLOGIMAGES_C2PA_KEY (PEM files) or BLOGIMAGES_C2PA_SIGNER.",
            id="blogimages.I001",
        )]
    return [Error(f"C2PA signing: {problem}", id="blogimages.E010") for problem in content_credentials.problems()]


@register()
def check_comfy_workflows(app_configs=None, **kwargs):
    """Registered ComfyUI workflows against their own rules and each reachable server's /object_info."""
    from django.db import DatabaseError

    from .comfy_workflows import check_registered

    try:
        problems = check_registered()
    except DatabaseError:
        return []  # no table yet (before migrate): nothing registered to check
    return [Warning(problem, id="blogimages.W030") for problem in problems]


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


def several_processes_possible() -> list[str]:
    """Why this deployment could run more than one process that generates images."""
    import os
    import re

    from django.conf import settings

    reasons = []
    workers = os.environ.get("WEB_CONCURRENCY", "")
    args = os.environ.get("GUNICORN_CMD_ARGS", "")
    match = re.search(r"(?:-w|--workers)[= ]?(\d+)", args)
    if (workers.isdigit() and int(workers) > 1) or (match and int(match.group(1)) > 1):
        reasons.append("several gunicorn workers are configured (WEB_CONCURRENCY / GUNICORN_CMD_ARGS)")
    if not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", True):
        reasons.append("a Celery broker is configured, so workers generate images beside the web processes")
    return reasons


@register()
def check_shared_counters(app_configs=None, **kwargs):
    """Rate limits and provider concurrency leases counted per process, where several may serve."""
    from django.conf import settings

    from . import ratelimit

    reasons = several_processes_possible()
    if not reasons:
        return []
    messages = []
    if not ratelimit.is_shared() and ratelimit.configured_limits():
        messages.append(Warning(
            f"Rate limits are counted per process ({ratelimit.storage_uri()}) while {reasons[0]}: each process "
            "lets a user make the whole limit.",
            hint="Set REDIS_URL (or BLOGIMAGES_RATE_LIMIT_STORAGE_URI to a shared limits storage).",
            id="blogimages.W020",
        ))
    if not getattr(settings, "REDIS_URL", "") and any(
            (entry.get("OPTIONS") or {}).get("max_concurrency") for entry in blogimages_settings.PROVIDERS.values()):
        messages.append(Warning(
            f"Provider concurrency leases (max_concurrency) are held per process while {reasons[0]}: the "
            "provider may get that many calls from each process.",
            hint="Set REDIS_URL so every process takes its slots from the same Redis.",
            id="blogimages.W021",
        ))
    return messages


SEARCH_INDEX_MIGRATION = "0016_imageoutput_prompt_trigram_index"
SEARCH_INDEX = "imageoutput_prompt_trgm_idx"


@register(Tags.database)
def check_search_index(app_configs=None, databases=None, **kwargs):
    """The gallery's trigram search index, missing where its migration ran (PostgreSQL refused
    the pg_trgm extension, or an interrupted build left it invalid). Run by `migrate` and by
    `check --database`, never on a plain `check` (it reads the database's catalog)."""
    from django.db import DatabaseError, connections
    from django.db.migrations.recorder import MigrationRecorder

    messages = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        try:
            if not MigrationRecorder(connection).migration_qs.filter(
                    app="blogimages", name=SEARCH_INDEX_MIGRATION).exists():
                continue  # not migrated yet: the migration builds it
            with connection.cursor() as cursor:
                cursor.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                               "WHERE c.relname = %s", [SEARCH_INDEX])
                row = cursor.fetchone()
        except DatabaseError:
            continue  # a database that cannot be read is reported by what reads it
        if row is None or not row[0]:
            messages.append(Warning(
                f"Database {alias!r}: the gallery's search index ({SEARCH_INDEX}) is "
                f"{'missing' if row is None else 'invalid'}: each search reads the whole image table.",
                hint="As a PostgreSQL superuser: CREATE EXTENSION pg_trgm; then run "
                     "`python manage.py migrate blogimages 0015` and `python manage.py migrate`.",
                id="blogimages.W040",
            ))
    return messages


def budget_configured() -> bool:
    return any(limit not in (None, "") for limit in (blogimages_settings.BUDGETS or {}).values())


@register()
def check_prices_under_budget(app_configs=None, **kwargs):
    """While a budget applies a request without a price is refused (budgets.PriceUnknown):
    name what each configured provider and LLM cannot price, before a user is refused."""
    from .llms import InvalidLLMError, llms
    from .providers import providers
    from .providers.price_coverage import unpriced

    if not budget_configured():
        return []
    messages = []
    for alias in blogimages_settings.PROVIDERS:
        try:
            provider = providers[alias]
            gaps = unpriced(provider)
        except InvalidProviderError:
            continue  # reported by check_providers
        if gaps:
            messages.append(Warning(
                f"Provider {alias!r} has no price for {'; '.join(gap.describe() for gap in gaps)}. While a budget "
                "is set (BLOGIMAGES_BUDGET_*) these requests are refused (price_unknown).",
                hint=_price_hint(provider, gaps[0].model), id="blogimages.W005",
            ))
    for alias in blogimages_settings.LLMS:
        try:
            llm = llms[alias]
        except InvalidLLMError:
            continue
        # As llm_calls prices a call: an offline model is free, any other needs a price.
        missing = [model for model in dict.fromkeys(filter(None, (llm.model, llm.vision_model)))
                   if not llm.capabilities(model).offline and llm.prices(model) is None]
        if missing:
            messages.append(Warning(
                f"LLM {alias!r} has no price for {', '.join(missing)}. While a budget is set "
                "(BLOGIMAGES_BUDGET_*) its calls are refused (price_unknown).",
                hint=f'Set its OPTIONS["prices"] = {{"{missing[0]}": {{"input": USD per 1M tokens, '
                     '"output": USD per 1M tokens}}.',
                id="blogimages.W005",
            ))
    return messages


def _price_hint(provider, model: str) -> str:
    from .providers.gemini import GeminiProvider
    from .providers.openai import OpenAIProvider

    name = model or "*"
    keys = 'keys "quality:WxH", "quality:*", "*:WxH" or "*", USD per image; {"*": 0} if it is free'
    if isinstance(provider, GeminiProvider):
        return (f'Add the model to its OPTIONS["prices"] = {{"{name}": {{"text_input": ..., "image_input": ..., '
                '"text_output": ..., "image_output": ...}} (USD per 1M tokens).')
    if isinstance(provider, OpenAIProvider):
        return f'Add them to its OPTIONS["prices"] = {{"{name}": {{"*": 0.04, ...}}}} ({keys}; per model, "*" for all).'
    return f'Add them to its OPTIONS["prices"] = {{"*": 0.04, ...}} ({keys}).'
