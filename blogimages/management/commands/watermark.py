"""`python manage.py watermark IMAGE_ID... [--preset NAME | --text TEXT | --logo PATH] [--position ...] [--opacity ...]`

Each image gets a watermarked copy stored beside it (`<stem>-wm.<ext>`), linked to its
original; the originals are not changed. Without --preset, --text or --logo the default
preset (or the BLOGIMAGES_WATERMARK setting) is used.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.core.management.base import CommandError

from blogimages import derive
from blogimages.conf import blogimages_settings
from blogimages.exceptions import BlogImagesError
from blogimages.imaging import watermark
from blogimages.management.base import OneLineErrorCommand
from blogimages.models import ImageOutput, OutputStatus


class Command(OneLineErrorCommand):
    help = "Watermark stored images; each gets a derived copy beside it (`-wm`)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("image_ids", nargs="+", type=int, metavar="IMAGE_ID", help="ImageOutput ids.")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--preset", help="Name of a watermark preset (admin: Watermark presets).")
        what.add_argument("--text", help="Watermark text, e.g. '© Example Blog'.")
        what.add_argument("--logo", type=Path, help="A logo image file (PNG with transparency works best).")
        parser.add_argument("--position", choices=watermark.POSITIONS,
                            help="Where the mark goes (default: the preset's).")
        parser.add_argument("--opacity", type=float, help="0 (invisible) to 1 (solid).")
        parser.add_argument("--scale", type=float, help="Mark width as a fraction of the image width, e.g. 0.2.")
        parser.add_argument("--margin", type=float, help="Distance from the edges as a fraction of the shorter side.")
        parser.add_argument("--color", help="'auto' (light or dark, from the image) or a CSS colour.")

    def handle(self, *args, **opts) -> None:
        app_logger = logging.getLogger("blogimages")
        level = app_logger.level
        app_logger.setLevel(logging.CRITICAL if opts["verbosity"] < 2 else level)
        try:
            self._watermark(opts)
        finally:
            app_logger.setLevel(level)

    def _watermark(self, opts) -> None:
        ids = list(dict.fromkeys(opts["image_ids"]))
        found = ImageOutput.objects.in_bulk(ids)
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise CommandError(f"No image with id {', '.join(missing)}.")
        unfinished = [f"#{pk} ({found[pk].status})" for pk in ids
                      if found[pk].status != OutputStatus.SUCCEEDED or not found[pk].file]
        if unfinished:
            raise CommandError(f"Only finished images can be watermarked: {', '.join(unfinished)}.")

        overrides = {name: opts[name] for name in ("position", "opacity", "scale", "margin", "color")}
        try:
            spec, preset_name = self._spec(opts, overrides)
        except (ValueError, BlogImagesError) as exc:
            raise CommandError(str(exc)) from exc

        for pk in ids:
            original = found[pk]
            try:
                new = derive.watermark_output(original, spec=spec)
            except (ValueError, BlogImagesError, OSError) as exc:
                raise CommandError(f"image #{pk}: {exc}") from exc
            self.stdout.write(f"#{new.pk} {_local_path(new.file) or new.file.name}  (watermark of #{pk}"
                              f"{', preset ' + repr(preset_name) if preset_name else ''})")

    def _spec(self, opts, overrides) -> tuple[watermark.WatermarkSpec, str]:
        if opts["text"] is not None or opts["logo"] is not None:
            base = {k: v for k, v in (blogimages_settings.WATERMARK or {}).items() if k not in ("text", "logo")}
            if opts["logo"] is not None:
                if not opts["logo"].is_file():
                    raise ValueError(f"--logo {opts['logo']} is not a file.")
                base["logo"] = opts["logo"].read_bytes()
            else:
                base["text"] = opts["text"]
            return derive.resolve_watermark(spec=base, **overrides)
        return derive.resolve_watermark(preset=opts["preset"], **overrides)


def _local_path(field) -> str | None:
    try:
        return field.path if field else None
    except NotImplementedError:  # remote storage: the name is enough
        return None
