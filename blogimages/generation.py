"""The one path from a prompt and a setting to stored ImageOutputs.

Pages, tasks, the CLI and the API all come through here:

    build_request()  -> which provider, and exactly what it will be sent (validated)
    queue_outputs()  -> ImageOutput rows in `queued`, one per image, seeds fixed up-front
    execute()        -> call the provider once for a group of outputs, store every image
    generate()       -> all three, inline

A provider failure never raises out of `execute()`: it becomes a failed ImageOutput whose
`error` says why. Only a request that cannot be valid (bad size, unknown provider...)
raises, before anything is stored.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import alttext, boards, budgets, comfy_workflows, content_credentials, ratelimit, storage, style_guide
from .concurrency import ProviderBusy, provider_slot
from .conf import blogimages_settings
from .exceptions import (
    BlogImagesError,
    InvalidImage,
    InvalidProviderError,
    ProviderAuthError,
    ProviderError,
    ProviderUnreachable,
    UnsupportedFeature,
)
from .heartbeat import heartbeat
from .imaging import fit, masks, phash, provenance
from .integration import get_post_adapter
from .models import (
    COST_PLACES,
    BatchStatus,
    GenerationBatch,
    ImageOutput,
    ImagePrompt,
    ImageSetting,
    OutputStatus,
    PromptRun,
    RunSource,
)
from .providers import BaseProvider, EditRequest, GeneratedImage, GenerationRequest, GenerationResult, get_provider
from .providers.base import BATCH_INDEX_SEEDS, Capabilities, PartialCallback, given_seed
from .queueing import enqueue_outputs

logger = logging.getLogger("blogimages.generation")

# Request fields a setting, a provider's defaults or a caller's overrides may set.
PARAMETER_FIELDS = (
    "model", "width", "height", "seed", "steps", "guidance_scale", "quality", "style", "sampler",
    "output_format", "extra", "negative_prompt", "user",
)


# A requested size is made from a nearby size the provider can generate only if that needs
# at most this much enlargement; anything further is refused as a size the provider cannot make.
MAX_FIT_UPSCALE = 1.25


@dataclass(frozen=True, kw_only=True)
class Plan:
    provider: BaseProvider
    request: GenerationRequest
    # The size asked for, when the provider cannot make it exactly: the request carries the
    # nearest size it can make, and every image is cropped/resized to this one when stored.
    target: tuple[int, int] | None = None
    # The style guide's part of the prompt (style_guide.apply), kept with each image.
    style_guide: dict[str, Any] | None = None
    # An edit's inputs (editing.py): stored names of the source, mask and references, the
    # strength...; with it, execute() calls the provider's edit instead of generate.
    edit: dict[str, Any] | None = None
    # Provider aliases tried in order when this one fails for good or cannot be reached.
    fallbacks: tuple[str, ...] = ()
    # The seed was drawn for this request (none was asked for): no stored image can have
    # been made by the same request, so execute() does not look for one (see reuse_identical).
    seed_drawn: bool = False

    @cached_property
    def cost_per_image(self) -> Decimal | None:
        """What one image may cost: the most of the provider's estimate and each fallback's
        (for the request as that fallback would take it), so that the budget reserved
        before the call covers a fallback to a costlier provider. None (unknown) when any
        provider that may make it has no price for it: an unknown price is never free (see
        budgets.PriceUnknown); a fallback that cannot take the request spends nothing."""
        single = replace(self.request, n=1)
        costs = [self.provider.estimate_cost(single)]
        if self.edit is None:  # an edit has no fallback
            costs += [cost for alias in self.fallbacks
                      if (cost := fallback_cost(alias, single, self.target)) is not CANNOT_TAKE]
        return None if None in costs else max(costs)

    @property
    def price_label(self) -> str:
        """What was priced, for a refusal that names the missing price."""
        request = self.request
        quality = f", quality {request.quality}" if request.quality else ""
        chain = f" (or its fallbacks {', '.join(self.fallbacks)})" if self.fallbacks and self.edit is None else ""
        model = request.model or "default model"
        return f"{self.provider.alias} {model} {request.width}x{request.height}{quality}{chain}"

    @property
    def cost_estimate(self) -> Decimal | None:
        per_image = self.cost_per_image
        return None if per_image is None else per_image * self.request.n


def build_request(
    *,
    prompt_text: str,
    setting: ImageSetting | None = None,
    provider: str | None = None,
    overrides: dict[str, Any] | None = None,
    negative_prompt: str = "",
    parts: tuple[str, str, str] = ("", "", ""),
    n: int = 1,
) -> Plan:
    """Merge provider defaults < setting < overrides into a validated request.

    Raises UnsupportedFeature (a ValueError) or InvalidProviderError; nothing is stored.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
    if "seed" in overrides and given_seed(overrides["seed"]) is None:
        del overrides["seed"]
    fallbacks = overrides.pop("fallbacks", None)
    unknown = set(overrides) - set(PARAMETER_FIELDS)
    if unknown:
        raise UnsupportedFeature(f"Unknown parameter(s): {', '.join(sorted(unknown))}.")
    alias = provider or (setting.provider if setting else None)
    backend = get_provider(alias)

    # The provider's own defaults fill the rest in prepare(); only its size is needed here.
    params: dict[str, Any] = {k: v for k, v in backend.defaults.items() if k in ("width", "height")}
    if setting is not None:
        params.update(setting.parameters())
    if negative_prompt:
        params["negative_prompt"] = negative_prompt
    params.update(overrides)
    if "width" not in params or "height" not in params:
        default_w, default_h = backend.capabilities(params.get("model", "")).default_size
        params.setdefault("width", default_w)
        params.setdefault("height", default_h)
    try:
        params["width"], params["height"] = int(params["width"]), int(params["height"])
    except (TypeError, ValueError) as exc:
        raise UnsupportedFeature("Width and height must be whole numbers.") from exc

    description, style, fmt = parts
    request = GenerationRequest(
        prompt=prompt_text, prompt_description=description, prompt_style=style, prompt_format=fmt, n=n, **params
    )
    request, target = _fit_size(backend, request)
    named = request.extra.get("workflow")
    request = comfy_workflows.detach(backend.prepare(comfy_workflows.attach(backend, request)), named=named)
    caps = backend.capabilities(request.model)
    seed_drawn = request.seed is None and caps.supports_seed
    if seed_drawn:
        # Fix the seed before the call so every image can be reproduced and a
        # re-delivered task makes the same image again.
        request = replace(request, seed=secrets.randbelow(caps.max_seed + 1))
    if fallbacks is None:
        fallbacks = (setting.fallbacks if setting is not None and setting.fallbacks else None) \
            or backend.options.get("fallbacks") or ()
    return Plan(provider=backend, request=request, target=target, fallbacks=fallback_chain(backend.alias, fallbacks),
                seed_drawn=seed_drawn)


def fallback_chain(alias: str, fallbacks) -> tuple[str, ...]:
    """The fallback aliases, checked: each configured, none twice, never the provider itself."""
    if isinstance(fallbacks, str):
        fallbacks = [fallbacks]
    chain: list[str] = []
    for name in fallbacks or ():
        name = str(name).strip()
        if not name or name == alias or name in chain:
            continue
        get_provider(name)  # InvalidProviderError names the configured aliases
        chain.append(name)
    return tuple(chain)


# fallback_cost's answer for a fallback that cannot take the request: it will not be called.
CANNOT_TAKE = object()


def fallback_cost(alias: str, request: GenerationRequest, target: tuple[int, int] | None):
    """The estimate of fallback `alias` for `request` translated to what it takes: a Decimal,
    None when it has no price for it, CANNOT_TAKE when it cannot take the request at all."""
    try:
        backend = get_provider(alias)
        translated, _fitted, _dropped = translate(request, target, backend)
    except (BlogImagesError, ValueError) as exc:
        logger.info("fallback %s: cannot take this request (%s)", alias, exc)
        return CANNOT_TAKE
    try:
        return backend.estimate_cost(replace(translated, n=request.n))
    except (BlogImagesError, ValueError) as exc:
        logger.info("fallback %s: no estimate for this request (%s)", alias, exc)
        return None


# Why a provider's failure hands the request to the next one: it may work elsewhere. A
# refusal of the content, a cancel by a person or a request that is wrong stays with it.
def falls_through(exc: ProviderError, *, retries_left: bool) -> bool:
    if isinstance(exc, ProviderUnreachable | ProviderAuthError):
        return True  # down, or out of credentials or quota: no retry helps soon
    return exc.retryable and not retries_left


# Request fields a fallback keeps only when its capabilities take them.
_TRANSLATED = ("negative_prompt", "seed", "steps", "guidance_scale", "quality", "style", "sampler",
               "output_format")


def translate(request: GenerationRequest, target: tuple[int, int] | None, backend: BaseProvider
              ) -> tuple[GenerationRequest, tuple[int, int] | None, list[str]]:
    """`request` as `backend` can take it: the size asked for made at its nearest allowed
    size (then cropped when stored), what it does not take dropped — and named."""
    width, height = target or (request.width, request.height)
    caps = backend.capabilities("")
    dropped: list[str] = []
    changes: dict[str, Any] = {"model": "", "extra": {}, "width": width, "height": height}
    if request.model:
        dropped.append(f"model {request.model}")
    if request.extra:
        dropped.append("extra " + ", ".join(sorted(k for k in request.extra)))
    takes = {"negative_prompt": caps.supports_negative_prompt, "seed": caps.supports_seed,
             "steps": caps.supports_steps, "guidance_scale": caps.supports_guidance,
             "quality": request.quality in caps.qualities, "style": request.style in caps.styles,
             "sampler": request.sampler in caps.samplers, "output_format": request.output_format in caps.output_formats}
    for name in _TRANSLATED:
        value = getattr(request, name)
        if value in (None, "") or takes[name]:
            continue
        changes[name] = None if name in ("seed", "steps", "guidance_scale") else ""
        dropped.append(name)
    if request.seed is not None and takes["seed"] and request.seed > caps.max_seed:
        changes["seed"] = request.seed % (caps.max_seed + 1)
        dropped.append(f"seed {request.seed} (beyond {caps.max_seed}; sent {changes['seed']})")
    translated = replace(request, **changes)
    translated, fitted = _fit_size(backend, translated)
    translated = backend.prepare(translated)
    return translated, fitted, dropped


