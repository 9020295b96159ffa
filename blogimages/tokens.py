"""Personal API tokens: created once, stored as a hash, revocable.

    token, raw = issue_token(user=user, by=request.user, name="static site")  # show `raw` once
    authenticate_token(raw)                                # -> ApiToken, or None
    revoke_token(token, by=request.user)

`issue_token` and `revoke_token(by=...)` hold the rule every face shares: a person mints and
revokes their own tokens; only a superuser mints one for somebody else (a token acts with all
of its user's rights), and revoking another's takes the change permission. `create_token`
is the unchecked primitive for operators (the `create_api_token` command) and tests.

A raw token is `bi_` followed by 40 URL-safe random characters. Only its SHA-256 is stored,
so a leaked database does not leak usable tokens; the lookup is by that hash (an indexed,
unique column), so no secret is ever compared character by character. `prefix` (the first
eight characters after `bi_`) tells tokens apart in lists and is not a secret. The raw
token is never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from .conf import blogimages_settings
from .models import ApiToken

logger = logging.getLogger("blogimages.tokens")

TOKEN_PREFIX = "bi_"
SECRET_CHARS = 40
PREFIX_CHARS = 8
# Anything longer cannot be one of ours: refuse it before hashing.
MAX_TOKEN_LENGTH = 200


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(user, name: str = "", *, expires_at: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the raw token (shown once, never stored)."""
    secret = secrets.token_urlsafe(SECRET_CHARS * 3 // 4)  # 30 random bytes -> 40 characters
    raw = f"{TOKEN_PREFIX}{secret}"
    token = ApiToken.objects.create(
        user=user, name=name, prefix=secret[:PREFIX_CHARS], token_hash=hash_token(raw), expires_at=expires_at
    )
    logger.info("API token %s… created for user %s", token.prefix, user.pk)
    return token, raw


def issue_token(*, user, by, name: str = "", expires_at: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """A token for `user` requested by `by`: themselves, or a superuser for anyone."""
    if not getattr(by, "is_authenticated", False) or (by.pk != user.pk and not by.is_superuser):
        raise PermissionDenied("Only a superuser can create an API token for another user.")
    if not user.is_active:
        raise PermissionDenied("An inactive user cannot have a new API token.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("The expiry must be in the future.")
    return create_token(user, name, expires_at=expires_at)


def tokens_of(user):
    """The user's tokens, newest first (for their own list)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def authenticate_token(raw: str | None) -> ApiToken | None:
    """The active token `raw` names (its user active too), or None.

    Records the time of use, at most once per TOKEN_LAST_USED_INTERVAL, so a busy client
    does not turn every request into a write.
    """
    if not raw or not isinstance(raw, str) or len(raw) > MAX_TOKEN_LENGTH or not raw.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(raw)
    token = ApiToken.objects.select_related("user").filter(token_hash=digest).first()
    # The database matched the hash; compare again in constant time so correctness never
    # depends on how the database compares strings (collations, trailing spaces).
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    interval = dt.timedelta(seconds=float(blogimages_settings.TOKEN_LAST_USED_INTERVAL))
    if token.last_used_at is None or now - token.last_used_at >= interval:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_token(token: ApiToken, *, by=None) -> ApiToken:
    """Revoke `token` now (idempotent: a revoked token keeps its first revocation time).

    With `by`, only the token's owner, a superuser or a holder of the change permission may.
    """
    if by is not None and by.pk != token.user_id and not by.has_perm("blogimages.change_apitoken"):
        raise PermissionDenied("You can only revoke your own API tokens.")
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    token.refresh_from_db(fields=["revoked_at"])
    logger.info("API token %s… revoked", token.prefix)
    return token
