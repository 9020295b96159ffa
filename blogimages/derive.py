"""Derived images: watermarked, resized, converted, upscaled copies, publish copies and
"more like this" variations of an ImageOutput.

Each operation reads the original's file, runs a pure function from `imaging/`, and
stores the result as a NEW ImageOutput beside the original (`<stem>-wm.png`,
`<stem>-social.png`...) with its own thumbnail and sidecar, `derived_from` pointing at the
original and `derivation` naming the operation; a ReviewEvent on the original says who made
it. Originals are never modified, and a failure stores nothing.

Derived files carry provenance (prompt, provider, model, seed and the IPTC
"trainedAlgorithmicMedia" marker) like every generated file; a publish copy keeps only the
AI-generated marker when BLOGIMAGES_STRIP_PARAMETERS_ON_PUBLISH is set. Uploads are not
AI-generated and are never labelled as such.

`user=None` means the system (the `watermark` command, tasks); a user must be allowed to
act on the image (`review.can_derive`) or PermissionDenied is raised.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from . import content_credentials, generation, storage
from .access import UPLOAD_PROVIDER, can_derive, record
from .conf import blogimages_settings
from .exceptions import UnsupportedFeature
from .imaging import convert, phash, provenance, resize, watermark
from .integration import get_post_adapter
from .models import (
    BatchStatus,
    GenerationBatch,
    ImageOutput,
    OutputStatus,
    ReviewAction,
    WatermarkPreset,
    compose_prompt,
)
from .providers import GenerationRequest, get_provider
from .providers.base import apply_defaults
from .queueing import enqueue_outputs

DERIVATIONS = ("watermark", "resize", "convert", "upscale", "publish", "upload", "variation", "edit")
UPSCALE_FACTORS = (1.5, 2.0, 3.0, 4.0)
DEFAULT_VARIATIONS = 3


# -- helpers ----------------------------------------------------------------------------


def _check_user(user, output: ImageOutput) -> None:
    if user is not None and not can_derive(user, output):
        raise PermissionDenied("Only reviewers and the image's creator may make derived images.")


def read_bytes(output: ImageOutput) -> bytes:
    """The stored file of a finished image."""
    if output.status != OutputStatus.SUCCEEDED or not output.file.name:
        raise ValueError(f"Image #{output.pk} has no stored file (it is {output.get_status_display().lower()}).")
    with storage.get_storage().open(output.file.name, "rb") as fh:
        return fh.read()


def is_generated(output: ImageOutput) -> bool:
    """Whether the image's pixels come from a generator (uploads and their copies do not)."""
    return output.provider != UPLOAD_PROVIDER


def provenance_info(output: ImageOutput) -> dict[str, Any]:
    """The generation facts written into a file (provenance.embed_provenance)."""
    snap = output.setting_snapshot or {}
    info: dict[str, Any] = {
        "prompt": output.prompt_text,
        "negative_prompt": output.negative_prompt,
        "revised_prompt": output.revised_prompt,
        "provider": output.provider,
        "model": output.model,
        "seed": output.seed,
        "image_id": str(output.uid),
        "digital_source_type": content_credentials.source_type_of(output.provider),
    }
    for key in ("steps", "guidance_scale", "sampler", "quality", "style"):
        if snap.get(key) not in (None, ""):
            info[key] = snap[key]
    return info


def _with_provenance(data: bytes, source: ImageOutput, *, derivation: str, uid: uuid.UUID) -> bytes:
    """Make sure a derived file explains itself: the provenance imaging carried over from
    the original (or, for an original stored without it, from the database), plus how this
    copy was made. Files from uploads stay unlabelled."""
    if not is_generated(source):
        return data
    carried = provenance.read_provenance(data)
    info = dict(carried) if carried.get("digital_source_type") else {**provenance_info(source), **carried}
    info.pop("parameters", None)  # recomposed by embed_provenance, with the new size
    info.update(image_id=str(uid), derivation=derivation, derived_from=str(source.uid))
    return provenance.embed_provenance(data, info)


def _stem_beside(original: ImageOutput, suffix: str) -> str:
    """`<original stem>-<suffix>`, in the original's folder (or where it would have been)."""
    if original.file.name:
        return storage.derived_stem(original.file.name, suffix)
    if original.post_id:
        stem = storage.post_image_stem(post_slug=get_post_adapter().slug(original.post),
                                       section_key=original.section_key or "image", short_id=original.short_id)
    else:
        stem = storage.stem_for_test_image(prompt_text=original.prompt_text, short_id=original.short_id,
                                           when=original.created_at)
    return storage.derived_stem(f"{stem}.png", suffix)


