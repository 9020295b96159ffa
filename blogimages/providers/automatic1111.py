"""AUTOMATIC1111 stable-diffusion-webui (and Forge, SD.Next) through its `/sdapi/v1` API.

The server must run with `--api`; with `--api-auth user:password` every call needs HTTP
Basic, configured here as the `auth` option ("user:password", from SD_WEBUI_AUTH).
`txt2img` is synchronous: the request blocks until every image is done, so the read
timeout is the whole generation time (option `timeout`, default 120 s). Each call carries
our own task id (`force_task_id`): while it runs, `/internal/progress` for that id says
whether it waits or runs and `/sdapi/v1/progress` gives the sampling step; when it takes
too long, `/sdapi/v1/interrupt` (+ `skip`) stops it — only when that task is the one running.
The checkpoint is chosen per request with `override_settings` (restored afterwards), never
with the global `POST /sdapi/v1/options`, so users of one WebUI cannot switch each other's model.

OPTIONS: base_url, auth, timeout, connect_timeout, defaults, max_concurrency, max_n,
model (default checkpoint), models / samplers (static lists used when the server cannot
be asked), prices, progress_interval (s between progress checks, default 1).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests

from ..exceptions import InvalidProviderError, ProviderError, ProviderServerError, ProviderTimeout, ProviderUnreachable
from ..exceptions import UnsupportedFeature
from ..imaging import masks
from .base import (
    Capabilities,
    EditRequest,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Progress,
    report_job,
)
from .base import apply_defaults
from .http import HttpProvider, sniff_image_mime

TXT2IMG = "/sdapi/v1/txt2img"
IMG2IMG = "/sdapi/v1/img2img"
EXTRAS = "/sdapi/v1/extra-single-image"
# A1111's own default denoising strength for img2img.
DEFAULT_DENOISE = 0.75
logger = logging.getLogger("blogimages.providers.automatic1111")

# Shown, and accepted, while the server cannot list its own samplers (A1111 1.9+ names).
BUILTIN_SAMPLERS = (
    "DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE",
    "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart",
    "DDIM", "PLMS", "UniPC", "LCM",
)
# Scheduler labels of modules/sd_schedulers.py, for servers older than /sdapi/v1/schedulers.
BUILTIN_SCHEDULERS = (
    "Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform", "KL Optimal",
    "Align Your Steps", "Simple", "Normal", "DDIM", "Beta",
)


class Automatic1111Provider(HttpProvider):
    display_name = "Stable Diffusion WebUI (AUTOMATIC1111 / Forge)"
    reports_progress = True

    def __init__(self, *, alias: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(alias=alias, options=options)
        auth = self.options.get("auth")
        if auth:
            user, colon, password = str(auth).partition(":")
            if not colon or not user:
                # Never echo the value: it is a password.
                raise InvalidProviderError(f"Provider {alias!r}: auth must be 'user:password'.")
            self.session.auth = (user, password)
            # Our copy of the options may be shown or logged by someone; the session keeps the secret.
            self.options["auth"] = "<redacted>"
        self.has_auth = bool(auth)
        self.progress_interval = float(self.options.get("progress_interval", 1.0))

    def check(self) -> list[str]:
        host = urlsplit(self.base_url).hostname or ""
        if self.has_auth and self.base_url.startswith("http://") and host not in ("localhost", "127.0.0.1", "::1"):
            return ["auth is sent in clear text over http:// to a remote host; use https://."]
        return []

    # -- capabilities -------------------------------------------------------------------

    def capabilities(self, model: str = "") -> Capabilities:
        return Capabilities(
            models=self._model_titles() or tuple(self.options.get("models") or ()),
            default_model=str(self.options.get("model") or ""),
            min_size=64,
            max_size=2048,
            size_multiple=8,
            max_n=int(self.options.get("max_n", 8)),
            supports_negative_prompt=True,
            supports_seed=True,
            supports_steps=True,
            max_steps=150,
            supports_guidance=True,
            samplers=self._sampler_names() or tuple(self.options.get("samplers") or ()) or BUILTIN_SAMPLERS,
            output_formats=("png",),
            prices={key: Decimal(str(value)) for key, value in (self.options.get("prices") or {"*": 0}).items()},
            # img2img: the source as init image, a mask to inpaint, the denoising strength.
            supports_edit=True, supports_mask=True, max_references=0, supports_strength=True,
        )

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        request = apply_defaults(request, self.defaults)  # before the sampler split below
        return super().prepare(self._split_sampler(self._with_model_title(request)))

    def validate(self, request: GenerationRequest, caps: Capabilities | None = None) -> None:
        caps = caps or self.capabilities(request.model)
        if request.sampler and self._sampler_names() is None and not self.options.get("samplers"):
            # The server can't say which samplers it has right now: let it judge, rather than
            # fail a request permanently on a guess.
            caps = replace(caps, samplers=(*caps.samplers, request.sampler))
        super().validate(request, caps)
        upscaler = request.extra.get("hr_upscaler")
        listed = self.hires_upscalers() if upscaler else None
        if upscaler and listed is not None and upscaler not in listed:
            raise UnsupportedFeature(f"{self.alias}: upscaler {upscaler!r} is not on the server; "
                                     f"choose one of: {', '.join(listed)}")

    def hires_upscalers(self) -> tuple[str, ...] | None:
        """The upscalers the server lists, "None" included (for hires fix's `hr_upscaler`);
        None while it can't say."""
        listing = self.cached_listing("upscalers", lambda: self._fetch_list("/sdapi/v1/upscalers"))
        return None if listing is None else tuple(str(item.get("name")) for item in listing if item.get("name"))

    def upscalers(self) -> tuple[str, ...]:
        """The server's upscalers for enlarging an image (extra-single-image), without its
        "None"; () if it cannot say."""
        return tuple(name for name in self.hires_upscalers() or () if name != "None")

    def probe(self) -> dict[str, Any]:
        """What the server offers, each from its own listing (None: it could not be asked)."""
        return {"models": self._model_titles() or None, "samplers": self._sampler_names(),
                "schedulers": self._scheduler_labels(), "upscalers": self.hires_upscalers()}

    def _sd_models(self) -> list[Mapping[str, Any]] | None:
        return self.cached_listing("sd-models", lambda: self._fetch_list("/sdapi/v1/sd-models"))

    def _model_titles(self) -> tuple[str, ...]:
        return tuple(str(item["title"]) for item in self._sd_models() or () if item.get("title"))

    def _sampler_names(self) -> tuple[str, ...] | None:
        listing = self.cached_listing("samplers", lambda: self._fetch_list("/sdapi/v1/samplers"))
        return None if listing is None else _names_and_aliases(listing)

    def _scheduler_labels(self) -> tuple[str, ...]:
        listing = self.cached_listing("schedulers", lambda: self._fetch_list("/sdapi/v1/schedulers"))
        if not listing:  # older than v1.9: no endpoint, but no separate scheduler either
            return BUILTIN_SCHEDULERS
        return tuple(str(item.get("label") or item.get("name")) for item in listing if isinstance(item, Mapping))

    def _fetch_list(self, path: str) -> list[Mapping[str, Any]]:
        listing = self.call_json("GET", path, action=f"listing {path.rsplit('/', 1)[-1]}",
                                 read_timeout=self.listing_timeout)
        if not isinstance(listing, list):
            raise ValueError(f"{path} answered {type(listing).__name__}, not a list")
        return [item for item in listing if isinstance(item, Mapping)]

    def _with_model_title(self, request: GenerationRequest) -> GenerationRequest:
        """Accept a checkpoint's model_name or file name too, as A1111's own lookup does, and
        send the exact title the server lists."""
        if not request.model:
            return request
        for item in self._sd_models() or ():
            title = str(item.get("title") or "")
            names = {title, str(item.get("model_name") or ""), title.split(" [", 1)[0],
                     str(item.get("filename") or "").replace("\\", "/").rsplit("/", 1)[-1]}
            if request.model in names:
                return replace(request, model=title)
        return request

    def _split_sampler(self, request: GenerationRequest) -> GenerationRequest:
        """"DPM++ 2M Karras" (pre-1.9 naming) → sampler "DPM++ 2M" + scheduler "Karras"."""
        samplers = self._sampler_names()
        if not request.sampler or not samplers or request.sampler in samplers:
            return request
        for label in sorted(self._scheduler_labels(), key=len, reverse=True):
            sampler = request.sampler[: -len(label) - 1]
            if request.sampler.endswith(f" {label}") and sampler in samplers:
                # A scheduler given explicitly in extra still wins.
                return replace(request, sampler=sampler, extra={"scheduler": label, **request.extra})
        return request

    # -- generation ---------------------------------------------------------------------

    def generate(self, request: GenerationRequest, *, progress: Progress | None = None) -> GenerationResult:
        request = apply_defaults(request, self.defaults)
        return self._post(TXT2IMG, "txt2img", txt2img_payload(request), request, progress)

    def _post(self, path: str, action: str, payload: dict[str, Any], request: GenerationRequest,
              progress: Progress | None) -> GenerationResult:
        """POST txt2img or img2img with our own task id: its progress is watched, and on a
        timeout that task (and only it) is stopped on the server."""
        task_id = payload["force_task_id"]
        watcher = _ProgressWatcher(self, task_id, progress) if progress is not None else None
        # On record before it is sent, for the reconciler should this worker be killed (cancel_job).
        report_job(progress, {"task_id": task_id})
        try:
            if watcher:
                watcher.start()
            response = self.call("POST", path, action=action, json=payload)
        except ProviderTimeout as exc:
            if not isinstance(exc, ProviderUnreachable):
                exc.message += self._cancel(task_id)
                exc.args = (exc.message,)
            raise
        finally:
            if watcher:
                watcher.stop()
        body = self.decode_json(response, action=action)
        images, info = parse_txt2img(body, request=request, expected=_expected_images(payload))
        return GenerationResult(
            images=images,
            model=request.model or str(info.get("sd_model_name") or ""),
            usage={"images": len(images)},
            provider_ms=_process_ms(response.headers.get("X-Process-Time")),
        )

    # -- edits and upscaling ----------------------------------------------------------------

    def edit_image(self, edit: EditRequest, *, progress: Progress | None = None) -> GenerationResult:
        """POST /sdapi/v1/img2img: the source as `init_images`, the mask (white = inpaint) as
        `mask`, the strength as `denoising_strength`; the checkpoint per request as for txt2img."""
        request = apply_defaults(edit.request, self.defaults)
        return self._post(IMG2IMG, "img2img", img2img_payload(edit, request), request, progress)

    def upscale_image(self, image: bytes, *, factor: float, upscaler: str = "") -> bytes:
        """POST /sdapi/v1/extra-single-image: `image` enlarged `factor` times by `upscaler`
        (one the server lists; the first listed when none is named). PNG bytes."""
        offered = self.upscalers()
        if not offered:
            raise UnsupportedFeature(f"{self.alias}: the server lists no upscalers")
        name = upscaler or offered[0]
        if name not in offered:
            raise UnsupportedFeature(f"{self.alias}: upscaler {name!r} is not offered; choose one of: "
                                     f"{', '.join(offered)}")
        payload = {"resize_mode": 0, "upscaling_resize": factor, "upscaler_1": name,
                   "image": base64.b64encode(image).decode("ascii"), "show_extras_results": True}
        response = self.call("POST", EXTRAS, action="extra-single-image", json=payload)
        body = self.decode_json(response, action="extra-single-image")
        if not isinstance(body, Mapping) or not body.get("image"):
            raise ProviderServerError("extra-single-image: the answer has no image", response=_trim(body))
        return _decode_base64(body["image"], 0)

    # -- progress and cancelling ------------------------------------------------------------

    def task_state(self, task_id: str, session: requests.Session | None = None) -> Mapping[str, Any]:
        """/internal/progress for our task: {"active", "queued", "completed", "progress", "eta", ...}."""
        session = session or self.session
        response = session.post(self.url("/internal/progress"), json={
            "id_task": task_id, "id_live_preview": -1, "live_preview": False},
            timeout=(self.connect_timeout, self.listing_timeout))
        response.raise_for_status()
        state = response.json()
        if not isinstance(state, Mapping):
            raise ValueError("/internal/progress is not an object")
        return state

    def cancel_job(self, job: Mapping[str, Any]) -> bool:
        """Stop the task a dead worker left running, and only it: the WebUI's /interrupt
        takes no id and stops whatever runs, so it is sent only when /internal/progress says
        our task (`force_task_id`) is the active one. A queued task cannot be taken back (the
        WebUI has no dequeue): it runs when its turn comes, and its result goes nowhere."""
        task_id = str(job.get("task_id") or "")
        return bool(task_id) and "interrupted" in self._cancel(task_id)

    def _cancel(self, task_id: str) -> str:
        """Stop our task if it is the one running; say what happened, for the error message.
        The WebUI has no way to take a queued request back: it will run it when its turn comes."""
        try:
            state = self.task_state(task_id)
            if state.get("active"):
                self.call("POST", "/sdapi/v1/skip", action="skipping", read_timeout=self.listing_timeout)
                self.call("POST", "/sdapi/v1/interrupt", action="interrupting", read_timeout=self.listing_timeout)
                return "; it was interrupted on the server"
            if state.get("queued"):
                logger.warning("provider %s: task %s is still queued on the WebUI, which cannot dequeue it",
                               self.alias, task_id)
                return "; it was still queued on the server, which will run it (the WebUI cannot take it back)"
            return ""
        except (ProviderError, requests.RequestException, ValueError) as exc:
            logger.warning("provider %s: could not stop task %s: %s", self.alias, task_id, exc)
            return "; it could not be stopped on the server"


class _ProgressWatcher:
    """Asks the WebUI how our task is doing while txt2img blocks, on a session of its own."""

    def __init__(self, provider: Automatic1111Provider, task_id: str, progress: Progress) -> None:
        self.provider, self.task_id, self.progress = provider, task_id, progress
        self.session = requests.Session()
        self.session.headers.update(provider.session.headers)
        self.session.auth = provider.session.auth
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True, name=f"a1111-progress-{task_id}")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(self.provider.listing_timeout + 1)
        self.session.close()

    def run(self) -> None:
        while not self.done.wait(self.provider.progress_interval):
            try:
                state = self.provider.task_state(self.task_id, self.session)
                if state.get("queued"):
                    self.progress(0, 0, queue_position=_queue_position(state), source="progress")
                elif state.get("active"):
                    response = self.session.get(self.provider.url("/sdapi/v1/progress"),
                                                params={"skip_current_image": "true"},
                                                timeout=(self.provider.connect_timeout, self.provider.listing_timeout))
                    response.raise_for_status()
                    shared = response.json().get("state") or {}
                    steps = int(shared.get("sampling_steps") or 0)
                    if steps:
                        self.progress(int(shared.get("sampling_step") or 0), steps, source="progress")
            except (requests.RequestException, ValueError, AttributeError, TypeError) as exc:
                logger.debug("provider %s: progress check failed: %s", self.provider.alias, exc)