def _fit_size(backend: BaseProvider, request: GenerationRequest) -> tuple[GenerationRequest, tuple[int, int] | None]:
    """A size the provider cannot make exactly is generated at the nearest one it can
    (same shape where possible) and cropped/resized to what was asked when stored."""
    if request.width < 1 or request.height < 1:
        return request, None
    model = request.model or backend.defaults.get("model", "")
    made = generated_size(backend.capabilities(model), request.width, request.height)
    if made is None or made == (request.width, request.height):
        return request, None
    return replace(request, width=made[0], height=made[1]), (request.width, request.height)


def generated_size(caps: Capabilities, width: int, height: int) -> tuple[int, int] | None:
    """The size a provider is asked for so that width × height can be stored exactly (itself
    when the provider makes it), or None when no size it makes can honestly be fitted."""
    if caps.allows_size(width, height):
        return width, height
    if not caps.sizes and min(width, height) < caps.min_size:
        return None  # below the provider's smallest side: refused, not blown up
    made = caps.nearest_size(width, height)
    if not caps.allows_size(*made):
        return None  # nothing it can make: validation names the allowed sizes
    left, _top, right, _bottom = fit.cover_box(made, (width, height))
    if width / (right - left) > MAX_FIT_UPSCALE:
        return None  # far beyond what the provider makes: a blown-up image is no answer
    return made


# plan_for_prompt's default: read the enabled style guide (a caller passes the one it read, or None).
READ_GUIDE: Any = object()


def plan_for_prompt(
    prompt: ImagePrompt, *, setting: ImageSetting | None = None, provider: str | None = None,
    overrides: dict[str, Any] | None = None, n: int = 1, post=None, slot_key: str = "", slot_kind: str = "",
    use_style_guide: bool = True, guide: Any = READ_GUIDE,
) -> Plan:
    """The request for `prompt`. For a post's image the enabled style guide joins the prompt
    (unless `use_style_guide` is off for this run); the saved prompt itself is not changed.
    `guide`: the style guide when the caller already read it (a batch reads it once)."""
    if post is not None and use_style_guide:
        guide = style_guide.active_guide() if guide is READ_GUIDE else guide
        if guide is not None:
            alias = provider or (setting.provider if setting else None)
            takes_negative = get_provider(alias).capabilities(
                (overrides or {}).get("model") or (setting.model if setting else "") or "").supports_negative_prompt
            guided = style_guide.apply(prompt, guide=guide, slot_key=slot_key, slot_kind=slot_kind,
                                       takes_negative=takes_negative)
            plan = plan_for_prompt(guided.prompt, setting=setting, provider=provider, overrides=overrides, n=n)
            marks = {**guided.marks, **style_guide.reference_marks(guide, plan.provider, plan.request.model)}
            return replace(plan, style_guide=marks)
    return build_request(
        prompt_text=prompt.text(),
        setting=setting,
        provider=provider,
        overrides=overrides,
        negative_prompt=prompt.negative_prompt,
        parts=(prompt.description, prompt.style, prompt.format),
        n=n,
    )


# Bytes stay out of JSON; the style guide's marks name the reference images instead.
_SNAPSHOT_FIELDS = tuple(f.name for f in fields(GenerationRequest) if f.name != "reference_images")


def snapshot(request: GenerationRequest, target: tuple[int, int] | None = None) -> dict[str, Any]:
    """What was sent, as JSON; enough to rebuild the request for a retry. With a `target`,
    also the size that was asked for (requested_width/height); width/height are what was sent."""
    # The fields read as they are (every one is a scalar but `extra`, copied one level as
    # before): dataclasses.asdict deep-copies each value and cost ~4 ms per row under load,
    # most of a 96-section batch's planning.
    data = {name: getattr(request, name) for name in _SNAPSHOT_FIELDS}
    data["extra"] = dict(request.extra)
    if target is not None:
        data["requested_width"], data["requested_height"] = target
    return data


def target_from_snapshot(data: dict[str, Any]) -> tuple[int, int] | None:
    width, height = data.get("requested_width"), data.get("requested_height")
    return (int(width), int(height)) if width and height else None


def requested_size(data: dict[str, Any]) -> tuple[int, int]:
    """The size the author asked for (which is what was sent unless it had to be fitted)."""
    return target_from_snapshot(data) or (int(data.get("width") or 1024), int(data.get("height") or 1024))


def request_from_snapshot(data: dict[str, Any]) -> GenerationRequest:
    fields = {k: v for k, v in data.items() if k in GenerationRequest.__dataclass_fields__}
    return GenerationRequest(**fields)


# Snapshot keys that do not change the image: left out of the request key.
KEY_IGNORES = ("user", "n")


def request_key(plan: Plan, single_snapshot: dict[str, Any]) -> str:
    """sha256 of the provider and every parameter sent (seed included), or "" when the provider
    is not deterministic for a seed or no seed is fixed: then no two requests are "identical"."""
    request = plan.request
    caps = plan.provider.capabilities(request.model)
    # A backend declares it in its capabilities (cards), or the site in its OPTIONS (a local
    # Stable Diffusion with a fixed sampler: "deterministic": True).
    declared = caps.deterministic or bool((plan.provider.options or {}).get("deterministic"))
    if not (declared and caps.supports_seed) or single_snapshot.get("seed") is None:
        return ""
    material = {k: v for k, v in single_snapshot.items() if k not in KEY_IGNORES}
    material["provider"] = plan.provider.alias
    material["backend"] = type(plan.provider).__module__ + "." + type(plan.provider).__qualname__
    material["render_version"] = getattr(plan.provider, "render_version", None)
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _source(source: str, *, post, api_token) -> str:
    if source in RunSource.values:
        return source
    if api_token is not None:
        return RunSource.API
    return RunSource.DEVELOP if post is not None else RunSource.OTHER


def queue_outputs(
    plan: Plan,
    *,
    prompt: ImagePrompt | None,
    setting: ImageSetting | None = None,
    post=None,
    section_key: str = "",
    batch=None,
    user=None,
    api_token=None,
    derived_from: ImageOutput | None = None,
    derivation: str = "",
    source: str = "",
    claimed: bool = False,
) -> list[ImageOutput]:
    """One queued ImageOutput per image of the plan, each with its own n=1 snapshot and seed,
    and the run they belong to in the prompt history (`source`: which face asked).

    `claimed`: the rows are inserted already running as this process's first attempt (see
    `build_outputs`), for a caller that executes them at once (`generate`): no claim UPDATE."""
    run = build_run(plan, prompt=prompt, setting=setting, post=post, user=user, api_token=api_token, source=source)
    run.save()
    outputs = ImageOutput.objects.bulk_create(build_outputs(
        plan, prompt=prompt, setting=setting, post=post, section_key=section_key, batch=batch, user=user,
        api_token=api_token, derived_from=derived_from, derivation=derivation, run=run, claimed=claimed))
    boards.collect(outputs)
    return outputs


def build_run(plan: Plan, *, prompt: ImagePrompt | None, setting: ImageSetting | None = None, post=None,
              user=None, api_token=None, source: str = "") -> PromptRun:
    """The prompt-history row of one request, unsaved (a batch inserts every section's at once)."""
    request = plan.request
    person = user if getattr(user, "is_authenticated", False) else None
    first = snapshot(replace(request, n=1, seed=request.seed_for(0)), plan.target)
    return PromptRun(
        user=person, source=_source(source, post=post, api_token=api_token), prompt=prompt,
        prompt_text=request.prompt, description=request.prompt_description or (prompt.description if prompt else ""),
        style=request.prompt_style, format=request.prompt_format, negative_prompt=request.negative_prompt,
        setting=setting, provider=plan.provider.alias, model=request.model,
        width=plan.target[0] if plan.target else request.width, height=plan.target[1] if plan.target else request.height,
        seed=request.seed, n=request.n, parameters={"provider": plan.provider.alias, **first},
    )


