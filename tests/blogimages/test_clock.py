"""The boundaries of time: midnight, month ends and daylight-saving changes, in TIME_ZONE.

Every test here sets its own instants; it is marked `clock` so CI also runs it with the
whole process's clock moved to a year's last second and a month's first minute.
"""

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from blogimages import budgets, generation, ratelimit, tokens, usage
from blogimages.models import ImageOutput, ImagePrompt
from tests.factories import ImageOutputFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

ZONES = ["UTC", "Europe/Berlin"]


def local(zone: str, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(zone))


def spend(cost: str, user=None) -> ImageOutput:
    """A succeeded image costing `cost`, made now."""
    return ImageOutputFactory(created_by=user, status="succeeded", file="f.png", cost_estimate=Decimal(cost))


@pytest.fixture(params=ZONES)
def zone(request, settings):
    settings.TIME_ZONE = request.param
    return request.param


def test_the_budget_day_ends_at_local_midnight(zone, clock):
    user = UserFactory()
    clock.move_to(local(zone, 2026, 12, 31, 23, 59, 59, 900_000))
    spend("0.30", user)
    assert budgets.spent(user=user, period="daily") == Decimal("0.30")
    assert budgets.seconds_until_reset("daily") == 1  # 0.1 s left, rounded up
    clock.move_to(local(zone, 2027, 1, 1, 0, 0, 0))
    assert budgets.spent(user=user, period="daily") == 0
    assert budgets.seconds_until_reset("daily") == 86_400


def test_the_budget_month_ends_at_local_midnight_of_its_last_day(zone, clock, settings):
    settings.BLOGIMAGES_BUDGETS = {"global_monthly": "1.00"}
    clock.move_to(local(zone, 2027, 2, 28, 23, 59, 59))
    spend("0.90")
    with pytest.raises(budgets.BudgetExceeded, match="monthly budget"):
        budgets.check_budget(user=None, cost=Decimal("0.20"))
    clock.move_to(local(zone, 2027, 3, 1, 0, 0, 0))
    budgets.check_budget(user=None, cost=Decimal("0.20"))  # a new month: nothing spent yet
    assert budgets.spent(period="monthly") == 0
    assert budgets.seconds_until_reset("monthly") == 31 * 86_400 - (3600 if zone == "Europe/Berlin" else 0)


@pytest.mark.parametrize("day, hours", [
    (dt.date(2027, 3, 28), 23),  # clocks go forward at 02:00: a 23-hour day
    (dt.date(2026, 10, 25), 25),  # clocks go back at 03:00: a 25-hour day
])
def test_a_budget_day_across_a_daylight_saving_change(settings, clock, day, hours):
    settings.TIME_ZONE = "Europe/Berlin"
    user = UserFactory()
    clock.move_to(local("Europe/Berlin", day.year, day.month, day.day, 0, 0, 0))
    spend("0.10", user)  # the day's first instant belongs to it
    assert budgets.seconds_until_reset("daily") == hours * 3600
    clock.move_to(local("Europe/Berlin", day.year, day.month, day.day, 12, 0, 0))
    assert budgets.seconds_until_reset("daily") == 12 * 3600  # the changed hour is behind us
    clock.move_to(local("Europe/Berlin", day.year, day.month, day.day, 23, 59, 59))
    assert budgets.spent(user=user, period="daily") == Decimal("0.10")
    clock.shift(1)
    assert budgets.spent(user=user, period="daily") == 0


def test_the_usage_report_puts_an_image_on_its_local_day(zone, clock):
    clock.move_to(local(zone, 2026, 12, 31, 23, 59, 59))
    spend("0.25")
    clock.move_to(local(zone, 2027, 1, 1, 0, 0, 1))
    spend("0.50")
    report = usage.spend_report(date_from=dt.date(2026, 12, 31), date_to=dt.date(2027, 1, 1))
    assert [(r.key, r.cost) for r in report.by_day] == [("2027-01-01", Decimal("0.50")),
                                                         ("2026-12-31", Decimal("0.25"))]
    assert usage.spend_report(date_from=dt.date(2026, 12, 31), date_to=dt.date(2026, 12, 31)).total == Decimal("0.25")


