"""`python manage.py describe_images [--missing] [--post SLUG] [--llm ALIAS]`: suggest alt text from the images."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from blogimages.describe import images_to_describe, suggest_description
from blogimages.exceptions import BlogImagesError
from blogimages.integration import get_post_adapter
from blogimages.llms import get_llm

BAR_WIDTH = 30


def bar(done: int, total: int, failed: int) -> str:
    filled = int(BAR_WIDTH * done / max(total, 1))
    extra = f", {failed} failed" if failed else ""
    return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{total} described{extra}"


class Command(BaseCommand):
    help = ("Suggest alt text, a caption and a social description for images, from the image itself with a "
            "vision LLM (or offline from the prompt without one). Approved alt text is never changed.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--missing", action="store_true", help="Only images without approved alt text.")
        parser.add_argument("--post", metavar="SLUG", help="Only the images of this post.")
        parser.add_argument("--llm", metavar="ALIAS", help="The LLM alias (default: BLOGIMAGES_DEFAULT_LLM).")

    def handle(self, *args, missing: bool = False, post: str | None = None, llm: str | None = None, **options) -> None:
        try:
            backend = get_llm(llm)
        except BlogImagesError as exc:
            raise CommandError(str(exc)) from exc
        target = None
        if post:
            try:
                target = get_post_adapter().get_post(post)
            except Exception as exc:  # the host's own DoesNotExist
                raise CommandError(f"No post with the slug {post!r}.") from exc
        images = list(images_to_describe(missing=missing, post=target))
        vision = backend.capabilities(backend.vision_model).vision
        how = f"with {backend.label}" if vision else f"offline from the prompts ({backend.alias} has no vision model)"
        self.stdout.write(f"Describing {len(images)} image(s) {how}.")
        failed: list[str] = []
        for done, output in enumerate(images, start=1):
            try:
                found = suggest_description(output, llm=backend.alias)
            except (BlogImagesError, ValueError) as exc:
                failed.append(f"#{output.pk}: {exc}")
            else:
                if found is not None and options.get("verbosity", 1) > 1:
                    self.stdout.write(f"#{output.pk}: {found.alt or '(decorative)'}")
            self.stdout.write(f"\r{bar(done, len(images), len(failed))}", ending="")
            self.stdout.flush()
        self.stdout.write("")
        if images:
            # Suggestions are not approved alt text: say where an editor approves them.
            self.stdout.write(f"Editors approve them at {reverse('blogimages:alt_text_missing')}"
                              + (f"?post={post}" if post else ""))
        for line in failed:
            self.stderr.write(line)
        if failed:
            raise CommandError(f"{len(failed)} of {len(images)} image(s) could not be described; the others were.")
