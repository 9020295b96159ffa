"""Keep the queue honest: the database row is the source of truth.

A queued image whose task was lost (a broker restarted without persistence, a start
while the broker was down) is queued again; a running image whose worker went silent
is adopted from the sidecar its attempt stored, or queued again through the claim
logic (so it is still stored exactly once) after the provider job that attempt started
is cancelled on the server (ComfyUI's prompt, AUTOMATIC1111's task: `provider_metadata["job"]`);
batches whose images are all final are
finalised; files no row owns and rows whose files are missing are reported (and, with
`fix`, the unowned files removed).

    report = reconcile.reconcile(dry_run=False, fix=False)

Runs every minute from Celery beat (`blogimages.tasks.reconcile_images`) and on demand as
`python manage.py reconcile_images [--dry-run] [--fix]`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from . import generation, storage
from .conf import blogimages_settings
from .exceptions import QueueUnavailable
from .models import BatchStatus, GenerationBatch, ImageOutput, OutputStatus
from .queueing import enqueue_outputs

logger = logging.getLogger("blogimages.reconcile")

# A row committed a moment ago may not have its task yet (the publish runs on commit).
JUST_QUEUED = 15.0


@dataclass
class Report:
    requeued: list[int] = field(default_factory=list)
    taken_over: list[int] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)
    # Taken-over images whose provider job (left by the dead attempt) was cancelled on the server.
    cancelled: list[int] = field(default_factory=list)
    finalised_batches: list[int] = field(default_factory=list)
    unowned_files: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    missing_files: list[int] = field(default_factory=list)
    queue_error: str = ""

    def lines(self, *, dry_run: bool = False) -> list[str]:
        would = "would be " if dry_run else ""
        out = [
            f"{len(self.requeued)} queued image(s) without a live task {would}queued again"
            + (f": {_ids(self.requeued)}" if self.requeued else ""),
            f"{len(self.adopted)} stale running image(s) {would}adopted from their stored files"
            + (f": {_ids(self.adopted)}" if self.adopted else ""),
            f"{len(self.taken_over)} stale running image(s) {would}taken over and queued again"
            + (f": {_ids(self.taken_over)}" if self.taken_over else ""),
            *([f"{len(self.cancelled)} provider job(s) left by a dead worker cancelled: {_ids(self.cancelled)}"]
              if self.cancelled else []),
            f"{len(self.finalised_batches)} batch(es) {would}finalised"
            + (f": {_ids(self.finalised_batches)}" if self.finalised_batches else ""),
            f"{len(self.unowned_files)} file(s) no image owns"
            + (f" ({len(self.removed_files)} {would}removed)" if self.removed_files else ""),
            *[f"  {name}" for name in self.unowned_files],
            f"{len(self.missing_files)} succeeded image(s) whose file is missing"
            + (f": {_ids(self.missing_files)}" if self.missing_files else ""),
        ]
        if self.queue_error:
            out.append(f"queue unreachable, nothing handed over: {self.queue_error}")
        return out


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids[:20]) + (f" … (+{len(ids) - 20})" if len(ids) > 20 else "")


def orphaned_queued(queryset: QuerySet[ImageOutput] | None = None, *, now: datetime | None = None):
    """Queued images with no live task: never handed over, or handed over too long ago."""
    now = now or timezone.now()
    lost_after = float(blogimages_settings.QUEUE_LOST_AFTER)
    grace = timedelta(seconds=min(JUST_QUEUED, lost_after))
    rows = (queryset if queryset is not None else ImageOutput.objects.all()).filter(status=OutputStatus.QUEUED)
    return rows.filter(
        # Never handed over: its publish failed (it says why), or it is past the grace.
        Q(enqueued_at__isnull=True) & (Q(queued_at__lte=now - grace) | ~Q(error=""))
        | Q(enqueued_at__lte=now - timedelta(seconds=lost_after))
    )


def stale_running(queryset: QuerySet[ImageOutput] | None = None, *, now: datetime | None = None):
    """Running images whose claim is older than TASK_STALE_AFTER: their worker is gone."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=float(blogimages_settings.TASK_STALE_AFTER))
    rows = queryset if queryset is not None else ImageOutput.objects.all()
    return rows.filter(status=OutputStatus.RUNNING, started_at__lt=stale_before)