def build_outputs(
    plan: Plan,
    *,
    prompt: ImagePrompt | None,
    setting: ImageSetting | None = None,
    post=None,
    section_key: str = "",
    batch=None,
    user=None,
    api_token=None,
    derived_from: ImageOutput | None = None,
    derivation: str = "",
    run: PromptRun | None = None,
    claimed: bool = False,
) -> list[ImageOutput]:
    """queue_outputs' rows, unsaved (a batch inserts every section's rows at once).

    `claimed`: each row is inserted as `claim()` would leave it (running, attempt 1, started
    now), for the process that inserts it and executes it straight away; a row nobody else
    knows of yet needs no claim, and a worker that dies with it leaves a stale running row
    that the reconciler takes over like any other."""
    now = timezone.now()
    request = plan.request
    cost = plan.cost_per_image
    outputs = []
    per_batch_index = request.n > 1 and plan.provider.capabilities(request.model).batch_seeds == BATCH_INDEX_SEEDS
    for index in range(request.n):
        if per_batch_index:
            # ComfyUI seeds a batch once and varies the noise by batch index: image k is
            # (seed, index k of n), which is what its snapshot must say to be made again.
            single = replace(request, n=1, extra={**request.extra, "batch_index": index, "batch_size": request.n})
        else:
            single = replace(request, n=1, seed=request.seed_for(index))
        single_snapshot = {"provider": plan.provider.alias, **snapshot(single, plan.target),
                           **({"style_guide": plan.style_guide} if plan.style_guide else {}),
                           **({"edit": dict(plan.edit)} if plan.edit is not None else {}),
                           **({"fallbacks": list(plan.fallbacks)} if plan.fallbacks else {})}
        outputs.append(
            ImageOutput(
                prompt=prompt,
                prompt_text=request.prompt,
                negative_prompt=request.negative_prompt,
                setting=setting,
                setting_snapshot=single_snapshot,
                request_key=request_key(plan, single_snapshot),
                run=run,
                provider=plan.provider.alias,
                model=request.model,
                seed=single.seed,
                post=post,
                section_key=section_key if post is not None else "",
                batch=batch,
                derived_from=derived_from,
                derivation=derivation,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                api_token=api_token,
                cost_estimate=cost,
                status=OutputStatus.RUNNING if claimed else OutputStatus.QUEUED,
                queued_at=now,
                **({"attempts": 1, "started_at": now} if claimed else {}),
            )
        )
    return outputs


def claim(outputs: Sequence[ImageOutput]) -> list[ImageOutput]:
    """Take ownership of the outputs that are queued (or whose worker went silent).

    The claim is the attempt number: only the holder of the current attempt may finish
    the image, so a re-delivered task and a slow original never both store it. One
    `UPDATE … RETURNING` for all of them: the claim and what it changed, in one statement.
    """
    if not outputs:
        return []
    now = timezone.now()
    stale_before = now - timedelta(seconds=blogimages_settings.TASK_STALE_AFTER)
    by_pk = {output.pk: output for output in outputs}
    # On PostgreSQL the claim also moves the images' batches to running, in the same statement.
    with_batches = connection.vendor == "postgresql"

    def attempt() -> list[tuple[int, int, str]]:
        return _claim_returning(list(by_pk), now, stale_before, start_batches=with_batches)

    def retry() -> list[tuple[int, int, str]]:
        # What the first try claimed before its answer was lost is ours too (running since
        # this very `now`), not another worker's.
        rows = attempt()
        got = {row[0] for row in rows}
        return rows + list(ImageOutput.objects.filter(pk__in=[pk for pk in by_pk if pk not in got],
                                                      status=OutputStatus.RUNNING, started_at=now)
                           .values_list("pk", "attempts", "error"))

    claimed = with_fresh_connection(attempt, retry=retry, what=f"claiming image(s) {sorted(by_pk)}")
    owned = []
    for pk, attempts, error in claimed:
        output = by_pk[pk]
        output.status, output.started_at, output.attempts, output.error = OutputStatus.RUNNING, now, attempts, error
        owned.append(output)
    owned.sort(key=lambda o: list(by_pk).index(o.pk))
    batch_ids = sorted({o.batch_id for o in owned if o.batch_id})
    if batch_ids and not with_batches:
        # A batch is running as soon as one of its images is (plain SQL, as count_finished).
        q = connection.ops.quote_name
        table, status, started = (q(GenerationBatch._meta.db_table), q("status"), q("started_at"))
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {status} = %s, {started} = %s "
                           f"WHERE {q('id')} IN ({', '.join(['%s'] * len(batch_ids))}) AND {status} = %s",
                           [BatchStatus.RUNNING, _batch_column_value("started_at", now), *batch_ids,
                            BatchStatus.QUEUED])
    return owned


def _claim_returning(pks: list[int], now, stale_before, *,
                     start_batches: bool = False) -> list[tuple[int, int, str]]:
    """[(pk, attempts, error)] of the rows this statement moved to running (PostgreSQL and
    SQLite ≥ 3.35 both answer RETURNING; the ORM's update() cannot).

    `start_batches` (PostgreSQL: a data-modifying WITH): the queued batches of the claimed
    rows move to running in the same statement, one round trip instead of two per image."""
    q = connection.ops.quote_name
    table = q(ImageOutput._meta.db_table)
    started = ImageOutput._meta.get_field("started_at")
    at, before = started.get_db_prep_value(now, connection), started.get_db_prep_value(stale_before, connection)
    marks = ", ".join(["%s"] * len(pks))
    sql = (f"UPDATE {table} SET status = %s, started_at = %s, attempts = attempts + 1 "
           f"WHERE id IN ({marks}) AND (status = %s OR (status = %s AND started_at < %s)) "
           f"RETURNING id, attempts, error")
    params = [OutputStatus.RUNNING, at, *pks, OutputStatus.QUEUED, OutputStatus.RUNNING, before]
    if start_batches:
        batches, status = q(GenerationBatch._meta.db_table), q("status")
        sql = (f"WITH claimed AS ({sql}, {q('batch_id')}), started AS ("
               f"UPDATE {batches} SET {status} = %s, {q('started_at')} = %s WHERE {q('id')} IN "
               f"(SELECT {q('batch_id')} FROM claimed) AND {status} = %s) "
               f"SELECT id, attempts, error FROM claimed")
        params += [BatchStatus.RUNNING, _batch_column_value("started_at", now), BatchStatus.QUEUED]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1], row[2]) for row in cursor.fetchall()]


def execute(outputs: Sequence[ImageOutput], *, plan: Plan | None = None, raise_retryable: bool = False,
            on_partial: PartialCallback | None = None, partial_images: int = 0,
            claimed: bool = False) -> list[ImageOutput]:
    """Make and store the images of `outputs` (all from the same plan) with one provider call.

    Only outputs this call can claim are worked on; they are returned. Provider errors
    and unusable images mark them failed with the reason. With `raise_retryable`, a
    transient provider error puts them back in the queue and re-raises it so a task can
    retry later. `on_partial` receives the previews of a provider that streams them
    (`partial_images` of them at most), before the images are stored. `claimed`: the
    outputs were inserted already claimed by this process (`queue_outputs(claimed=True)`).
    """
    if not outputs:
        return []
    if plan is None:
        first = outputs[0]
        plan = Plan(provider=get_provider(first.provider), request=request_from_snapshot(first.setting_snapshot),
                    target=target_from_snapshot(first.setting_snapshot), edit=first.setting_snapshot.get("edit"),
                    fallbacks=tuple((first.setting_snapshot or {}).get("fallbacks") or ()))

    # The slot comes before the claim: a task that steps aside for a busy provider
    # leaves its image queued and untouched.
    try:
        with provider_slot(plan.provider, blocking=not raise_retryable):
            claimed = list(outputs) if claimed else claim(outputs)
            # A taken-over image whose bytes an earlier attempt stored is adopted, never
            # asked of the provider again.
            outputs = [o for o in claimed if not (o.attempts > 1 and adopt_from_sidecar(o))]
            # A stale claim taken over here (a re-delivered task): the dead attempt's job is
            # stopped on the server before the image is asked for again.
            cancel_abandoned_jobs([o for o in outputs if o.attempts > 1])
            # An identical request already stored costs nothing twice. A seed drawn a moment
            # ago names no stored image (were one to share it, the same deterministic request
            # would make the same bytes): the lookup, a query per call, is skipped.
            if not plan.seed_drawn:
                outputs = reuse_identical(outputs)
            if not outputs:
                return claimed
            request, indexes = call_request(plan, outputs)
            try:
                request = style_guide.attach_references(request, outputs[0].setting_snapshot)
                with heartbeat(outputs):  # a call longer than TASK_STALE_AFTER keeps its claim
                    result = _call_provider(plan, comfy_workflows.attach(plan.provider, request),
                                            on_partial=on_partial, partial_images=partial_images,
                                            progress=progress_writer(outputs, alias=plan.provider.alias))
            except ProviderError as exc:
                # An edit has no fallback: another provider would make a new image, not this edit.
                if plan.fallbacks and plan.edit is None and falls_through(exc, retries_left=raise_retryable):
                    # The fallback makes one image per row (its seeds are its own).
                    return _fall_back(outputs, plan, replace(request, n=len(outputs)), exc, on_partial=on_partial,
                                      partial_images=partial_images)
                if raise_retryable and exc.retryable:
                    _requeue(outputs, str(exc))
                    raise
                _fail(outputs, str(exc), error=exc)
                return outputs
            except BlogImagesError as exc:
                # A request or configuration that cannot work (e.g. a broken workflow template).
                _fail(outputs, str(exc), error=exc)
                return outputs
            except Exception as exc:
                # A bug in a backend must not leave rows "running" forever.
                logger.exception("provider %s raised unexpectedly", plan.provider.alias)
                _fail(outputs, f"{plan.provider.alias} failed unexpectedly: {type(exc).__name__}: {exc}")
                return outputs
    except ProviderBusy as exc:
        if raise_retryable:
            raise
        # An inline caller waited the provider's whole timeout; nobody will come back for these.
        for output in outputs:
            fail_output(output, f"{exc} (no free slot after {plan.provider.timeout:g} s)")
        return list(outputs)

    if indexes is not None and len(indexes) > 1:
        outputs, result = _match_batch_indexes(outputs, indexes, result, plan.provider.alias)
    store_call(outputs, result, plan.provider.alias)
    return claimed


def _batch_of(outputs: Sequence[ImageOutput]) -> tuple[int, list[int]] | None:
    """(batch size, the batch index of each output) when every output is image k of one
    batch-index-seeded call (ComfyUI: one seed, the noise varied by index); else None."""
    sizes, indexes = set(), []
    for output in outputs:
        extra = (output.setting_snapshot or {}).get("extra") or {}
        if extra.get("batch_index") in (None, "") or extra.get("batch_size") in (None, ""):
            return None
        sizes.add(int(extra["batch_size"]))
        indexes.append(int(extra["batch_index"]))
    if len(sizes) != 1 or len(set(indexes)) != len(indexes):
        return None
    return sizes.pop(), indexes


