"""Keep a live claim live while its provider call is in flight.

A running image whose `started_at` is older than TASK_STALE_AFTER is taken to belong to a
dead worker (claim(), the reconciler, a re-delivered task). A call may last longer than
that (a diffusers render on CPU, a long ComfyUI queue), so while it runs a thread renews
`started_at` every TASK_STALE_AFTER/3 seconds: one UPDATE, only of the rows still running
under this attempt, so a beat never revives a claim that someone else took over. One
thread per process renews the claims of every call in flight; a call's claims leave it
when the call ends or fails, and the thread dies with the process: a killed worker's
claim goes stale as before.

The beat moves `started_at`; the final write puts back the claim's own start (the
in-memory value), so an image's duration is still measured from its claim.
"""

from __future__ import annotations

import logging
import os
import threading
import time
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


class _Beater:
    """The process's one heartbeat thread: it renews every claim registered with it, in one
    UPDATE a beat, on one connection. (A thread per call held a connection per call in
    flight: a worker of 16 threads waiting on a slow provider used 32.) It starts with the
    first claim and ends, closing its connection, when the last one leaves."""

    def __init__(self) -> None:
        self._lock = threading.Condition()  # guards _claims and _thread; notified on a removal
        self._renewing = threading.Lock()  # held while a beat's UPDATE runs
        self._claims: dict[int, int] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # the current thread's

    def add(self, claims: dict[int, int]) -> None:
        with self._lock:
            self._claims.update(claims)
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True,
                                                name=f"blogimages-heartbeat-{min(claims)}")
                self._thread.start()

    def remove(self, claims: dict[int, int]) -> None:
        """Forget `claims`; once this returns no beat touches them, so the final write that
        follows never races one (a beat under way ends with its UPDATE first)."""
        got = self._renewing.acquire(timeout=10)
        ending = None
        try:
            with self._lock:
                for pk, attempt in claims.items():
                    if self._claims.get(pk) == attempt:
                        del self._claims[pk]
                if not self._claims and self._thread is not None:
                    # The last claim out ends the thread; a claim added after starts a new one.
                    ending, self._thread = self._thread, None
                    self._stop.set()
                    self._lock.notify_all()
        finally:
            if got:
                self._renewing.release()
        if ending is not None:
            ending.join(timeout=10)  # its connection closed, as a thread per call left it

    def after_fork(self) -> None:
        # A forked child has none of the parent's threads, and none of its calls.
        self.__init__()

    def _run(self, stop: threading.Event) -> None:
        try:
            while self._wait_for_beat(stop):
                self._beat_once()
        finally:
            connection.close()  # this thread's own connection: leave none behind

    def _wait_for_beat(self, stop: threading.Event) -> bool:
        """Wait one interval; False once this thread is to end."""
        with self._lock:
            deadline = time.monotonic() + interval()
            while not stop.is_set():
                if not self._claims:  # every claim was lost to another attempt
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._lock.wait(left)
            return False

    def _beat_once(self) -> None:
        with self._renewing:
            with self._lock:
                claims = dict(self._claims)
            try:
                kept = renew(claims)
            except (OperationalError, InterfaceError) as exc:
                # The claims are not lost yet: the next beat tries again on a new connection.
                logger.warning("image(s) %s: claim not renewed: %s", sorted(claims), exc)
                connection.close()
                return
            with self._lock:
                for pk in set(claims) - kept:
                    logger.info("image %s: no longer held by attempt %s; heartbeat stopped for it", pk, claims[pk])
                    if self._claims.get(pk) == claims[pk]:
                        del self._claims[pk]


_beater = _Beater()
os.register_at_fork(after_in_child=_beater.after_fork)


@contextmanager
def heartbeat(outputs: Sequence[ImageOutput]) -> Iterator[None]:
    """Renew the claims of `outputs` (running, with their attempt) for the duration of the block."""
    claims = {o.pk: o.attempts for o in outputs if o.pk is not None and o.status == OutputStatus.RUNNING}
    if not claims or connection.in_atomic_block:
        # Inside a transaction the claim is not committed yet: nobody else can take it over,
        # and a beat would only wait on this transaction's own row locks.
        yield
        return
    _beater.add(claims)
    try:
        yield
    finally:
        _beater.remove(claims)
