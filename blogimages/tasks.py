"""Celery tasks: thin wrappers around generation.py that take primary keys.

`generate_output` is idempotent (a finished image is left alone), acknowledged late and
rejected back to the queue if its worker dies, retries transient provider failures with
exponential backoff that honours Retry-After, and never retries permanent ones.
"""

from __future__ import annotations

import logging
import random
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_init, worker_ready
from celery.utils import uuid
from django.db import close_old_connections, connection
from django.db.models.query import get_related_populators
from django.utils import timezone

from . import after_response, generation, heap, post_renditions, reconcile, warmup
from .concurrency import ProviderBusy
from .conf import blogimages_settings
from .exceptions import ProviderUnavailable, QueueUnavailable
from .models import ImageOutput, OutputStatus
from .providers import providers

logger = logging.getLogger("blogimages.tasks")


WAITING_FOR_QUEUE = "Waiting for the queue: the task broker was unreachable when this image was started."


#: Tasks published per pipelined round trip by `enqueue_outputs`.
PUBLISH_CHUNK = 8


def enqueue_outputs(output_ids: list[int]) -> None:
    """One task per image, its id written on the row first; inline when there is no broker.

    A broker that does not answer raises QueueUnavailable within a few seconds (the
    publish timeouts and retry policy are in settings); the rows stay queued without a
    task, which is what the reconciler looks for.
    """
    if not output_ids:
        return
    if generate_output.app.conf.task_always_eager:
        for pk in output_ids:
            generate_output.apply((pk,))
        return
    sent: dict[int, str] = {}
    due = timezone.now()
    try:
        with generate_output.app.producer_or_acquire() as producer:
            # In pipelined chunks (one round trip each on Redis; other brokers publish one
            # by one): the first chunk reaches the workers as soon as it is built, and a
            # 96-image batch costs a few round trips instead of 96. Only a flushed chunk
            # counts as sent.
            for start in range(0, len(output_ids), PUBLISH_CHUNK):
                chunk: dict[int, str] = {}
                with producer.batch():
                    for pk in output_ids[start:start + PUBLISH_CHUNK]:
                        chunk[pk] = uuid()
                        generate_output.apply_async((pk,), task_id=chunk[pk], ignore_result=True,
                                                    producer=producer)
                sent.update(chunk)
    except Exception as exc:
        if not is_broker_error(exc):
            raise
        _record_tasks(sent, due)
        unsent = [pk for pk in output_ids if pk not in sent]
        ImageOutput.objects.filter(pk__in=unsent, status=OutputStatus.QUEUED).update(
            task_id="", enqueued_at=None, error=WAITING_FOR_QUEUE)
        logger.error("broker unreachable: %d image(s) wait for the reconciler: %s", len(unsent), exc)
        raise QueueUnavailable(output_ids=tuple(unsent)) from exc
    _record_tasks(sent, due)


def _record_tasks(sent: dict[int, str], due) -> None:
    """Name each published task on its row, all in one UPDATE once the broker has them (a
    row only names a task that exists; one statement instead of one per image, so a
    96-image batch is handed over in one round trip after its publishes).

    Plain SQL, as `generation.claim`: the ORM's Case/When of 96 branches cost 11 ms of CPU
    to compile, beside a first round of the batch's tasks already running on the same cores."""
    if not sent:
        return
    q = connection.ops.quote_name
    table, key, task_id, status = (q(ImageOutput._meta.db_table), q("id"), q("task_id"), q("status"))
    enqueued_at = ImageOutput._meta.get_field("enqueued_at")
    marks = ", ".join(["%s"] * len(sent))
    sql = (f"UPDATE {table} SET {task_id} = CASE {key} {' '.join(['WHEN %s THEN %s'] * len(sent))} "
           f"ELSE {task_id} END, {q('enqueued_at')} = %s WHERE {key} IN ({marks}) AND {status} IN (%s, %s)")
    params = [value for pair in sent.items() for value in pair]
    params += [enqueued_at.get_db_prep_value(due, connection), *sent, OutputStatus.QUEUED, OutputStatus.RUNNING]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def schedule(output_id: int, *, countdown: float = 0, producer=None) -> str:
    """Publish one task for the image and record its id and when it falls due on the row."""
    task_id = uuid()
    due = timezone.now() + timedelta(seconds=countdown)
    # No result is kept: the row is the result, and a result store that is down must not
    # fail the publish.
    generate_output.apply_async((output_id,), task_id=task_id, countdown=countdown or None, ignore_result=True,
                                producer=producer)
    # Recorded once the broker has it: a row only names a task that exists.
    ImageOutput.objects.filter(pk=output_id, status__in=[OutputStatus.QUEUED, OutputStatus.RUNNING]).update(
        task_id=task_id, enqueued_at=due)
    return task_id


