"""Keep a live claim live while its provider call is in flight.

A running image whose `started_at` is older than TASK_STALE_AFTER is taken to belong to a
dead worker (claim(), the reconciler, a re-delivered task). A call may last longer than
that (a diffusers render on CPU, a long ComfyUI queue), so while it runs a thread renews
`started_at` every TASK_STALE_AFTER/3 seconds: one UPDATE, only of the rows still running
under this attempt, so a beat never revives a claim that someone else took over. The
thread stops when the call ends or fails, and dies with the process: a killed worker's
claim goes stale as before.

The beat moves `started_at`; the final write puts back the claim's own start (the
in-memory value), so an image's duration is still measured from its claim.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import InterfaceError, OperationalError, connection
from django.db.models import Q
from django.utils import timezone

from .conf import blogimages_settings
from .models import ImageOutput, OutputStatus

logger = logging.getLogger("blogimages.heartbeat")

# Never beat more often than this (seconds), however small TASK_STALE_AFTER is.
MIN_INTERVAL = 0.5


def interval() -> float:
    """Seconds between beats: a third of the staleness, so two beats may be missed (a slow
    database, a loaded host) before a live claim looks dead."""
    return max(MIN_INTERVAL, float(blogimages_settings.TASK_STALE_AFTER) / 3)


def renew(claims: dict[int, int], now=None) -> set[int]:
    """Renew `started_at` of the images in `claims` ({pk: attempt}) still running under
    that attempt; the pks renewed (the others were taken over or finished). One UPDATE."""
    if not claims:
        return set()
    held = Q()
    for pk, attempt in claims.items():
        held |= Q(pk=pk, attempts=attempt)
    rows = ImageOutput.objects.filter(held, status=OutputStatus.RUNNING)
    # RETURNING is not in the ORM's update(): read back which of them this attempt still holds.
    # A row taken over in between keeps its new attempt number, which the read excludes.
    updated = rows.update(started_at=now or timezone.now())
    if updated == len(claims):
        return set(claims)
    return set(rows.values_list("pk", flat=True))


def _beat(claims: dict[int, int], every: float, stop: threading.Event) -> None:
    try:
        while claims and not stop.wait(every):
            try:
                kept = renew(claims)
            except (OperationalError, InterfaceError) as exc:
                # The claim is not lost yet: the next beat tries again on a new connection.
                logger.warning("image(s) %s: claim not renewed: %s", sorted(claims), exc)
                connection.close()
                continue
            for pk in set(claims) - kept:
                logger.info("image %s: no longer held by attempt %s; heartbeat stopped for it", pk, claims[pk])
                del claims[pk]
    finally:
        connection.close()  # this thread's own connection: leave none behind


@contextmanager
def heartbeat(outputs: Sequence[ImageOutput]) -> Iterator[None]:
    """Renew the claims of `outputs` (running, with their attempt) for the duration of the block."""
    claims = {o.pk: o.attempts for o in outputs if o.pk is not None and o.status == OutputStatus.RUNNING}
    if not claims or connection.in_atomic_block:
        # Inside a transaction the claim is not committed yet: nobody else can take it over,
        # and a beat would only wait on this transaction's own row locks.
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(target=_beat, args=(claims, interval(), stop), daemon=True,
                              name=f"blogimages-heartbeat-{min(claims)}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        # A beat under way ends with its UPDATE; the final write that follows must not race it.
        thread.join(timeout=10)
