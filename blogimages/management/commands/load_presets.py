"""`python manage.py load_presets`: the library presets that ship with blogimages (avatar, icon, logo mark)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from blogimages.presets import SHIPPED_EXAMPLES, SHIPPED_SETTINGS, install_shipped_presets


class Command(BaseCommand):
    help = ("Add the shipped settings and prompt examples (avatar, icon, logo mark) that are missing; "
            "ones of the same name are left as they are.")

    def handle(self, *args, **options) -> None:
        settings, examples = install_shipped_presets()
        self.stdout.write(f"Shipped presets: {settings} of {len(SHIPPED_SETTINGS)} settings and "
                          f"{examples} of {len(SHIPPED_EXAMPLES)} prompt examples added; the rest were there.")
