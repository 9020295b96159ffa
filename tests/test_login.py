"""Login throttling: repeated wrong passwords lock the username on that address, for a while."""

import datetime as dt

import pytest
from axes.models import AccessAttempt

from blogimages import tokens
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

LOGIN = "/accounts/login/"
PASSWORD = "pw-for-tests-only"


def attempt(client, username, password, ip="203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_repeated_failures_lock_out_even_the_right_password(client, settings):
    user = UserFactory(username="editor")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "editor", "wrong").status_code == 200  # the form again, with its error
    locked = attempt(client, "editor", "wrong")
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    right = attempt(client, "editor", PASSWORD)
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    attempts = AccessAttempt.objects.get(username="editor")
    assert attempts.failures_since_start == settings.AXES_FAILURE_LIMIT and attempts.ip_address == "203.0.113.7"
    assert user.is_active  # locked out of logging in, not deactivated


def test_the_lock_is_per_username_and_address(client, settings):
    UserFactory(username="editor")
    UserFactory(username="other")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "editor", "wrong")
    assert attempt(client, "editor", PASSWORD, ip="198.51.100.2").status_code == 302  # another address
    client.logout()
    assert attempt(client, "other", PASSWORD).status_code == 302  # another user, same address


def test_the_lock_ends_after_the_cool_off(client, settings, clock):
    UserFactory(username="editor")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "editor", "wrong")
    clock.shift(settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))
    assert attempt(client, "editor", PASSWORD).status_code == 429
    clock.shift(dt.timedelta(seconds=2))
    assert attempt(client, "editor", PASSWORD).status_code == 302 and "_auth_user_id" in client.session


def test_a_success_resets_the_count(client, settings):
    UserFactory(username="editor")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "editor", "wrong")
    assert attempt(client, "editor", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "editor", "wrong").status_code == 200


def test_api_tokens_are_not_affected_by_a_locked_login(client, settings):
    user = UserFactory(username="editor")
    _, raw = tokens.create_token(user)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "editor", "wrong")
    response = client.get("/v1/models", headers={"Authorization": f"Bearer {raw}"}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 200


def test_access_attempts_are_visible_in_the_admin(admin_client):
    AccessAttempt.objects.create(username="editor", ip_address="203.0.113.7", user_agent="x", failures_since_start=5,
                                 get_data="", post_data="", http_accept="", path_info=LOGIN)
    response = admin_client.get("/admin/axes/accessattempt/")
    assert response.status_code == 200 and b"203.0.113.7" in response.content
