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
