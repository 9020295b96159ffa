"""What the images cost: spend by user, by provider and by day (reads only), and the
staff page that shows it with the budgets.

Spend is the priced cost of every image (from the provider's usage, else its estimate)
that did not fail or was paid for, the same measure the
budgets use (`budgets.spent`), so the page and the refusals always agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET

from . import budgets
from .models import ImageOutput

DEFAULT_DAYS = 30
# Dates outside this span are refused as "no such date" rather than overflowing datetime.
MIN_YEAR, MAX_YEAR = 1970, 9998


@dataclass(frozen=True, kw_only=True)
class SpendRow:
    key: str  # a username ("" for images nobody requested), a provider alias, or an ISO date
    images: int
    cost: Decimal
    unpriced: int = 0  # images whose provider has no price table


@dataclass(frozen=True, kw_only=True)
class UsageReport:
    date_from: dt.date
    date_to: dt.date
    by_user: list[SpendRow] = field(default_factory=list)
    by_provider: list[SpendRow] = field(default_factory=list)
    by_day: list[SpendRow] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((row.cost for row in self.by_provider), Decimal(0))

    @property
    def images(self) -> int:
        return sum(row.images for row in self.by_provider)


def _images_between(date_from: dt.date, date_to: dt.date) -> QuerySet[ImageOutput]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return budgets.charged(ImageOutput.objects.filter(created_at__gte=start, created_at__lt=end))


TOTALS = {
    "images": Count("pk"),
    # Not "cost": that is a field of the images, which the sum reads.
    "spend": Sum(budgets.SPEND),
    "unpriced": Count("pk", filter=Q(cost__isnull=True, cost_estimate__isnull=True)),
}


def _grouped(images: QuerySet[ImageOutput], key: str, *, order_by) -> list[SpendRow]:
    return [
        SpendRow(key=str(item[key] or ""), images=item["images"], cost=item["spend"] or Decimal(0),
                 unpriced=item["unpriced"])
        for item in images.values(key).annotate(**TOTALS).order_by(*order_by)
    ]


def spend_report(*, date_from: dt.date, date_to: dt.date) -> UsageReport:
    """Spend between two dates (inclusive, in the site's time zone). Three grouped queries."""
    images = _images_between(date_from, date_to)
    most_first = F("spend").desc(nulls_last=True)
    by_user = _grouped(images, "created_by__username", order_by=[most_first, "created_by__username"])
    by_provider = _grouped(images, "provider", order_by=[most_first, "provider"])
    days = images.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
    by_day = _grouped(days, "day", order_by=["-day"])
    return UsageReport(date_from=date_from, date_to=date_to, by_user=by_user, by_provider=by_provider, by_day=by_day)


def parse_range(params) -> tuple[dt.date, dt.date]:
    """The date range a query string asks for; the last DEFAULT_DAYS days by default.

    A date that does not parse (or is absurd) falls back to the default; a reversed
    range is put the right way round.
    """
    today = timezone.localdate()

    def date(name: str) -> dt.date | None:
        value = (params.get(name) or "").strip()
        try:
            parsed = parse_date(value) if value else None
        except ValueError:
            return None
        return parsed if parsed and MIN_YEAR <= parsed.year <= MAX_YEAR else None

    date_to = date("date_to") or today
    date_from = date("date_from") or (date_to - dt.timedelta(days=DEFAULT_DAYS - 1))
    if date_from > date_to:
        date_from, date_to = date_to, date_from
    return date_from, date_to


# -- the staff page ----------------------------------------------------------------------


@require_GET
@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("The usage page is for staff.")
    date_from, date_to = parse_range(request.GET)
    report = spend_report(date_from=date_from, date_to=date_to)
    return render(request, "blogimages/api/usage.html", {
        "report": report,
        "budgets": budgets.budgets_for(request.user),
        "date_from": date_from,
        "date_to": date_to,
    })