def call_request(plan: Plan, outputs: Sequence[ImageOutput]) -> tuple[GenerationRequest, list[int] | None]:
    """The request of the one provider call that makes `outputs`, and their batch indexes
    (None unless the provider seeds a batch by index).

    Images k of one batch-index-seeded batch are made by running that batch once, whatever
    subset of it is left to make: one image alone is asked as image k of the batch (the
    provider keeps that one), several as the whole batch, each row taking its own index —
    n images of one call cost one run, not n."""
    batch = _batch_of(outputs)
    if batch is None:
        return replace(plan.request, n=len(outputs)), None
    size, indexes = batch
    extra = {key: value for key, value in plan.request.extra.items() if key not in ("batch_index", "batch_size")}
    if len(indexes) == 1:
        return replace(plan.request, n=1, extra={**extra, "batch_index": indexes[0], "batch_size": size}), indexes
    return replace(plan.request, n=size, extra=extra), indexes


def _match_batch_indexes(outputs: Sequence[ImageOutput], indexes: list[int], result: GenerationResult,
                         alias: str) -> tuple[list[ImageOutput], GenerationResult]:
    """Each output with the image of its own batch index (the rest of the batch is dropped);
    an output whose index is missing from the answer fails with the reason."""
    by_index: dict[int, GeneratedImage] = {}
    for image in result.images:
        index = (image.metadata or {}).get("batch_index")
        if isinstance(index, int) and index not in by_index:
            by_index[index] = image
    if not by_index:
        return list(outputs), result  # an answer without indexes: in order, as any provider's
    kept = [(output, by_index[index]) for output, index in zip(outputs, indexes, strict=True) if index in by_index]
    missing = [output for output, index in zip(outputs, indexes, strict=True) if index not in by_index]
    if missing:
        _fail(missing, f"{alias} answered without the image of batch index "
                       f"{', '.join(str(i) for i in indexes if i not in by_index)}.")
    # The call's cost stays whole: the images of the batch that were dropped were paid for too.
    return [output for output, _image in kept], replace(result, images=tuple(image for _output, image in kept))


def call_group(output: ImageOutput) -> list[ImageOutput]:
    """`output` and the other unfinished images of its provider call that one run makes
    together: the rest of its batch when the provider seeds a batch by index (ComfyUI),
    else `output` alone. A task claims them all at once and stores every one."""
    extra = (output.setting_snapshot or {}).get("extra") or {}
    if output.run_id is None or extra.get("batch_index") in (None, "") or extra.get("batch_size") in (None, ""):
        return [output]
    key = _call_key(output.setting_snapshot)
    rows = (ImageOutput.objects.select_related("post", "prompt", "setting")
            .filter(run_id=output.run_id, provider=output.provider,
                    status__in=[OutputStatus.QUEUED, OutputStatus.RUNNING])
            .exclude(pk=output.pk).order_by("pk"))
    group = [output, *(row for row in rows if _call_key(row.setting_snapshot) == key)]
    group.sort(key=lambda row: int(row.setting_snapshot["extra"]["batch_index"]))
    return group if _batch_of(group) is not None else [output]


def _call_key(data: dict[str, Any] | None) -> str:
    """A row's snapshot without its batch index: equal for every image of one call."""
    data = dict(data or {})
    data["extra"] = {k: v for k, v in (data.get("extra") or {}).items() if k != "batch_index"}
    return json.dumps(data, sort_keys=True, default=str)


def _call_provider(plan: Plan, request: GenerationRequest, *, on_partial: PartialCallback | None = None,
                   partial_images: int = 0, progress=None) -> GenerationResult:
    if plan.edit is None:
        return plan.provider.run(request, on_partial=on_partial, partial_images=partial_images, progress=progress)
    return _call_edit(plan, request, progress=progress, on_partial=on_partial, partial_images=partial_images)


