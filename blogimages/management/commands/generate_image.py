"""`python manage.py generate_image "PROMPT" [-p PROVIDER] [-m MODEL] [-n N] [--user USERNAME] ...`"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from PIL import Image

from blogimages import generation
from blogimages.exceptions import BlogImagesError
from blogimages.imaging import convert
from blogimages.management.base import USER_HELP, OneLineErrorCommand, user_named
from blogimages.models import ImagePrompt, ImageSetting, OutputStatus
from blogimages.providers import get_provider
from blogimages.providers.base import given_seed

EXTENSION_FORMATS = {".png": "PNG", ".webp": "WEBP", ".jpg": "JPEG", ".jpeg": "JPEG"}


def parse_size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise CommandError(f"--size must look like 1024x768, not {value!r}.") from None
    if width <= 0 or height <= 0:
        raise CommandError("--size needs positive numbers.")
    return width, height


def output_paths(output: Path, n: int) -> list[Path]:
    """robot.png -> [robot.png] for one image, [robot_1.png, robot_2.png, ...] for several."""
    if n == 1:
        return [output]
    return [output.with_name(f"{output.stem}_{i}{output.suffix}") for i in range(1, n + 1)]


def planned_files(outputs, output: Path | None) -> list[Path | None]:
    """The file each image is written to, by its index in the request (None without --output)."""
    return output_paths(output, len(outputs)) if output is not None else [None] * len(outputs)


def write_succeeded(outputs, files: list[Path | None]) -> list[Path]:
    """Write each made image to its own numbered file: image k is always name_k, so a failed
    image leaves its number unused rather than handing it to the next one."""
    written = []
    for out, path in zip(outputs, files):
        if path is None or out.status != OutputStatus.SUCCEEDED:
            continue
        with out.file.open("rb") as fh:
            write_as(fh.read(), path)
        written.append(path)
    return written


def write_as(data: bytes, path: Path) -> None:
    """Write the image in the format the file extension names (provenance kept)."""
    fmt = EXTENSION_FORMATS[path.suffix.lower()]
    with Image.open(io.BytesIO(data)) as image:
        same = image.format == fmt
    path.write_bytes(data if same else convert.convert(data, fmt.lower()))


class Command(OneLineErrorCommand):
    help = "Generate image(s) from a prompt and store them (with rows and sidecars)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("prompt", help="What to draw.")
        parser.add_argument("-p", "--provider", help="Provider alias (default: BLOGIMAGES_DEFAULT_PROVIDER).")
        parser.add_argument("-m", "--model", help="Model name (default: the provider's default model).")
        parser.add_argument("-n", type=int, default=1, help="Number of images, 1 to 10.")
        parser.add_argument("--size", help="WIDTHxHEIGHT, e.g. 1024x1024.")
        parser.add_argument("--negative", default="", help="Negative prompt (providers that take one).")
        parser.add_argument(
            "--style", default="",
            help="The prompt's style part (e.g. 'watercolor'); a provider style such as 'vivid' is passed as one.",
        )
        parser.add_argument("--quality", default="", help="Provider quality, e.g. hd or high.")
        parser.add_argument("--seed", type=int, help="Seed for reproducible images; -1 (or none): a random one.")
        parser.add_argument("--steps", type=int, help="Sampling steps (providers that take them).")
        parser.add_argument("--setting", help="Name of an ImageSetting preset to start from.")
        parser.add_argument("--fallback", action="append", default=[], metavar="ALIAS",
                            help="A provider to try when the first fails or cannot be reached (repeatable, in order).")
        parser.add_argument("--output", type=Path, help="Also write the image(s) here: robot.png -> robot_1.png ...")
        parser.add_argument("--user", metavar="USERNAME", help=USER_HELP)
        parser.add_argument("--raw", action="store_true", help="Print JSON instead of text.")
        parser.add_argument("--verbose", action="store_true", help="Print every parameter sent.")

    def handle(self, *args, **opts) -> None:
        # The outcome (and any failure's reason) is printed; log lines on stderr would
        # break the one-line error contract, so they show only with --verbose.
        app_logger = logging.getLogger("blogimages")
        level = app_logger.level
        if not opts["verbose"]:
            app_logger.setLevel(logging.CRITICAL)
        try:
            self.make_images(opts)
        finally:
            app_logger.setLevel(level)

    @staticmethod
    def check_count_and_output(opts) -> tuple[int, Path | None]:
        """-n and --output, refused before anything is made (edit_image shares them)."""
        n = opts["n"]
        if not 1 <= n <= 10:
            raise CommandError(f"-n must be between 1 and 10, not {n}.")
        output = opts["output"]
        if output is not None and output.suffix.lower() not in EXTENSION_FORMATS:
            raise CommandError("--output must end in .png, .webp, .jpg or .jpeg.")
        if output is not None and not output.parent.exists():
            raise CommandError(f"--output folder {output.parent} does not exist.")
        return n, output

    def make_images(self, opts) -> None:
        n, output = self.check_count_and_output(opts)
        user = user_named(opts.get("user"))
        setting = None
        if opts["setting"]:
            setting = ImageSetting.objects.filter(name=opts["setting"]).first()
            if setting is None:
                raise CommandError(f"No ImageSetting named {opts['setting']!r}.")

        prompt_style, overrides = self._style_and_overrides(opts, setting)
        prompt = ImagePrompt(description=opts["prompt"], style=prompt_style, negative_prompt=opts["negative"])
        started = time.monotonic()
        try:
            outputs = generation.generate(
                prompt=prompt, setting=setting, provider=opts["provider"], overrides=overrides, n=n, source="cli",
                user=user,
            )
        except BlogImagesError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started

        files = planned_files(outputs, output)
        written = write_succeeded(outputs, files)

        failed = [o for o in outputs if o.status == OutputStatus.FAILED]
        if opts["raw"]:
            self.stdout.write(json.dumps(self._as_json(outputs, files, written, elapsed), indent=2, default=str))
        else:
            self._print_text(outputs, files, written, elapsed, verbose=opts["verbose"])
        if failed:
            reasons = "; ".join(sorted({o.error for o in failed}))
            raise CommandError(f"{len(failed)} of {len(outputs)} image(s) failed: {reasons}")

    def _style_and_overrides(self, opts, setting) -> tuple[str, dict[str, Any]]:
        overrides: dict[str, Any] = {
            "model": opts["model"], "seed": given_seed(opts["seed"]), "steps": opts["steps"],
            "quality": opts["quality"],
            "fallbacks": opts["fallback"] or None,
        }
        if opts["size"]:
            overrides["width"], overrides["height"] = parse_size(opts["size"])
        style = opts["style"]
        alias = opts["provider"] or (setting.provider if setting else None)
        try:
            styles = get_provider(alias).capabilities(opts["model"] or "").styles
        except BlogImagesError as exc:
            raise CommandError(str(exc)) from exc
        if style and style in styles:
            overrides["style"] = style
            style = ""
        return style, overrides

    def _as_json(self, outputs, files, written, elapsed) -> dict[str, Any]:
        return {
            "duration_s": round(elapsed, 3),
            "images": [
                {
                    "index": index,  # 1-based, as in the request and the --output file names
                    "id": o.pk,
                    "status": o.status,
                    "error": o.error or None,
                    "provider": o.provider,
                    "model": o.model,
                    "seed": o.seed,
                    "width": o.width,
                    "height": o.height,
                    "bytes": o.bytes,
                    "sha256": o.sha256 or None,
                    "file": o.file.name or None,
                    "thumbnail": o.thumbnail.name or None,
                    "sidecar": o.sidecar.name or None,
                    "path": _local_path(o.file),
                    "revised_prompt": o.revised_prompt or None,
                    "cost_estimate_usd": str(o.cost_estimate) if o.cost_estimate is not None else None,
                    "cost_usd": str(o.cost) if o.cost is not None else None,
                    "cost_basis": o.cost_basis or None,
                    "usage": (o.provider_metadata or {}).get("usage"),
                    "generated_size": (o.provider_metadata or {}).get("generated_size"),
                    "provider_ms": o.provider_ms,
                    "fallback": (o.provider_metadata or {}).get("fallback"),
                    "parameters": o.setting_snapshot,
                    "output_file": str(path) if path in written else None,
                }
                for index, (o, path) in enumerate(zip(outputs, files), start=1)
            ],
            "written": [str(p) for p in written],
        }

    def _print_text(self, outputs, files, written, elapsed, *, verbose: bool) -> None:
        ok = sum(o.status == OutputStatus.SUCCEEDED for o in outputs)
        self.stdout.write(f"{ok} of {len(outputs)} image(s) in {elapsed:.2f}s")
        for index, (o, path) in enumerate(zip(outputs, files), start=1):
            # The image's place in the request, which its --output file name carries.
            place = f"{index}/{len(outputs)}"
            if o.status != OutputStatus.SUCCEEDED:
                skipped = f" ({path.name} not written)" if path is not None else ""
                self.stdout.write(f"  {place} #{o.pk} FAILED: {o.error}{skipped}")
                continue
            if o.cost is not None:
                cost = f"  ${o.cost:.4f}" + (" (estimate)" if o.cost_basis == "estimate" else "")
            else:
                cost = f"  ~${o.cost_estimate:.3f}" if o.cost_estimate is not None else ""
            generated = (o.provider_metadata or {}).get("generated_size")
            made = f" (made at {generated})" if generated else ""
            self.stdout.write(
                f"  {place} #{o.pk} {o.provider}/{o.model}  {o.width}x{o.height}{made}  seed={o.seed}  "
                f"{o.bytes:,} bytes  {o.provider_ms} ms{cost}"
            )
            self.stdout.write(f"     {_local_path(o.file) or o.file.name}")
            fallback = (o.provider_metadata or {}).get("fallback")
            if fallback:
                why = "; ".join(f"{t['provider']}: {t['error']}" for t in fallback["tried"])
                dropped = f" (dropped: {', '.join(fallback['dropped'])})" if fallback.get("dropped") else ""
                self.stdout.write(f"     made by fallback {fallback['provider']} after {why}{dropped}")
            if o.revised_prompt:
                self.stdout.write(f"     revised prompt: {o.revised_prompt}")
            if verbose:
                self.stdout.write(f"     sidecar: {o.sidecar.name}")
                self.stdout.write(f"     sha256: {o.sha256}")
                self.stdout.write(f"     parameters: {json.dumps(o.setting_snapshot, sort_keys=True)}")
        for path in written:
            self.stdout.write(f"wrote {path}")


def _local_path(field) -> str | None:
    try:
        return field.path if field else None
    except NotImplementedError:  # remote storage (S3): no local path, the name is enough
        return None
