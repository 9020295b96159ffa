"""Celery tasks: thin wrappers around generation.py that take primary keys.

`generate_output` is idempotent (a finished image is left alone), acknowledged late and
rejected back to the queue if its worker dies, retries transient provider failures with
exponential backoff that honours Retry-After, and never retries permanent ones.
"""

from __future__ import annotations

import logging
import random

from celery import group, shared_task

from . import generation
from .concurrency import ProviderBusy
from .conf import blogimages_settings
from .exceptions import ProviderUnavailable
from .models import ImageOutput, OutputStatus

logger = logging.getLogger("blogimages.tasks")


def enqueue_outputs(output_ids: list[int]) -> None:
    """One task per image in a Celery group; inline when there is no broker."""
    if output_ids:
        group(generate_output.s(pk) for pk in output_ids).apply_async()


def backoff_seconds(retries: int, retry_after: float | None) -> float:
    base = float(blogimages_settings.RETRY_BACKOFF_BASE)
    cap = float(blogimages_settings.RETRY_BACKOFF_MAX)
    delay = min(cap, base * (2**retries)) * random.uniform(0.8, 1.2)  # jitter spreads a burst of 429s
    if retry_after:
        delay = max(delay, float(retry_after))
    return round(delay, 2)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def generate_output(self, output_id: int) -> str:
    output = ImageOutput.objects.select_related("post", "prompt", "setting").filter(pk=output_id).first()
    if output is None:
        return "missing"
    if output.is_finished:
        return "finished"  # a re-delivered task for a finished image does nothing

    eager = bool(self.request.is_eager)
    try:
        # Inline (no broker) there is nobody to come back later: fail fast instead.
        owned = generation.execute([output], raise_retryable=not eager)
    except ProviderBusy as exc:
        # Not a failure: step aside with a fresh task so the worker serves other images.
        generate_output.apply_async((output_id,), countdown=exc.retry_after or 1)
        return "busy"
    except ProviderUnavailable as exc:
        retries = self.request.retries
        if retries >= blogimages_settings.TASK_MAX_RETRIES:
            generation.fail_output(output, f"{exc} (gave up after {retries + 1} attempts)")
            return "failed"
        countdown = backoff_seconds(retries, exc.retry_after)
        logger.info("image %s: %s; retry %d in %.1f s", output_id, exc, retries + 1, countdown)
        raise self.retry(countdown=countdown, exc=exc) from exc

    if not owned:
        output.refresh_from_db(fields=["status", "started_at"])
        if output.status == OutputStatus.RUNNING:
            # Another attempt holds it: a live duplicate, or a killed worker's attempt that
            # becomes claimable once stale. Come back then; the claim decides who finishes.
            generate_output.apply_async((output_id,), countdown=_until_stale(output))
            return "deferred"
        return "finished"
    return owned[0].status


def _until_stale(output: ImageOutput) -> float:
    from django.utils import timezone

    stale_after = float(blogimages_settings.TASK_STALE_AFTER)
    if output.started_at is None:
        return 1.0
    elapsed = (timezone.now() - output.started_at).total_seconds()
    return max(1.0, stale_after - elapsed + 0.5)