def _free_stem(stem: str, extension: str) -> str:
    """`stem`, or `stem-2`, `stem-3`... when a second copy of the same kind is made."""
    files = storage.get_storage()
    candidate = stem
    for number in range(2, 100):
        if not (files.exists(f"{candidate}.{extension}") or files.exists(storage.sidecar_name(candidate))):
            return candidate
        candidate = f"{stem}-{number}"
    return stem  # give up: the storage makes the name unique itself


# Fields a derived image shares with its original: they describe where the pixels came from.
_SHARED = ("prompt", "prompt_text", "negative_prompt", "setting", "setting_snapshot", "provider", "model", "seed",
           "revised_prompt", "post", "section_key")


def store_derived(
    original: ImageOutput,
    data: bytes,
    *,
    suffix: str,
    derivation: str,
    user=None,
    fields: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
    carry_provenance: bool = True,
    then: Callable[[ImageOutput], None] | None = None,
    sidecar_keys: tuple[str, ...] | None = None,
) -> ImageOutput:
    """Store `data` as a new ImageOutput derived from `original`, beside it, with thumbnail,
    sidecar and checksums; record `event` (action, note, data) on the original; run `then`
    with the new image. `sidecar_keys` limits what the JSON sidecar says.

    All or nothing: on any failure (`then`'s too) the files written are removed and no row
    remains."""
    uid = uuid.uuid4()
    if carry_provenance:
        data = _with_provenance(data, original, derivation=derivation, uid=uid)
    data, credentials = content_credentials.sign_derived(original, data, derivation=derivation, user=user)
    info, decoded = storage.load_image(data)
    with decoded:
        thumbnail = storage.make_thumbnail(decoded)
        picture_hash = phash.phash_hex(decoded)
    values: dict[str, Any] = {name: getattr(original, name) for name in _SHARED}
    values.update(
        uid=uid, derived_from=original, derivation=derivation, status=OutputStatus.SUCCEEDED,
        # Same pixels, same verdict; anything new (variations) is reviewed afresh.
        review_status=original.review_status,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        mime_type=info.mime_type, width=info.width, height=info.height, bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(), phash=picture_hash, provider_metadata=dict(metadata or {}),
        finished_at=timezone.now(), credentials=credentials,
    )
    values.update(fields or {})
    stem = _free_stem(_stem_beside(original, suffix), info.extension)
    with storage.file_batch() as files:
        file_name = files.save(f"{stem}.{info.extension}", data)
        stem = file_name.rsplit(".", 1)[0]  # the storage may have made the name unique
        thumb_name = files.save(storage.thumbnail_name(stem), thumbnail)
        with transaction.atomic():
            output = ImageOutput(**values)
            output.file.name, output.thumbnail.name = file_name, thumb_name
            output.save()
            metadata = generation.sidecar_metadata(output)
            if sidecar_keys is not None:
                metadata = {key: value for key, value in metadata.items() if key in sidecar_keys}
            output.sidecar.name = files.save(storage.sidecar_name(stem), storage.sidecar_json(metadata))
            output.save(update_fields=["sidecar"])
            if event:
                record(original, user=user, action=event["action"], note=event.get("note", ""),
                       data={"new_output": output.pk, **dict(event.get("data") or {})})
            if then is not None:
                then(output)
    return output


# -- watermark --------------------------------------------------------------------------


def default_watermark() -> tuple[watermark.WatermarkSpec, str]:
    """The default preset (WatermarkPreset.is_default), else BLOGIMAGES_WATERMARK."""
    preset = WatermarkPreset.objects.filter(is_default=True).first()
    if preset is not None:
        return preset_spec(preset), preset.name
    setting = blogimages_settings.WATERMARK
    if not setting:
        raise ValueError("No watermark configured: add a default WatermarkPreset or set BLOGIMAGES_WATERMARK.")
    return watermark.WatermarkSpec.from_dict(setting), ""


def preset_spec(preset: WatermarkPreset) -> watermark.WatermarkSpec:
    values = dict(preset.spec or {})
    if preset.logo:
        with preset.logo.open("rb") as fh:
            values["logo"] = fh.read()
        values["text"] = ""
    try:
        return watermark.WatermarkSpec.from_dict(values)
    except ValueError as exc:
        raise ValueError(f"Watermark preset {preset.name!r}: {exc}") from exc


