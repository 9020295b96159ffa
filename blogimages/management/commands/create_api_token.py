"""`python manage.py create_api_token USER [--name NAME] [--expires-days N]`

Prints the new token once; only its hash is stored, so it cannot be shown again.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from blogimages.tokens import create_token


class Command(BaseCommand):
    help = "Create a personal API token for USER and print it (once: only a hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="The username the token acts as.")
        parser.add_argument("--name", default="", help="What the token is for, e.g. 'static site build'.")
        parser.add_argument("--expires-days", type=int, help="Expire the token after this many days.")

    def handle(self, *args, **opts) -> None:
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(opts["user"])
        except User.DoesNotExist:
            raise CommandError(f"No user {opts['user']!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {opts['user']!r} is inactive; its tokens would not work.")
        expires_at = None
        if opts["expires_days"] is not None:
            if opts["expires_days"] < 1:
                raise CommandError("--expires-days must be at least 1.")
            expires_at = timezone.now() + dt.timedelta(days=opts["expires_days"])
        token, raw = create_token(user, name=opts["name"][:100], expires_at=expires_at)
        self.stderr.write(
            f"Token {token.prefix}… for {user.get_username()}"
            + (f", expires {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else "")
            + ". Copy it now: it is not stored and cannot be shown again."
        )
        self.stdout.write(raw)
