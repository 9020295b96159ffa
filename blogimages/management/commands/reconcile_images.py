"""python manage.py reconcile_images [--dry-run] [--fix]: the reconciler's pass, on demand."""

from django.core.management.base import BaseCommand

from blogimages import reconcile


class Command(BaseCommand):
    help = ("Re-queue images whose task is gone, take over stale running ones, finalise finished batches, "
            "and report files no image owns and images whose files are missing.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be done; change nothing.")
        parser.add_argument("--fix", action="store_true", help="Also remove the files no image owns.")

    def handle(self, *args, dry_run: bool = False, fix: bool = False, **options):
        report = reconcile.reconcile(dry_run=dry_run, fix=fix)
        for line in report.lines(dry_run=dry_run):
            self.stdout.write(line)
        if report.queue_error:
            self.stderr.write(f"The task queue is not reachable: {report.queue_error}")
            raise SystemExit(1)
