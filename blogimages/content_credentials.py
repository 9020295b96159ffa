"""Content Credentials for stored files: which signer, what each manifest says, and the record kept.

One call in each place a file is written:

    data, credentials = sign_original(output, data, received=provider_bytes)    # generation
    data, credentials = sign_derived(original, data, derivation="watermark")    # derive
    parent = rendition_parent(image, original_bytes)       # renditions: the parent read once per image,
    data = sign_rendition(image, data, original=original_bytes, spec="w800.webp", parent=parent)  # each file

Configured by BLOGIMAGES_C2PA_CERT + BLOGIMAGES_C2PA_KEY (PEM files; optional
BLOGIMAGES_C2PA_TSA_URL), or BLOGIMAGES_C2PA_SIGNER (dotted path to `sign(data) -> signature`,
for a key in a KMS/HSM) with BLOGIMAGES_C2PA_CERT as its public chain and BLOGIMAGES_C2PA_ALG.
Without them nothing is signed (`manage.py check` says so). BLOGIMAGES_C2PA_TRUST_ANCHORS
(a PEM file of CA certificates) decides which signers read back as "trusted".

Signing never costs an image: if it fails, the file is stored unsigned and the reason kept
in `ImageOutput.credentials`.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.module_loading import import_string

from . import __version__, storage
from .conf import blogimages_settings
from .exceptions import BlogImagesError
from .imaging import credentials as c2pa_files
from .models import ImageOutput, OutputStatus
from .providers import get_provider

logger = logging.getLogger("blogimages.credentials")

GENERATOR = ("blogimages", __version__)

# How each derivation is told in the manifest: the C2PA action and, where the action alone
# does not say it, a description.
DERIVED_ACTIONS: dict[str, tuple[str, str]] = {
    "watermark": ("c2pa.edited", "visible watermark"),
    "resize": ("c2pa.resized", ""),
    "fit": ("c2pa.cropped", "cropped and resized to the post's slot"),
    "convert": ("c2pa.converted", ""),
    "upscale": ("c2pa.resized", "upscaled"),
    "publish": ("c2pa.edited.metadata", "generation parameters removed"),
    "edit": ("c2pa.edited", "edited by an image model"),
    # The uploaded file is the opened parent; what the blog did to it is strip personal metadata.
    "upload": ("c2pa.edited.metadata", "uploaded by a person; personal metadata removed"),
    "rendition": ("c2pa.resized", "rendition for a page"),
}


class NotConfigured(BlogImagesError):
    pass


def is_configured() -> bool:
    return bool(blogimages_settings.C2PA_SIGNER or (blogimages_settings.C2PA_CERT and blogimages_settings.C2PA_KEY))


def _read_pem(setting: str) -> bytes:
    path = getattr(blogimages_settings, setting)
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise c2pa_files.CredentialsError(f"BLOGIMAGES_{setting} {path!r} cannot be read: {exc.strerror}.") from exc


def trust_anchors() -> bytes | None:
    return _read_pem("C2PA_TRUST_ANCHORS") if blogimages_settings.C2PA_TRUST_ANCHORS else None


def _config_key() -> tuple:
    s = blogimages_settings
    paths = [s.C2PA_CERT, s.C2PA_KEY]
    # A renewed certificate is picked up without a restart.
    stamps = tuple(Path(p).stat().st_mtime_ns if p and Path(p).exists() else 0 for p in paths)
    return (s.C2PA_CERT, s.C2PA_KEY, s.C2PA_TSA_URL, s.C2PA_SIGNER, s.C2PA_ALG, stamps)


def get_signer():
    """The process's signer (built once per configuration), or NotConfigured."""
    if not is_configured():
        raise NotConfigured("No C2PA signer: set BLOGIMAGES_C2PA_CERT and BLOGIMAGES_C2PA_KEY.")
    return _signer(_config_key())


