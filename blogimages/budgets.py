"""Cost budgets: refuse a request before any provider is called if it would overspend.

Limits are USD per day and per month, per user and for the whole site
(`BLOGIMAGES_BUDGETS`). Spend is the estimated cost of the images made in the period
(failed ones cost nothing) plus the priced LLM calls (`LlmCall`).

A request's queued ImageOutputs, with their `cost_estimate`, are its reservation: they count
as spend from the moment they are inserted, and are settled when the call ends (the priced
`cost` replaces the estimate; a failed image that was not paid for counts nothing).
`reserve` makes the check and that insert one step: concurrent requests take turns, so two
of them cannot both see the same money left.

An unknown cost (an estimate of None: no price for the request in its provider's list) is
never counted as free: while a budget applies to the request it is refused (`PriceUnknown`),
as a request over budget is, before anything is stored or any provider called. Free is a
price of 0 (the local providers list `{"*": 0}`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from .conf import blogimages_settings
from .exceptions import BlogImagesError
from .models import ImageOutput, LlmCall, OutputStatus


class BudgetExceeded(BlogImagesError):
    """The request's estimated cost would take a budget over its limit."""

    def __init__(self, message: str, *, scope: str, limit: Decimal, spent: Decimal, cost: Decimal) -> None:
        super().__init__(message)
        self.scope, self.limit, self.spent, self.cost = scope, limit, spent, cost


class PriceUnknown(BudgetExceeded):
    """A budget applies and the request's cost cannot be estimated: refused, never counted free.
    Retrying will not help until the provider's price list covers the request."""


@dataclass(frozen=True)
class Budget:
    scope: str  # "user_daily", "user_monthly", "global_daily", "global_monthly"
    limit: Decimal
    spent: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(Decimal("0"), self.limit - self.spent)


def period_start(period: str):
    """The local midnight (in TIME_ZONE) that starts today's or this month's budget."""
    now = timezone.localtime()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.replace(day=1) if period == "monthly" else start


def seconds_until_reset(period: str) -> int:
    """Whole seconds until the budget period ("daily" or "monthly") starts afresh."""
    start = period_start(period)
    # Wall-clock arithmetic gives the next local midnight; the subtraction must be in UTC, or a
    # day with a daylight-saving change would be off by its hour (same-tzinfo subtraction
    # ignores the offsets).
    reset = (start + dt.timedelta(days=32)).replace(day=1) if period == "monthly" else start + dt.timedelta(days=1)
    return max(1, math.ceil((reset - timezone.now()).total_seconds()))


# What an image cost: its priced cost once made, else the estimate it was queued with.
SPEND = Coalesce("cost", "cost_estimate")


def charged(images):
    """Images that count as spend: every one not failed, and failed ones that were paid for."""
    return images.filter(~Q(status=OutputStatus.FAILED) | Q(cost__isnull=False))


def spent(*, user=None, period: str) -> Decimal:
    """Images made plus LLM calls priced in the period."""
    start = period_start(period)
    images = charged(ImageOutput.objects.filter(created_at__gte=start))
    calls = LlmCall.objects.filter(created_at__gte=start, cost__isnull=False)
    if user is not None:
        images = images.filter(created_by=user)
        calls = calls.filter(user=user)
    total = images.aggregate(total=Sum(SPEND))["total"] or Decimal("0")
    return total + (calls.aggregate(total=Sum("cost"))["total"] or Decimal("0"))


def budgets_for(user) -> list[Budget]:
    """Every configured budget that applies to `user` (None = anonymous/system)."""
    limits = blogimages_settings.BUDGETS or {}
    result = []
    for scope in ("user_daily", "user_monthly", "global_daily", "global_monthly"):
        limit = limits.get(scope)
        if limit in (None, ""):
            continue
        who, period = scope.split("_")
        if who == "user" and not getattr(user, "is_authenticated", False):
            continue
        result.append(Budget(scope=scope, limit=Decimal(str(limit)),
                             spent=spent(user=user if who == "user" else None, period=period)))
    return result


def check_budget(*, user, cost: Decimal | None, label: str = "") -> None:
    """Raise BudgetExceeded if spending `cost` more would break any budget, PriceUnknown if
    `cost` is None (unknown) while any budget applies. `label` names what was priced."""
    if cost is None:
        _refuse_unknown(user, label)
        return  # no budget applies: nothing to judge
    if not cost:
        return  # free
    for budget in budgets_for(user):
        if budget.spent + cost > budget.limit:
            who, period = budget.scope.split("_")
            owner = "your" if who == "user" else "the site's"
            raise BudgetExceeded(
                f"This request would cost about ${cost:.2f}, over {owner} {period} budget "
                f"(${budget.limit:.2f}, ${budget.spent:.2f} already spent, ${budget.remaining:.2f} left).",
                scope=budget.scope, limit=budget.limit, spent=budget.spent, cost=cost,
            )


def _refuse_unknown(user, label: str) -> None:
    applying = budgets_for(user)
    if not applying:
        return
    budget = applying[0]
    who, period = budget.scope.split("_")
    owner = "your" if who == "user" else "the site's"
    what = f" for {label}" if label else ""
    raise PriceUnknown(
        f"The cost of this request is unknown (no price{what} in the provider's price list), and "
        f"{owner} {period} budget (${budget.limit:.2f}) applies: it is refused rather than counted as free. "
        "Add the price to the provider's OPTIONS[\"prices\"], or choose a priced provider, model or quality.",
        scope=budget.scope, limit=budget.limit, spent=budget.spent, cost=None,
    )


# Any constant: the PostgreSQL advisory lock that serializes budget reservations.
RESERVATION_LOCK = 0x62_69_62_75  # "bibu"


def reserve(*, user, cost: Decimal | None, label: str = "") -> None:
    """check_budget, held until the surrounding transaction ends: call it inside
    `transaction.atomic()` right before inserting the rows that spend `cost`.

    PostgreSQL: a transaction-level advisory lock, so the next reservation reads the spend
    only after this one's rows are committed. SQLite: the app's transactions begin
    IMMEDIATE (config/settings.py), which already makes them take turns.
    An unknown `cost` (None) is refused while a budget applies (see PriceUnknown).
    """
    if cost == 0 or not budgets_configured():
        return  # free, or no budget at all: nothing to judge, nothing to wait for
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("budgets.reserve must run inside transaction.atomic()")
    if cost is None:
        _refuse_unknown(user, label)  # a refusal reserves nothing: no need to take a turn
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RESERVATION_LOCK])
    check_budget(user=user, cost=cost, label=label)


def budgets_configured() -> bool:
    return any(value not in (None, "") for value in (blogimages_settings.BUDGETS or {}).values())
