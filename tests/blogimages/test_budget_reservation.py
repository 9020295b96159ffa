"""The budget check and the spend are one step: concurrent requests cannot overspend."""

from decimal import Decimal

import pytest

from blogimages import budgets, generation
from blogimages.budgets import BudgetExceeded
from blogimages.models import ImageOutput, OutputStatus
from tests.concurrent_calls import at_once, require_postgresql
from tests.factories import UserFactory


@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_requests_cannot_overspend(settings, recorder):
    require_postgresql()
    settings.BLOGIMAGES_RATE_LIMITS = {}
    # The recorder costs $0.04 an image: room for exactly 5 of the 8.
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.20"}
    user = UserFactory()

    outcomes = at_once(8, lambda: generation.generate(prompt="A lighthouse", provider="test",
                                                      overrides={"width": 32, "height": 32}, user=user),
                       refused=BudgetExceeded)

    assert outcomes == ["made"] * 5 + ["refused"] * 3
    assert ImageOutput.objects.filter(status=OutputStatus.SUCCEEDED).count() == 5
    assert budgets.spent(user=user, period="daily") == Decimal("0.20")


@pytest.mark.django_db(transaction=True)
def test_a_reservation_outside_a_transaction_is_refused(settings):
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "1"}
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        budgets.reserve(user=None, cost=Decimal("0.10"))  # it would hold nothing


@pytest.mark.django_db
def test_failed_images_give_their_reservation_back(settings, recorder):
    from blogimages.exceptions import ProviderServerError

    settings.BLOGIMAGES_RATE_LIMITS = {}
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.04"}
    user = UserFactory()
    recorder.script(ProviderServerError("upstream down", provider="test"))
    [failed] = generation.generate(prompt="x", provider="test", overrides={"width": 32, "height": 32}, user=user)
    assert failed.status == OutputStatus.FAILED
    assert budgets.spent(user=user, period="daily") == 0  # settled: nothing was paid for
    [made] = generation.generate(prompt="x", provider="test", overrides={"width": 32, "height": 32}, user=user)
    assert made.status == OutputStatus.SUCCEEDED
    with pytest.raises(BudgetExceeded):
        generation.generate(prompt="x", provider="test", overrides={"width": 32, "height": 32}, user=user)
