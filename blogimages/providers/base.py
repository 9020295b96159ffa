"""The provider interface: what crosses between the app and an image backend.

Everything that crosses is a frozen, keyword-only dataclass. A backend implements
`capabilities()` and `generate()`; the base class validates requests against the
capabilities and owns logging, so backends only speak their protocol.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

from ..exceptions import ModelRetired, ProviderError, UnsupportedFeature

logger = logging.getLogger("blogimages.providers")

#: The largest seed most backends take (AUTOMATIC1111, cards): 32 bits.
MAX_SEED = 2**32 - 1
#: The largest seed anything takes (ComfyUI: 0 … 2^64−1); models and APIs store up to this.
MAX_SEED_64 = 2**64 - 1
#: What AUTOMATIC1111 users and OpenAI-style clients send for "a random seed": no seed.
RANDOM_SEED = -1


def given_seed(value: int | None) -> int | None:
    """A seed as a face received it: −1 ("random") is no seed, so a provider that takes no
    seed is not refused for it, and one that does draws (and records) its own."""
    return None if value == RANDOM_SEED else value
#: How the images of one call are seeded: seed, seed+1, ... (AUTOMATIC1111, cards), or one
#: seed for the whole batch with the noise varied by batch index (ComfyUI).
CONSECUTIVE_SEEDS = "consecutive"
BATCH_INDEX_SEEDS = "batch_index"
OUTPUT_FORMATS = ("png", "webp", "jpeg")
MIME_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
# A model whose shutdown is this close is reported as deprecated (checks, provider status).
DEPRECATION_WARNING_DAYS = 90


def today() -> dt.date:
    """The date lifecycles are judged by (UTC, so every process agrees)."""
    return dt.datetime.now(dt.timezone.utc).date()


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """One call to a provider: `n` images for one prompt with one set of parameters."""

    prompt: str
    negative_prompt: str = ""
    # The prompt's parts, for backends that use them separately (cards typesets the
    # description and picks a palette from the style). Empty when unknown.
    prompt_description: str = ""
    prompt_style: str = ""
    prompt_format: str = ""
    model: str = ""
    width: int = 1024
    height: int = 1024
    n: int = 1
    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    quality: str = ""
    style: str = ""
    sampler: str = ""
    output_format: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    # An opaque end-user id some providers take for abuse monitoring.
    user: str = ""
    # Images the result should follow (the style guide's references), for providers whose
    # `reference_limit` is above 0. Bytes: attached just before the call, never snapshotted.
    reference_images: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def seed_for(self, index: int) -> int | None:
        """Seed of the index-th image: consecutive seeds, as AUTOMATIC1111 does for a batch."""
        if self.seed is None:
            return None
        # A 32-bit seed stays 32-bit (the backend that took it would refuse seed + 1 past 2^32−1).
        return (self.seed + index) % ((MAX_SEED if self.seed <= MAX_SEED else MAX_SEED_64) + 1)


@dataclass(frozen=True, kw_only=True)
class EditRequest:
    """One edit: `request` (prompt, size = the source's, n, parameters) applied to `image`.

    `mask` is a PNG the size of `image` whose transparent pixels mark the area to change;
    `references` are further images to draw from; `strength` (0-1) is how far the result
    may move from the source (A1111's denoising strength). Images are already validated.
    """

    request: GenerationRequest
    image: bytes
    mask: bytes | None = None
    references: tuple[bytes, ...] = ()
    strength: float | None = None
    input_fidelity: str = ""


@dataclass(frozen=True, kw_only=True)
class GeneratedImage:
    data: bytes
    mime_type: str
    seed: int | None = None
    revised_prompt: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PartialImage:
    """A preview a backend streamed while it worked on the final image (OpenAI's partial_images)."""

    index: int  # 0-based, in the order the backend sent them
    data: bytes
    mime_type: str
    metadata: Mapping[str, Any] = field(default_factory=dict)  # size, quality, background, output_format...


PartialCallback = Callable[[PartialImage], None]


@dataclass(frozen=True, kw_only=True)
class GenerationResult:
    images: tuple[GeneratedImage, ...]
    model: str
    request_id: str = ""
    # The provider's usage object for the whole call (every image together), as it sent it.
    usage: Mapping[str, Any] = field(default_factory=dict)
    provider_ms: int = 0
    # USD for the whole call: priced from `usage` ("usage") or, without it, the estimate.
    cost: Decimal | None = None
    cost_basis: str = ""


@dataclass(frozen=True, kw_only=True)
class ModelLifecycle:
    """Where a model is in its life: active, deprecated (shutdown announced) or retired."""

    model: str
    status: str = "active"  # active / deprecated / retired
    shutdown_date: dt.date | None = None
    replacement: str = ""

    @classmethod
    def judge(cls, model: str, *, shutdown_date: dt.date | None, replacement: str = "",
              retired: bool = False, on: dt.date | None = None) -> ModelLifecycle:
        on = on or today()
        if retired or (shutdown_date is not None and shutdown_date <= on):
            status = "retired"
        elif shutdown_date is not None:
            status = "deprecated"
        else:
            status = "active"
        return cls(model=model, status=status, shutdown_date=shutdown_date, replacement=replacement)

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    def soon(self, on: dt.date | None = None) -> bool:
        """Deprecated with the shutdown within DEPRECATION_WARNING_DAYS."""
        on = on or today()
        return (self.status == "deprecated" and self.shutdown_date is not None
                and (self.shutdown_date - on).days <= DEPRECATION_WARNING_DAYS)

    def message(self) -> str:
        """One line for a person: what happened, when, and what to use instead."""
        use = f"; use {self.replacement} instead" if self.replacement else ""
        when = f" on {self.shutdown_date.isoformat()}" if self.shutdown_date else ""
        if self.retired:
            return f"model {self.model} was shut down{when}{use}."
        if self.status == "deprecated":
            return f"model {self.model} is deprecated and shuts down{when}{use}."
        return f"model {self.model} is active."


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What one model of a provider accepts. Empty tuples mean "anything" / "not offered"
    as each field's comment says."""

    models: tuple[str, ...] = ()
    default_model: str = ""
    # Either a fixed list of sizes ...
    sizes: tuple[tuple[int, int], ...] = ()
    # ... or a range, each side a multiple of `size_multiple`.
    min_size: int = 64
    max_size: int = 2048
    size_multiple: int = 1
    # Further limits of a range (0 = none): width/height ratio, and the pixel count.
    min_aspect: float = 0.0
    max_aspect: float = 0.0
    min_pixels: int = 0
    max_pixels: int = 0
    default_size: tuple[int, int] = (1024, 1024)
    # Takes size "auto" itself (OpenAI's GPT image models pick the size from the prompt); it is
    # sent as `request.extra["size"]`, width × height then being only what estimates assume.
    auto_size: bool = False
    max_n: int = 1
    max_prompt_length: int = 4000
    supports_negative_prompt: bool = False
    supports_seed: bool = False
    # The same request with the same seed always makes the same image (byte for byte): an
    # identical request can then be answered from storage (generation.reuse_identical).
    deterministic: bool = False
    max_seed: int = MAX_SEED
    batch_seeds: str = CONSECUTIVE_SEEDS
    supports_steps: bool = False
    max_steps: int = 150
    supports_guidance: bool = False
    # Allowed values; empty = the option is not offered by this model.
    qualities: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    samplers: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ("png",)
    # OpenAI's GPT-image options, for backends that take them (sent under `request.extra`):
    # background values (empty = the backend paints opaque images and takes no choice),
    # moderation levels, the extra parameter names it accepts, and how many partial images
    # it can stream before the final one (0 = none; see BaseProvider.run's on_partial).
    backgrounds: tuple[str, ...] = ()
    moderations: tuple[str, ...] = ()
    extra_params: tuple[str, ...] = ()
    max_partial_images: int = 0
    # Price per image in USD: keys "quality:WxH", "quality:*", "*:WxH" or "*".
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    # Token pricing (USD per 1M tokens: text_input, image_input, image_output, text_output)
    # and the image-output tokens per quality and size used to estimate before a call.
    token_prices: Mapping[str, Decimal] = field(default_factory=dict)
    output_tokens: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # Editing (`edit_image`): whether the model edits a source image at all, takes a mask
    # (transparent = change), how many reference images beside the source, and a strength.
    supports_edit: bool = False
    supports_mask: bool = False
    max_references: int = 0
    supports_strength: bool = False

    def allows_size(self, width: int, height: int) -> bool:
        if self.sizes:
            return (width, height) in self.sizes
        if width <= 0 or height <= 0:
            return False
        aspect = width / height
        return (
            self.min_size <= width <= self.max_size
            and self.min_size <= height <= self.max_size
            and width % self.size_multiple == 0
            and height % self.size_multiple == 0
            and (not self.min_aspect or aspect >= self.min_aspect - 1e-9)
            and (not self.max_aspect or aspect <= self.max_aspect + 1e-9)
            and (not self.min_pixels or width * height >= self.min_pixels)
            and (not self.max_pixels or width * height <= self.max_pixels)
        )

    def describe_sizes(self) -> str:
        if self.sizes:
            return ", ".join(f"{w}x{h}" for w, h in self.sizes)
        step = f" in steps of {self.size_multiple}" if self.size_multiple > 1 else ""
        text = f"{self.min_size} to {self.max_size} px a side{step}"
        if self.min_aspect and self.max_aspect:
            text += f", aspect between {_ratio(self.min_aspect)} and {_ratio(self.max_aspect)}"
        if self.max_pixels:
            text += f", at most {self.max_pixels:,} pixels"
        if self.min_pixels:
            text += f", at least {self.min_pixels:,} pixels"
        return text

    def nearest_size(self, width: int, height: int) -> tuple[int, int]:
        """The size this model can make that is closest to `width`x`height` in shape, then
        in area: what to generate before cropping/resizing to exactly what was asked."""
        if self.allows_size(width, height):
            return width, height
        if self.sizes:
            candidates = list(self.sizes)
        else:
            m = max(1, self.size_multiple)
            low, high = -(-self.min_size // m) * m, self.max_size // m * m
            ratio = width / height
            candidates = []
            for w in range(max(low, m), high + 1, m):
                for h in {max(m, math.floor(w / ratio / m) * m), math.ceil(w / ratio / m) * m}:
                    if self.allows_size(w, h):
                        candidates.append((w, h))
            if not candidates:
                # The shape itself is out of range (a 4:1 banner on a 3:1 model): any allowed size.
                candidates = [(w, h) for w in range(max(low, m), high + 1, m * 4)
                              for h in range(max(low, m), high + 1, m * 4) if self.allows_size(w, h)]
            if not candidates:
                return self.default_size
        return min(candidates, key=lambda size: _size_distance(size, width, height))

    def price_for(self, *, width: int, height: int, quality: str = "") -> Decimal | None:
        size = f"{width}x{height}"
        quality = quality or "*"
        for key in (f"{quality}:{size}", f"{quality}:*", f"*:{size}", "*"):
            if key in self.prices:
                return Decimal(self.prices[key])
        return None


def _ratio(value: float) -> str:
    return f"1:{round(1 / value):g}" if value < 1 else f"{value:g}:1"


def _size_distance(size: tuple[int, int], width: int, height: int) -> tuple[float, float]:
    """Shape first (a crop loses picture), then area; a size that must be upscaled is worse."""
    w, h = size
    shape = abs(math.log((w / h) / (width / height)))
    area = math.log((w * h) / (width * height))
    # Generating smaller than asked means upscaling: count it double.
    return (round(shape * 10 + (abs(area) if area >= 0 else -2 * area), 6), -w * h)


#: A progress report: (step, steps, queue_position=None, source=""). A callback may also
#: carry a `submitted(job)` hook: see `report_job`.
Progress = Callable[..., None]


def report_job(progress: Progress | None, job: Mapping[str, Any]) -> None:
    """Tell whoever follows a run which job the backend is about to start on the server
    (ComfyUI: {"prompt_id"}; AUTOMATIC1111: {"task_id"}), through the progress callback's
    `submitted` hook when it has one — before the job is sent, so that a caller killed
    while it runs leaves a record from which `BaseProvider.cancel_job` can stop it."""
    hook = getattr(progress, "submitted", None)
    if hook is not None:
        hook(dict(job))


# Request fields a provider's `defaults` option may fill, with their "unset" value.
_DEFAULTABLE = {"model": "", "negative_prompt": "", "seed": None, "steps": None, "guidance_scale": None,
                "sampler": "", "quality": "", "style": "", "output_format": "", "user": ""}
# Every other request field always has a value of its own (size, n, the prompt): a default
# for one of them is ignored rather than smuggled into `extra`.
_NOT_DEFAULTABLE = frozenset(f.name for f in fields(GenerationRequest)) - set(_DEFAULTABLE) | {"size"}



def apply_defaults(request: GenerationRequest, defaults: Mapping[str, Any]) -> GenerationRequest:
    """Fill what `request` leaves unset from a provider's `defaults` option.

    Request fields (steps, sampler, guidance_scale, ...) are filled only when unset; any
    other key is a backend setting and goes under `request.extra`, where the request's own
    value wins. Size and n always have a value, so a default cannot tell them apart from a
    choice and leaves them alone.
    """
    if not defaults:
        return request
    changes: dict[str, Any] = {}
    extra = dict(request.extra)
    for key, value in defaults.items():
        if key in _DEFAULTABLE:
            if getattr(request, key) == _DEFAULTABLE[key]:
                changes[key] = value
        elif key not in _NOT_DEFAULTABLE:
            extra.setdefault(key, value)
    if extra != dict(request.extra):
        changes["extra"] = extra
    return replace(request, **changes) if changes else request



class BaseProvider:
    """Base of every backend. Subclasses implement `capabilities()` and `generate()`."""

    #: Human name shown in pages and the CLI.
    display_name = "Provider"
    #: The IPTC digital source type of what this backend makes (C2PA and XMP say it):
    #: model output unless a backend renders without a trained model.
    digital_source_type = "trainedAlgorithmicMedia"

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        self.alias = alias
        self.options = dict(options or {})
        # Read before a subclass hides them in its own copy (e.g. auth moved into a session).
        self._secrets = secrets_in(self.options)
        #: Per-provider default settings, merged under a request's own values.
        self.defaults: dict[str, Any] = dict(self.options.get("defaults") or {})
        #: Most calls in flight to this provider at once (batch and API); None = no limit.
        self.max_concurrency: int | None = self.options.get("max_concurrency")
        self.timeout: float = float(self.options.get("timeout", 120))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r}>"

    # -- to implement -----------------------------------------------------------------

    def capabilities(self, model: str = "") -> Capabilities:
        """What `model` (or the default model) accepts."""
        raise NotImplementedError

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Call the backend. Raise a `ProviderError` subclass on failure."""
        raise NotImplementedError

    def edit_image(self, edit: EditRequest) -> GenerationResult:
        """Call the backend's edit. Only backends whose capabilities say `supports_edit`."""
        raise UnsupportedFeature(f"{self.alias}: this provider cannot edit images")

    def reference_limit(self, model: str = "") -> int:
        """How many `reference_images` a plain generation with `model` takes (0: none)."""
        return 0

    def check(self) -> list[str]:
        """Problems with this provider's configuration, for `manage.py check`."""
        return []

    def lifecycle(self, model: str) -> ModelLifecycle | None:
        """What is known of `model`'s retirement; None = nothing (the usual case)."""
        return None

    def cost_from_usage(self, request: GenerationRequest, usage: Mapping[str, Any]) -> Decimal | None:
        """USD of a whole call priced from the provider's usage object; None = not priced so."""
        return None

    def close(self) -> None:
        """Release connections; called when settings change."""

    def warm(self) -> None:
        """Build what the first call would build (an SDK client, its HTTP pool) without
        calling the backend: a worker does this at start, not in its first task."""

    def cancel_job(self, job: Mapping[str, Any]) -> bool:
        """Stop a job this backend started (as `report_job` reported it) whose caller is gone,
        if it is still waiting or running on the server; only that job. True when the server
        was asked. Backends whose calls end with the connection have nothing to stop."""
        return False

    # -- provided -----------------------------------------------------------------------

    def default_model(self) -> str:
        return self.capabilities().default_model

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Fill the provider's defaults and default model, then validate.

        Defaults go in before validation so a default the model can't take is reported too.
        """
        request = apply_defaults(request, self.defaults)
        caps = self.capabilities(request.model)
        if not request.model and caps.default_model:
            request = replace(request, model=caps.default_model)
            caps = self.capabilities(request.model)
        self.refuse_retired(request.model)
        self.validate(request, caps)
        return request

    def refuse_retired(self, model: str) -> None:
        """Raise ModelRetired (one line naming the replacement) before any call."""
        lifecycle = self.lifecycle(model) if model else None
        if lifecycle is not None and lifecycle.retired:
            raise ModelRetired(f"{self.alias}: {lifecycle.message()}", model=model,
                               replacement=lifecycle.replacement, shutdown_date=lifecycle.shutdown_date)

    def validate(self, request: GenerationRequest, caps: Capabilities | None = None) -> None:
        caps = caps or self.capabilities(request.model)
        problems = validation_problems(request, caps)
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))

    def estimate_cost(self, request: GenerationRequest) -> Decimal | None:
        """Estimated USD cost of the whole request, or None when the price is unknown."""
        price = self.capabilities(request.model).price_for(
            width=request.width, height=request.height, quality=request.quality
        )
        return None if price is None else price * request.n

    def redact(self, text: str) -> str:
        """`text` without any of this provider's secrets (see `redact_secrets`)."""
        return redact_secrets(text, self._secrets)

    def generate_streaming(self, request: GenerationRequest, *, partial_images: int,
                           on_partial: PartialCallback) -> GenerationResult:
        """Like `generate`, calling `on_partial(PartialImage)` for each partial image the
        backend streams before the final ones. Backends that make none just generate."""
        return self.generate(request)

    #: Whether `generate()` takes a `progress` callback (see `Progress`).
    reports_progress = False

    def run(self, request: GenerationRequest, *, on_partial: PartialCallback | None = None,
            partial_images: int = 0, progress: Progress | None = None) -> GenerationResult:
        """Validate, call `generate()` (or `generate_streaming()` when partial images are
        wanted and the model makes them), time it and log the outcome (never the secrets).

        `progress(value, maximum, queue_position=None, source="")` is called as the backend
        reports steps, for backends that report them."""
        request = self.prepare(request)
        most = self.capabilities(request.model).max_partial_images if on_partial is not None else 0
        if most and partial_images > 0:
            # A backend that reports progress takes it in generate_streaming() too.
            steps = {"progress": progress} if progress is not None and self.reports_progress else {}
            return self._timed(request, lambda: self.generate_streaming(
                request, partial_images=min(partial_images, most), on_partial=on_partial, **steps))
        if progress is not None and self.reports_progress:
            return self._timed(request, lambda: self.generate(request, progress=progress))
        return self._timed(request, lambda: self.generate(request))

    def validate_edit(self, edit: EditRequest) -> None:
        """Refuse an edit the model cannot do (UnsupportedFeature), before any call."""
        caps = self.capabilities(edit.request.model)
        problems = edit_problems(edit, caps)
        if problems:
            raise UnsupportedFeature(f"{self.alias}: " + "; ".join(problems))

    def edit_image_streaming(self, edit: EditRequest, *, partial_images: int,
                             on_partial: PartialCallback) -> GenerationResult:
        """Like `edit_image`, calling `on_partial(PartialImage)` for each partial image the
        backend streams before the final ones. Backends that make none just edit."""
        return self.edit_image(edit)

    def run_edit(self, edit: EditRequest, *, progress: Progress | None = None,
                 on_partial: PartialCallback | None = None, partial_images: int = 0) -> GenerationResult:
        """Like `run()` for an edit: validate the request and the edit, call `edit_image()`
        (with `progress` for backends that report it, as `generate()`; `edit_image_streaming()`
        when partial images are wanted and the model makes them)."""
        edit = replace(edit, request=self.prepare(edit.request))
        self.validate_edit(edit)
        most = self.capabilities(edit.request.model).max_partial_images if on_partial is not None else 0
        if most and partial_images > 0:
            return self._timed(edit.request, lambda: self.edit_image_streaming(
                edit, partial_images=min(partial_images, most), on_partial=on_partial))
        if progress is not None and self.reports_progress:
            return self._timed(edit.request, lambda: self.edit_image(edit, progress=progress))
        return self._timed(edit.request, lambda: self.edit_image(edit))

    def _timed(self, request: GenerationRequest, call) -> GenerationResult:
        started = time.monotonic()
        try:
            result = call()
        except ProviderError as exc:
            if not exc.provider:
                exc.provider = self.alias
            # Whatever a host echoed back (a key in an error page...) is scrubbed here, once, before
            # the error reaches a log, a row, a page, an API answer or the CLI.
            exc.message, exc.response = self.redact(exc.message), self.redact(exc.response)
            exc.args = (exc.message,)
            logger.warning(
                "provider %s model %s failed after %d ms: %s",
                self.alias, request.model, (time.monotonic() - started) * 1000, exc,
            )
            raise
        elapsed = int((time.monotonic() - started) * 1000)
        if not result.images:
            raise ProviderError("the provider answered without any image", provider=self.alias)
        if result.cost is None:
            result = self.priced(request, result)
        logger.info(
            "provider %s model %s made %d image(s) in %d ms",
            self.alias, result.model or request.model, len(result.images), elapsed,
        )
        return replace(result, provider_ms=result.provider_ms or elapsed)


    def priced(self, request: GenerationRequest, result: GenerationResult) -> GenerationResult:
        """The call's cost from its usage, else the estimate for what was made (marked so)."""
        cost = self.cost_from_usage(request, result.usage) if result.usage else None
        if cost is not None:
            return replace(result, cost=cost, cost_basis="usage")
        estimate = self.estimate_cost(replace(request, n=len(result.images)))
        return replace(result, cost=estimate, cost_basis="estimate" if estimate is not None else "")


#: Option names whose values are secrets, and the shortest run of a secret that is redacted.
SECRET_OPTION_WORDS = ("key", "token", "password", "secret", "auth")
MIN_SECRET_RUN = 8
REDACTED = "[redacted]"


def secrets_in(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The secret values of a provider's options (api_key, auth "user:password", tokens...)."""
    found = []
    for name, value in options.items():
        if isinstance(value, str) and any(word in name.lower() for word in SECRET_OPTION_WORDS):
            found.append(value)
            if ":" in value:  # "user:password": the password alone is the secret part
                found.append(value.split(":", 1)[1])
    return tuple(sorted({s for s in found if len(s) >= MIN_SECRET_RUN}, key=len, reverse=True))


def redact_secrets(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """`text` with every run of MIN_SECRET_RUN or more characters of any secret replaced.

    Not only whole secrets: a host may echo a key cut at some length, or split across lines,
    and its remaining part is still a key. Runs shorter than MIN_SECRET_RUN are left alone so
    ordinary words survive.
    """
    if not text or not secrets:
        return text or ""
    hidden = bytearray(len(text))
    for secret in secrets:
        for start in range(len(secret) - MIN_SECRET_RUN + 1):
            piece = secret[start:start + MIN_SECRET_RUN]
            at = text.find(piece)
            while at != -1:
                hidden[at:at + MIN_SECRET_RUN] = b"\x01" * MIN_SECRET_RUN
                at = text.find(piece, at + 1)
    if not any(hidden):
        return text
    out, index = [], 0
    while index < len(text):
        if hidden[index]:
            while index < len(text) and hidden[index]:
                index += 1
            out.append(REDACTED)
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def validation_problems(request: GenerationRequest, caps: Capabilities) -> list[str]:
    """Every way `request` breaks `caps`, each naming the allowed values."""
    problems: list[str] = []
    if not request.prompt.strip():
        problems.append("the prompt is empty")
    elif len(request.prompt) > caps.max_prompt_length:
        problems.append(
            f"the prompt is {len(request.prompt)} characters; at most {caps.max_prompt_length} are allowed"
        )
    if caps.models and request.model and request.model not in caps.models:
        problems.append(f"model {request.model!r} is not offered; choose one of: {', '.join(caps.models)}")
    if not caps.allows_size(request.width, request.height):
        problems.append(f"size {request.size} is not allowed; allowed: {caps.describe_sizes()}")
    if not 1 <= request.n <= caps.max_n:
        problems.append(f"n={request.n} is not allowed; allowed: 1 to {caps.max_n}")
    if request.negative_prompt and not caps.supports_negative_prompt:
        problems.append("this model does not take a negative prompt")
    if request.seed is not None:
        if not caps.supports_seed:
            problems.append("this model does not take a seed")
        elif not 0 <= request.seed <= caps.max_seed:
            problems.append(f"seed must be between 0 and {caps.max_seed}")
    if request.steps is not None:
        if not caps.supports_steps:
            problems.append("this model does not take a step count")
        elif not 1 <= request.steps <= caps.max_steps:
            problems.append(f"steps must be between 1 and {caps.max_steps}")
    if request.guidance_scale is not None and not caps.supports_guidance:
        problems.append("this model does not take a guidance scale")
    for name, value, allowed in (
        ("quality", request.quality, caps.qualities),
        ("style", request.style, caps.styles),
        ("sampler", request.sampler, caps.samplers),
    ):
        if value and value not in allowed:
            if allowed:
                problems.append(f"{name} {value!r} is not allowed; choose one of: {', '.join(allowed)}")
            else:
                problems.append(f"this model does not take a {name}")
    if request.output_format and request.output_format not in caps.output_formats:
        problems.append(
            f"output format {request.output_format!r} is not offered; choose one of: {', '.join(caps.output_formats)}"
        )
    return problems


def edit_problems(edit: EditRequest, caps: Capabilities) -> list[str]:
    """Every way `edit` asks more than the model's editing capabilities."""
    if not caps.supports_edit:
        return ["this model cannot edit images"]
    problems: list[str] = []
    if edit.mask is not None and not caps.supports_mask:
        problems.append("this model does not take a mask")
    if len(edit.references) > caps.max_references:
        allowed = f"at most {caps.max_references}" if caps.max_references else "none"
        problems.append(f"{len(edit.references)} reference image(s) given; this model takes {allowed}")
    if edit.strength is not None:
        if not caps.supports_strength:
            problems.append("this model does not take a strength")
        elif not 0 <= edit.strength <= 1:
            problems.append("strength must be between 0 and 1")
    return problems


def seeds_in(images: Sequence[GeneratedImage]) -> list[int | None]:
    return [image.seed for image in images]