def _queue_position(state: Mapping[str, Any]) -> int | None:
    # "In queue: 2/3" style text, when the build says; otherwise "waiting" without a number.
    text = str(state.get("textinfo") or "")
    for word in text.replace("/", " ").split():
        if word.isdigit():
            return int(word)
    return None


def img2img_payload(edit: EditRequest, request: GenerationRequest) -> dict[str, Any]:
    """The JSON body of POST /sdapi/v1/img2img: txt2img's fields (own task id, per-request
    checkpoint restored afterwards) plus the image inputs."""
    payload = txt2img_payload(request)
    payload["init_images"] = [base64.b64encode(edit.image).decode("ascii")]
    if edit.strength is not None:
        payload["denoising_strength"] = edit.strength
    payload.setdefault("denoising_strength", DEFAULT_DENOISE)
    payload.setdefault("include_init_images", False)
    if edit.mask is not None:
        payload["mask"] = base64.b64encode(masks.to_black_and_white(edit.mask)).decode("ascii")
        # 1 = start from the original pixels ("original"), the usual choice for touch-ups.
        payload.setdefault("inpainting_fill", 1)
        payload.setdefault("mask_blur", 4)
        payload.setdefault("inpaint_full_res", False)
        payload.setdefault("inpainting_mask_invert", 0)
    return payload


