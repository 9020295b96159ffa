"""Short full garbage collections in long-lived processes (web processes, workers).

CPython's full collection walks every container object the process holds. A warmed web
process or worker holds about 150,000 of them, nearly all made by imports at startup and
alive for the process's whole life, and walking them took 90-170 ms on the 2-core
reference machine: a pause of every thread at once. A worker made one about every 96-image
batch, a 150 ms stall of all 16 threads in the middle of a round; in a web process one in
about ten 96-section batch starts took 0.17-0.19 s instead of 0.05.

`gc.freeze()` moves every object alive at that moment out of the collector's sight (the
technique CPython documents for forking servers), so a full collection walks only what was
made since: a few milliseconds. It is called once the process has done its expensive
first things: at app ready, after the first request a web process serves, after a
worker's warm-up. The cost is that a reference cycle among frozen objects is never
collected; startup objects live as long as the process anyway.

`BLOGIMAGES_GC_FREEZE=false` turns it off.
"""

from __future__ import annotations

import gc
import logging

from django.core.signals import request_finished

from .conf import blogimages_settings

logger = logging.getLogger("blogimages.heap")

_DISPATCH_UID = "blogimages.heap.freeze_after_first_request"


def freeze(when: str, *, collect: bool = False) -> int:
    """Freeze every object alive now (if the setting allows); returns how many are frozen in all.

    `collect` runs a full collection first, so that no garbage is frozen with them (a cycle
    left by a first request or a warm-up, e.g. a client holding a connection open)."""
    if not blogimages_settings.GC_FREEZE:
        return 0
    if collect:
        gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.debug("%s: %d objects frozen: full collections skip them", when, frozen)
    return frozen


def freeze_after_first_request() -> None:
    """Freeze again once the first request has finished: serving it imported the URLconf, the
    views and their templates, which startup had not."""
    if blogimages_settings.GC_FREEZE:
        request_finished.connect(_first_request_finished, dispatch_uid=_DISPATCH_UID)


def _first_request_finished(**_kwargs) -> None:
    request_finished.disconnect(dispatch_uid=_DISPATCH_UID)
    # Its response has been sent: the collection delays no one.
    freeze("after the first request", collect=True)
