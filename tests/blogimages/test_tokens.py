"""Personal API tokens: made once, stored hashed, revocable, time of use recorded."""

import datetime as dt
import hashlib
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from blogimages import tokens
from blogimages.models import ApiToken
from tests.factories import UserFactory

# Expiry and time of use are read from the clock: frozen, so "now" is one instant.
pytestmark = [pytest.mark.django_db, pytest.mark.clock]

TOKEN_RE = re.compile(r"^bi_[A-Za-z0-9_-]{40}$")


def test_create_token_returns_the_raw_token_once_and_stores_only_its_hash():
    user = UserFactory()
    token, raw = tokens.create_token(user, name="static site")
    assert TOKEN_RE.match(raw)
    token.refresh_from_db()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[3:11] and token.name == "static site"
    # The raw token is nowhere in the row.
    assert all(raw not in str(getattr(token, f.attname)) for f in ApiToken._meta.concrete_fields)
    assert tokens.create_token(user)[1] != raw


def test_authenticate_accepts_the_token_and_records_its_use():
    user = UserFactory()
    token, raw = tokens.create_token(user)
    assert token.last_used_at is None
    found = tokens.authenticate_token(raw)
    assert found == token and found.user == user
    token.refresh_from_db()
    assert token.last_used_at == timezone.now()


def test_last_used_is_written_at_most_once_a_minute(django_assert_num_queries, clock):
    token, raw = tokens.create_token(UserFactory())
    tokens.authenticate_token(raw)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    clock.shift(59.999)
    with django_assert_num_queries(1):  # the lookup only, no write
        tokens.authenticate_token(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    clock.shift(0.001)  # a minute since the last write: written again
    tokens.authenticate_token(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first + dt.timedelta(minutes=1)


@pytest.mark.parametrize("raw", [None, "", "bi_", "bi_wrong", "Bearer x", "x" * 500, "bi_\x00", "bi_\ud800"])
def test_authenticate_refuses_anything_else(raw):
    tokens.create_token(UserFactory())
    assert tokens.authenticate_token(raw) is None


def test_revoked_expired_and_inactive_tokens_are_refused():
    user = UserFactory()
    revoked, raw_revoked = tokens.create_token(user)
    tokens.revoke_token(revoked)
    first_revocation = revoked.revoked_at
    assert first_revocation is not None and not revoked.is_active
    tokens.revoke_token(revoked)
    assert revoked.revoked_at == first_revocation  # idempotent
    assert tokens.authenticate_token(raw_revoked) is None

    _, raw_expired = tokens.create_token(user, expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert tokens.authenticate_token(raw_expired) is None
    _, raw_future = tokens.create_token(user, expires_at=timezone.now() + dt.timedelta(days=1))
    assert tokens.authenticate_token(raw_future) is not None

    user.is_active = False
    user.save()
    assert tokens.authenticate_token(raw_future) is None


def test_management_command_prints_the_token_once():
    user = UserFactory(username="writer")
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "writer", "--name", "ssg", "--expires-days", "30", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert TOKEN_RE.match(raw)
    token = ApiToken.objects.get(user=user)
    assert token.name == "ssg" and token.prefix == raw[3:11]
    assert token.expires_at == timezone.now() + dt.timedelta(days=30)
    assert raw not in err.getvalue() and "cannot be shown again" in err.getvalue()
    assert tokens.authenticate_token(raw) == token


def test_management_command_refuses_unknown_and_inactive_users():
    with pytest.raises(CommandError, match="No user 'ghost'"):
        call_command("create_api_token", "ghost", stdout=io.StringIO(), stderr=io.StringIO())
    UserFactory(username="gone", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        call_command("create_api_token", "gone", stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()
