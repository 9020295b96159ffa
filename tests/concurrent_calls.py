"""One call made from several threads at once, each on a database connection of its own:
for tests that two requests racing cannot both take what only one may have."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection

from tests.conftest import require_service


def require_postgresql() -> None:
    """Concurrent transactions need a real database server (SQLite serialises the writers)."""
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent transactions need DATABASE_URL=postgres://...")


def at_once(count: int, call: Callable[[], object], *, refused: type[BaseException]) -> list[str]:
    """`call()` in `count` threads released together; their outcomes, sorted: "made", or
    "refused" when it raised `refused` (any other error leaves no outcome, so the count
    asserted is short). Each thread closes its own connection: Django opens one per thread,
    and one left open would outlive the test database."""
    start = threading.Barrier(count)
    outcomes: list[str] = []

    def run() -> None:
        try:
            start.wait()
            call()
            outcomes.append("made")
        except refused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)