@lru_cache(maxsize=4)
def _signer(key: tuple):
    cert_path, _key_path, tsa_url, callback_path, alg, _stamps = key
    if not cert_path:
        raise c2pa_files.CredentialsError("BLOGIMAGES_C2PA_CERT (the PEM certificate chain) is required.")
    chain = _read_pem("C2PA_CERT")
    if callback_path:
        try:
            callback = import_string(callback_path)
        except ImportError as exc:
            raise c2pa_files.CredentialsError(f"BLOGIMAGES_C2PA_SIGNER {callback_path!r}: {exc}") from exc
        return c2pa_files.signer_from_callback(callback, alg=alg or "es256", cert_chain=chain, tsa_url=tsa_url)
    return c2pa_files.make_signer(cert_chain=chain, private_key=_read_pem("C2PA_KEY"), tsa_url=tsa_url)


def problems() -> list[str]:
    """What stops signing, in words for `manage.py check` (empty when it works)."""
    try:
        get_signer()
    except NotConfigured:
        return []
    except (c2pa_files.CredentialsError, OSError) as exc:
        return [str(exc)]
    try:
        trust_anchors()
    except c2pa_files.CredentialsError as exc:
        return [str(exc)]
    return []


def source_type_of(provider_alias: str) -> str:
    try:
        return get_provider(provider_alias).digital_source_type
    except BlogImagesError:
        # A provider no longer configured: its images were model output unless it was `cards`.
        return c2pa_files.ALGORITHMIC_MEDIA if provider_alias == "cards" else c2pa_files.TRAINED_ALGORITHMIC_MEDIA


def _read_file(output: ImageOutput) -> bytes:
    with storage.get_storage().open(output.file.name, "rb") as fh:
        return fh.read()


def _record(summary: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**summary, **extra, "checked_at": timezone.now().isoformat()}


def _sign(data: bytes, *, read_back: bool = True, **kwargs: Any) -> tuple[bytes, dict[str, Any]]:
    """Sign, then read the result back once so the record says whether it validates
    (`read_back=False`: for a file that keeps no record, a rendition)."""
    if not is_configured():
        return data, {}
    try:
        anchors = trust_anchors()
        signed = c2pa_files.sign(data, signer=get_signer(), generator=GENERATOR, trust_anchors=anchors, **kwargs)
    except Exception as exc:
        logger.error("C2PA signing failed, file stored without Content Credentials: %s", exc,
                     exc_info=not isinstance(exc, c2pa_files.CredentialsError | OSError))
        return data, {"state": "unsigned", "error": str(exc), "checked_at": timezone.now().isoformat()}
    if not read_back:
        return signed, {}
    return signed, _record(c2pa_files.read(signed, trust_anchors=anchors))


def sign_original(output: ImageOutput, data: bytes, *, received: bytes | None = None) -> tuple[bytes, dict[str, Any]]:
    """An original, as it is stored: CREATE with the provider's digital source type, or, when
    the provider's own image (`received`) carries a manifest, EDIT with that image as the
    parent so the provider's signature stays in the chain. An edit made by a model
    (derivation "edit") has its source image as the parent."""
    incoming = _incoming(received)
    facts = {"provider": output.provider, "model": output.model, "image_id": str(output.uid)}
    software = output.provider if output.model in ("", output.provider) else f"{output.provider} {output.model}"
    source_type = source_type_of(output.provider)
    parent, parent_title, actions = None, "", []
    if output.derivation == "edit" and output.derived_from_id and output.derived_from.file:
        try:
            parent, parent_title = _read_file(output.derived_from), str(output.derived_from.uid)
        except OSError as exc:
            return data, {"state": "unsigned", "error": f"the edited image's file cannot be read: {exc}",
                          "checked_at": timezone.now().isoformat()}
        actions = [c2pa_files.edit_action("c2pa.edited", description=DERIVED_ACTIONS["edit"][1], software=software,
                                          parameters={**facts, "blogimages.derivation": "edit"},
                                          source_type=source_type)]
    elif incoming:
        parent, parent_title = received, f"{output.provider} image"
        actions = [c2pa_files.edit_action("c2pa.edited", description=f"stored by the blog from {output.provider}",
                                          software=software, parameters=facts)]
    else:
        actions = [c2pa_files.created_action(source_type=source_type, software=software, parameters=facts)]
    data, record = _sign(data, actions=actions, source_type=source_type if parent is None else "",
                         parent=parent, parent_title=parent_title, title=str(output.uid))
    if incoming:
        record = {**record, "received": {k: v for k, v in incoming.items() if k != "chain"}}
    return data, record