def _read_input(name: str) -> bytes:
    try:
        with storage.get_storage().open(name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BlogImagesError(f"An input of this edit is missing from storage ({name}).") from exc


def _call_edit(plan: Plan, request: GenerationRequest, *, progress=None, on_partial: PartialCallback | None = None,
               partial_images: int = 0) -> GenerationResult:
    """An edit (editing.py planned it): read its stored inputs, call the provider's edit and,
    after a masked edit, paste every unmasked pixel back from the source (previews passed
    to `on_partial` are the provider's own, without the paste-back)."""
    inputs = plan.edit or {}
    if not inputs.get("source"):
        raise BlogImagesError("This edit has no source image on record.")
    source = _read_input(inputs["source"])
    mask = _read_input(inputs["mask"]) if inputs.get("mask") else None
    references = tuple(_read_input(name) for name in inputs.get("references") or ())
    result = plan.provider.run_edit(EditRequest(
        request=request, image=source, mask=mask, references=references, strength=inputs.get("strength"),
        input_fidelity=inputs.get("input_fidelity") or ""), progress=progress, on_partial=on_partial,
        partial_images=partial_images)
    if mask is None or not inputs.get("paste_back"):
        return result
    info = storage.inspect_image(source)
    images = []
    for item in result.images:
        try:
            made = storage.inspect_image(item.data)
            fitted = item.data if (made.width, made.height) == (info.width, info.height) else \
                fit.fit_exactly(item.data, width=info.width, height=info.height)
            pasted = masks.paste_back(source, fitted, mask)
        except (InvalidImage, OSError, ValueError):
            images.append(item)  # store_image refuses it with the reason
            continue
        images.append(replace(item, data=pasted, mime_type="image/png", metadata={**item.metadata, "pasted_back": True}))
    return replace(result, images=tuple(images))


def progress_writer(outputs: Sequence[ImageOutput], *, alias: str = ""):
    """A provider's progress callback that keeps the running images' `progress` up to date
    (written when it changes: a step, or a place in the queue).

    Its `submitted(job)` hook records the job a backend is about to start (ComfyUI's
    prompt_id, AUTOMATIC1111's task id) on the rows, as `provider_metadata["job"]` with the
    provider's alias, before the job is sent: a worker killed mid-run never cancels it, and
    the reconciler that takes the rows over cancels it from this record (`cancel_abandoned`)."""
    ids = [output.pk for output in outputs]
    last: list[dict[str, Any]] = [{}]
    owner = threading.get_ident()

    def report(value: int, maximum: int, queue_position: int | None = None, source: str = "") -> None:
        data = {"value": value, "max": maximum, "queue_position": queue_position, "source": source}
        if data == last[0]:
            return
        last[0] = data
        try:
            ImageOutput.objects.filter(pk__in=ids, status=OutputStatus.RUNNING).update(progress=data)
        except (OperationalError, InterfaceError) as exc:  # progress is a courtesy: never fail a run for it
            logger.info("image(s) %s: progress not saved: %s", ids, exc)
        finally:
            if threading.get_ident() != owner:
                connection.close()  # a provider's watcher thread (A1111): leave no connection behind
        for output in outputs:
            output.progress = data

    def submitted(job: dict[str, Any]) -> None:
        record = {"provider": alias, **job}
        for output in outputs:
            metadata = {**(output.provider_metadata or {}), "job": record}
            try:
                ImageOutput.objects.filter(pk=output.pk, attempts=output.attempts, status=OutputStatus.RUNNING) \
                    .update(provider_metadata=metadata)
            except (OperationalError, InterfaceError) as exc:
                logger.warning("image %s: job %s not recorded (a killed worker would leave it running): %s",
                               output.pk, job, exc)
                continue
            output.provider_metadata = metadata

    report.submitted = submitted
    return report


def cancel_abandoned_jobs(outputs: Sequence[ImageOutput]) -> None:
    """cancel_abandoned for each output, each job once (the images of one call share it)."""
    seen: set[str] = set()
    for output in outputs:
        job = (output.provider_metadata or {}).get("job")
        key = json.dumps(job, sort_keys=True, default=str)
        cancel_abandoned(output, ask=key not in seen)
        seen.add(key)


def cancel_abandoned(output: ImageOutput, *, ask: bool = True) -> bool:
    """Cancel the provider job a dead attempt left behind (`provider_metadata["job"]`, see
    progress_writer), for an image this caller has claimed; the record is dropped after.
    True when a job was on record and its provider was asked to cancel it (`ask`: false when
    the caller already asked for another image of the same job)."""
    job = (output.provider_metadata or {}).get("job")
    if not isinstance(job, dict) or not job.get("provider"):
        return False
    if ask:
        try:
            backend = get_provider(job["provider"])
        except InvalidProviderError as exc:
            logger.warning("image %s: cannot cancel job %s: %s", output.pk, job, exc)
            return False
        backend.cancel_job({k: v for k, v in job.items() if k != "provider"})
        logger.info("image %s: cancelled %s job %s left by a dead attempt", output.pk, job["provider"], job)
    output.provider_metadata = {k: v for k, v in output.provider_metadata.items() if k != "job"}
    ImageOutput.objects.filter(pk=output.pk, attempts=output.attempts).update(
        provider_metadata=output.provider_metadata)
    return True


def _fall_back(outputs: list[ImageOutput], plan: Plan, request: GenerationRequest, first: ProviderError, *,
               on_partial: PartialCallback | None = None, partial_images: int = 0) -> list[ImageOutput]:
    """Try the plan's fallbacks in order after `first` failed; the image records which
    provider made it, what was dropped on the way and why each earlier one did not."""
    tried = [{"provider": plan.provider.alias, "error": str(first), **error_details(first)}]
    last: BlogImagesError = first
    for alias in plan.fallbacks:
        try:
            backend = get_provider(alias)
            translated, fitted, dropped = translate(request, plan.target, backend)
            logger.info("image(s) %s: %s failed (%s); trying %s", [o.pk for o in outputs], tried[-1]["provider"],
                        tried[-1]["error"], alias)
            with heartbeat(outputs), provider_slot(backend, blocking=True):
                result = backend.run(comfy_workflows.attach(backend, translated), on_partial=on_partial,
                                     partial_images=partial_images, progress=progress_writer(outputs, alias=alias))
        except (ProviderError, UnsupportedFeature, InvalidProviderError) as exc:
            tried.append({"provider": alias, "error": str(exc), **error_details(exc)})
            last = exc
            if isinstance(exc, ProviderError) and not falls_through(exc, retries_left=False):
                break  # refused content, a cancel, a wrong request: the chain stops here
            continue
        record = {"provider": alias, "tried": tried, "dropped": dropped}
        for output in outputs:
            output.provider, output.model = alias, result.model or translated.model
            output.setting_snapshot = {**snapshot(replace(translated, n=1), fitted or plan.target),
                                       "provider": alias, "fallback_from": output.setting_snapshot}
            output.provider_metadata = {**(output.provider_metadata or {}), "fallback": record}
        store_call(outputs, result, alias)
        return outputs
    for output in outputs:
        output.provider_metadata = {**(output.provider_metadata or {}), "fallback": {"provider": None, "tried": tried}}
    reasons = "; then ".join(entry["error"] for entry in tried)
    _fail(outputs, f"every provider failed: {reasons}", error=last)
    return outputs


def store_call(outputs: Sequence[ImageOutput], result: GenerationResult, alias: str) -> None:
    """Store the images of one provider call on its outputs (in order).

    The call's usage is kept once, on its first output; every output records the call
    (request id, how many images, its index) and its share of the call's cost.
    """
    images = list(result.images)
    if len(images) > len(outputs):
        logger.warning("provider %s sent %d images for %d requested; extra ignored", alias, len(images), len(outputs))
    shares = cost_shares(result.cost, len(outputs))
    for index, output in enumerate(outputs):
        output.cost, output.cost_basis = shares[index], result.cost_basis if shares[index] is not None else ""
        if output.cost is None:
            # Made by a provider without a price: the reservation (perhaps a costlier
            # fallback's estimate, see Plan.cost_per_image) is given back.
            output.cost_estimate = None
        call = {"images": len(outputs), "index": index, **({"request_id": result.request_id} if result.request_id else {})}
        output.provider_metadata = {
            **(output.provider_metadata or {}), "call": call,
            **({"usage": dict(result.usage)} if index == 0 and result.usage else {}),
        }
        if index >= len(images):
            _fail([output], f"{alias} returned {len(images)} image(s) for {len(outputs)} requested.",
                  extra_fields=["cost", "cost_basis", "provider_metadata"])
            continue
        try:
            store_image(output, images[index], result)
        except InvalidImage as exc:
            # Paid for all the same: the usage and cost stay with the failed row.
            _fail([output], f"{alias} returned an unusable image: {exc}",
                  extra_fields=["cost", "cost_basis", "provider_metadata"])
        except LostClaim:
            logger.warning("image %s was taken over by another worker; this result is discarded", output.pk)
        except DatabaseUnavailable:
            continue  # its files stay; the reconciler adopts them from the sidecar


def cost_shares(total: Decimal | None, count: int) -> list[Decimal | None]:
    """`total` split over `count` images, rounded to the field's places; the first takes the remainder."""
    if total is None or count < 1:
        return [None] * max(count, 0)
    quantum = Decimal(1).scaleb(-COST_PLACES)
    share = (total / count).quantize(quantum)
    return [total.quantize(quantum) - share * (count - 1), *([share] * (count - 1))]


def generate(
    *,
    prompt: ImagePrompt | str,
    setting: ImageSetting | None = None,
    provider: str | None = None,
    overrides: dict[str, Any] | None = None,
    n: int = 1,
    post=None,
    section_key: str = "",
    batch=None,
    user=None,
    api_token=None,
    use_style_guide: bool = True,
    on_partial: PartialCallback | None = None,
    partial_images: int = 0,
    source: str = "",
) -> list[ImageOutput]:
    """Generate `n` images inline and return their ImageOutputs (succeeded or failed).

    Raises before storing anything when the request is invalid, over a rate limit or over a
    budget. `on_partial`/`partial_images`: see `execute` (streaming answers use them).
    """
    # The prompt and its rows in one transaction: one commit (one WAL flush) instead of two,
    # and never a saved prompt without its images. The rows are inserted already claimed
    # (this process executes them next; no claim UPDATE), except a batch's: claiming its
    # first image is what moves the batch to running.
    claimed = batch is None
    with transaction.atomic():
        plan, outputs = _plan_and_queue(prompt=prompt, setting=setting, provider=provider, overrides=overrides,
                                        n=n, post=post, section_key=section_key, batch=batch, user=user,
                                        api_token=api_token, use_style_guide=use_style_guide, source=source,
                                        claimed=claimed)
    execute(outputs, plan=plan, on_partial=on_partial, partial_images=partial_images, claimed=claimed)
    return outputs


def submit(
    *,
    prompt: ImagePrompt | str,
    setting: ImageSetting | None = None,
    provider: str | None = None,
    overrides: dict[str, Any] | None = None,
    n: int = 1,
    post=None,
    section_key: str = "",
    user=None,
    api_token=None,
    use_style_guide: bool = True,
    source: str = "",
) -> list[ImageOutput]:
    """Like generate(), but the images are made by background tasks (one per image).

    Returns the queued ImageOutputs at once; pages poll them. Without a broker the tasks
    run inline when the transaction commits, so the outputs are finished on return.
    """
    with transaction.atomic():
        _plan, outputs = _plan_and_queue(prompt=prompt, setting=setting, provider=provider, overrides=overrides,
                                         n=n, post=post, section_key=section_key, user=user, api_token=api_token,
                                         use_style_guide=use_style_guide, source=source)
        ids = [o.pk for o in outputs]
        transaction.on_commit(lambda: enqueue_outputs(ids))
    for output in outputs:
        output.refresh_from_db()
    return outputs


@contextlib.contextmanager
def admitted(*, user, api_token=None, cost: Decimal | None, label: str = "",
             savepoint: bool = True) -> Iterator[None]:
    """One request that makes images, let in: counted against the per-user (and per-token)
    rate limits, then, in a transaction, its budget reserved. Insert the request's queued
    rows inside the block: they are the reservation (see budgets.reserve). Raises
    RateLimited / BudgetExceeded (PriceUnknown for a cost of None under a budget; `label`
    names what was priced) before anything is stored. `savepoint=False` for a caller whose
    own transaction ends with any error raised here (no savepoint round trips)."""
    ratelimit.hit(user=user, token=api_token)
    with transaction.atomic(savepoint=savepoint):
        budgets.reserve(user=user, cost=cost, label=label)
        yield


def _plan_and_queue(*, prompt: ImagePrompt | str, setting, provider, overrides, n, user, api_token,
                    post=None, section_key="", batch=None, use_style_guide=True,
                    source: str = "", claimed: bool = False) -> tuple[Plan, list[ImageOutput]]:
    """Validate, check the budget, save the prompt and queue one ImageOutput per image."""
    if isinstance(prompt, str):
        prompt = ImagePrompt(description=prompt)
    plan = plan_for_prompt(prompt, setting=setting, provider=provider, overrides=overrides, n=n, post=post,
                           slot_key=section_key, use_style_guide=use_style_guide)
    # Every face that makes images comes through here, so every one counts against the
    # per-user (and per-token) limits; a request refused as invalid above counts nothing.
    # Always inside generate()'s or submit()'s transaction, which any error here ends.
    with admitted(user=user, api_token=api_token, cost=plan.cost_estimate, label=plan.price_label,
                  savepoint=False):
        if prompt.pk is None:
            if getattr(user, "is_authenticated", False) and prompt.author_id is None:
                prompt.author = user
            prompt.save()
        outputs = queue_outputs(plan, prompt=prompt, setting=setting, post=post, section_key=section_key,
                                batch=batch, user=user, api_token=api_token, source=source, claimed=claimed)
    return plan, outputs


def store_image(output: ImageOutput, image: GeneratedImage, result: GenerationResult) -> None:
    """Validate the bytes, write original + thumbnail + sidecar, then save the row.

    Any failure after the first write removes what was written: no half-stored image.
    Inside `deferring_derivatives()` only the original and its row are written here; the
    thumbnail, perceptual hash and sidecar are left to the collector (`make_derivatives`),
    and until then the row names none of them.
    """
    later = _DEFERRING.get()
    info, decoded = storage.load_image(image.data)
    raw = image.data
    snapshot_data = output.setting_snapshot or {}
    target = target_from_snapshot(snapshot_data)
    generated = (info.width, info.height)
    asked = (snapshot_data.get("width"), snapshot_data.get("height"))
    if (snapshot_data.get("extra") or {}).get("size") == "auto":
        asked = generated  # sent size "auto": the model chose the size, whatever it is is right
    if target is None and all(isinstance(v, int) and v > 0 for v in asked) and generated != asked:
        # The provider answered another size than it was asked for: fitted to what was
        # asked, with both sizes on record, never stored as if it were right.
        logger.warning("image %s: %s answered %dx%d for %dx%d; fitted to the size asked",
                       output.pk, output.provider, generated[0], generated[1], asked[0], asked[1])
        target = (asked[0], asked[1])
    if target is not None and generated != target:
        decoded.close()
        raw = fit.fit_exactly(image.data, width=target[0], height=target[1])
        info, decoded = storage.load_image(raw)
    if later is None:
        with decoded:
            source = derivative_source(decoded)
            if source is decoded:
                output.phash, small = hash_and_thumbnail(decoded)
        if source is not decoded:
            # Made once the full-size pixels are freed: only the reduced copy is left to use.
            with source:
                output.phash, small = hash_and_thumbnail(source)
        # Encoded once the full-size pixels are freed: the encoder's buffers never add to them.
        thumbnail = storage.encode_thumbnail(small)
    # The file explains itself outside the app: prompt, provider, model, seed and the
    # IPTC digital source type go inside it, without touching the pixels.
    facts = provenance_info(output, image, result)
    if info.format == "PNG" and output.derivation != "edit" and not content_credentials.is_configured():
        # Nothing to sign: the PNG is written as views of the bytes received around its new
        # chunks, never as a second full-size copy of the file.
        data = storage.Pieces(provenance.embed_provenance_parts(raw, facts))
        output.credentials = content_credentials.unsigned_record(image.data)
        digest = hashlib.sha256()
        for piece in data.pieces:
            digest.update(piece)
        size, sha256 = data.size, digest.hexdigest()
    else:
        # Signed last: the C2PA signature binds the finished bytes (the provider's own
        # manifest, if any, kept as parent).
        data, output.credentials = content_credentials.sign_original(
            output, provenance.embed_provenance(raw, facts), received=image.data)
        size, sha256 = len(data), hashlib.sha256(data).hexdigest()
    stem = _stem_for(output)
    with storage.file_batch() as files:
        file_name = files.save(f"{stem}.{info.extension}", data)
        stem = file_name.rsplit(".", 1)[0]  # the storage may have made the name unique
        thumb_name = files.save(storage.thumbnail_name(stem), thumbnail) if later is None else ""

        output.file.name = file_name
        output.thumbnail.name = thumb_name
        output.mime_type = info.mime_type
        output.width, output.height = info.width, info.height
        output.bytes, output.sha256 = size, sha256
        if image.seed is not None:
            output.seed = image.seed
        output.model = result.model or output.model
        output.revised_prompt = image.revised_prompt
        kept = {k: v for k, v in (output.provider_metadata or {}).items() if k in ("call", "usage", "fallback")}
        output.provider_metadata = {
            **dict(image.metadata),
            **({"request_id": result.request_id} if result.request_id else {}),
            **kept,
            **({"generated_size": f"{generated[0]}x{generated[1]}",
                "requested_size": f"{target[0]}x{target[1]}"} if target is not None else {}),
        }
        output.provider_ms = result.provider_ms
        if not output.alt_text:
            output.alt_text = suggested_alt_text(output)
        output.finished_at = timezone.now()
        output.status = OutputStatus.SUCCEEDED
        output.error = ""
        if later is None:
            output.sidecar.name = files.save(storage.sidecar_name(stem),
                                             storage.sidecar_json(sidecar_metadata(output)))
        else:
            output.phash, output.sidecar.name = "", ""
        try:
            _finish(output, STORED_FIELDS)
        except DatabaseUnavailable:
            if later is not None:
                # Without its sidecar the reconciler could not adopt the original: written now.
                output.sidecar.name = files.save(storage.sidecar_name(stem),
                                                 storage.sidecar_json(sidecar_metadata(output)))
                decoded.close()
            # The files are whole and the sidecar describes them: keep them (the image was
            # paid for) and let the reconciler adopt them once the database answers.
            files.names = []
            logger.error("image %s stored as %s but its row could not be saved; the reconciler adopts it "
                         "from its sidecar", output.pk, file_name)
            raise
        except BaseException:
            if later is not None:
                decoded.close()
            raise
    if later is not None:
        later.add(output, decoded)


def derivative_source(decoded):
    """What the perceptual hash and the thumbnail are made from: the box-reduced copy the hash
    works on (`phash.reduced`) when it is still at least the thumbnail's size, so the
    full-size pixels are walked once instead of once by each; else the picture itself."""
    smaller = phash.reduced(decoded)
    if smaller is not decoded and max(smaller.size) < blogimages_settings.THUMBNAIL_SIZE:
        smaller.close()
        return decoded  # a thumbnail larger than the hash's picture: made from the original
    return smaller


def hash_and_thumbnail(source) -> tuple[str, Any]:
    """The perceptual hash and the thumbnail's pixels (not yet encoded) of `derivative_source(...)`:
    the hash is the picture's own (`phash_hex` of the reduced copy is the picture's)."""
    return phash.phash_hex(source), storage.thumbnail_image(source)


class Derivatives:
    """What stores inside `deferring_derivatives()` left for later: each stored original's
    thumbnail, perceptual hash and sidecar, made by `run()` (after the response is sent)."""

    def __init__(self) -> None:
        self._pending: list[tuple[ImageOutput, Any]] = []

    def add(self, output: ImageOutput, decoded) -> None:
        self._pending.append((output, decoded))

    def __len__(self) -> int:
        return len(self._pending)

    def run(self) -> None:
        """Make them all; a failure is logged and leaves its row as it was (no thumbnail, no
        sidecar named), for the reconciler to finish (`reconcile.repair_derivatives`)."""
        pending, self._pending = self._pending, []
        for output, decoded in pending:
            try:
                make_derivatives(output, decoded)
            except Exception:
                logger.exception("image %s: its thumbnail and sidecar could not be made now; the reconciler "
                                 "makes them", output.pk)
            finally:
                decoded.close()


_DEFERRING: contextvars.ContextVar[Derivatives | None] = contextvars.ContextVar(
    "blogimages_deferred_derivatives", default=None)


@contextmanager
def deferring_derivatives() -> Iterator[Derivatives]:
    """Within the block, the store path writes each image's original and its row only and
    collects the rest (thumbnail, perceptual hash, sidecar); the caller runs the collector
    when it has answered (the /v1 API: after the response is sent, on the same worker).
    A collector never run leaves rows without a thumbnail, which the reconciler completes."""
    later = Derivatives()
    token = _DEFERRING.set(later)
    try:
        yield later
    finally:
        _DEFERRING.reset(token)


class RowChanged(Exception):
    """The row no longer is what the derivatives were made for (deleted, or completed meanwhile)."""


def make_derivatives(output: ImageOutput, decoded=None) -> bool:
    """Write what a stored original lacks — thumbnail, perceptual hash, sidecar — and record
    them in one UPDATE that only applies while the row still says what it said when this
    began, so a row never names a file that is not there and two repairs never both write.

    `decoded`: the original's pixels when the caller still has them (read from storage
    otherwise). Returns False when the row changed meanwhile; what this call wrote is then
    removed. A sidecar that existed without the thumbnail is replaced by one naming it."""
    before = {"file": output.file.name, "thumbnail": output.thumbnail.name, "sidecar": output.sidecar.name,
              "phash": output.phash}
    if decoded is None:
        with storage.get_storage().open(output.file.name, "rb") as handle:
            _info, decoded = storage.load_image(handle.read())
        with decoded:
            return make_derivatives(output, decoded)
    thumbnail = None
    if not output.phash or not output.thumbnail.name:
        picture_hash, small = hash_and_thumbnail(derivative_source(decoded))
        output.phash = output.phash or picture_hash
        thumbnail = None if output.thumbnail.name else storage.encode_thumbnail(small)
    stem = output.file.name.rsplit(".", 1)[0]
    try:
        with storage.file_batch() as files:
            if thumbnail is not None:
                output.thumbnail.name = files.save(storage.thumbnail_name(stem), thumbnail)
            output.sidecar.name = files.save(storage.sidecar_name(stem),
                                             storage.sidecar_json(sidecar_metadata(output)))

            def update() -> None:
                updated = ImageOutput.objects.filter(pk=output.pk, status=OutputStatus.SUCCEEDED, **before).update(
                    thumbnail=output.thumbnail.name, sidecar=output.sidecar.name, phash=output.phash)
                if not updated:
                    raise RowChanged(output.pk)

            with_fresh_connection(update, what=f"recording the thumbnail of image {output.pk}")
    except RowChanged:
        output.thumbnail.name, output.sidecar.name, output.phash = before["thumbnail"], before["sidecar"], before["phash"]
        logger.info("image %s changed while its thumbnail was made; nothing recorded", output.pk)
        return False
    if before["sidecar"]:
        storage.delete_files([before["sidecar"]])  # replaced by the one that names the thumbnail
    return True


STORED_FIELDS = [
    "file", "thumbnail", "sidecar", "mime_type", "width", "height", "bytes", "sha256", "phash", "seed", "model",
    "provider", "setting_snapshot",
    "revised_prompt", "provider_metadata", "provider_ms", "finished_at", "status", "error", "cost", "cost_basis",
    "cost_estimate", "alt_text", "credentials",
    "started_at",  # the claim's own start, which the heartbeat moved while the call ran
]


def suggested_alt_text(output: ImageOutput) -> str:
    """The offline alt text suggestion for a stored image (see alttext.suggest)."""
    description = (output.setting_snapshot or {}).get("prompt_description") or output.prompt_text
    return alttext.suggest(description=description, provider=output.provider,
                           visible_text=str((output.provider_metadata or {}).get("text") or ""))


def provenance_info(output: ImageOutput, image: GeneratedImage, result: GenerationResult) -> dict[str, Any]:
    params = output.setting_snapshot or {}
    info: dict[str, Any] = {
        "prompt": output.prompt_text,
        "negative_prompt": output.negative_prompt,
        "provider": output.provider,
        "model": result.model or output.model,
        "seed": image.seed if image.seed is not None else output.seed,
        "revised_prompt": image.revised_prompt,
        "image_id": str(output.uid),
        # The same source type the C2PA manifest states (cards: algorithmicMedia).
        "digital_source_type": content_credentials.source_type_of(output.provider),
    }
    for name in ("steps", "guidance_scale", "sampler", "quality", "style"):
        if params.get(name) not in (None, ""):
            info[name] = params[name]
    return {k: v for k, v in info.items() if v not in (None, "")}


def _stem_for(output: ImageOutput) -> str:
    if output.post_id:
        post_slug = get_post_adapter().slug(output.post)
        return storage.post_image_stem(post_slug=post_slug, section_key=output.section_key or "image",
                                       short_id=output.short_id)
    return storage.stem_for_test_image(prompt_text=output.prompt_text, short_id=output.short_id,
                                       when=output.created_at)


def sidecar_metadata(output: ImageOutput) -> dict[str, Any]:
    """What a person or another tool needs to know about the file, without the database."""
    return {
        "id": output.pk,
        "uid": str(output.uid),
        "file": output.file.name,
        "thumbnail": output.thumbnail.name,
        "mime_type": output.mime_type,
        "width": output.width,
        "height": output.height,
        "bytes": output.bytes,
        "sha256": output.sha256,
        "phash": output.phash or None,
        "prompt": output.prompt_text,
        "negative_prompt": output.negative_prompt,
        "revised_prompt": output.revised_prompt,
        "prompt_parts": (
            {"description": output.prompt.description, "style": output.prompt.style, "format": output.prompt.format}
            if output.prompt_id else None
        ),
        "provider": output.provider,
        "model": output.model,
        "seed": output.seed,
        "parameters": output.setting_snapshot,
        "setting": output.setting.name if output.setting_id else None,
        "provider_metadata": output.provider_metadata,
        "post": get_post_adapter().slug(output.post) if output.post_id else None,
        "section_key": output.section_key or None,
        "batch": output.batch_id,
        "derived_from": output.derived_from_id,
        "derivation": output.derivation or None,
        "cost_estimate_usd": output.cost_estimate,
        "cost_usd": output.cost,
        "cost_basis": output.cost_basis or None,
        "created_at": output.created_at,
        "queued_at": output.queued_at,
        "started_at": output.started_at,
        "finished_at": output.finished_at,
        "provider_ms": output.provider_ms,
        "credentials": output.credentials or None,
        # An identical request answered from storage: its file is the original's bytes, so what
        # is embedded in it (PNG text / XMP `image_id`, a C2PA manifest's title) names the
        # original's uid, `embedded_image_id` here; this sidecar names the image itself (`uid`).
        "reused_from": ({"id": output.reused_from_id,
                         "uid": (output.provider_metadata or {}).get("reused_from_uid"),
                         "embedded_image_id": (output.provider_metadata or {}).get("embedded_image_id")}
                        if output.reused_from_id else None),
        "generator": "blogimages",
    }


def find_sidecar(output: ImageOutput) -> tuple[str, dict[str, Any]] | None:
    """The sidecar an attempt wrote for this image (its stem, perhaps made unique by the
    storage), when its original is there too; None otherwise."""
    stem = _stem_for(output)
    folder, base = stem.rsplit("/", 1)
    store = storage.get_storage()
    try:
        _dirs, names = store.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    for name in sorted(names):
        if not (name.startswith(base) and name.endswith(".json") and not name.endswith(".thumb.json")):
            continue
        path = f"{folder}/{name}"
        try:
            with store.open(path) as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):
            continue
        if data.get("uid") == str(output.uid) and data.get("file") and store.exists(data["file"]):
            return path, data
    return None