@pytest.mark.parametrize("day, remaining", [(1, "$49.92"), (2, "$49.92"), (3, "$49.88"), (15, "$49.88")])
def test_the_usage_page_budget_on_the_first_days_of_a_month(client, clock, settings, day, remaining):
    """The original failure: 'two days ago' is last month on the 1st and 2nd."""
    settings.BLOGIMAGES_BUDGETS = {"global_monthly": "50"}
    clock.move_to(dt.datetime(2026, 12, day, 9, 0, tzinfo=dt.UTC))
    spend("0.08")
    clock.shift(-2 * 86_400)
    spend("0.04")
    clock.shift(2 * 86_400)
    client.force_login(UserFactory(is_staff=True))
    html = client.get("/images/usage/").content.decode()
    assert remaining in html


def test_a_rate_limit_window_crossing_midnight(settings):
    """Midnight starts no fresh minute: the sliding window still weighs the last second of the
    old day's minute, and frees it as the new minute goes on."""
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"
    settings.BLOGIMAGES_RATE_LIMIT_STORAGE_URI = "memory://"  # this process's clock, this process's counters
    settings.BLOGIMAGES_RATE_LIMITS = {"user_per_minute": 1, "user_per_day": 2}
    user = UserFactory()
    last_second = dt.datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=dt.UTC)
    import time_machine

    with time_machine.travel(last_second, tick=False) as traveller:
        ratelimit.hit(user=user)
        with pytest.raises(ratelimit.RateLimited) as caught:
            ratelimit.hit(user=user)
        assert caught.value.period == "minute" and caught.value.retry_after == 1  # half a second, rounded up
        traveller.shift(0.5)  # midnight: a new minute, but the old one's request weighs fully
        with pytest.raises(ratelimit.RateLimited):
            ratelimit.hit(user=user)
        traveller.shift(60)  # a whole minute into the new year
        statuses = ratelimit.hit(user=user)
        assert {s.period: s.count for s in statuses} == {"minute": 1, "day": 1}


def test_a_token_expires_at_exactly_its_expiry_instant(clock):
    user = UserFactory()
    expiry = timezone.now() + dt.timedelta(hours=1)
    token, raw = tokens.create_token(user, expires_at=expiry)
    clock.move_to(expiry - dt.timedelta(microseconds=1))
    assert tokens.authenticate_token(raw) == token
    clock.move_to(expiry)
    assert tokens.authenticate_token(raw) is None
    token.refresh_from_db()
    assert not token.is_active


def test_an_image_started_before_midnight_lands_in_that_days_folder(zone, clock, recorder):
    clock.move_to(local(zone, 2026, 12, 31, 23, 59, 59, 900_000))
    prompt = ImagePrompt.objects.create(description="A lighthouse at dusk")
    plan = generation.plan_for_prompt(prompt, overrides={"width": 32, "height": 32})
    [output] = generation.queue_outputs(plan, prompt=prompt)
    clock.move_to(local(zone, 2027, 1, 1, 0, 0, 2))  # the provider answers after midnight
    generation.execute([output], plan=plan)
    output.refresh_from_db()
    assert output.status == "succeeded", output.error
    assert timezone.localtime(output.created_at).date() == dt.date(2026, 12, 31)
    assert timezone.localtime(output.finished_at).date() == dt.date(2027, 1, 1)
    for name in (output.file.name, output.thumbnail.name, output.sidecar.name):
        assert name.startswith("blogimages/tests/2026-12-31/235959-"), name


def test_a_running_image_is_taken_over_only_once_its_claim_is_stale(clock, settings):
    settings.BLOGIMAGES_TASK_STALE_AFTER = 900
    output = ImageOutputFactory(status="queued")
    [first] = generation.claim([output])
    assert first.attempts == 1
    clock.shift(900)  # exactly the stale age: the first worker still owns it
    assert generation.claim([output]) == []
    clock.shift(0.001)
    [second] = generation.claim([output])
    assert second.attempts == 2 and second.started_at == timezone.now()
