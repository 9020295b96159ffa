"""The heartbeat's renewal rule (time-machine) and its thread on its own connection.

The end-to-end case, a call longer than TASK_STALE_AFTER on a real worker, is in test_tasks.py.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from blogimages import generation, heartbeat, reconcile
from blogimages.models import ImageOutput, OutputStatus
from tests.factories import ImageOutputFactory

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def running(attempts: int = 1, started_at: datetime = NOW, **fields) -> ImageOutput:
    return ImageOutputFactory(status=OutputStatus.RUNNING, attempts=attempts, started_at=started_at, **fields)


@pytest.mark.django_db
def test_renew_moves_only_the_claims_this_attempt_still_holds():
    mine = running()
    taken_over = running(attempts=2)  # another attempt claimed it after ours went stale
    finished = ImageOutputFactory(status=OutputStatus.FAILED, error="boom", attempts=1, started_at=NOW, finished_at=NOW)
    requeued = ImageOutputFactory(status=OutputStatus.QUEUED, attempts=1, started_at=NOW)
    later = NOW + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        kept = heartbeat.renew({mine.pk: 1, taken_over.pk: 1, finished.pk: 1, requeued.pk: 1})
    assert kept == {mine.pk}
    for output in (mine, taken_over, finished, requeued):
        output.refresh_from_db()
    assert mine.started_at == later
    # Nobody else's claim is revived or moved, and no finished or queued row touched.
    assert taken_over.started_at == finished.started_at == requeued.started_at == NOW
    assert (taken_over.attempts, taken_over.status) == (2, OutputStatus.RUNNING)


@pytest.mark.django_db
def test_renew_of_nothing_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert heartbeat.renew({}) == set()


@pytest.mark.django_db
@pytest.mark.clock
def test_a_renewed_claim_is_live_to_every_takeover_path(settings):
    settings.BLOGIMAGES_TASK_STALE_AFTER = 60
    beating = running(started_at=NOW)
    silent = running(started_at=NOW)
    with time_machine.travel(NOW + timedelta(seconds=40), tick=False):
        heartbeat.renew({beating.pk: 1})
    with time_machine.travel(NOW + timedelta(seconds=90), tick=False):
        # The reconciler's query and the claim a re-delivered task makes agree.
        assert list(reconcile.stale_running().values_list("pk", flat=True)) == [silent.pk]
        assert generation.claim([beating]) == []
        [taken] = generation.claim([silent])
    assert taken.pk == silent.pk and taken.attempts == 2
    beating.refresh_from_db()
    assert (beating.attempts, beating.status) == (1, OutputStatus.RUNNING)


def test_interval_is_a_third_of_the_staleness_bounded_below(settings):
    settings.BLOGIMAGES_TASK_STALE_AFTER = 900
    assert heartbeat.interval() == 300
    settings.BLOGIMAGES_TASK_STALE_AFTER = 0.3
    assert heartbeat.interval() == heartbeat.MIN_INTERVAL


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("blogimages-heartbeat-")]


def other_backends(expected: int = 0) -> int:
    """Connections to the test database besides this thread's (PostgreSQL ends a closed one's
    backend a moment after the close: wait for the count to come down to `expected`)."""
    deadline = time.monotonic() + 10
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            count = cursor.fetchone()[0]
        if count <= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)  # the thread's own connection must see the row
def test_heartbeat_renews_while_the_block_runs_and_stops_with_it(settings):
    settings.BLOGIMAGES_TASK_STALE_AFTER = 1.5  # a beat every 0.5 s
    old = NOW - timedelta(hours=1)
    output = running(started_at=old)
    other = running(attempts=3, started_at=old)
    other.attempts = 2  # an attempt that lost this one: its heartbeat must not renew it
    with heartbeat.heartbeat([output, other]):
        [thread] = heartbeat_threads()
        deadline = time.monotonic() + 20
        while ImageOutput.objects.get(pk=output.pk).started_at == old and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not thread.is_alive() and heartbeat_threads() == []
    output.refresh_from_db(), other.refresh_from_db()
    assert output.started_at != old  # moved by a beat (to the real clock, whatever its date)
    assert other.started_at == old and other.attempts == 3
    if connection.vendor == "postgresql":
        # The thread closed its connection: only this test's own is left.
        assert other_backends() == 0


def _wait_for_renewal(output: ImageOutput, since: datetime, timeout: float = 20) -> datetime:
    deadline = time.monotonic() + timeout
    while True:
        started = ImageOutput.objects.get(pk=output.pk).started_at
        if started != since or time.monotonic() > deadline:
            return started
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_calls_in_flight_share_one_thread_and_a_call_that_ended_is_never_renewed(settings):
    settings.BLOGIMAGES_TASK_STALE_AFTER = 1.5  # a beat every 0.5 s
    old = NOW - timedelta(hours=1)
    first, second = running(started_at=old), running(started_at=old)
    with heartbeat.heartbeat([first]):
        with heartbeat.heartbeat([second]):
            [thread] = heartbeat_threads()  # one thread for both calls ...
            assert _wait_for_renewal(first, old) != old and _wait_for_renewal(second, old) != old
            if connection.vendor == "postgresql":
                assert other_backends(expected=1) == 1  # ... on one connection
        # The second call ended: its row is put back as its final write would, and stays so
        # through beats that go on for the first call.
        ImageOutput.objects.filter(pk=second.pk).update(started_at=old)
        renewed = ImageOutput.objects.get(pk=first.pk).started_at
        assert _wait_for_renewal(first, renewed) != renewed
        assert _wait_for_renewal(first, ImageOutput.objects.get(pk=first.pk).started_at) != renewed
        assert ImageOutput.objects.get(pk=second.pk).started_at == old
        assert heartbeat_threads() == [thread]
    assert not thread.is_alive() and heartbeat_threads() == []
    if connection.vendor == "postgresql":
        assert other_backends() == 0
    # A call after the last one ended starts a thread of its own again.
    with heartbeat.heartbeat([first]):
        [again] = heartbeat_threads()
        assert again is not thread
    assert heartbeat_threads() == []


@pytest.mark.django_db(transaction=True)
def test_calls_coming_and_going_from_many_threads_leave_no_thread_and_no_connection(settings):
    settings.BLOGIMAGES_TASK_STALE_AFTER = 1.5  # a beat every 0.5 s: some land while calls come and go
    rows = [running(started_at=NOW - timedelta(hours=1)) for _ in range(8)]
    failures: list[BaseException] = []

    def calls(output: ImageOutput, index: int) -> None:
        try:
            for turn in range(6):
                with heartbeat.heartbeat([output]):
                    time.sleep(0.1 * ((index + turn) % 7))  # up to 0.6 s: beats land mid-call
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=calls, args=(row, i)) for i, row in enumerate(rows)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == [] and not any(thread.is_alive() for thread in threads)
    assert heartbeat_threads() == []
    assert any(row.started_at != NOW - timedelta(hours=1)  # renewed mid-call
               for row in ImageOutput.objects.filter(pk__in=[r.pk for r in rows]))
    if connection.vendor == "postgresql":
        assert other_backends() == 0


@pytest.mark.django_db(transaction=True)
def test_no_running_claim_starts_no_thread():
    queued = ImageOutputFactory(status=OutputStatus.QUEUED)
    with heartbeat.heartbeat([queued]):
        assert heartbeat_threads() == []


@pytest.mark.django_db
def test_no_thread_inside_a_transaction():
    """An uncommitted claim cannot be taken over, and a beat would wait on its own row locks."""
    assert connection.in_atomic_block  # the test's own transaction
    with heartbeat.heartbeat([running()]):
        assert heartbeat_threads() == []


@pytest.mark.django_db(transaction=True)
def test_a_call_longer_than_the_staleness_keeps_its_claim_and_its_start(settings):
    """Inline (no broker): while the provider answers slowly, the reconciler's query finds
    nothing stale; the stored image keeps the start of its claim, not of its last beat."""
    settings.BLOGIMAGES_PROVIDERS = {
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {"latency": 2.5}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "test"
    settings.BLOGIMAGES_TASK_STALE_AFTER = 1.5
    plan = generation.build_request(prompt_text="a slow harbour", provider="test", overrides={"width": 64, "height": 64})
    [output] = generation.queue_outputs(plan, prompt=None)
    watched: dict[str, set] = {"stale": set(), "starts": set()}
    done_event = threading.Event()

    def watch() -> None:  # another process's view: the reconciler's own query, on its own connection
        try:
            while not done_event.wait(0.1):
                watched["stale"] |= set(reconcile.stale_running().values_list("pk", flat=True))
                watched["starts"] |= set(ImageOutput.objects.filter(pk=output.pk, status=OutputStatus.RUNNING)
                                         .values_list("started_at", flat=True))
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        [done] = generation.execute([output], plan=plan)
    finally:
        done_event.set()
        watcher.join()
    assert done.status == OutputStatus.SUCCEEDED and done.attempts == 1
    assert watched["stale"] == set()  # never stale while the call ran ...
    assert len(watched["starts"]) > 1  # ... because its claim was renewed
    stored = ImageOutput.objects.get(pk=output.pk)
    assert stored.attempts == 1 and stored.started_at == done.started_at <= min(watched["starts"])
    assert stored.started_at < max(watched["starts"])
