"""Spend by user, provider and day, and the staff usage page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from blogimages import usage
from blogimages.models import ImageOutput
from tests.factories import ImageOutputFactory, UserFactory

# Every figure here is "today", "2 days ago" or "this month": frozen, so the fixture's rows
# and the assertions agree on the date, whatever the date is.
pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def image(*, user=None, provider="openai", cost="0.04", status="succeeded", days_ago=0):
    output = ImageOutputFactory(created_by=user, provider=provider, status=status,
                                error="x" if status == "failed" else "", cost_estimate=None if cost is None else Decimal(cost),
                                file="" if status != "succeeded" else "f.png")
    if days_ago:
        ImageOutput.objects.filter(pk=output.pk).update(created_at=timezone.now() - dt.timedelta(days=days_ago))
    return output


@pytest.fixture
def spend():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    image(user=alice, cost="0.08")
    image(user=alice, cost="0.04", days_ago=2)
    image(user=bob, provider="sd", cost="0.00")
    image(user=bob, provider="openai", cost="0.04", status="failed")  # failed: costs nothing
    image(user=None, provider="comfyui", cost=None)  # no price table
    image(user=alice, cost="1.00", days_ago=40)  # outside the default range
    return alice, bob


def test_spend_report_groups_by_user_provider_and_day(spend):
    today = timezone.localdate()
    report = usage.spend_report(date_from=today - dt.timedelta(days=29), date_to=today)
    assert [(r.key, r.images, r.cost, r.unpriced) for r in report.by_user] == [
        ("alice", 2, Decimal("0.12"), 0), ("bob", 1, Decimal(0), 0), ("", 1, Decimal(0), 1),
    ]
    # Most spent first; a provider without prices (no sum at all) last.
    assert [(r.key, r.images, r.cost, r.unpriced) for r in report.by_provider] == [
        ("openai", 2, Decimal("0.12"), 0), ("sd", 1, Decimal(0), 0), ("comfyui", 1, Decimal(0), 1),
    ]
    assert [(r.key, r.cost) for r in report.by_day] == [
        (today.isoformat(), Decimal("0.08")), ((today - dt.timedelta(days=2)).isoformat(), Decimal("0.04")),
    ]
    assert report.total == Decimal("0.12") and report.images == 4


def test_spend_report_range_is_inclusive(spend):
    day = timezone.localdate() - dt.timedelta(days=2)
    report = usage.spend_report(date_from=day, date_to=day)
    assert report.total == Decimal("0.04") and [r.key for r in report.by_user] == ["alice"]


@pytest.mark.parametrize("params, expected_days", [
    ({}, 30),
    ({"date_from": "2026-01-01", "date_to": "2026-01-31"}, 31),
    ({"date_from": "2026-01-31", "date_to": "2026-01-01"}, 31),  # put the right way round
    ({"date_from": "nonsense", "date_to": "9999-12-31"}, 30),  # ignored, not an error
])
def test_parse_range(params, expected_days):
    date_from, date_to = usage.parse_range(params)
    assert (date_to - date_from).days + 1 == expected_days


def test_usage_page_is_for_staff(client, spend, settings):
    assert client.get("/images/usage/").status_code == 302  # to the login page
    client.force_login(UserFactory(username="writer"))
    assert client.get("/images/usage/").status_code == 403
    staff = UserFactory(username="boss", is_staff=True)
    client.force_login(staff)
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5", "global_monthly": "50"}
    response = client.get("/images/usage/")
    assert response.status_code == 200
    html = response.content.decode()
    # The month's spend is today's $0.08, plus alice's $0.04 of two days ago when that day is
    # in this month too (on the 1st and 2nd it is last month's).
    today = timezone.localdate()
    this_month = Decimal("0.08") + (Decimal("0.04") if (today - dt.timedelta(days=2)).month == today.month else 0)
    remaining = f"${Decimal(50) - this_month:.2f}"
    for fragment in ('id="by-user"', 'id="by-provider"', 'id="by-day"', 'id="budgets"', "alice", "openai",
                     "$0.1200", "global_monthly", remaining, "(nobody)", "without a price"):
        assert fragment in html, fragment
    assert response.context["report"].total == Decimal("0.12")


def test_usage_page_date_range(client, spend):
    client.force_login(UserFactory(is_staff=True))
    old = (timezone.localdate() - dt.timedelta(days=40)).isoformat()
    response = client.get("/images/usage/", {"date_from": old, "date_to": old})
    assert response.context["report"].total == Decimal("1.00")
    assert f'value="{old}"' in response.content.decode()
