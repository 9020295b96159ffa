"""python manage.py move_images --to database|filesystem|s3 [--from ALIAS] [--keep-source]"""

from django.conf import settings
from django.core.management.base import CommandError

from ...conf import blogimages_settings
from ...moving import move_files
from ..base import OneLineErrorCommand

TARGETS = ("database", "filesystem", "s3")


class Command(OneLineErrorCommand):
    help = ("Move every stored image file (originals, thumbnails, sidecars, renditions, watermark logos) "
            "to another storage, verifying each sha256. Resumable: run it again after an interruption. "
            "Then set BLOGIMAGES_STORAGE to the new alias.")

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, choices=TARGETS, help="The storage alias to move to.")
        parser.add_argument("--from", dest="source", default="",
                            help="The alias to move from (default: the current BLOGIMAGES_STORAGE).")
        parser.add_argument("--keep-source", action="store_true",
                            help="Copy and verify, but leave the files where they were.")

    def handle(self, *args, **opts):
        source, target = opts["source"] or blogimages_settings.STORAGE, opts["to"]
        for alias in (source, target):
            if alias not in settings.STORAGES:
                hint = " (s3 needs AWS_STORAGE_BUCKET_NAME)" if alias == "s3" else ""
                raise CommandError(f"No storage alias {alias!r} in STORAGES{hint}.")
        verbose = opts["verbosity"] > 1
        try:
            report = move_files(source_alias=source, target_alias=target, delete_source=not opts["keep_source"],
                                progress=(lambda name: self.stdout.write(f"copied {name}")) if verbose else None)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{report.copied} file(s) copied ({report.bytes_copied:,} bytes), {report.already} already "
                          f"there, {len(report.missing)} missing, {len(report.failed)} failed; "
                          f"{report.deleted_sources} source file(s) removed.")
        for name in report.missing:
            self.stderr.write(f"missing: {name}")
        for name, why in report.failed.items():
            self.stderr.write(f"failed: {name}: {why}")
        if not report.ok:
            raise CommandError(f"{len(report.failed)} file(s) did not move; the sources are kept. Run it again "
                               "after fixing the cause.")
        self.stdout.write(self.style.SUCCESS(f"Done. Set BLOGIMAGES_STORAGE={target} to use the moved files."))
