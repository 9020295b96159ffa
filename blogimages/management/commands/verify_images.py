"""`python manage.py verify_images [--post SLUG]`: each stored image's C2PA Content Credentials."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from blogimages import content_credentials
from blogimages.integration import get_post_adapter

# States that mean a file's credentials are there but broken: the command exits 1.
BROKEN = ("invalid", "error")


class Command(BaseCommand):
    help = ("Read every stored image's C2PA Content Credentials, say whether they validate (and who signed "
            "them, what generated the image, which edits followed), and keep the answer on the image. "
            "Exits 1 when any file's credentials fail validation.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--post", metavar="SLUG", help="Only the images of this post.")

    def handle(self, *args, post: str | None = None, **options) -> None:
        target = None
        if post:
            try:
                target = get_post_adapter().get_post(post)
            except Exception as exc:  # the host's own DoesNotExist
                raise CommandError(f"No post with the slug {post!r}.") from exc
        counts: dict[str, int] = {}
        for output in content_credentials.images_to_verify(post=target):
            record = content_credentials.refresh(output)
            state = record.get("state") or "none"
            counts[state] = counts.get(state, 0) + 1
            lineage = f" (from #{output.derived_from_id}, {output.derivation})" if output.derived_from_id else ""
            changed = " [file changed since it was stored]" if record.get("file_changed") else ""
            self.stdout.write(f"#{output.pk} {output.file.name}{lineage}: {state.upper()} — "
                              f"{content_credentials.describe(record)}{changed}")
        total = sum(counts.values())
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no stored images"
        self.stdout.write(f"{total} image(s): {summary}.")
        if any(counts.get(state) for state in BROKEN):
            raise CommandError("Some images' Content Credentials do not validate.", returncode=1)
