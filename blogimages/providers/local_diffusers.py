"""A local Stable Diffusion pipeline with Hugging Face `diffusers`, in the worker's own process.

Optional: `pip install -r requirements-diffusers.txt` (torch, diffusers, transformers).
Configured by DIFFUSERS_MODEL_PATH (a diffusers folder, as `save_pretrained` writes it, or a
single `.safetensors` checkpoint), DIFFUSERS_DEVICE (auto, cuda, cuda:1, mps, cpu) and
DIFFUSERS_DTYPE (auto, float16, bfloat16, float32). Nothing is ever downloaded: every load is
`local_files_only=True`.

The pipeline is loaded once per worker process and reused (img2img and inpaint share its
components through `from_pipe`); one call at a time runs per device — a lock in the process and
a lock file on the host, since a GPU's memory belongs to the machine, not to one worker. Each
image gets its own `torch.Generator` seeded with its seed, so a seed makes the same image again.
An out-of-memory error is retried once one image at a time, then fails with what to change.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import logging
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..exceptions import ProviderError, ProviderRejected, UnsupportedFeature
from ..imaging import masks
from .base import MAX_SEED, BaseProvider, Capabilities, EditRequest, GeneratedImage, GenerationRequest, GenerationResult

logger = logging.getLogger("blogimages.providers.diffusers")

# Sampler names (as A1111 users know them) -> diffusers scheduler classes.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpm++_2m": "DPMSolverMultistepScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "heun": "HeunDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
}
DTYPES = ("auto", "float16", "bfloat16", "float32")

# img2img's strength when an edit names none (A1111's default denoising strength).
DEFAULT_STRENGTH = 0.75

# Loaded pipelines, one per (model, device, dtype) in this process.
_PIPELINES: dict[tuple[str, str, str], Any] = {}
_LOADING = threading.Lock()
_DEVICE_LOCKS: dict[str, threading.Lock] = {}


def with_seed(request: GenerationRequest) -> GenerationRequest:
    """The request with a seed: its own, or a random one drawn now. The pipeline is seeded with
    it and each image records it (seed_for), so every image can be made again."""
    if request.seed is not None:
        return request
    return replace(request, seed=secrets.randbelow(MAX_SEED + 1))


class ModelMissing(ProviderRejected):
    """DIFFUSERS_MODEL_PATH names nothing loadable."""


class OutOfMemory(ProviderRejected):
    """The device ran out of memory even one image at a time."""


def _torch():
    try:
        import torch
    except ImportError as exc:  # the extra is not installed
        raise ProviderRejected("the diffusers provider needs the optional extra: "
                               "pip install -r requirements-diffusers.txt") from exc
    return torch


def pick_device(wanted: str = "auto") -> str:
    """CUDA, then Apple's MPS, then the CPU; or what DIFFUSERS_DEVICE names."""
    torch = _torch()
    wanted = (wanted or "auto").strip().lower()
    if wanted != "auto":
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            raise ProviderRejected(f"DIFFUSERS_DEVICE is {wanted!r} but no CUDA device is available")
        if wanted == "mps" and not torch.backends.mps.is_available():
            raise ProviderRejected("DIFFUSERS_DEVICE is 'mps' but Apple's MPS is not available")
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(name: str, device: str):
    """float16 on a GPU, float32 on the CPU (half precision is slow or unsupported there)."""
    torch = _torch()
    name = (name or "auto").strip().lower()
    if name not in DTYPES:
        raise ProviderRejected(f"DIFFUSERS_DTYPE must be one of {', '.join(DTYPES)}, not {name!r}")
    if name == "auto":
        name = "float32" if device == "cpu" else "float16"
    return getattr(torch, name)


def _is_oom(exc: BaseException) -> bool:
    torch = _torch()
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def in_batches(images: int, run: Callable[[Sequence[int]], list], *, on_oom: Callable[[], None] = lambda: None,
               what: str = "") -> list:
    """`run(indices)` for all images at once; after an out-of-memory error, once more one image
    at a time; a second one is a clear failure."""
    indices = list(range(images))
    try:
        return run(indices)
    except Exception as exc:
        if not _is_oom(exc):
            raise
        on_oom()
        if images == 1:
            raise OutOfMemory(f"out of memory {what}: try a smaller size or DIFFUSERS_DTYPE=float16") from exc
        logger.warning("diffusers: out of memory %s for %d images; retrying one at a time", what, images)
    found: list = []
    for index in indices:
        try:
            found += run([index])
        except Exception as exc:
            if not _is_oom(exc):
                raise
            on_oom()
            raise OutOfMemory(f"out of memory {what}, even one image at a time: try a smaller size "
                              "or DIFFUSERS_DTYPE=float16") from exc
    return found


