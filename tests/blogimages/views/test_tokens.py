"""Each user's own API tokens page, and who may mint a token for whom."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from blogimages import tokens
from blogimages.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/images/tokens/"


@pytest.fixture
def writer(client):
    user = UserFactory(username="writer")
    client.force_login(user)
    return user


def test_the_page_needs_a_login(client):
    assert client.get(PAGE).status_code == 302


@pytest.mark.clock
def test_a_user_creates_a_token_shown_once(client, writer):
    response = client.post(PAGE, {"name": "static site", "expires_in_days": "30"})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    raw = response.context["raw_token"]
    assert raw.startswith("bi_") and raw in response.content.decode()
    token = ApiToken.objects.get(user=writer)
    assert token.name == "static site" and token.expires_at == timezone.now() + dt.timedelta(days=30)
    assert tokens.authenticate_token(raw) == token
    again = client.get(PAGE).content.decode()
    assert raw not in again and f"bi_{token.prefix}…" in again and "static site" in again


def test_bad_input_is_refused_with_the_field_named(client, writer):
    response = client.post(PAGE, {"expires_in_days": "0"})
    assert response.status_code == 400 and not ApiToken.objects.exists()
    assert "greater than or equal to 1" in response.content.decode()


def test_a_user_lists_and_revokes_only_their_own_tokens(client, writer):
    mine, _ = tokens.create_token(writer, "mine")
    theirs, raw_theirs = tokens.create_token(UserFactory(), "theirs")
    html = client.get(PAGE).content.decode()
    assert "mine" in html and "theirs" not in html
    assert client.post(f"/images/tokens/{theirs.pk}/revoke/").status_code == 404
    assert tokens.authenticate_token(raw_theirs) is not None
    assert client.post(f"/images/tokens/{mine.pk}/revoke/").status_code == 302
    mine.refresh_from_db()
    assert mine.revoked_at is not None and "revoked" in client.get(PAGE).content.decode()
    assert client.get(f"/images/tokens/{mine.pk}/revoke/").status_code == 405


def test_only_a_superuser_mints_a_token_for_another_user():
    staff, other = UserFactory(is_staff=True), UserFactory()
    superuser = UserFactory(is_staff=True, is_superuser=True)
    with pytest.raises(PermissionDenied):
        tokens.issue_token(user=superuser, by=staff)
    with pytest.raises(PermissionDenied):
        tokens.issue_token(user=other, by=staff)
    token, _ = tokens.issue_token(user=other, by=superuser)
    assert token.user == other
    assert tokens.issue_token(user=staff, by=staff)[0].user == staff


def test_revoking_another_users_token_takes_the_change_permission():
    owner = UserFactory()
    token, _ = tokens.create_token(owner)
    with pytest.raises(PermissionDenied):
        tokens.revoke_token(token, by=UserFactory())
    assert tokens.revoke_token(token, by=UserFactory(is_superuser=True)).revoked_at is not None


def test_the_admin_offers_a_staff_member_only_themselves(client):
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post("/admin/blogimages/apitoken/add/", {"user": superuser.pk, "name": "escalate"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.filter(user=superuser).exists()
    created = client.post("/admin/blogimages/apitoken/add/", {"user": staff.pk, "name": "mine"})
    assert created.status_code == 200 and ApiToken.objects.filter(user=staff, name="mine").exists()