def adopt_from_sidecar(output: ImageOutput) -> bool:
    """Finish a claimed image from files an earlier attempt stored but could not record."""
    found = find_sidecar(output)
    if found is None:
        return False
    path, data = found
    output.file.name, output.thumbnail.name, output.sidecar.name = data["file"], data.get("thumbnail") or "", path
    for name in ("mime_type", "width", "height", "bytes", "sha256", "phash", "seed", "model", "revised_prompt",
                 "provider_ms"):
        if data.get(name) is not None:
            setattr(output, name, data[name])
    output.provider_metadata = data.get("provider_metadata") or {}
    output.credentials = data.get("credentials") or {}
    output.cost = Decimal(str(data["cost_usd"])) if data.get("cost_usd") is not None else None
    output.cost_basis = data.get("cost_basis") or ""
    output.finished_at = parse_datetime(data["finished_at"]) if data.get("finished_at") else timezone.now()
    # The attempt that made the image started it; this claim started after it finished, and
    # its start beside that finish would read as a negative duration.
    made_from = parse_datetime(data["started_at"]) if data.get("started_at") else None
    output.started_at = min(made_from or output.started_at or output.finished_at, output.finished_at)
    output.status, output.error = OutputStatus.SUCCEEDED, ""
    if not output.alt_text:
        output.alt_text = suggested_alt_text(output)
    try:
        _finish(output, STORED_FIELDS)
    except (LostClaim, DatabaseUnavailable):
        return False
    logger.info("image %s adopted from its sidecar %s (no new provider call)", output.pk, path)
    return True