@contextlib.contextmanager
def device_slot(device: str) -> Iterator[None]:
    """One pipeline call at a time on a device: in this process, and across the host's workers."""
    with _LOADING:
        lock = _DEVICE_LOCKS.setdefault(device, threading.Lock())
    with lock:
        name = hashlib.sha1(device.encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"blogimages-diffusers-{name}.lock"
        with open(path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class DiffusersProvider(BaseProvider):
    display_name = "Diffusers (local model)"

    def __init__(self, *, alias: str, options=None) -> None:
        super().__init__(alias=alias, options=options)
        self.model_path = str(self.options.get("model_path") or "")
        self.config_path = str(self.options.get("config_path") or "")
        self.device_name = str(self.options.get("device") or "auto")
        self.dtype_name = str(self.options.get("dtype") or "auto")
        self.min_size = int(self.options.get("min_size", 64))
        self.max_size = int(self.options.get("max_size", 2048))
        self.max_n = int(self.options.get("max_n", 4))

    @property
    def model_name(self) -> str:
        path = Path(self.model_path)
        return path.stem if path.suffix else path.name or "local"

    def capabilities(self, model: str = "") -> Capabilities:
        return Capabilities(
            models=(self.model_name,), default_model=self.model_name,
            # The VAE works on 8×8 pixel blocks: other sizes are refused, not silently cropped.
            min_size=self.min_size, max_size=self.max_size, size_multiple=8, default_size=(512, 512),
            max_n=self.max_n, max_prompt_length=2000,
            supports_negative_prompt=True, supports_seed=True, supports_steps=True, max_steps=150,
            supports_guidance=True, samplers=tuple(SCHEDULERS), output_formats=("png",),
            prices={"*": Decimal(0)},
            # img2img from the source; inpaint with a mask; no reference images beside it.
            supports_edit=True, supports_mask=True, max_references=0, supports_strength=True,
        )

    def check(self) -> list[str]:
        problems = []
        if not self.model_path:
            problems.append("DIFFUSERS_MODEL_PATH is not set.")
        elif not Path(self.model_path).exists():
            problems.append(f"DIFFUSERS_MODEL_PATH {self.model_path!r} does not exist.")
        try:
            import diffusers  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            problems.append("diffusers/torch are not installed: pip install -r requirements-diffusers.txt")
        return problems

    # -- loading ------------------------------------------------------------------------

    def pipeline(self):
        """The text-to-image pipeline, loaded on first use and kept for the process."""
        device = pick_device(self.device_name)
        key = (self.model_path, device, self.dtype_name)
        with _LOADING:
            if key not in _PIPELINES:
                _PIPELINES[key] = self._load(device)
            return _PIPELINES[key]

    def _load(self, device: str):
        path = Path(self.model_path)
        if not self.model_path or not path.exists():
            raise ModelMissing(f"no model at DIFFUSERS_MODEL_PATH {self.model_path!r}: point it at a diffusers "
                               "folder or a .safetensors checkpoint on this machine (nothing is downloaded)")
        dtype = pick_dtype(self.dtype_name, device)
        import diffusers

        try:
            if path.is_file():
                if path.suffix not in (".safetensors", ".ckpt"):
                    raise ModelMissing(f"{path.name} is not a .safetensors checkpoint or a diffusers folder")
                kwargs: dict[str, Any] = {"torch_dtype": dtype, "local_files_only": True}
                if self.config_path:
                    kwargs["config"] = self.config_path
                pipe = diffusers.StableDiffusionPipeline.from_single_file(str(path), **kwargs)
            else:
                if not (path / "model_index.json").exists():
                    raise ModelMissing(f"{path} has no model_index.json: not a diffusers pipeline folder")
                pipe = diffusers.AutoPipelineForText2Image.from_pretrained(
                    str(path), torch_dtype=dtype, local_files_only=True)
        except ModelMissing:
            raise
        except (OSError, ValueError) as exc:
            raise ModelMissing(f"the model at {self.model_path!r} cannot be loaded: {exc}") from exc
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        logger.info("diffusers: loaded %s on %s as %s", self.model_path, device, str(dtype).rsplit(".", 1)[-1])
        return pipe

    def _with_scheduler(self, pipe, sampler: str):
        if not sampler:
            return pipe
        import diffusers

        name = SCHEDULERS.get(sampler.lower())
        if name is None:
            raise UnsupportedFeature(f"{self.alias}: unknown sampler {sampler!r}; one of {', '.join(SCHEDULERS)}")
        if type(pipe.scheduler).__name__ != name:
            # A new scheduler object for this call: the cached pipeline keeps its own.
            scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config)
            pipe = type(pipe).from_pipe(pipe, scheduler=scheduler)
        return pipe

    # -- generating -----------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> GenerationResult:
        pipe = self.pipeline()
        return self._call(self._with_scheduler(pipe, request.sampler), request, {})

    def validate_edit(self, edit: EditRequest) -> None:
        super().validate_edit(edit)
        if edit.strength is not None and edit.strength <= 0:
            # img2img at strength 0 runs no denoising step at all: refused before the call.
            raise UnsupportedFeature(f"{self.alias}: strength must be above 0 (0 would return the source unchanged)")

    def edit_image(self, edit: EditRequest) -> GenerationResult:
        """The app's edit: img2img from the source, or inpaint where the mask is transparent
        (translated to the pipeline's white = repaint); the size is the request's."""
        request = edit.request
        mask = masks.to_black_and_white(edit.mask) if edit.mask is not None else None
        strength = DEFAULT_STRENGTH if edit.strength is None else edit.strength
        result = self.edit(request, image=edit.image, mask=mask, strength=strength)
        images = tuple(replace(image, metadata={**image.metadata, "edit": True, "masked": mask is not None,
                                                "strength": strength}) for image in result.images)
        return replace(result, images=images)

    def edit(self, request: GenerationRequest, *, image: bytes, mask: bytes | None = None,
             strength: float = 0.75) -> GenerationResult:
        """img2img (or inpaint, with a mask: white is repainted) from `image`, at the request's size."""
        import diffusers
        from PIL import Image

        if not 0.0 < strength <= 1.0:
            raise UnsupportedFeature(f"{self.alias}: strength must be in (0, 1], not {strength}")
        base = self.pipeline()
        kind = diffusers.AutoPipelineForInpainting if mask is not None else diffusers.AutoPipelineForImage2Image
        pipe = self._with_scheduler(kind.from_pipe(base), request.sampler)
        size = (request.width, request.height)
        inputs: dict[str, Any] = {"image": Image.open(io.BytesIO(image)).convert("RGB").resize(size),
                                  "strength": strength}
        if mask is not None:
            inputs["mask_image"] = Image.open(io.BytesIO(mask)).convert("L").resize(size)
            inputs["width"], inputs["height"] = size
        return self._call(pipe, request, inputs, sized=mask is not None)

    def _call(self, pipe, request: GenerationRequest, inputs: dict[str, Any], *, sized: bool = True) -> GenerationResult:
        torch = _torch()
        device = str(pipe.device)
        request = with_seed(request)
        seeds = [request.seed_for(index) for index in range(request.n)]
        # The generator lives on the CPU for MPS (its generators are not reproducible there).
        generator_device = "cpu" if device.startswith("mps") else device

        def run(indices: Sequence[int]) -> list[GeneratedImage]:
            generators = [torch.Generator(generator_device).manual_seed(int(seeds[i])) for i in indices]
            args: dict[str, Any] = {
                "prompt": [request.prompt] * len(indices), "generator": generators,
                "output_type": "pil", **inputs,
            }
            if request.negative_prompt:
                args["negative_prompt"] = [request.negative_prompt] * len(indices)
            if request.steps:
                args["num_inference_steps"] = request.steps
            if request.guidance_scale is not None:
                args["guidance_scale"] = request.guidance_scale
            if sized and "image" not in inputs:
                args["width"], args["height"] = request.width, request.height
            with torch.inference_mode():
                result = pipe(**args)
            images = []
            for index, picture in zip(indices, result.images, strict=True):
                buffer = io.BytesIO()
                picture.save(buffer, "PNG")
                images.append(GeneratedImage(data=buffer.getvalue(), mime_type="image/png", seed=seeds[index],
                                             metadata={"device": device, "sampler": request.sampler or
                                                       type(pipe.scheduler).__name__}))
            return images

        def free() -> None:
            if device.startswith("cuda"):
                torch.cuda.empty_cache()

        try:
            with device_slot(device):
                images = in_batches(request.n, run, on_oom=free, what=f"at {request.width}×{request.height} on {device}")
        except ProviderError:
            raise
        except ValueError as exc:
            # diffusers refuses what the model cannot do (a size, a prompt too long...) with ValueError.
            raise ProviderRejected(f"the pipeline refused the request: {exc}") from exc
        return GenerationResult(images=tuple(images), model=self.model_name)


def clear_cache() -> None:
    """Forget every loaded pipeline (tests; a worker never needs to)."""
    with _LOADING:
        _PIPELINES.clear()