def _incoming(received: bytes | None) -> dict[str, Any]:
    """The Content Credentials the provider's own image carries ({} when none)."""
    if received is None:
        return {}
    incoming = c2pa_files.read(received, trust_anchors=_anchors_or_none())
    return {} if incoming.get("state") == c2pa_files.NONE else incoming


def unsigned_record(received: bytes | None) -> dict[str, Any]:
    """What `sign_original` records for an original when no signing is configured (and it
    is not an edit): only the credentials the provider's image came with, if any. For a
    store path that writes the file in pieces without ever holding its signed bytes."""
    incoming = _incoming(received)
    return {"received": {k: v for k, v in incoming.items() if k != "chain"}} if incoming else {}


def _anchors_or_none() -> bytes | None:
    try:
        return trust_anchors()
    except c2pa_files.CredentialsError:
        return None


def _edit_actions(derivation: str, *, user=None, details: dict[str, Any] | None = None) -> list[dict]:
    action, description = DERIVED_ACTIONS.get(derivation, ("c2pa.edited", derivation))
    params: dict[str, Any] = {"blogimages.derivation": derivation,
                              "blogimages.by": "person" if getattr(user, "is_authenticated", False) else "system"}
    params.update({k: v for k, v in (details or {}).items() if isinstance(v, str | int | float | bool)})
    return [c2pa_files.edit_action(action, description=description, parameters=params)]


def sign_derived(original: ImageOutput, data: bytes, *, derivation: str, user=None) -> tuple[bytes, dict[str, Any]]:
    """A copy made from `original` (watermark, resize, fit, convert, upscale, publish): EDIT,
    with the original's file as the parent. An upload's pixels are not the original's: it is
    signed as opened from itself, never as a copy of the image it replaces."""
    if not is_configured():
        return data, {}
    if derivation == "upload":
        return _sign(data, actions=_edit_actions(derivation, user=user), title="upload")
    try:
        parent = _read_file(original) if original.status == OutputStatus.SUCCEEDED and original.file else None
    except OSError as exc:
        # Without its parent the copy would claim to be its own source: better unsigned, and said so.
        return data, {"state": "unsigned", "error": f"the original's file cannot be read: {exc}",
                      "checked_at": timezone.now().isoformat()}
    return _sign(data, actions=_edit_actions(derivation, user=user), parent=parent,
                 parent_title=str(original.uid), title=f"{original.uid} {derivation}")


def rendition_parent(image: ImageOutput, original: bytes) -> bytes | None:
    """`image`'s file as the parent of its renditions, read and validated once for all of them
    (`sign_rendition(parent=...)`). None when nothing is signed, or when it cannot be prepared:
    each rendition then reads the parent itself, as before."""
    if not is_configured():
        return None
    try:
        return c2pa_files.parent_ingredient(original, parent_title=str(image.uid), trust_anchors=trust_anchors(),
                                            generator=GENERATOR)
    except Exception as exc:  # noqa: BLE001  whatever it is, each rendition's own signing meets it (as _sign)
        logger.warning("image %s: C2PA parent not prepared once for its renditions (%s)", image.pk, exc)
        return None


def sign_rendition(image: ImageOutput, data: bytes, *, original: bytes, spec: str,
                   parent: bytes | None = None) -> bytes:
    """A page's rendition of `image`: EDIT with the image's file as the parent (`parent`, from
    `rendition_parent`, is that file already read: the same manifest without reading it again).
    Not read back: a rendition keeps no record of its credentials."""
    signed, _record = _sign(data, actions=_edit_actions("rendition", details={"blogimages.spec": spec}),
                            parent=original if parent is None else None, ingredient=parent,
                            parent_title=str(image.uid), title=f"{image.uid} {spec}", read_back=False)
    return signed