def txt2img_payload(request: GenerationRequest) -> dict[str, Any]:
    """The JSON body of POST /sdapi/v1/txt2img for `request`; `request.extra` has the last word."""
    payload: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": -1 if request.seed is None else request.seed,
        "width": request.width,
        "height": request.height,
        "batch_size": request.n,
        "n_iter": 1,
        "send_images": True,
        # save_images=false also keeps the server from prepending a grid image.
        "save_images": False,
        # Our own id: its progress and its cancel concern this request only.
        "force_task_id": f"task(blogimages-{uuid.uuid4().hex[:16]})",
    }
    if request.steps is not None:
        payload["steps"] = request.steps
    if request.guidance_scale is not None:
        payload["cfg_scale"] = request.guidance_scale
    if request.sampler:
        payload["sampler_name"] = request.sampler
    extra = dict(request.extra)
    for comfy_only in ("workflow", "batch_index", "batch_size"):  # ComfyUI's, riding along in shared settings
        extra.pop(comfy_only, None)
    overrides = dict(extra.pop("override_settings", None) or {})
    if request.model:
        # Per request, restored afterwards: never switches the server's model for others.
        overrides.setdefault("sd_model_checkpoint", request.model)
    payload.update(extra)
    if overrides:
        payload["override_settings"] = overrides
        payload["override_settings_restore_afterwards"] = True
    return payload


