"""The one edit path: a source image (+ mask, references, strength) and a prompt -> derived images.

Built on `generation`: an edit is a Plan whose `edit` names its stored inputs, queued as
ImageOutputs (`derivation="edit"`, `derived_from` = the source), then made by
`generation.execute` like any generation — same slots, budgets, claims, retries, storage,
provenance and failure rules. Pages, the CLI, the JSON API and `/v1/images/edits` all
come here:

    plan_edit()     -> validated plan + inputs; raises before anything is stored
    edit()          -> plan, store the inputs, queue, and make inline (or queue for tasks)

The inputs an edit stores for itself live under `<ROOT>/edits/`; they are deleted (signals.py)
once the last image whose edit names them is deleted.

Every check of the inputs (formats, pixel limits and decompression bombs, a mask that
matches the source and has transparency, how many references, what the provider can do)
runs before any provider call; a refusal stores nothing.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from . import budgets, generation, ratelimit, storage
from .access import UPLOAD_PROVIDER, can_derive, record
from .conf import blogimages_settings
from .exceptions import BlogImagesError, InvalidImage, UnsupportedFeature
from .imaging import masks
from .models import ImageOutput, ImagePrompt, ImageSetting, OutputStatus, ReviewAction
from .providers import EditRequest, get_provider
from .providers.base import MAX_SEED, PartialCallback
from .queueing import enqueue_outputs

logger = logging.getLogger("blogimages.editing")

DERIVATION = "edit"
INPUT_FIDELITIES = ("high", "low")


@dataclass(frozen=True, kw_only=True)
class SourceImage:
    """Bytes that passed every check, with what they are."""

    data: bytes
    width: int
    height: int
    format: str


def check_image(data: bytes, *, what: str = "The image") -> SourceImage:
    """A PNG, JPEG or WebP within the byte and pixel limits (bombs refused undecoded)."""
    try:
        info, decoded = storage.load_image(bytes(data or b""))
    except InvalidImage as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):
            raise InvalidImage(f"{what} is not an image: send a PNG, JPEG or WebP.") from exc
        raise InvalidImage(f"{what}: {exc}") from exc
    decoded.close()
    return SourceImage(data=data, width=info.width, height=info.height, format=info.format)


def check_mask(mask: bytes, source: SourceImage) -> bytes:
    """The mask if it is a PNG the source's size with transparent pixels; InvalidImage otherwise."""
    checked = check_image(mask, what="The mask")
    with Image.open(io.BytesIO(mask)) as opened:
        masks.check_mask(opened, size=(source.width, source.height), fmt=checked.format)
    return mask


@dataclass(frozen=True, kw_only=True)
class EditPlan:
    plan: generation.Plan
    source: ImageOutput | None
    image: SourceImage
    mask: bytes | None
    references: tuple[tuple[str, bytes], ...]  # (stored name or "", bytes)