def verify(output: ImageOutput) -> dict[str, Any]:
    """Read the stored file's credentials again (the file may have been replaced or damaged)."""
    try:
        data = _read_file(output)
    except (OSError, ValueError) as exc:
        return _record({"state": c2pa_files.ERROR, "error": f"The file cannot be read: {exc}"})
    summary = c2pa_files.read(data, trust_anchors=_anchors_or_none())
    if hashlib.sha256(data).hexdigest() != output.sha256 and output.sha256:
        summary["file_changed"] = True
    kept = {k: v for k, v in (output.credentials or {}).items() if k == "received"}
    return _record(summary, **kept)


def describe(record: dict[str, Any]) -> str:
    """One line for pages, the admin and the CLI: 'signed by …, generated by …, edited: watermark'."""
    state = (record or {}).get("state")
    if not state or state == c2pa_files.NONE:
        return "No Content Credentials."
    if state == "unsigned":
        return f"Not signed: {record.get('error', 'signing failed')}"
    if state == c2pa_files.ERROR:
        return f"Content Credentials unreadable: {record.get('error', '')}"
    parts = [f"signed by {record.get('signer') or 'unknown'}"]
    if record.get("issuer"):
        parts[0] += f" ({record['issuer']})"
    if record.get("generator"):
        parts.append(f"generated by {record['generator']}")
    if record.get("digital_source_type"):
        parts.append(record["digital_source_type"])
    edits = [e for e in record.get("edits") or [] if e not in ("c2pa.opened",)]
    parts.append(f"edited: {', '.join(edits)}" if edits else "not edited")
    if record.get("human_edit"):
        parts.append("edit asked for by a person")
    verdict = {"trusted": "validates (trusted signer)", "valid": "validates (signer not on a trust list)",
               "invalid": "does NOT validate: " + ", ".join(record.get("failures") or [])}.get(state, state)
    return f"{', '.join(parts)} — {verdict}"


#: Record states that mean the file carries a signed manifest (whether or not it validates).
SIGNED_STATES = ("trusted", "valid", "invalid")


def carries_manifest(image: ImageOutput | None) -> bool:
    return image is not None and (image.credentials or {}).get("state") in SIGNED_STATES


def public_summary(record: dict[str, Any]) -> dict[str, Any]:
    """What a reader may see of a record: who signed, what made the image, what was done to it
    and whether it validates — the facts the manifest in the published file states anyway. No
    prompt (a manifest never carries one), no error text, nothing the provider sent beside it."""
    record = record or {}
    verdict = {"trusted": "Validates: signed by a trusted signer.",
               "valid": "Validates: intact, but the signer is not on this site's trust list.",
               "invalid": "Does not validate: the file or its manifest was changed after signing."}
    return {
        "state": record.get("state", ""),
        "verdict": verdict.get(record.get("state"), ""),
        "failures": [str(f) for f in record.get("failures") or []] if record.get("state") == "invalid" else [],
        "signer": record.get("signer", ""),
        "issuer": record.get("issuer", ""),
        "signed_at": record.get("signed_at", ""),
        "generator": record.get("generator", ""),
        "digital_source_type": record.get("digital_source_type", ""),
        "edits": [e for e in record.get("edits") or [] if e != "c2pa.opened"],
        "human_edit": bool(record.get("human_edit")),
        "chain": [{key: step.get(key, "") for key in ("signer", "signed_at", "software", "digital_source_type")}
                  | {"actions": list(step.get("actions") or [])} for step in record.get("chain") or []],
    }


def images_to_verify(*, post=None):
    """Every stored image (originals and copies), oldest first; a post's own when given."""
    images = ImageOutput.objects.filter(status=OutputStatus.SUCCEEDED).exclude(file="").order_by("pk")
    return images.filter(post=post) if post is not None else images


def refresh(output: ImageOutput) -> dict[str, Any]:
    """verify() the file and keep the answer on the image."""
    record = verify(output)
    ImageOutput.objects.filter(pk=output.pk).update(credentials=record)
    output.credentials = record
    return record
