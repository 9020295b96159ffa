"""C2PA Content Credentials: signing a file's manifest and reading one back, with c2pa-python.

Pure functions on bytes; they know no settings and no models (`blogimages.content_credentials`
decides what to sign with what). The XMP/IPTC layer (`provenance.py`) is written first and
stays: the C2PA signature hard-binds the finished bytes, so signing is always the last step
before a file is stored.

    signer = make_signer(cert_chain=pem, private_key=pem)            # or signer_from_callback()
    signed = sign(data, signer=signer, actions=[created_action(...)], source_type=AI)
    signed = sign(copy, signer=signer, actions=[edit_action("c2pa.resized")], parent=original)
    summary = read(signed, trust_anchors=ca_pem)                     # {"state": "trusted", ...}

Originals are signed with the CREATE intent and a digital source type; a derived file with
the EDIT intent and its source as the `parentOf` ingredient, whose own manifest (if any)
travels inside the new one, so the chain survives every copy. A provider's image that arrives
with a manifest of its own (OpenAI's) becomes the parent of the stored original, so its
signature is kept rather than thrown away.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import c2pa

from blogimages.exceptions import BlogImagesError

from .decode import MIME_TYPES, format_name, open_image

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# Model output.
TRAINED_ALGORITHMIC_MEDIA = "trainedAlgorithmicMedia"
# Made by software from rules and a layout, with no trained model (the `cards` renderer):
# IPTC's "created purely by an algorithm not based on any sampled training data".
ALGORITHMIC_MEDIA = "algorithmicMedia"
_SOURCE_TYPES = {
    TRAINED_ALGORITHMIC_MEDIA: c2pa.C2paDigitalSourceType.TRAINED_ALGORITHMIC_MEDIA,
    ALGORITHMIC_MEDIA: c2pa.C2paDigitalSourceType.ALGORITHMIC_MEDIA,
    "compositeWithTrainedAlgorithmicMedia": c2pa.C2paDigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    "digitalCreation": c2pa.C2paDigitalSourceType.DIGITAL_CREATION,
    "digitalCapture": c2pa.C2paDigitalSourceType.DIGITAL_CAPTURE,
}
ALGORITHMS = {alg.name.lower(): alg for alg in c2pa.C2paSigningAlg}
# States a summary can have: the manifest validates against a trust anchor; validates (signature and
# hashes good, signer not on a trust list); fails validation; no manifest at all; unreadable.
TRUSTED, VALID, INVALID, NONE, ERROR = "trusted", "valid", "invalid", "none", "error"
# The codes that only say the signer is not on a trust list: the file itself is intact.
_TRUST_ONLY = {"signingCredential.untrusted"}
# Never reach the network while reading: no remote manifests, no OCSP.
_OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


class CredentialsError(BlogImagesError):
    """A file could not be signed, or the signing configuration is unusable."""


def algorithm_for_key(private_key_pem: bytes) -> str:
    """The C2PA algorithm a PEM private key signs with (EC P-256 -> es256, RSA -> ps256...)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialsError(f"The C2PA private key is not an unencrypted PEM key: {exc}") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in by_curve:
            raise CredentialsError(f"C2PA signs with P-256, P-384 or P-521 EC keys, not {key.curve.name}.")
        return by_curve[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CredentialsError(f"C2PA cannot sign with a {type(key).__name__}.")


def make_signer(*, cert_chain: bytes, private_key: bytes, tsa_url: str = "") -> c2pa.Signer:
    """A signer for a PEM certificate chain (leaf first) and its PEM private key."""
    alg = algorithm_for_key(private_key)
    try:
        info = c2pa.C2paSignerInfo(ALGORITHMS[alg], cert_chain, private_key, tsa_url or None)
        return c2pa.Signer.from_info(info)
    except c2pa.C2paError as exc:
        raise CredentialsError(f"The C2PA certificate and key cannot sign: {exc}") from exc


def signer_from_callback(callback: Callable[[bytes], bytes], *, alg: str, cert_chain: bytes,
                         tsa_url: str = "") -> c2pa.Signer:
    """A signer whose private key lives elsewhere (a KMS or HSM): `callback(data) -> signature`."""
    if alg.lower() not in ALGORITHMS:
        raise CredentialsError(f"Unknown C2PA signing algorithm {alg!r}; one of {', '.join(ALGORITHMS)}.")
    try:
        return c2pa.Signer.from_callback(callback, ALGORITHMS[alg.lower()], cert_chain.decode("ascii"),
                                         tsa_url or None)
    except (c2pa.C2paError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"The C2PA signer callback cannot be used: {exc}") from exc


@lru_cache(maxsize=8)
def _context(trust_anchors: bytes | None, generator: tuple[str, str]) -> c2pa.Context:
    settings: dict[str, Any] = {
        **_OFFLINE,
        "builder": {"claim_generator_info": {"name": generator[0], "version": generator[1]},
                    # The blog keeps its own thumbnails; an embedded one costs time and bytes per copy.
                    "thumbnail": {"enabled": False}},
    }
    settings["verify"] = {**settings["verify"], "verify_after_sign": False}
    if trust_anchors:
        settings["trust"] = {"user_anchors": trust_anchors.decode("ascii")}
    return c2pa.Context.from_dict(settings)


# The native library's objects are guarded, but one signer is shared by every thread of a worker.
_SIGNING = threading.Lock()


def created_action(*, source_type: str, software: str, parameters: Mapping[str, Any] | None = None) -> dict:
    """The `c2pa.created` action of an original: what made it, and how."""
    return {"action": "c2pa.created", "digitalSourceType": IPTC + source_type,
            "softwareAgent": {"name": software}, "parameters": dict(parameters or {})}


def edit_action(action: str, *, description: str = "", software: str = "",
                parameters: Mapping[str, Any] | None = None, source_type: str = "") -> dict:
    """One action of a derived file (c2pa.resized, c2pa.edited...)."""
    found: dict[str, Any] = {"action": action}
    if description:
        found["description"] = description
    if software:
        found["softwareAgent"] = {"name": software}
    if parameters:
        found["parameters"] = dict(parameters)
    if source_type:
        found["digitalSourceType"] = IPTC + source_type
    return found


def mime_type_of(data: bytes) -> str:
    fmt = format_name(open_image(data, decode=False))
    if fmt not in MIME_TYPES:
        raise CredentialsError(f"C2PA manifests are written into PNG, JPEG and WebP files, not {fmt or 'this'}.")
    return MIME_TYPES[fmt]


def sign(
    data: bytes,
    *,
    signer: c2pa.Signer,
    actions: Sequence[Mapping[str, Any]],
    source_type: str = "",
    parent: bytes | None = None,
    parent_title: str = "",
    title: str = "",
    generator: tuple[str, str] = ("blogimages", ""),
    trust_anchors: bytes | None = None,
    ingredient: bytes | None = None,
) -> bytes:
    """`data` with a signed manifest embedded.

    Without `parent` and with a `source_type`: the CREATE intent (an original). With
    `parent` (the bytes this copy was made from): the EDIT intent, the parent as the
    `parentOf` ingredient. With neither: EDIT on the file itself (an upload: the file that
    was opened is its own parent, its own manifest kept if it has one).
    `ingredient` (from `parent_ingredient`) stands for `parent`, already read and validated:
    the same ingredient without reading the parent again (many copies of one parent).
    Raises CredentialsError; the caller decides whether an unsigned file may be stored.
    """
    mime = mime_type_of(data)
    definition: dict[str, Any] = {"title": title or "image", "format": mime}
    if actions:
        definition["assertions"] = [{"label": "c2pa.actions", "data": {"actions": [dict(a) for a in actions]}}]
    out = io.BytesIO()
    try:
        with _SIGNING, c2pa.Builder(definition, _context(trust_anchors, generator)) as builder:
            if parent is None and ingredient is None and source_type:
                builder.set_intent(c2pa.C2paBuilderIntent.CREATE, _SOURCE_TYPES[source_type])
            else:
                builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
                if ingredient is not None:
                    builder.add_ingredient_from_archive(io.BytesIO(ingredient))
                elif parent is not None:
                    _add_parent(builder, parent, parent_title)
            builder.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise CredentialsError(f"Signing the C2PA manifest failed: {exc}") from exc
    except KeyError as exc:
        raise CredentialsError(f"Unknown digital source type {source_type!r}.") from exc
    return out.getvalue()


# How `parent_ingredient` finds the one ingredient it wrote in its builder.
_PARENT_LABEL = "parent"


def _add_parent(builder: c2pa.Builder, parent: bytes, title: str, **extra: str) -> None:
    # Reads the parent's manifest store and validates it: the costly part of a copy's signing.
    builder.add_ingredient({"title": title or "parent", "relationship": "parentOf", **extra},
                           mime_type_of(parent), io.BytesIO(parent))


def parent_ingredient(parent: bytes, *, parent_title: str = "", trust_anchors: bytes | None = None,
                      generator: tuple[str, str] = ("blogimages", "")) -> bytes:
    """`parent` read and validated once, as the `parentOf` ingredient `sign(ingredient=...)`
    adds to each of its copies: the ingredient `sign(parent=...)` would add, validation
    results and all (a C2PA ingredient archive). Raises CredentialsError."""
    out = io.BytesIO()
    try:
        with _SIGNING, c2pa.Builder({"title": "ingredient", "format": mime_type_of(parent)},
                                    _context(trust_anchors, generator)) as builder:
            _add_parent(builder, parent, parent_title, label=_PARENT_LABEL)
            builder.write_ingredient_archive(_PARENT_LABEL, out)
    except c2pa.C2paError as exc:
        raise CredentialsError(f"Reading the C2PA parent ingredient failed: {exc}") from exc
    return out.getvalue()


def may_carry_manifest(data: bytes) -> bool:
    """False only when `data` cannot hold Content Credentials: every embedded manifest store is
    a JUMBF box labelled "c2pa" (PNG caBX, JPEG APP11, WebP C2PA chunks alike), and a remote one
    is named by XMP's dcterms:provenance. A chance match in compressed pixels only means the
    reader is asked."""
    if not isinstance(data, bytes | bytearray):
        data = bytes(data)
    if data.startswith(_PNG_SIGNATURE):
        try:
            return _png_may_carry_manifest(data)
        except struct.error:
            return True  # damaged: the reader says what it makes of it
    return b"c2pa" in data or b"provenance" in data


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_may_carry_manifest(data: bytes) -> bool:
    """The PNG's chunk headers only (a search of its pixel data costs more than the rest of
    this check by far): a caBX chunk, or a metadata chunk naming "c2pa" or a remote
    "provenance" (compressed text is assumed to)."""
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"caBX" or kind == b"zTXt":
            return True
        if kind not in (b"IDAT", b"IEND"):
            payload = data[pos + 8:pos + 8 + length]
            if b"c2pa" in payload or b"provenance" in payload:
                return True
            if kind == b"iTXt" and payload.find(b"\x00") >= 0 and payload[payload.find(b"\x00") + 1:][:1] == b"\x01":
                return True  # compressed international text: perhaps XMP
        if kind == b"IEND":
            return False
        pos += 12 + length
    return True  # no IEND: truncated, for the reader to judge


def read(data: bytes, *, trust_anchors: bytes | None = None) -> dict[str, Any]:
    """What the file's Content Credentials say, and whether they validate.

    {"state": trusted|valid|invalid|none|error, "failures": [codes], "signer": ..., "issuer": ...,
     "generator": ..., "digital_source_type": ..., "edits": [...], "chain": [manifests, newest first]}
    """
    try:
        mime = mime_type_of(data)
    except (CredentialsError, ValueError, BlogImagesError) as exc:
        return {"state": ERROR, "error": str(exc)}
    if not may_carry_manifest(data):
        # What the reader would answer, without handing it (and copying) the whole file: the
        # store path asks this of every image a provider sends, and most carry nothing.
        return {"state": NONE}
    try:
        with c2pa.Reader(mime, io.BytesIO(data), context=_context(trust_anchors, ("blogimages", ""))) as reader:
            store = json.loads(reader.json())
            state = (reader.get_validation_state() or "").lower()
            results = reader.get_validation_results() or {}
    except c2pa.C2paError.ManifestNotFound:
        return {"state": NONE}
    except c2pa.C2paError as exc:
        return {"state": ERROR, "error": str(exc)}
    return summarise(store, state=state, results=results)


def summarise(store: Mapping[str, Any], *, state: str, results: Mapping[str, Any]) -> dict[str, Any]:
    manifests = store.get("manifests") or {}
    failures = [f.get("code", "") for f in (results.get("activeManifest") or {}).get("failure", [])]
    for ingredient in (results.get("ingredientDeltas") or []):
        failures += [f.get("code", "") for f in (ingredient.get("validationDeltas") or {}).get("failure", [])]
    if state == "invalid" and failures and set(failures) <= _TRUST_ONLY:
        state = VALID  # intact, only not on a trust list we were given
    if state not in (TRUSTED, VALID, INVALID):
        state = INVALID if failures else VALID
    chain: list[dict[str, Any]] = []
    label, seen = store.get("active_manifest"), set()
    while label and label in manifests and label not in seen:
        seen.add(label)
        manifest = manifests[label]
        chain.append(_describe(manifest))
        parents = [i for i in manifest.get("ingredients") or [] if i.get("relationship") == "parentOf"]
        label = parents[0].get("active_manifest") if parents else None
    created = next((m for m in reversed(chain) if m.get("digital_source_type")), {})
    edits = [a for m in reversed(chain) for a in m["actions"] if a not in ("c2pa.created", "c2pa.opened")]
    active = chain[0] if chain else {}
    return {
        "state": state,
        "failures": sorted(set(failures)),
        "signer": active.get("signer", ""),
        "issuer": active.get("issuer", ""),
        "signed_at": active.get("signed_at", ""),
        "generator": created.get("software", ""),
        "digital_source_type": created.get("digital_source_type", ""),
        "edits": edits,
        "human_edit": any(m.get("human_edit") for m in chain),
        "chain": chain,
    }


def _describe(manifest: Mapping[str, Any]) -> dict[str, Any]:
    info = manifest.get("signature_info") or {}
    actions: list[str] = []
    software, source_type, human = "", "", False
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            name = str(action.get("action", ""))
            params = action.get("parameters") or {}
            derivation = params.get("blogimages.derivation") if isinstance(params, Mapping) else None
            actions.append(str(derivation or action.get("description") or name))
            if isinstance(params, Mapping) and params.get("blogimages.by") == "person":
                human = True
            if name == "c2pa.created":
                source_type = str(action.get("digitalSourceType", "")).rsplit("/", 1)[-1]
                agent = action.get("softwareAgent") or {}
                software = str(agent.get("name", "") if isinstance(agent, Mapping) else agent)
    generator = (manifest.get("claim_generator_info") or [{}])[0]
    return {
        "label": manifest.get("label", ""),
        "title": manifest.get("title", ""),
        "signer": str(info.get("common_name") or ""),
        "issuer": str(info.get("issuer") or ""),
        "signed_at": str(info.get("time") or ""),
        "claim_generator": str(generator.get("name", "")),
        "software": software,
        "digital_source_type": source_type,
        "actions": actions,
        "human_edit": human,
    }