def is_broker_error(exc: BaseException) -> bool:
    from kombu.exceptions import OperationalError as KombuOperationalError

    errors = (KombuOperationalError, ConnectionError, OSError, TimeoutError)
    try:
        import redis

        errors += (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    except ImportError:  # pragma: no cover - redis is in requirements.txt
        pass
    return isinstance(exc, errors)


def backoff_seconds(retries: int, retry_after: float | None) -> float:
    base = float(blogimages_settings.RETRY_BACKOFF_BASE)
    cap = float(blogimages_settings.RETRY_BACKOFF_MAX)
    delay = min(cap, base * (2**retries)) * random.uniform(0.8, 1.2)  # jitter spreads a burst of 429s
    if retry_after:
        delay = max(delay, float(retry_after))
    return round(delay, 2)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def generate_output(self, output_id: int) -> str:
    output = read_output(output_id)
    if output is None:
        return "missing"
    if output.is_finished:
        return "finished"  # a re-delivered task for a finished image does nothing

    eager = bool(self.request.is_eager)
    try:
        # Inline (no broker) there is nobody to come back later: fail fast instead.
        # On its last attempt an image with fallbacks goes to the next provider instead.
        last_attempt = self.request.retries >= blogimages_settings.TASK_MAX_RETRIES
        has_fallbacks = bool((output.setting_snapshot or {}).get("fallbacks"))
        # The other images of its provider call come along (ComfyUI's batch: one run makes
        # them all, instead of one run of the whole batch per image).
        group = generation.call_group(output)
        owned = generation.execute(group, raise_retryable=not eager and not (last_attempt and has_fallbacks))
    except ProviderBusy as exc:
        # Not a failure: step aside with a fresh task so the worker serves other images.
        schedule(output_id, countdown=exc.retry_after or 1)
        return "busy"
    except ProviderUnavailable as exc:
        retries = self.request.retries
        if retries >= blogimages_settings.TASK_MAX_RETRIES:
            for row in group:  # the call's other images were put back in the queue with this one
                generation.fail_output(row, f"{exc} (gave up after {retries + 1} attempts)")
            return "failed"
        countdown = backoff_seconds(retries, exc.retry_after)
        logger.info("image %s: %s; retry %d in %.1f s", output_id, exc, retries + 1, countdown)
        ImageOutput.objects.filter(pk__in=[row.pk for row in group], status=OutputStatus.QUEUED).update(
            enqueued_at=timezone.now() + timedelta(seconds=countdown))
        raise self.retry(countdown=countdown, exc=exc) from exc

    if not any(row.pk == output_id for row in owned):
        output.refresh_from_db(fields=["status", "started_at"])
        if output.status == OutputStatus.RUNNING:
            # Another attempt holds it: a live duplicate, or a killed worker's attempt that
            # becomes claimable once stale. Come back then; the claim decides who finishes.
            schedule(output_id, countdown=_until_stale(output))
            return "deferred"
        return "finished"
    return output.status


def read_output(output_id: int) -> ImageOutput | None:
    """The image a task works on, with its post, prompt and setting (what its files and
    sidecar name), in one query.

    The ORM compiles that four-table SELECT anew on every read: 0.9 of the read's 1.1 ms of
    CPU, at the start of each round of a batch when a worker's threads all read at once.
    It is compiled once per connection here and run as plain SQL, and its rows become
    instances as the ORM's own iterable makes them (converters, from_db, the related
    populators of select_related). No ORDER BY: one row by its key."""
    compiled = connection.__dict__.get("_blogimages_read_output")
    if compiled is None:
        compiler = (ImageOutput.objects.select_related("post", "prompt", "setting").filter(pk=0).order_by()
                    .query.get_compiler(connection=connection))
        sql, params = compiler.as_sql()
        if list(params) != [0]:  # pragma: no cover - the key is the statement's only parameter
            raise AssertionError(f"unexpected parameters {params!r} in {sql}")
        info = compiler.klass_info
        start, end = info["select_fields"][0], info["select_fields"][-1] + 1
        compiled = connection.__dict__["_blogimages_read_output"] = (
            sql, compiler, start, end, [column[0].target.attname for column in compiler.select[start:end]],
            get_related_populators(info, compiler.select, connection.alias))
    sql, compiler, start, end, names, populators = compiled
    with connection.cursor() as cursor:
        cursor.execute(sql, [output_id])
        rows = cursor.fetchall()
    for row in compiler.results_iter([rows]):
        output = ImageOutput.from_db(connection.alias, names, row[start:end])
        for populator in populators:
            populator.populate(row, output)
        return output
    return None


def _until_stale(output: ImageOutput) -> float:
    stale_after = float(blogimages_settings.TASK_STALE_AFTER)
    if output.started_at is None:
        return 1.0
    elapsed = (timezone.now() - output.started_at).total_seconds()
    return max(1.0, stale_after - elapsed + 0.5)


@shared_task(ignore_result=True, acks_late=True)
def make_post_renditions(post_pk) -> int:
    """A published post's renditions (post_renditions.make); making one twice is harmless."""
    return post_renditions.make(post_pk)


def enqueue_post_renditions(post_pk) -> bool:
    """The task for a published post's renditions: True once the broker has it, or once they
    are to be made after the current request's response (no broker, or a broker that does not
    answer: nothing is lost, and the editor who pressed Publish does not wait for them); made
    inline (False) outside a request."""
    if make_post_renditions.app.conf.task_always_eager:
        return _after_response_or_now(lambda: make_post_renditions.apply((post_pk,)))
    try:
        make_post_renditions.apply_async((post_pk,), ignore_result=True)
    except Exception as exc:
        if not is_broker_error(exc):
            raise
        logger.error("broker unreachable: renditions of post %s are made here: %s", post_pk, exc)
        return _after_response_or_now(lambda: post_renditions.make(post_pk))
    return True


def _after_response_or_now(work) -> bool:
    if after_response.defer(work):
        return True
    work()
    return False


@shared_task(ignore_result=True)
def reconcile_images() -> dict:
    """Celery beat's every-minute pass (CELERY_BEAT_SCHEDULE); the same code as the command."""
    report = reconcile.reconcile()
    return {"requeued": len(report.requeued), "taken_over": len(report.taken_over), "adopted": len(report.adopted)}


@worker_init.connect
def import_provider_backends(**_kwargs) -> None:
    """Import every configured provider's backend when the worker starts, so the first task
    does not pay for it (the openai SDK alone takes about a second to import): a batch's
    first image starts as soon as its task arrives."""
    from django.utils.module_loading import import_string

    for alias, config in providers.settings.items():
        try:
            import_string(config["BACKEND"])
        except Exception:  # reported by `manage.py check` and by the task that uses it
            logger.warning("provider %s: backend %r could not be imported", alias, config.get("BACKEND"),
                           exc_info=True)
    # Then build the providers' clients and run the store path's image steps once, so the
    # first round of a batch does not pay for them in every thread at once.
    warmup.warm_up()
    # Then everything made so far is out of the full collections' way: one of them walked it
    # for 150 ms, with every thread of the pool stopped, in the middle of a batch.
    heap.freeze("worker warmed up", collect=True)


#: How long a pool thread waits for the others to start before it connects anyway.
POOL_WARMUP_TIMEOUT = 2.0

_warmed_pools: weakref.WeakSet = weakref.WeakSet()


@worker_ready.connect
def open_pool_connections(sender=None, **_kwargs) -> None:
    """Start every thread of a threads pool now and open its database connection.

    Django keeps one connection per thread; left alone, a fresh worker's threads each
    connected on their first task, all at once in a batch's first round: 16 PostgreSQL
    backends forked on the same cores as the images being claimed, and the worker took
    0.2 s to pick up its first 16 tasks instead of 0.05. The jobs wait for each other (a
    barrier), so each lands on a thread of its own. Other pools (prefork, solo) connect in
    their own way and are left alone; so is a pool already warmed (worker_ready again after
    the consumer reconnects)."""
    executor = getattr(getattr(sender, "pool", None), "executor", None)
    if not isinstance(executor, ThreadPoolExecutor) or executor in _warmed_pools:
        return
    _warmed_pools.add(executor)
    size = executor._max_workers
    barrier = threading.Barrier(size)

    def connect() -> None:
        try:
            barrier.wait(timeout=POOL_WARMUP_TIMEOUT)
        except threading.BrokenBarrierError:
            pass  # a thread busy elsewhere: the others connect anyway
        try:
            connection.ensure_connection()
        except Exception:  # the first task reports a database that is down
            logger.warning("a pool thread could not connect to the database", exc_info=True)

    for _ in range(size):
        executor.submit(connect)


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(task=None, **_kwargs) -> None:
    """Around each task on a worker, what Django does around a request: a connection past
    CONN_MAX_AGE or found broken is closed, the others are kept (CELERY_DB_REUSE_MAX stops
    Celery from closing them all)."""
    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()