def plan_edit(
    *,
    prompt: str,
    source: ImageOutput | None = None,
    image: bytes | None = None,
    mask: bytes | None = None,
    references: Sequence[ImageOutput | bytes] = (),
    strength: float | None = None,
    input_fidelity: str = "",
    provider: str | None = None,
    setting: ImageSetting | None = None,
    overrides: Mapping[str, Any] | None = None,
    n: int = 1,
    user=None,
) -> EditPlan:
    """Check everything and build the plan; raises (ValueError family) with nothing stored."""
    if (source is None) == (image is None):
        raise UnsupportedFeature("Give the image to edit: a stored image or uploaded bytes, not both.")
    if source is not None:
        if user is not None and not can_derive(user, source):
            raise PermissionDenied("Only reviewers and the image's creator may edit this image.")
        image = _stored_bytes(source, f"Image #{source.pk}")
    checked = check_image(image)
    if mask is not None:
        mask = check_mask(mask, checked)
    limit = blogimages_settings.EDIT_MAX_REFERENCES
    if len(references) > limit:
        raise UnsupportedFeature(f"{len(references)} reference images given; at most {limit} are accepted.")
    refs: list[tuple[str, bytes]] = []
    for index, ref in enumerate(references, start=1):
        if isinstance(ref, ImageOutput):
            data = _stored_bytes(ref, f"Reference image #{ref.pk}")
            check_image(data, what=f"Reference image #{ref.pk}")
            refs.append((ref.file.name, data))
        else:
            check_image(bytes(ref), what=f"Reference image {index}")
            refs.append(("", bytes(ref)))
    if strength is not None:
        try:
            strength = float(strength)
        except (TypeError, ValueError) as exc:
            raise UnsupportedFeature("Strength must be a number between 0 and 1.") from exc
        if not 0 <= strength <= 1:
            raise UnsupportedFeature("Strength must be a number between 0 and 1.")
    if input_fidelity and input_fidelity not in INPUT_FIDELITIES:
        raise UnsupportedFeature(f"input_fidelity must be one of: {', '.join(INPUT_FIDELITIES)}.")

    alias = provider or (setting.provider if setting else None) or source_provider(source)
    backend = get_provider(alias)
    params: dict[str, Any] = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
    model = params.get("model") or (setting.model if setting else "") or backend.defaults.get("model", "")
    caps = backend.capabilities(model)
    if not caps.supports_edit:
        editors = ", ".join(editing_providers()) or "none"
        raise UnsupportedFeature(f"{backend.alias}: this provider cannot edit images; providers that can: {editors}.")
    # The result has the source's size (unless a size is asked for): the provider makes the
    # nearest size it can, and the stored image is fitted to the wanted one.
    if params.get("width") and params.get("height"):
        wanted = (int(params["width"]), int(params["height"]))
    else:
        wanted = (checked.width, checked.height)
    made = wanted if caps.allows_size(*wanted) else caps.nearest_size(*wanted)
    params["width"], params["height"] = made
    if source is not None and source.provider == backend.alias and source.seed is not None \
            and caps.supports_seed and "seed" not in params and source.seed <= MAX_SEED:
        # Same seed as the source: an edit changes what was asked, not the dice (cards keeps its layout).
        params["seed"] = source.seed
    extra = dict(params.get("extra") or {})
    layout = ((source.provider_metadata or {}).get("layout") if source is not None else None)
    if layout and backend.alias == getattr(source, "provider", None):
        extra.setdefault("layout", layout)
    if extra:
        params["extra"] = extra
    plan = generation.build_request(prompt_text=prompt, setting=setting, provider=backend.alias, overrides=params,
                                    parts=(prompt, "", ""), n=n)
    if made != wanted or (plan.target is not None and plan.target != wanted):
        plan = replace(plan, target=wanted)
    backend.validate_edit(EditRequest(request=plan.request, image=b"", mask=mask,
                                      references=tuple(data for _name, data in refs), strength=strength,
                                      input_fidelity=input_fidelity))
    edit_inputs = {"strength": strength, "input_fidelity": input_fidelity,
                   "paste_back": bool(mask is not None and blogimages_settings.EDIT_PASTE_BACK),
                   "source_uid": str(source.uid) if source is not None else ""}
    return EditPlan(plan=replace(plan, edit=edit_inputs), source=source, image=checked, mask=mask,
                    references=tuple(refs))