def parse_txt2img(
    body: Any, *, request: GenerationRequest, expected: int
) -> tuple[tuple[GeneratedImage, ...], Mapping[str, Any]]:
    """The real images of a txt2img answer, each with its seed, and the decoded `info`."""
    if not isinstance(body, Mapping) or not isinstance(body.get("images"), list):
        raise ProviderServerError("txt2img: the answer has no 'images' list", response=_trim(body))
    info = _parse_info(body.get("info"))
    # A grid comes first when the server made one; extensions (ControlNet detect maps) append
    # extra images after the real ones.
    first = _int(info.get("index_of_first_image"), 0)
    encoded = body["images"][first : first + expected]
    if not encoded:
        raise ProviderServerError("txt2img: the server answered without any image", response=_trim(body))
    images = tuple(
        GeneratedImage(
            data=(data := _decode_base64(item, index)),
            mime_type=sniff_image_mime(data),
            seed=_seed(info, request, index),
            revised_prompt=_revised_prompt(info, request, index),
            metadata=_metadata(info, first + index, index),
        )
        for index, item in enumerate(encoded)
    )
    return images, info


def _parse_info(raw: Any) -> Mapping[str, Any]:
    # `info` is JSON inside a JSON string. Without it the images are still good: seeds then
    # come from the request.
    if isinstance(raw, Mapping):
        return raw
    try:
        info = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return info if isinstance(info, Mapping) else {}


