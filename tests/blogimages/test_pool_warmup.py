"""A threads-pool worker starts every pool thread and opens its database connection when it
is ready, not on each thread's first task (all at once, in a batch's first round).

On Celery's own threads pool; the consumer that worker_ready names is a stand-in holding it."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from celery.concurrency.thread import TaskPool
from django.db import connection

from blogimages import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def _on_every_thread(pool: TaskPool, job):
    """`job()`'s result on each of the pool's threads (a barrier keeps one job per thread)."""
    size = pool.executor._max_workers
    barrier = threading.Barrier(size)

    def run():
        barrier.wait(timeout=10)
        return threading.get_ident(), job()

    return dict(future.result(timeout=10) for future in [pool.executor.submit(run) for _ in range(size)])


@pytest.fixture
def pool():
    pool = TaskPool(limit=3)
    yield pool

    def close():
        connection.close()  # a thread's connection would keep the test database open

    _on_every_thread(pool, close)
    pool.executor.shutdown(wait=True)


def test_every_thread_starts_connected(pool):
    assert not pool.executor._threads  # Celery's pool starts its threads lazily

    tasks.open_pool_connections(sender=SimpleNamespace(pool=pool))

    connected = _on_every_thread(pool, lambda: connection.connection is not None)
    assert len(connected) == 3 and len(pool.executor._threads) == 3
    assert all(connected.values()), connected
    # The connections work: each thread reads through its own.
    assert set(_on_every_thread(pool, lambda: connection.cursor().execute("SELECT 1").fetchone()).values()) == {(1,)}


def test_a_pool_is_warmed_once(pool):
    consumer = SimpleNamespace(pool=pool)
    tasks.open_pool_connections(sender=consumer)
    _on_every_thread(pool, lambda: None)  # the warm-up is done
    # worker_ready again (the consumer reconnected to the broker): nothing more is queued.
    tasks.open_pool_connections(sender=consumer)
    assert pool.executor._work_queue.qsize() == 0
    assert len(pool.executor._threads) == 3


@pytest.mark.parametrize("sender", [None, SimpleNamespace(pool=None), SimpleNamespace(pool=SimpleNamespace()),
                                    SimpleNamespace(pool=SimpleNamespace(executor=object()))],
                         ids=["no sender", "no pool", "prefork or solo", "not a thread pool"])
def test_other_pools_are_left_alone(sender):
    warmed = set(tasks._warmed_pools)
    tasks.open_pool_connections(sender=sender)
    assert set(tasks._warmed_pools) == warmed
