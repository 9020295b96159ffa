"""What every blogimages command shares."""

import sys

from django.core.management.base import BaseCommand


class OneLineErrorCommand(BaseCommand):
    """Bad arguments give one line on stderr and exit 2, not argparse's usage block:
    scripts read one line, people read one line."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message: str) -> None:
            sys.stderr.write(f"error: {message}\n")
            sys.exit(2)

        parser.error = one_line_error
        return parser


USER_HELP = ("Username the run is recorded for: it shows in their prompt history, their auto-add board "
             "collects it and the images are theirs. Without it the run is recorded for nobody "
             "(staff see it in the history under 'Unattributed').")


def user_named(username: str | None):
    """The active user a command's `--user` names, None without one; CommandError otherwise."""
    from django.contrib.auth import get_user_model
    from django.core.management.base import CommandError

    if username is None:
        return None
    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username.strip()}).first() if username.strip() else None
    if user is None:
        raise CommandError(f"--user: no user {username!r}.")
    if not user.is_active:
        raise CommandError(f"--user: {username!r} is not an active user.")
    return user
