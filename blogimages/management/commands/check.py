"""Django's `check`, which also shows blogimages' notes for the person reading it (e.g. that
nothing is signed with C2PA); other commands run the same checks without them, and so does
`check --deploy`, whose answer for a correctly configured site stays "no issues"."""

from django.core.management.commands.check import Command as DjangoCheck

from blogimages.checks import explicit_check


class Command(DjangoCheck):
    def handle(self, *args, **options):
        if options.get("deploy"):
            return super().handle(*args, **options)
        with explicit_check():
            return super().handle(*args, **options)