def _stored_bytes(output: ImageOutput, what: str) -> bytes:
    if output.status != OutputStatus.SUCCEEDED or not output.file.name:
        raise InvalidImage(f"{what} has no stored file to edit (it is {output.status}).")
    try:
        with storage.get_storage().open(output.file.name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidImage(f"{what}: its file {output.file.name} cannot be read.") from exc


def source_provider(source: ImageOutput | None) -> str | None:
    """The source's own provider when it can edit (a card is edited by cards), else the default."""
    if source is None or source.provider == UPLOAD_PROVIDER:
        return None
    try:
        backend = get_provider(source.provider)
    except BlogImagesError:
        return None
    return source.provider if backend.capabilities(source.model).supports_edit else None


def editing_providers() -> list[str]:
    """Aliases of the configured providers whose default model can edit."""
    from .providers import providers

    found = []
    for alias in providers.aliases():
        try:
            if providers[alias].capabilities().supports_edit:
                found.append(alias)
        except Exception:  # a provider that cannot even say is not offered
            logger.warning("provider %s could not report its capabilities", alias, exc_info=True)
    return found


def inputs_folder() -> str:
    """Where an edit's own inputs (uploads, masks, uploaded references) are stored."""
    return f"{blogimages_settings.ROOT}/edits/"


def stored_inputs(snapshot: Mapping[str, Any] | None) -> list[str]:
    """The stored inputs an image's edit wrote for itself (see `_store_inputs`): never a stored
    image that it named as its source or a reference, which belongs to that image."""
    edit = (snapshot or {}).get("edit") or {}
    if not isinstance(edit, Mapping):
        return []
    references = edit.get("references") or []
    names = [edit.get("source"), edit.get("mask"), *(references if isinstance(references, list) else [])]
    folder = inputs_folder()
    return list(dict.fromkeys(n for n in names if isinstance(n, str) and n.startswith(folder)))


def delete_unreferenced_inputs(names: Sequence[str]) -> list[str]:
    """Delete the edit inputs `names` that no remaining image's edit names (the n images of one
    edit share them); returns what it deleted. Through the storage API, so any storage works."""
    unused = [name for name in dict.fromkeys(names)
              if not ImageOutput.objects.filter(setting_snapshot__edit__source=name).exists()
              and not ImageOutput.objects.filter(setting_snapshot__edit__mask=name).exists()
              and not ImageOutput.objects.filter(setting_snapshot__edit__references__icontains=name).exists()]
    storage.delete_files(unused)
    return unused


def _store_inputs(planned: EditPlan, written: list[str]) -> dict[str, Any]:
    """Write the inputs that are not stored images yet (uploads, mask, uploaded references)
    where a retry or a worker can read them; returns their names for the plan and lists
    what it wrote in `written` (removed again if the edit cannot be queued)."""
    when = timezone.localtime()
    folder = f"{blogimages_settings.ROOT}/edits/{when:%Y-%m-%d}/{uuid.uuid4().hex[:12]}"
    names: dict[str, Any] = {}
    files = storage.get_storage()

    def save(name: str, data: bytes) -> str:
        saved = files.save(f"{folder}/{name}", ContentFile(data))
        written.append(saved)
        return saved

    if planned.source is not None:
        names["source"] = planned.source.file.name
    else:
        names["source"] = save(f"source.{planned.image.format.lower().replace('jpeg', 'jpg')}", planned.image.data)
    if planned.mask is not None:
        names["mask"] = save("mask.png", planned.mask)
    names["references"] = [name or save(f"reference-{index}.png", data)
                           for index, (name, data) in enumerate(planned.references, start=1)]
    return names


def edit(
    *,
    prompt: str,
    source: ImageOutput | None = None,
    image: bytes | None = None,
    mask: bytes | None = None,
    references: Sequence[ImageOutput | bytes] = (),
    strength: float | None = None,
    input_fidelity: str = "",
    provider: str | None = None,
    setting: ImageSetting | None = None,
    overrides: Mapping[str, Any] | None = None,
    n: int = 1,
    user=None,
    api_token=None,
    background: bool = False,
    on_partial: PartialCallback | None = None,
    partial_images: int = 0,
) -> list[ImageOutput]:
    """Edit an image: `n` derived ImageOutputs (succeeded or failed; queued with `background`).
    `on_partial`/`partial_images`: see `generation.execute` (streaming answers use them).

    Raises before storing anything when an input or the request is invalid, the provider
    cannot do the edit, or the budget would be broken.
    """
    planned = plan_edit(prompt=prompt, source=source, image=image, mask=mask, references=references,
                        strength=strength, input_fidelity=input_fidelity, provider=provider, setting=setting,
                        overrides=overrides, n=n, user=user)
    plan = planned.plan
    # Counted here, like every generation, so each face (editor page, JSON API, /v1, CLI) counts.
    ratelimit.hit(user=user, token=api_token)
    written: list[str] = []
    try:
        with transaction.atomic():
            # The queued rows below are the budget reservation (budgets.reserve).
            budgets.reserve(user=user, cost=plan.cost_estimate, label=plan.price_label)
            names = _store_inputs(planned, written)
            plan = replace(plan, edit={**plan.edit, **names})
            saved_prompt = ImagePrompt(description=prompt)
            if getattr(user, "is_authenticated", False):
                saved_prompt.author = user
            saved_prompt.save()
            outputs = generation.queue_outputs(
                plan, prompt=saved_prompt, setting=setting, post=source.post if source is not None else None,
                section_key=source.section_key if source is not None else "", user=user, api_token=api_token,
                derived_from=source, derivation=DERIVATION,
            )
            if source is not None:
                record(source, user=user, action=ReviewAction.EDIT, note=prompt[:500],
                       data={"new_outputs": [o.pk for o in outputs], "provider": plan.provider.alias,
                             "mask": planned.mask is not None, "references": len(planned.references),
                             "strength": plan.edit.get("strength")})
            if background:
                ids = [o.pk for o in outputs]
                transaction.on_commit(lambda: enqueue_outputs(ids))
    except BaseException:
        storage.delete_files(written)
        raise
    if background:
        for output in outputs:
            output.refresh_from_db()
        return outputs
    generation.execute(outputs, plan=plan, on_partial=on_partial, partial_images=partial_images)
    return outputs