def resolve_watermark(
    *, preset: WatermarkPreset | str | None = None, spec: watermark.WatermarkSpec | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> tuple[watermark.WatermarkSpec, str]:
    """(spec, preset name or "") from a preset, an explicit spec, or the default; then
    `overrides` (position, opacity, scale, margin, color...) on top."""
    if preset is not None and spec is not None:
        raise ValueError("Give a watermark preset or a watermark, not both.")
    name = ""
    if isinstance(preset, str):
        found = WatermarkPreset.objects.filter(name=preset).first()
        if found is None:
            names = ", ".join(WatermarkPreset.objects.values_list("name", flat=True)) or "none yet"
            raise ValueError(f"No watermark preset named {preset!r}; presets: {names}.")
        preset = found
    if preset is not None:
        resolved, name = preset_spec(preset), preset.name
    elif spec is not None:
        resolved = spec if isinstance(spec, watermark.WatermarkSpec) else watermark.WatermarkSpec.from_dict(spec)
    else:
        resolved, name = default_watermark()
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        unknown = set(changes) - set(watermark.WatermarkSpec.__dataclass_fields__)
        if unknown:
            raise ValueError(f"Unknown watermark option(s): {', '.join(sorted(unknown))}.")
        resolved = replace(resolved, **changes)
    return resolved, name


def describe_spec(spec: watermark.WatermarkSpec) -> dict[str, Any]:
    """The spec as event/sidecar data, without the logo's bytes."""
    values = {k: v for k, v in spec.__dict__.items() if k != "logo"}
    if spec.logo:
        values["logo"] = f"{len(spec.logo):,} bytes"
    return values


def watermark_output(
    output: ImageOutput, *, user=None, preset: WatermarkPreset | str | None = None,
    spec: watermark.WatermarkSpec | Mapping[str, Any] | None = None, output_format: str | None = None,
    **overrides: Any,
) -> ImageOutput:
    """A watermarked copy (`<stem>-wm.<ext>`): a preset, an explicit spec, or the default."""
    _check_user(user, output)
    resolved, name = resolve_watermark(preset=preset, spec=spec, **overrides)
    data = watermark.watermark(read_bytes(output), resolved, output_format=output_format)
    described = describe_spec(resolved)
    return store_derived(
        output, data, suffix="wm", derivation="watermark", user=user,
        metadata={"operation": "watermark", "preset": name or None, "spec": described},
        event={"action": ReviewAction.WATERMARK, "note": f"Preset {name!r}." if name else "",
               "data": {"preset": name or None, "spec": described}},
    )


# -- resize, convert, upscale -----------------------------------------------------------


def image_formats() -> dict[str, tuple[int, int]]:
    """The blog's named sizes: resize.FORMATS plus BLOGIMAGES_IMAGE_FORMATS."""
    formats = dict(resize.FORMATS)
    for name, size in (blogimages_settings.IMAGE_FORMATS or {}).items():
        formats[str(name)] = (int(size[0]), int(size[1]))
    return formats


def resize_output(
    output: ImageOutput, *, user=None, format_name: str | None = None, width: int | None = None,
    height: int | None = None, mode: str = "cover", output_format: str | None = None, quality: int | None = None,
) -> ImageOutput:
    """A resized copy: a named format (`<stem>-social.png`) or a custom size (`<stem>-800x600.png`)."""
    _check_user(user, output)
    if format_name:
        formats = image_formats()
        if format_name not in formats:
            raise ValueError(f"Unknown image format {format_name!r}; choose one of {', '.join(formats)}.")
        width, height = formats[format_name]
        suffix = format_name
    else:
        if not width and not height:
            raise ValueError("Choose a format or give a width and/or a height.")
        suffix = f"{width or 'auto'}x{height or 'auto'}"
    data = resize.resize(read_bytes(output), width=width, height=height, mode=mode,
                              output_format=output_format, quality=quality)
    details = {"format": format_name or "custom", "width": width, "height": height, "mode": mode,
               "output_format": output_format, "quality": quality}
    return store_derived(
        output, data, suffix=suffix, derivation="resize", user=user,
        metadata={"operation": "resize", **details},
        event={"action": ReviewAction.RESIZE, "data": details},
    )


def convert_output(output: ImageOutput, *, user=None, output_format: str, quality: int | None = None) -> ImageOutput:
    """The image re-encoded as PNG, JPEG or WebP (`<stem>-webp.webp`)."""
    _check_user(user, output)
    data = convert.convert(read_bytes(output), output_format, quality=quality)
    fmt = str(output_format).lower()
    details = {"output_format": fmt, "quality": quality}
    return store_derived(
        output, data, suffix=fmt if quality is None else f"{fmt}-q{quality}", derivation="convert", user=user,
        metadata={"operation": "convert", **details},
        event={"action": ReviewAction.CONVERT, "data": details},
    )


def upscale_output(output: ImageOutput, *, user=None, factor: float = 2.0, provider: str | None = None,
                   upscaler: str = "") -> ImageOutput:
    """An enlarged copy (`<stem>-x2.png`): through `provider`'s own upscaler where it has one
    (A1111's extras, `upscaler` one it lists), Pillow's LANCZOS otherwise."""
    _check_user(user, output)
    data = read_bytes(output)
    if provider:
        backend = get_provider(provider)
        method = getattr(backend, "upscale_image", None)
        if not callable(method):
            raise UnsupportedFeature(f"{backend.alias}: this provider has no upscaler; leave the provider out "
                                     "for Lanczos.")
        limit = blogimages_settings.UPSCALE_MAX_SIDE
        width, height = output.width or 0, output.height or 0
        if max(width, height) * factor > limit:
            raise ValueError(f"Upscaling {width}x{height} by {factor:g} passes {limit} px a side.")
        data = method(data, factor=factor, upscaler=upscaler)
        details = {"factor": factor, "method": "provider", "provider": backend.alias,
                   "upscaler": upscaler or "(first listed)"}
    else:
        data = resize.upscale(data, factor, max_side=blogimages_settings.UPSCALE_MAX_SIDE)
        details = {"factor": factor, "method": "lanczos"}
    return store_derived(
        output, data, suffix=f"x{factor:g}", derivation="upscale", user=user,
        metadata={"operation": "upscale", **details},
        event={"action": ReviewAction.UPSCALE, "data": details},
    )


# -- publish copy ---------------------------------------------------------------------


def publish_copy(output: ImageOutput, *, user=None, force: bool = False) -> ImageOutput:
    """The image a post should publish.

    With BLOGIMAGES_STRIP_PARAMETERS_ON_PUBLISH (or `force`): a copy (`<stem>-pub.<ext>`)
    whose file keeps only the AI-generated marker, not the prompt, seed or parameters;
    made once and reused. Otherwise, and for uploads with nothing to strip, the image itself.
    """
    if not (force or blogimages_settings.STRIP_PARAMETERS_ON_PUBLISH):
        return output
    if output.derivation == "publish":
        return output
    _check_user(user, output)
    existing = output.derivatives.filter(derivation="publish", status=OutputStatus.SUCCEEDED).order_by("-pk").first()
    if existing is not None:
        return existing
    data = read_bytes(output)
    if not is_generated(output) and not provenance.read_provenance(data):
        return output  # a plain upload: no parameters to strip, and it is not AI-generated
    stripped = provenance.embed_provenance(data, {}, strip_parameters=True)
    return store_derived(
        output, stripped, suffix="pub", derivation="publish", user=user, carry_provenance=False,
        sidecar_keys=PUBLISH_SIDECAR_KEYS,
        metadata={"operation": "publish", "strip_parameters": True},
        event={"action": ReviewAction.PUBLISH, "note": "Publish copy without the generation parameters.",
               "data": {"strip_parameters": True}},
    )


# What the sidecar of a publish copy says: the file, not how it was generated (it sits
# beside the published file, often in the same public bucket).
PUBLISH_SIDECAR_KEYS = ("id", "uid", "file", "thumbnail", "mime_type", "width", "height", "bytes", "sha256",
                        "derived_from", "derivation", "created_at", "generator")


# -- re-running a generation ----------------------------------------------------------


def _generation_source(output: ImageOutput) -> ImageOutput:
    """The nearest image (itself or an ancestor) with a recorded request to re-run."""
    seen: set[int] = set()
    current: ImageOutput | None = output
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        if current.provider != UPLOAD_PROVIDER and (current.setting_snapshot or {}).get("prompt"):
            return current
        current = current.derived_from
    raise ValueError(f"Image #{output.pk} has no recorded generation request to run again.")


def prompt_parts(output: ImageOutput) -> dict[str, str]:
    """description, style, format and negative prompt of the request that made the image."""
    snap = _generation_source(output).setting_snapshot
    parts = {
        "description": snap.get("prompt_description", ""),
        "style": snap.get("prompt_style", ""),
        "format": snap.get("prompt_format", ""),
        "negative_prompt": snap.get("negative_prompt", "") or "",
    }
    if not any(parts[k] for k in ("description", "style", "format")):
        parts["description"] = snap.get("prompt", "")
    return parts


def plan_from_output(
    output: ImageOutput, *, overrides: Mapping[str, Any] | None = None, parts: tuple[str, str, str] | None = None,
    negative_prompt: str | None = None, n: int = 1,
) -> generation.Plan:
    """The validated request that made the image, with a new seed (and any changes)."""
    source = _generation_source(output)
    snap = dict(source.setting_snapshot)
    params = {k: snap[k] for k in generation.PARAMETER_FIELDS if k in snap and k not in ("seed", "negative_prompt")}
    # Asked for again at the size that was asked for, not the size the provider had to make.
    params["width"], params["height"] = generation.requested_size(snap)
    params.update(overrides or {})
    if parts is None:
        parts = (snap.get("prompt_description", ""), snap.get("prompt_style", ""), snap.get("prompt_format", ""))
        prompt_text = snap["prompt"]
    else:
        prompt_text = compose_prompt(*parts)
    negative = snap.get("negative_prompt", "") if negative_prompt is None else negative_prompt
    return generation.build_request(
        prompt_text=prompt_text, provider=snap.get("provider") or source.provider, overrides=params,
        negative_prompt=negative, parts=parts, n=n,
    )


def queue_rerun(
    output: ImageOutput, plans: generation.Plan | list[generation.Plan], *, user, prompt, derivation: str = "",
) -> list[ImageOutput]:
    """Queue the plans' images for the output's post and section (a one-section batch, so the
    develop screen shows the progress); tasks start when the transaction commits.

    One request, let in as every other (`generation.admitted`): counted against the rate
    limits, its budget reserved by the queued rows."""
    plans = plans if isinstance(plans, list) else [plans]
    costs = [plan.cost_estimate for plan in plans]
    total = None if any(c is None for c in costs) else sum(costs, Decimal(0))
    unpriced = next((plan.price_label for plan in plans if plan.cost_estimate is None), "")
    with generation.admitted(user=user, cost=total, label=unpriced):
        batch = None
        if output.post_id:
            batch = GenerationBatch.objects.create(
                post=output.post, setting=output.setting, status=BatchStatus.QUEUED, cost_estimate=total,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
        new: list[ImageOutput] = []
        for plan in plans:
            new += generation.queue_outputs(plan, prompt=prompt, setting=output.setting, post=output.post,
                                            section_key=output.section_key, batch=batch, user=user)
        ids = [o.pk for o in new]
        if derivation:
            ImageOutput.objects.filter(pk__in=ids).update(derived_from=output, derivation=derivation)
            for o in new:
                o.derived_from, o.derivation = output, derivation
        if batch is not None:
            batch.total = len(ids)
            batch.save(update_fields=["total"])
        transaction.on_commit(lambda: enqueue_outputs(ids))
    return new


# -- variations ("more like this") ------------------------------------------------------


def _nearby(snap: Mapping[str, Any], caps, rng: random.Random) -> dict[str, Any]:
    """Guidance ±10% and steps ±20%, where the model takes them and the image had them."""
    changes: dict[str, Any] = {}
    guidance = snap.get("guidance_scale")
    if caps.supports_guidance and isinstance(guidance, int | float) and guidance > 0:
        changes["guidance_scale"] = round(guidance * rng.uniform(0.9, 1.1), 2)
    steps = snap.get("steps")
    if caps.supports_steps and isinstance(steps, int) and steps > 0:
        changes["steps"] = max(1, min(caps.max_steps, round(steps * rng.uniform(0.8, 1.2))))
    return changes


def _provider_variation_method(backend, model: str):
    """A provider's own way to make "more like this" from the image itself, if it has one
    (OpenAI: an edit with the image as the reference, for the GPT image models).

    The contract: `create_variation(*, image: bytes, n: int, model: str, size: str, prompt: str)
    -> GenerationResult`; `variation_models()` lists the models it serves.
    """
    method = getattr(backend, "create_variation", None)
    models = getattr(backend, "variation_models", None)
    if not callable(method) or not callable(models):
        return None
    return method if model in models() else None


def variations(output: ImageOutput, n: int = DEFAULT_VARIATIONS, *, user=None) -> list[ImageOutput]:
    """"More like this": `n` new images derived from the image (derivation "variation").

    Uses the provider's own variation endpoint where it has one; otherwise re-runs the same
    prompt with new seeds and nearby settings (guidance ±10%, steps ±20%, where supported).
    Re-runs are queued like any generation; endpoint variations are made inline.
    """
    _check_user(user, output)
    limit = blogimages_settings.MAX_VARIATIONS
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValueError(f"Ask for 1 to {limit} variations, not {n!r}.")
    source = _generation_source(output)
    snap = source.setting_snapshot
    backend = get_provider(snap.get("provider") or source.provider)
    model = source.model or snap.get("model", "")
    method = _provider_variation_method(backend, model)
    if method is not None and output.status == OutputStatus.SUCCEEDED:
        return _endpoint_variations(output, source, backend, method, model, n, user=user)

    caps = backend.capabilities(model)
    rng = random.SystemRandom()
    plans = [plan_from_output(output, overrides=_nearby(snap, caps, rng)) for _ in range(n)]
    with transaction.atomic():
        new = queue_rerun(output, plans, user=user, prompt=source.prompt, derivation="variation")
        record(output, user=user, action=ReviewAction.VARIATION,
               data={"new_outputs": [o.pk for o in new], "method": "reseed",
                     "settings": [{k: o.setting_snapshot.get(k) for k in ("seed", "steps", "guidance_scale")}
                                  for o in new]})
    for item in new:
        item.refresh_from_db()
    return new


def _endpoint_variations(output, source, backend, method, model, n, *, user) -> list[ImageOutput]:
    """Variations made from the image itself: it goes in as the reference of an edit, at the
    nearest size the model makes, and each result is fitted back to the image's own size."""
    data = read_bytes(output)
    wanted = (output.width or 1024, output.height or 1024)
    side_w, side_h = backend.capabilities(model).nearest_size(*wanted)
    # Priced as the provider will send it: with its defaults (quality...), which a price list
    # may be keyed by (create_variation applies them too); without them the estimate is None.
    request = apply_defaults(GenerationRequest(prompt=output.prompt_text or "variation", model=model,
                                               width=side_w, height=side_h, n=n), backend.defaults)
    now = timezone.now()
    snapshot = {"provider": backend.alias, "variation_of": str(output.uid), "model": model,
                "width": side_w, "height": side_h, "n": 1, "prompt": output.prompt_text, "method": "edit"}
    if (side_w, side_h) != wanted:
        snapshot["requested_width"], snapshot["requested_height"] = wanted
    # Let in as every request (rate limits, budget): the rows below are the reservation.
    label = f"{backend.alias} {model} {side_w}x{side_h}" + (f", quality {request.quality}" if request.quality else "")
    with generation.admitted(user=user, cost=backend.estimate_cost(request), label=label):
        rows = ImageOutput.objects.bulk_create([
            ImageOutput(
                prompt=source.prompt, prompt_text=output.prompt_text, negative_prompt=output.negative_prompt,
                setting=output.setting, setting_snapshot=snapshot, provider=backend.alias, model=model,
                post=output.post, section_key=output.section_key, derived_from=output, derivation="variation",
                created_by=user if getattr(user, "is_authenticated", False) else None,
                cost_estimate=backend.estimate_cost(replace(request, n=1)),
                status=OutputStatus.RUNNING, attempts=1, queued_at=now, started_at=now,
            )
            for _ in range(n)
        ])
    try:
        result = method(image=data, n=n, model=model, size=f"{side_w}x{side_h}", prompt=output.prompt_text)
    except Exception as exc:  # whatever went wrong, the rows must not stay "running"
        for row in rows:
            generation.fail_output(row, str(exc))
        record(output, user=user, action=ReviewAction.VARIATION, note=f"Variations failed: {exc}",
               data={"new_outputs": [r.pk for r in rows], "method": "edit"})
        return rows
    generation.store_call(rows, result, backend.alias)
    record(output, user=user, action=ReviewAction.VARIATION,
           data={"new_outputs": [r.pk for r in rows], "method": "edit"})
    for row in rows:
        row.refresh_from_db()
    return rows