def identical_source(output: ImageOutput) -> ImageOutput | None:
    """The earliest stored image made by exactly the same request, if reuse is on."""
    if not (blogimages_settings.REUSE_IDENTICAL and output.request_key):
        return None
    return (ImageOutput.objects.filter(request_key=output.request_key, status=OutputStatus.SUCCEEDED)
            .exclude(pk=output.pk).exclude(file="").select_related(None).order_by("created_at", "pk").first())


def reuse_identical(outputs: Sequence[ImageOutput]) -> list[ImageOutput]:
    """Answer claimed outputs from storage when an identical request was stored before: the
    bytes are copied under this image's name (sha256 checked), no provider is called, and the
    row records `reused_from`. Returns the outputs still to make. A group is reused whole or
    not at all: one provider call numbers its seeds from the first image."""
    sources = [identical_source(output) for output in outputs]
    if not outputs or any(source is None for source in sources):
        return list(outputs)
    remaining = []
    for output, source in zip(outputs, sources, strict=True):
        try:
            store_reuse(output, source)
        except (OSError, InvalidImage) as exc:
            logger.warning("image %s: could not reuse image %s (%s); asking the provider", output.pk, source.pk, exc)
            remaining.append(output)
        except (LostClaim, DatabaseUnavailable):
            continue
    return remaining


def store_reuse(output: ImageOutput, source: ImageOutput) -> None:
    store = storage.get_storage()
    with store.open(source.file.name, "rb") as handle:
        data = handle.read()
    if source.sha256 and hashlib.sha256(data).hexdigest() != source.sha256:
        raise InvalidImage(f"the stored file of image {source.pk} does not match its sha256")
    thumbnail = b""
    if source.thumbnail.name:
        with store.open(source.thumbnail.name, "rb") as handle:
            thumbnail = handle.read()
    extension = source.file.name.rsplit(".", 1)[-1] if "." in source.file.name else "png"
    with storage.file_batch() as files:
        file_name = files.save(f"{_stem_for(output)}.{extension}", data)
        stem = file_name.rsplit(".", 1)[0]
        output.file.name = file_name
        output.thumbnail.name = files.save(storage.thumbnail_name(stem), thumbnail) if thumbnail else ""
        for name in ("mime_type", "width", "height", "bytes", "sha256", "seed", "model", "revised_prompt", "phash"):
            setattr(output, name, getattr(source, name))
        output.reused_from = source
        # The bytes are the source's, byte for byte (sha256 and any C2PA signature stay valid),
        # so the ids embedded in them are the source's (its own source's, for a reuse of a reuse).
        embedded = (source.provider_metadata or {}).get("embedded_image_id") or str(source.uid)
        output.provider_metadata = {"reused_from": source.pk, "reused_from_uid": str(source.uid),
                                    "embedded_image_id": embedded}
        # The same manifest as the source's file: what the page and the admin report about it.
        output.credentials = dict(source.credentials or {})
        output.cost, output.cost_basis, output.provider_ms = Decimal(0), "", 0
        if not output.alt_text:
            output.alt_text = source.alt_text or suggested_alt_text(output)
        output.finished_at = timezone.now()
        output.status, output.error = OutputStatus.SUCCEEDED, ""
        output.sidecar.name = files.save(storage.sidecar_name(stem), storage.sidecar_json(sidecar_metadata(output)))
        _finish(output, [*STORED_FIELDS, "reused_from"])
    logger.info("image %s answered from storage: identical to image %s (no provider call)", output.pk, source.pk)


class LostClaim(Exception):
    """Another attempt owns this image now; this attempt's result must not be stored."""


class DatabaseUnavailable(Exception):
    """The final write failed on a fresh connection too; the row stays for the reconciler."""


# Seconds to wait before each new attempt at a final write (a restarted PostgreSQL or a
# failover usually answers again within them).
FINAL_WRITE_RETRIES = (0.2, 1.0, 3.0)


def with_fresh_connection(work, *, what: str, retry=None):
    """Run `work()`; on a dropped connection, retry it on a new one a few times.

    The work must be safe to repeat (an atomic block: a failed attempt wrote nothing).
    `retry`, when given, runs instead of `work` on the new connection: a dropped connection
    may have taken only the answer of a statement the database applied, and the retry is
    where that is told apart from someone else's change. Raises DatabaseUnavailable when
    every attempt failed.
    """
    run = work
    for delay in (*FINAL_WRITE_RETRIES, None):
        try:
            return run()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block:
                raise  # the caller's transaction is lost with the connection: its caller decides
            if delay is None:
                raise DatabaseUnavailable(f"{what}: {exc}") from exc
            logger.warning("%s: database connection lost (%s); retrying on a new connection in %g s",
                           what, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                           delay)
            connection.close()
            time.sleep(delay)
            run = retry or work
    raise AssertionError("unreachable")


