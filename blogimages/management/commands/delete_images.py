"""`python manage.py delete_images IMAGE_ID... --user USERNAME`

Deletes images (and their files) as a named user, through the same service and permission
check as the gallery, the admin and the JSON API: an approved image, or one a post slot
shows, needs a user with review rights; a slot it leaves gets the newest other approved
image made for it, or the image is not deleted. Each image is tried; refusals are listed
and the command exits 1 if any image was not deleted.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError

from blogimages import review
from blogimages.management.base import OneLineErrorCommand
from blogimages.models import ImageOutput


class Command(OneLineErrorCommand):
    help = "Delete images as a user, with that user's rights (approved or chosen images: reviewers only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("image_ids", nargs="+", type=int, metavar="IMAGE_ID", help="ImageOutput ids.")
        parser.add_argument("--user", required=True, help="Username whose rights the deletion uses.")

    def handle(self, *args, **opts) -> None:
        User = get_user_model()
        user = User._default_manager.filter(**{User.USERNAME_FIELD: opts["user"]}).first()
        if user is None:
            raise CommandError(f"No user {opts['user']!r}.")
        ids = list(dict.fromkeys(opts["image_ids"]))
        found = ImageOutput.objects.select_related("post", "derived_from").in_bulk(ids)
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise CommandError(f"No image with id {', '.join(missing)}.")
        failed = 0
        # Newest first, so a copy's deletion is recorded on an original that still exists.
        for pk in sorted(ids, key=lambda pk: (found[pk].created_at, pk), reverse=True):
            try:
                replaced = review.delete(found[pk], user=user)
            except (PermissionDenied, ValueError) as exc:
                failed += 1
                self.stderr.write(f"image #{pk} not deleted: {exc}")
                continue
            self.stdout.write(review.describe_deletion(pk, replaced))
        if failed:
            raise CommandError(f"{failed} of {len(ids)} image{'s' if len(ids) != 1 else ''} not deleted.",
                               returncode=1)
