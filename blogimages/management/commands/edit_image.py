"""`python manage.py edit_image IMAGE_ID "PROMPT" [--mask PATH] [--reference PATH_OR_ID ...]
[--strength S] [-p PROVIDER] [-m MODEL] [-n N] [--output PATH] [--user USERNAME] [--raw]`

An edit of a stored image through the one edit path (editing.edit); the same error rules
as `generate_image`: one line on stderr and a non-zero exit for bad input, and failed
images reported with their reason.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.management.base import CommandError

from blogimages import editing
from blogimages.exceptions import BlogImagesError
from blogimages.management.base import user_named
from blogimages.models import ImageOutput, OutputStatus

from .generate_image import Command as GenerateCommand
from .generate_image import planned_files, write_succeeded


def read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"{what} {path}: {exc.strerror or exc}.") from None


class Command(GenerateCommand):
    help = "Edit a stored image (img2img, inpainting with a mask, references) into new derived image(s)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("image_id", type=int, help="Id of the image to edit.")
        parser.add_argument("prompt", help="What to change.")
        parser.add_argument("--mask", help="PNG the image's size; transparent pixels mark the area to change.")
        parser.add_argument("--reference", action="append", default=[], metavar="PATH_OR_ID",
                            help="A reference image: a file or the id of a stored image (repeatable).")
        parser.add_argument("--strength", type=float, help="How far to move from the source, 0 to 1.")
        parser.add_argument("-p", "--provider", help="Provider alias (default: the image's, if it edits).")
        parser.add_argument("-m", "--model", help="Model name (default: the provider's default model).")
        parser.add_argument("-n", type=int, default=1, help="Number of images, 1 to 10.")
        parser.add_argument("--output", type=Path, help="Also write the image(s) here: boat.png -> boat_1.png ...")
        parser.add_argument("--user", metavar="USERNAME", help="Username the edit is made as (its images are theirs).")
        parser.add_argument("--raw", action="store_true", help="Print JSON instead of text.")
        parser.add_argument("--verbose", action="store_true", help="Print every parameter sent.")

    # handle() is generate_image's: log lines only with --verbose, then make_images().
    def make_images(self, opts) -> None:
        n, output = self.check_count_and_output(opts)
        user = user_named(opts.get("user"))
        source = ImageOutput.objects.filter(pk=opts["image_id"]).first()
        if source is None:
            raise CommandError(f"No image with id {opts['image_id']}.")
        mask = read_file(opts["mask"], "--mask") if opts["mask"] else None
        references: list[ImageOutput | bytes] = []
        for ref in opts["reference"]:
            if ref.isdigit() and not Path(ref).exists():
                found = ImageOutput.objects.filter(pk=int(ref)).first()
                if found is None:
                    raise CommandError(f"--reference {ref}: no image with that id.")
                references.append(found)
            else:
                references.append(read_file(ref, "--reference"))
        started = time.monotonic()
        try:
            outputs = editing.edit(source=source, prompt=opts["prompt"], mask=mask, references=references,
                                   strength=opts["strength"], provider=opts["provider"],
                                   overrides={"model": opts["model"]}, n=n, user=user)
        except BlogImagesError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        for out in outputs:
            out.refresh_from_db()

        files = planned_files(outputs, output)
        written = write_succeeded(outputs, files)
        if opts["raw"]:
            data = self._as_json(outputs, files, written, elapsed)
            for item, out in zip(data["images"], outputs):
                item.update(derived_from=out.derived_from_id, derivation=out.derivation)
            self.stdout.write(json.dumps(data, indent=2, default=str))
        else:
            self._print_text(outputs, files, written, elapsed, verbose=opts["verbose"])
        failed = [o for o in outputs if o.status == OutputStatus.FAILED]
        if failed:
            reasons = "; ".join(sorted({o.error for o in failed}))
            raise CommandError(f"{len(failed)} of {len(outputs)} image(s) failed: {reasons}")
