"""Rate limits per user and per token, per minute and per day, in the cache."""

import uuid

import pytest

from blogimages import ratelimit, tokens
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = 20_834 * 86_400.0  # midnight UTC: minute and day windows both start here


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    # Own keys per test: works on Redis too, where clearing the cache would flush Celery's queue.
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"


@pytest.fixture
def user():
    return UserFactory()


def limits(settings, **values):
    settings.BLOGIMAGES_RATE_LIMITS = values


def test_per_minute_limit_refuses_with_time_to_reset(settings, user):
    limits(settings, user_per_minute=2)
    ratelimit.hit(user=user, now=NOW)
    statuses = ratelimit.hit(user=user, now=NOW + 10)
    assert [(s.scope, s.period, s.count, s.remaining) for s in statuses] == [("user", "minute", 2, 0)]
    with pytest.raises(ratelimit.RateLimited) as caught:
        ratelimit.hit(user=user, now=NOW + 15.5)
    assert caught.value.retry_after == 45  # 44.5 s left, rounded up
    assert caught.value.scope == "user" and caught.value.period == "minute" and caught.value.limit == 2
    assert "2 request(s) per minute for your account" in str(caught.value)
    # The next window starts afresh.
    assert ratelimit.hit(user=user, now=NOW + 60)[0].count == 1


def test_users_are_counted_separately(settings, user):
    limits(settings, user_per_minute=1)
    ratelimit.hit(user=user, now=NOW)
    ratelimit.hit(user=UserFactory(), now=NOW)
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit(user=user, now=NOW)


def test_token_limit_is_per_token_and_user_limit_covers_all_of_a_users_tokens(settings, user):
    limits(settings, token_per_minute=1, user_per_minute=3)
    first, _ = tokens.create_token(user)
    second, _ = tokens.create_token(user)
    ratelimit.hit(user=user, token=first, now=NOW)
    with pytest.raises(ratelimit.RateLimited, match="for this API token"):
        ratelimit.hit(user=user, token=first, now=NOW)
    ratelimit.hit(user=user, token=second, now=NOW)
    ratelimit.hit(user=user, now=NOW)  # a session: no token limit, but the user's
    with pytest.raises(ratelimit.RateLimited, match="for your account"):
        ratelimit.hit(user=user, now=NOW)


def test_a_refused_request_does_not_use_up_the_day(settings, user):
    limits(settings, user_per_minute=1, user_per_day=3)
    ratelimit.hit(user=user, now=NOW)
    for _ in range(5):
        with pytest.raises(ratelimit.RateLimited):
            ratelimit.hit(user=user, now=NOW + 1)
    ratelimit.hit(user=user, now=NOW + 60)
    day = ratelimit.hit(user=user, now=NOW + 120)
    assert {s.period: s.count for s in day} == {"minute": 1, "day": 3}
    with pytest.raises(ratelimit.RateLimited) as caught:
        ratelimit.hit(user=user, now=NOW + 180)
    # The minute window would free first, the day's last: wait for the day.
    assert caught.value.period == "day" and caught.value.retry_after == 86_400 - 180


def test_unset_limits_and_anonymous_callers_are_not_counted(settings, user):
    limits(settings, user_per_minute=None, token_per_minute=None)
    for _ in range(50):
        assert ratelimit.hit(user=user, now=NOW) == []
    limits(settings, user_per_minute=1)
    from django.contrib.auth.models import AnonymousUser

    assert ratelimit.hit(user=AnonymousUser(), now=NOW) == []


def test_headers_name_the_tightest_limit(settings, user):
    limits(settings, user_per_minute=5, user_per_day=100)
    ratelimit.hit(user=user, now=NOW)
    statuses = ratelimit.hit(user=user, now=NOW + 30)
    assert ratelimit.headers_for(statuses) == {
        "x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "30s",
    }
    assert ratelimit.headers_for([]) == {}


def test_counts_are_shared_through_the_cache(settings, user):
    """Two "processes" share counters because they share the cache, not module state."""
    from django.core.cache import caches

    limits(settings, user_per_minute=2)
    ratelimit.hit(user=user, now=NOW)
    key = f"{settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX}:user:{user.pk}:minute:{int(NOW // 60)}"
    assert caches["default"].get(key) == 1
    caches["default"].incr(key)  # another web process counted one
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit(user=user, now=NOW)