def _finish(output: ImageOutput, fields: list[str]) -> None:
    """Write the final state, only if this attempt still owns the image; then count it.

    One UPDATE; with a batch, its counters move by one too (no recount, no row read): in the
    same statement on PostgreSQL, in a second one inside a transaction elsewhere."""
    columns = _finish_fields(tuple(fields))
    values = [field.get_db_prep_save(getattr(output, field.attname), connection) for field in columns]

    def update() -> None:
        with connection.cursor() as cursor:
            cursor.execute(_finish_sql(connection.vendor, tuple(fields)),
                           [*values, output.pk, output.attempts, OutputStatus.RUNNING])
            if cursor.rowcount != 1:
                raise LostClaim(output.pk)

    def retry() -> None:
        try:
            write()
        except LostClaim:
            # The first try may have committed and lost only its answer: its own write (same
            # attempt, same finish time) is success, not a takeover; the files it names stay.
            if not ImageOutput.objects.filter(pk=output.pk, attempts=output.attempts, status=output.status,
                                              finished_at=output.finished_at).exists():
                raise
            logger.warning("image %s: its final write was committed before the connection dropped", output.pk)

    def write() -> None:
        if not output.batch_id:
            update()
            return
        succeeded = output.status == OutputStatus.SUCCEEDED
        if connection.vendor == "postgresql":
            # One statement (atomic by itself): the row's UPDATE, and the batch counted only
            # if it changed the row; no BEGIN, no COMMIT, one round trip instead of four.
            with connection.cursor() as cursor:
                cursor.execute(_finish_counted_sql(tuple(fields), succeeded),
                               [*values, output.pk, output.attempts, OutputStatus.RUNNING,
                                *_count_finished_params(output.batch_id, succeeded)])
                if cursor.fetchone()[0] != 1:
                    raise LostClaim(output.pk)
            return
        with transaction.atomic():
            update()
            count_finished(output.batch_id, succeeded=succeeded)

    with_fresh_connection(write, retry=retry, what=f"saving image {output.pk}")


@functools.cache
def _finish_fields(names: tuple[str, ...]) -> list:
    return [ImageOutput._meta.get_field(name) for name in names]


@functools.cache
def _finish_counted_sql(names: tuple[str, ...], succeeded: bool) -> str:
    """PostgreSQL: `_finish_sql` and `count_finished`'s UPDATE in one data-modifying WITH; the
    batch's UPDATE runs only when the row's did (the claim held). Answers how many rows."""
    counted = _count_finished_sql("postgresql", succeeded)
    return (f"WITH finished AS ({_finish_sql('postgresql', names)} RETURNING 1), "
            f"counted AS ({counted} AND EXISTS (SELECT 1 FROM finished)) "
            f"SELECT count(*) FROM finished")


@functools.cache
def _finish_sql(vendor: str, names: tuple[str, ...]) -> str:
    """`_finish`'s UPDATE for these fields, written once per process: the statement the
    ORM's filter().update() makes, without compiling its two dozen assignments on every
    image (1 ms of CPU each, at the end of a batch round when a worker's threads all finish
    together). The values go through each field's own get_db_prep_save, as the ORM's do."""
    q = connection.ops.quote_name
    assignments = ", ".join(f"{q(field.column)} = %s" for field in _finish_fields(names))
    return (f"UPDATE {q(ImageOutput._meta.db_table)} SET {assignments} "
            f"WHERE {q('id')} = %s AND {q('attempts')} = %s AND {q('status')} = %s")


def error_details(exc: BaseException) -> dict[str, Any]:
    """What kind of failure it was, for callers that must tell them apart (the /v1 API)."""
    details: dict[str, Any] = {"type": type(exc).__name__, "retryable": bool(getattr(exc, "retryable", False))}
    for name in ("status_code", "code", "request_id", "retry_after"):
        if getattr(exc, name, None):
            details[name] = getattr(exc, name)
    return details


def _fail(outputs: Sequence[ImageOutput], reason: str, *, error: BaseException | None = None,
          extra_fields: Sequence[str] = ()) -> None:
    now = timezone.now()
    reason = reason.strip() or "Unknown error."
    fields = ["status", "error", "finished_at", "started_at", *extra_fields]  # started_at: see STORED_FIELDS
    if error is not None and "provider_metadata" not in fields:
        fields.append("provider_metadata")
    for output in outputs:
        output.status, output.error, output.finished_at = OutputStatus.FAILED, reason, now
        if error is not None:
            output.provider_metadata = {**(output.provider_metadata or {}), "error": error_details(error)}
        try:
            _finish(output, fields)
        except LostClaim:
            logger.warning("image %s was taken over by another worker; failure not recorded", output.pk)
        except DatabaseUnavailable:
            logger.error("image %s failed (%s) but the failure could not be saved; the reconciler takes it "
                         "over when its claim is stale", output.pk, reason)
    logger.info("image(s) %s failed: %s", [o.pk for o in outputs], reason)


def _requeue(outputs: Sequence[ImageOutput], reason: str) -> None:
    for output in outputs:
        # The attempt ended (its provider job ended or was cancelled): nothing left to cancel.
        output.provider_metadata = {k: v for k, v in (output.provider_metadata or {}).items() if k != "job"}
        ImageOutput.objects.filter(pk=output.pk, attempts=output.attempts, status=OutputStatus.RUNNING).update(
            status=OutputStatus.QUEUED, error=reason, provider_metadata=output.provider_metadata,
        )
        output.status, output.error = OutputStatus.QUEUED, reason


def fail_output(output: ImageOutput, reason: str) -> None:
    """Give up on a queued or running image (retries exhausted): failed, with the reason."""
    now = timezone.now()
    with transaction.atomic():
        updated = ImageOutput.objects.filter(
            pk=output.pk, status__in=[OutputStatus.QUEUED, OutputStatus.RUNNING]
        ).update(status=OutputStatus.FAILED, error=reason, finished_at=now)
        if updated and output.batch_id:
            count_finished(output.batch_id, succeeded=False)
    output.status, output.error, output.finished_at = OutputStatus.FAILED, reason, now


def count_finished(batch_id: int, *, succeeded: bool) -> None:
    """One more image of the batch finished: its counter moves by one in a single UPDATE,
    and the status and finish time follow from the counts the row already holds (the
    right-hand sides read the row as it was). No lock is held beyond the caller's
    transaction and nothing is recounted; `refresh_batch` recounts for the rare paths.

    Plain SQL written once per process: the same statement as the ORM's F()/Case() update,
    without building and compiling its expressions on every finish (a worker's threads all
    finish at once, under one GIL, at the end of each round)."""
    with connection.cursor() as cursor:
        cursor.execute(_count_finished_sql(connection.vendor, succeeded), _count_finished_params(batch_id, succeeded))


def _count_finished_params(batch_id: int, succeeded: bool) -> list:
    now = _batch_column_value("finished_at", timezone.now())
    if succeeded:
        outcome = [BatchStatus.SUCCEEDED, BatchStatus.PARTIALLY_FAILED]
    else:
        outcome = [BatchStatus.FAILED, BatchStatus.PARTIALLY_FAILED]
    return [*outcome, BatchStatus.RUNNING, now, now, batch_id]


@functools.cache
def _count_finished_sql(vendor: str, succeeded: bool) -> str:
    """The statement for `vendor`'s quoting (the key of the cache; one database per process)."""
    q = connection.ops.quote_name
    column = {f.name: q(f.column) for f in GenerationBatch._meta.concrete_fields}
    ok, failed, total = column["succeeded_count"], column["failed_count"], column["total"]
    counted, other = (ok, failed) if succeeded else (failed, ok)
    finished = f"{total} <= {ok} + {failed} + 1"
    return (f"UPDATE {q(GenerationBatch._meta.db_table)} SET {counted} = {counted} + 1, "
            f"{column['status']} = CASE WHEN {finished} THEN "
            f"(CASE WHEN {other} = 0 THEN %s ELSE %s END) ELSE %s END, "
            f"{column['finished_at']} = CASE WHEN {finished} THEN %s ELSE NULL END, "
            f"{column['started_at']} = COALESCE({column['started_at']}, %s) "
            f"WHERE {column['id']} = %s")


def _batch_column_value(name: str, value):
    return GenerationBatch._meta.get_field(name).get_db_prep_value(value, connection)


def refresh_batch(batch_id: int) -> None:
    """Recount a batch from its images, under a row lock so concurrent workers serialize."""
    batch = GenerationBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        return
    counts = dict(
        batch.outputs.values_list("status").annotate(n=Count("pk")).order_by()
    )
    batch.succeeded_count = counts.get(OutputStatus.SUCCEEDED, 0)
    batch.failed_count = counts.get(OutputStatus.FAILED, 0)
    batch.total = sum(counts.values())
    if batch.done_count < batch.total:
        batch.status = BatchStatus.RUNNING if batch.done_count or counts.get(OutputStatus.RUNNING) else BatchStatus.QUEUED
        batch.finished_at = None
    else:
        batch.status = (
            BatchStatus.SUCCEEDED if not batch.failed_count
            else BatchStatus.FAILED if not batch.succeeded_count
            else BatchStatus.PARTIALLY_FAILED
        )
        batch.finished_at = timezone.now()
    if batch.started_at is None and batch.status != BatchStatus.QUEUED:
        batch.started_at = timezone.now()
    batch.save(update_fields=["succeeded_count", "failed_count", "total", "status", "finished_at", "started_at"])
