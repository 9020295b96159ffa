"""`python manage.py seed_demo`: a demo post, prompt examples, settings and a staff login.

Idempotent: run it again and nothing is duplicated; the demo user's password is only
(re)set when the user is created or `--reset-password` is given, and printed once.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from blogimages.models import ImagePromptExample, ImageSetting
from blogimages.presets import install_shipped_presets
from posts.models import Post, PostStatus, Section

DEMO_USERNAME = "demo"

SETTINGS = [
    {"name": "Cards 1024 square", "provider": "cards", "width": 1024, "height": 1024},
    {"name": "Cards social card", "provider": "cards", "width": 1200, "height": 630},
    {"name": "Cards 16:9 header", "provider": "cards", "width": 1600, "height": 900},
]

EXAMPLES = [
    {
        "name": "Section cover",
        "description": "{heading}",
        "style": "warm sunset gradient, editorial",
        "format": "wide blog header",
        "tags": "cover, section",
        "setting": "Cards 16:9 header",
        "notes": "Default template for a section image: the heading as a title card.",
        "rating": 4,
    },
    {
        "name": "Post social card",
        "description": "{title}",
        "style": "ocean blue, minimal",
        "format": "social card",
        "tags": "social, post",
        "setting": "Cards social card",
        "rating": 5,
    },
    {
        "name": "Moody illustration",
        "description": "An illustration of {heading}: {section_text}",
        "style": "noir, dramatic lighting",
        "format": "square",
        "negative_prompt": "text, watermark, blurry",
        "tags": "illustration",
        "setting": "Cards 1024 square",
        "rating": 3,
    },
    {
        "name": "Pastel summary",
        "description": "{summary}",
        "style": "pastel watercolor",
        "format": "square thumbnail",
        "tags": "summary, soft",
        "setting": "Cards 1024 square",
    },
]

POST = {
    "slug": "a-weekend-on-the-coast",
    "title": "A Weekend on the Coast",
    "summary": "Two days of lighthouses, tide pools and too much seafood on the northern coast.",
    "tags": "travel, coast, lighthouses",
    "body": "Notes from a slow weekend by the sea.",
}

SECTIONS = [
    ("arrival", "Arriving at dusk", "We reached the harbour just as the lighthouse came on, the sky orange over grey water."),
    ("tide-pools", "Tide pools at low tide", "Starfish, anemones and a crab that did not like being photographed."),
    ("lighthouse", "Climbing the lighthouse", "One hundred and twelve steps to a view of the whole bay."),
    ("seafood", "The seafood shack", "Mussels, chips and a storm rolling in over the headland."),
    ("heading-home", "Heading home", "A last walk on the beach before the long drive back inland."),
]


class Command(BaseCommand):
    help = "Create the demo post, prompt examples, settings and a staff login (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset-password", action="store_true", help="Give the demo user a new password.")

    @transaction.atomic
    def handle(self, *args, **opts) -> None:
        settings_by_name = {}
        for data in SETTINGS:
            setting, _ = ImageSetting.objects.update_or_create(name=data["name"], defaults=data)
            settings_by_name[setting.name] = setting
        for data in EXAMPLES:
            data = dict(data)
            data["setting"] = settings_by_name[data.pop("setting")]
            ImagePromptExample.objects.update_or_create(name=data["name"], defaults=data)

        # The avatar, icon and logo mark presets the app ships with.
        install_shipped_presets()

        post, _ = Post.objects.update_or_create(
            slug=POST["slug"], defaults={**POST, "status": PostStatus.DRAFT}
        )
        for order, (key, heading, body) in enumerate(SECTIONS):
            Section.objects.update_or_create(
                post=post, key=key, defaults={"order": order, "heading": heading, "body": body}
            )

        password = self._demo_user(reset=opts["reset_password"])
        self.stdout.write(
            f"Demo ready: post '{post.title}' ({post.sections.count()} sections), "
            f"{len(EXAMPLES)} prompt examples, {len(SETTINGS)} settings."
        )
        if password:
            self.stdout.write(f"Staff login: {DEMO_USERNAME} / {password}   (shown once; keep it)")
        else:
            self.stdout.write(
                f"Staff login '{DEMO_USERNAME}' already exists; run with --reset-password for a new password."
            )

    def _demo_user(self, *, reset: bool) -> str | None:
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "email": "demo@example.invalid"}
        )
        if not (created or reset):
            return None
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_staff = True
        user.save()
        # An editor, not a superuser: full rights on the blog and its images only.
        user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=("blogimages", "posts")))
        return password