def revive(queryset: QuerySet[ImageOutput], *, dry_run: bool = False, report: Report | None = None) -> Report:
    """Queue again the orphaned images among `queryset`; adopt or take over stale running ones."""
    report = report or Report()
    requeue: list[int] = []
    for output in stale_running(queryset).select_related("post", "prompt", "setting"):
        if dry_run:
            (report.adopted if generation.find_sidecar(output) else report.taken_over).append(output.pk)
            continue
        claimed = generation.claim([output])  # the stale claim passes to this attempt
        if not claimed:
            continue  # someone else took it meanwhile
        if generation.adopt_from_sidecar(claimed[0]):
            report.adopted.append(output.pk)
        else:
            # A killed worker never cancelled what it started: stop that job on the server
            # (ComfyUI: its prompt dequeued, or interrupted if it runs) before the image is
            # made again, so the work is neither done twice nor left running.
            if generation.cancel_abandoned(claimed[0]):
                report.cancelled.append(output.pk)
            generation._requeue(claimed, "taken over by the reconciler: its worker went silent")
            report.taken_over.append(output.pk)
            requeue.append(output.pk)
    orphans = list(orphaned_queued(queryset).values_list("pk", flat=True))
    report.requeued += orphans
    if not dry_run:
        requeue += orphans
        try:
            enqueue_outputs(requeue)
        except QueueUnavailable as exc:
            report.queue_error = str(exc.__cause__ or exc)
    return report


def reconcile(*, dry_run: bool = False, fix: bool = False) -> Report:
    report = revive(ImageOutput.objects.all(), dry_run=dry_run)
    for batch_id in GenerationBatch.objects.exclude(
        status__in=[BatchStatus.SUCCEEDED, BatchStatus.FAILED, BatchStatus.PARTIALLY_FAILED]
    ).values_list("pk", flat=True):
        if ImageOutput.objects.filter(batch_id=batch_id, status__in=[OutputStatus.QUEUED, OutputStatus.RUNNING]).exists():
            if not dry_run:
                with transaction.atomic():
                    generation.refresh_batch(batch_id)  # the status follows its rows (queued → running)
            continue
        report.finalised_batches.append(batch_id)
        if not dry_run:
            with transaction.atomic():
                generation.refresh_batch(batch_id)
    check_files(report, remove=fix, dry_run=dry_run)
    for line in report.lines(dry_run=dry_run):
        logger.info("reconcile: %s", line)
    return report


def owned_files() -> set[str]:
    """Every file name any model of this app points at."""
    names: set[str] = set()
    for model in apps.get_app_config("blogimages").get_models():
        fields = [f.name for f in model._meta.get_fields() if isinstance(f, models.FileField)]
        for values in model.objects.values_list(*fields) if fields else ():
            names.update(v for v in values if v)
    return names


def _walk(store, folder: str):
    try:
        dirs, files = store.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        yield f"{folder}/{name}"
    for name in dirs:
        yield from _walk(store, f"{folder}/{name}")


def check_files(report: Report, *, remove: bool = False, dry_run: bool = False) -> None:
    store = storage.get_storage()
    owned = owned_files()
    # Files of an attempt still in flight are written before its row: leave young ones be.
    young = timezone.now() - timedelta(seconds=float(blogimages_settings.TASK_STALE_AFTER))
    in_flight = {uid.hex[:8] for uid in ImageOutput.objects.filter(
        status__in=[OutputStatus.QUEUED, OutputStatus.RUNNING]).values_list("uid", flat=True)}
    for name in _walk(store, blogimages_settings.ROOT):
        if name in owned:
            continue
        try:
            if store.get_modified_time(name) > young:
                continue
        except (NotImplementedError, OSError):
            pass
        if any(short_id in name for short_id in in_flight):
            continue
        report.unowned_files.append(name)
    if remove and report.unowned_files:
        if not dry_run:
            storage.delete_files(report.unowned_files, storage=store)
        report.removed_files = list(report.unowned_files)
    for pk, name in ImageOutput.objects.filter(status=OutputStatus.SUCCEEDED).exclude(file="").values_list("pk", "file"):
        if not store.exists(name):
            report.missing_files.append(pk)
