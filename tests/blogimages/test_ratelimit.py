"""Rate limits per user and per token, per minute and per day, counted by `limits`
(sliding-window counter) in memory here; the Redis case across processes is in
tests/test_production.py."""

import datetime as dt
import uuid

import pytest
import time_machine

from blogimages import ratelimit, tokens
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 1, 15, 0, 0, 0, tzinfo=dt.UTC)  # midnight: minute and day windows both start here


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    # Own keys per test, and this process's memory: the clock below moves only this process.
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"
    settings.BLOGIMAGES_RATE_LIMIT_STORAGE_URI = "memory://"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def user():
    return UserFactory()


def limits(settings, **values):
    settings.BLOGIMAGES_RATE_LIMITS = values


def test_per_minute_limit_refuses_with_time_to_the_next_free_slot(settings, user, clock):
    limits(settings, user_per_minute=2)
    ratelimit.hit(user=user)
    clock.shift(10)
    statuses = ratelimit.hit(user=user)
    assert [(s.scope, s.period, s.count, s.remaining) for s in statuses] == [("user", "minute", 2, 0)]
    clock.shift(5.5)
    with pytest.raises(ratelimit.RateLimited) as caught:
        ratelimit.hit(user=user)
    assert caught.value.retry_after == 45  # the window turns in 44.5 s, rounded up
    assert caught.value.scope == "user" and caught.value.period == "minute" and caught.value.limit == 2
    assert "2 request(s) per minute for your account" in str(caught.value)
    assert caught.value.headers() == {"Retry-After": "45", "x-ratelimit-limit-requests": "2",
                                      "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "45s"}


def test_the_window_slides_instead_of_starting_afresh(settings, user, clock):
    """A fixed window would let 2 more through the moment the minute turns; the sliding
    window still weighs the last minute's requests and frees them gradually."""
    limits(settings, user_per_minute=2)
    clock.shift(59)
    ratelimit.hit(user=user)
    ratelimit.hit(user=user)
    clock.shift(1)  # a new minute, but both requests are a second old
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit(user=user)
    clock.shift(30)  # half the previous minute still weighs: 2 * 0.5 = 1 request
    ratelimit.hit(user=user)
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit(user=user)


def test_users_are_counted_separately(settings, user, clock):
    limits(settings, user_per_minute=1)
    ratelimit.hit(user=user)
    ratelimit.hit(user=UserFactory())
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit(user=user)


def test_token_limit_is_per_token_and_user_limit_covers_all_of_a_users_tokens(settings, user, clock):
    limits(settings, token_per_minute=1, user_per_minute=3)
    first, _ = tokens.create_token(user)
    second, _ = tokens.create_token(user)
    ratelimit.hit(user=user, token=first)
    with pytest.raises(ratelimit.RateLimited, match="for this API token"):
        ratelimit.hit(user=user, token=first)
    ratelimit.hit(user=user, token=second)
    ratelimit.hit(user=user)  # a session: no token limit, but the user's
    with pytest.raises(ratelimit.RateLimited, match="for your account"):
        ratelimit.hit(user=user)


def test_a_refused_request_does_not_use_up_the_day(settings, user, clock):
    limits(settings, user_per_minute=1, user_per_day=3)
    ratelimit.hit(user=user)
    for _ in range(5):
        with pytest.raises(ratelimit.RateLimited):
            ratelimit.hit(user=user)
    clock.shift(120)
    ratelimit.hit(user=user)
    clock.shift(120)
    day = ratelimit.hit(user=user)
    assert {s.period: s.count for s in day} == {"minute": 1, "day": 3}
    clock.shift(120)
    with pytest.raises(ratelimit.RateLimited) as caught:
        ratelimit.hit(user=user)
    # The minute's limit is free again; the day's frees when the day turns.
    assert caught.value.period == "day" and caught.value.retry_after == 86_400 - 360


def test_unset_limits_and_anonymous_callers_are_not_counted(settings, user, clock):
    limits(settings, user_per_minute=None, token_per_minute=None)
    for _ in range(50):
        assert ratelimit.hit(user=user) == []
    limits(settings, user_per_minute=1)
    from django.contrib.auth.models import AnonymousUser

    assert ratelimit.hit(user=AnonymousUser()) == []


def test_headers_name_the_tightest_limit_and_status_counts_nothing(settings, user, clock):
    limits(settings, user_per_minute=5, user_per_day=100)
    ratelimit.hit(user=user)
    clock.shift(30)
    statuses = ratelimit.hit(user=user)
    assert ratelimit.headers_for(statuses) == {
        "x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "30s",
    }
    assert ratelimit.status(user=user) == statuses  # reading is not counting
    assert ratelimit.headers_for([]) == {}


def test_counts_are_shared_through_the_storage_not_module_state(settings, user, clock):
    """Two "processes" share counters when they share the storage: a second limiter on the
    same storage sees this one's requests."""
    from limits import RateLimitItemPerMinute
    from limits.strategies import SlidingWindowCounterRateLimiter

    limits(settings, user_per_minute=2)
    ratelimit.hit(user=user)
    other = SlidingWindowCounterRateLimiter(ratelimit._limiter().storage)
    item = RateLimitItemPerMinute(2, namespace=settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX)
    assert other.hit(item, "user", str(user.pk))  # another web process counted one
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit(user=user)


def test_the_storage_follows_redis_url(settings):
    settings.BLOGIMAGES_RATE_LIMIT_STORAGE_URI = ""
    settings.REDIS_URL = "redis://127.0.0.1:6379/2"
    assert ratelimit.storage_uri() == "redis://127.0.0.1:6379/2" and ratelimit.is_shared()
    settings.REDIS_URL = ""
    assert ratelimit.storage_uri() == "memory://" and not ratelimit.is_shared()


def test_check_warns_when_counts_are_per_process_and_several_processes_may_serve(settings, monkeypatch):
    from blogimages.checks import check_shared_counters

    settings.REDIS_URL, settings.CELERY_TASK_ALWAYS_EAGER = "", True
    settings.BLOGIMAGES_RATE_LIMIT_STORAGE_URI = "memory://"
    settings.BLOGIMAGES_PROVIDERS = {"cards": {"BACKEND": "blogimages.providers.cards.CardsProvider",
                                               "OPTIONS": {"max_concurrency": 2}}}
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    assert check_shared_counters() == []  # one process: its own counts are everyone's
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    messages = check_shared_counters()
    assert [m.id for m in messages] == ["blogimages.W020", "blogimages.W021"]
    assert "memory://" in messages[0].msg and "REDIS_URL" in messages[0].hint
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--workers 3 --timeout 60")
    assert len(check_shared_counters()) == 2
    settings.REDIS_URL = "redis://127.0.0.1:6379/2"
    settings.BLOGIMAGES_RATE_LIMIT_STORAGE_URI = ""
    assert check_shared_counters() == []  # Redis shares both
