"""The test clock: no test may depend on the day it happens to run.

A test whose result depends on the date or the time is marked `@pytest.mark.clock`. It then
runs with the clock frozen (time-machine) at one instant, so "today", "2 days ago" and
"this month" are the same instant for the fixture that writes rows and the assertion that
reads them. That instant is the real time when the test starts, or the one given with

    pytest -m clock --clock 2026-12-31T23:59:59Z

which also moves the whole process's clock there (ticking) for the session, so fixtures and
set-up outside the test see the moved date too. CI runs the marked tests once on the real
date and again at the last second of a year and the first minute of a month.

`@pytest.mark.clock(tick=True)` lets time run on from that instant instead of freezing it,
for tests that wait on something real. A test can move time with the `clock` fixture
(`clock.shift(seconds)`, `clock.move_to(when)`), which is the time-machine traveller.

Subprocesses (a Celery worker, the CLI run as a program) keep the real clock: a test that
needs one of them and a moved date cannot be a clock test.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

_SESSION_TRAVEL = "_blogimages_clock_travel"
_SESSION_INSTANT = "_blogimages_clock_instant"


def parse_instant(value: str) -> dt.datetime:
    """An ISO 8601 instant; a trailing Z or no offset at all means UTC."""
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise pytest.UsageError(f"--clock: {value!r} is not an ISO 8601 date and time "
                                "(e.g. 2026-12-31T23:59:59Z).") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock", metavar="INSTANT", default=None,
        help="Move the process clock to this ISO 8601 instant (e.g. 2026-12-31T23:59:59Z); tests marked "
             "'clock' start frozen exactly there.",
    )


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("--clock", default=None)
    if value:
        instant = parse_instant(value)
        traveller = time_machine.travel(instant, tick=True)
        traveller.start()
        setattr(config, _SESSION_INSTANT, instant)
        setattr(config, _SESSION_TRAVEL, traveller)


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = getattr(config, _SESSION_TRAVEL, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    instant = getattr(config, _SESSION_INSTANT, None)
    return f"clock: moved to {instant.isoformat()}" if instant else None


@pytest.fixture(autouse=True)
def _clock_for_marked_tests(request: pytest.FixtureRequest):
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        yield None
        return
    instant = getattr(request.config, _SESSION_INSTANT, None) or dt.datetime.now(dt.UTC)
    with time_machine.travel(instant, tick=bool(marker.kwargs.get("tick", False))) as traveller:
        yield traveller


@pytest.fixture
def clock(request: pytest.FixtureRequest, _clock_for_marked_tests):
    """The traveller of a clock test, to shift or move its time."""
    if _clock_for_marked_tests is None:
        pytest.fail("the clock fixture is for tests marked @pytest.mark.clock")
    return _clock_for_marked_tests