def _decode_base64(item: Any, index: int) -> bytes:
    if not isinstance(item, str):
        raise ProviderServerError(f"txt2img: image {index} is not a base64 string")
    if item.startswith("data:"):  # some forks answer data URLs
        item = item.partition(",")[2]
    try:
        return base64.b64decode("".join(item.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProviderServerError(f"txt2img: image {index} is not valid base64") from exc


def _seed(info: Mapping[str, Any], request: GenerationRequest, index: int) -> int | None:
    all_seeds = info.get("all_seeds")
    if isinstance(all_seeds, list) and index < len(all_seeds):
        return _int(all_seeds[index], None)
    seed = _int(info.get("seed"), -1)
    if seed is not None and seed >= 0:
        return seed + index
    return request.seed_for(index)


def _revised_prompt(info: Mapping[str, Any], request: GenerationRequest, index: int) -> str:
    # Styles and wildcard extensions rewrite the prompt per image; report it when they did.
    prompts = info.get("all_prompts")
    if isinstance(prompts, list) and index < len(prompts) and prompts[index] != request.prompt:
        return str(prompts[index])
    return ""


def _metadata(info: Mapping[str, Any], image_position: int, batch_index: int) -> dict[str, Any]:
    # infotexts line up with `images` (a grid has one too); all_seeds only with the real images.
    infotexts = info.get("infotexts")
    infotext = infotexts[image_position] if isinstance(infotexts, list) and image_position < len(infotexts) else None
    extra_params = info.get("extra_generation_params")
    metadata = {
        "infotext": infotext,
        "sampler": info.get("sampler_name"),
        "scheduler": extra_params.get("Schedule type") if isinstance(extra_params, Mapping) else None,
        "cfg_scale": info.get("cfg_scale"),
        "steps": info.get("steps"),
        "model": info.get("sd_model_name"),
        "model_hash": info.get("sd_model_hash"),
        "vae": info.get("sd_vae_name"),
        "batch_index": batch_index,
        "version": info.get("version"),
    }
    return {key: value for key, value in metadata.items() if value not in (None, "")}


def _names_and_aliases(listing: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    names: list[str] = []
    for item in listing:
        for name in (item.get("name"), *(item.get("aliases") or ())):
            if name and str(name) not in names:
                names.append(str(name))
    return tuple(names)


def _expected_images(payload: Mapping[str, Any]) -> int:
    return max(1, _int(payload.get("batch_size"), 1) * _int(payload.get("n_iter"), 1))


def _process_ms(header: str | None) -> int:
    try:
        return int(float(header or 0) * 1000)
    except ValueError:
        return 0


def _int(value: Any, default: int | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _trim(body: Any) -> str:
    return json.dumps(body)[:500] if not isinstance(body, str) else body[:500]
