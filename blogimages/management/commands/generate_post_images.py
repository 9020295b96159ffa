"""`python manage.py generate_post_images <slug> [--setting NAME] [--slots featured,social,k1] [--user USERNAME] [--wait]`"""

from __future__ import annotations

import sys
import time
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from blogimages import batches
from blogimages.conf import blogimages_settings
from blogimages.exceptions import BlogImagesError, QueueUnavailable
from blogimages.integration import get_post_adapter
from blogimages.management.base import user_named
from blogimages.models import GenerationBatch, ImagePromptExample, ImageSetting, OutputStatus
from blogimages.selectors import unfinished_images

BAR_WIDTH = 30


def progress_bar(batch: GenerationBatch) -> str:
    total = max(batch.total, 1)
    filled = int(BAR_WIDTH * batch.done_count / total)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    failed = f", {batch.failed_count} failed" if batch.failed_count else ""
    return f"[{bar}] {batch.done_count}/{batch.total} done{failed}"


STEP_BAR_WIDTH = 20


def step_lines(batch: GenerationBatch) -> list[str]:
    """One line per unfinished image: a step bar from its provider's progress, or where it waits."""
    lines = []
    for step in unfinished_images(batch):
        filled = int(STEP_BAR_WIDTH * step.value / step.maximum) if step.maximum else 0
        bar = "#" * filled + "-" * (STEP_BAR_WIDTH - filled)
        lines.append(f"  {step.output.section_key or 'image':<12} [{bar}] {step.label}")
    return lines


class Command(BaseCommand):
    help = "Generate one image per image slot of a post: featured, social and each section (in the background with a worker)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The post's slug.")
        parser.add_argument("--setting", help="Name of the ImageSetting to use.")
        parser.add_argument("--provider", help="Provider alias (overrides the setting's).")
        parser.add_argument("--example", help="Name of the prompt example to build section prompts from.")
        parser.add_argument("--slots", help="Comma-separated slot keys: featured, social, section keys (default: all).")
        parser.add_argument("--sections", help="Older name of --slots.")
        parser.add_argument("--only-missing", action="store_true",
                            help="Only the slots without an approved image (when no slots are named).")
        parser.add_argument("--story", action="store_true",
                            help="Story mode: the slots as one series (one style, a seed family fixed by the post).")
        parser.add_argument("--user", metavar="USERNAME",
                            help="Username the batch is started as: it needs their right to review images, counts "
                                 "against their rate limits and budget, and the images are theirs. Without it the "
                                 "batch is the system's.")
        parser.add_argument("-n", "--per-section", type=int, default=1, dest="n", help="Images per section.")
        parser.add_argument("--wait", action="store_true", help="Show a live progress bar until the batch ends.")
        parser.add_argument("--yes", action="store_true", help="Do not ask before an expensive batch.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait with --wait.")

    def handle(self, *args, **opts) -> None:
        adapter = get_post_adapter()
        try:
            post = adapter.get_post(opts["slug"])
        except ObjectDoesNotExist:
            raise CommandError(f"No post with slug {opts['slug']!r}.") from None
        user = user_named(opts.get("user"))
        setting = self._named(ImageSetting, opts["setting"])
        example = self._named(ImagePromptExample, opts["example"])
        named = opts["slots"] or opts["sections"]
        sections = [s.strip() for s in named.split(",") if s.strip()] if named else None
        kwargs = dict(post=post, setting=setting, provider=opts["provider"], sections=sections,
                      n_per_section=opts["n"], example=example, only_missing=opts["only_missing"],
                      story=opts["story"])
        try:
            plan = batches.plan_post_batch(**kwargs)
        except (BlogImagesError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

        cost = plan.cost_estimate
        cost_text = "unknown cost" if cost is None else f"estimated ${cost:.2f}"
        self.stdout.write(
            f"{adapter.title(post)}: {plan.image_count} image(s) for {len(plan.sections)} slot(s) "
            f"with {', '.join(plan.provider_aliases)}, {cost_text}."
        )
        self._confirm(cost, yes=opts["yes"])

        try:
            started = batches.start_post_batch(**kwargs, user=user)
        except QueueUnavailable as exc:
            # The batch is saved; the reconciler hands it to the workers once the queue is back.
            raise CommandError(str(exc)) from exc
        except (PermissionDenied, BlogImagesError, ValueError) as exc:
            # Not allowed to, over their budget or rate limit: nothing was started.
            raise CommandError(f"--user {user.get_username()}: {exc}" if user is not None else str(exc)) from exc
        batch = started.batch
        if started.skipped:
            self.stdout.write(f"Already in progress, skipped: {', '.join(started.skipped)}.")
        verb = "Started" if started.created else "Joined running"
        self.stdout.write(f"{verb} batch {batch.pk}.")
        if opts["wait"]:
            batch = self._wait(batch, timeout=opts["timeout"])
        else:
            batch.refresh_from_db()
        if batch.is_finished or opts["wait"]:
            self._summary(batch)

    def _named(self, model, name):
        if not name:
            return None
        obj = model.objects.filter(name=name).first()
        if obj is None:
            raise CommandError(f"No {model._meta.verbose_name} named {name!r}.")
        return obj

    def _confirm(self, cost: Decimal | None, *, yes: bool) -> None:
        limit = Decimal(str(blogimages_settings.CONFIRM_COST_ABOVE))
        if yes or cost is None or cost <= limit:
            return
        if not sys.stdin.isatty():
            raise CommandError(f"The batch is estimated at ${cost:.2f} (over ${limit:.2f}); add --yes to confirm.")
        answer = input(f"Estimated ${cost:.2f} is over ${limit:.2f}. Continue? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CommandError("Cancelled; nothing was generated.")

    def _wait(self, batch: GenerationBatch, *, timeout: float) -> GenerationBatch:
        tty = self.stdout.isatty()
        deadline = time.monotonic() + timeout
        last = None
        while True:
            batch.refresh_from_db()
            line = progress_bar(batch)
            steps = [] if batch.is_finished else step_lines(batch)
            if (line, steps) != last:
                if tty:
                    self.stdout.write("\r" + line + "".join(f"  |{s.strip()}" for s in steps), ending="")
                else:
                    self.stdout.write("\n".join([line, *steps]))
                self.stdout.flush()
                last = (line, steps)
            if batch.is_finished:
                break
            if time.monotonic() > deadline:
                if tty:
                    self.stdout.write("")
                raise CommandError(f"Gave up waiting after {timeout:.0f}s; batch {batch.pk} goes on in the background.")
            time.sleep(0.5)
        if tty:
            self.stdout.write("")
        return batch

    def _summary(self, batch: GenerationBatch) -> None:
        self.stdout.write(
            f"Batch {batch.pk} {batch.get_status_display().lower()}: "
            f"{batch.succeeded_count} succeeded, {batch.failed_count} failed of {batch.total}."
        )
        for output in batch.outputs.order_by("section_key", "pk"):
            if output.status == OutputStatus.SUCCEEDED:
                self.stdout.write(f"  ok     {output.section_key}: {_where(output)}")
            elif output.status == OutputStatus.FAILED:
                self.stdout.write(f"  FAILED {output.section_key}: {output.error}")
            else:
                self.stdout.write(f"  {output.status:<6} {output.section_key}")
        if batch.status != "succeeded" and batch.is_finished:
            raise CommandError(f"{batch.failed_count} image(s) failed.")


def _where(output) -> str:
    try:
        return output.file.path
    except NotImplementedError:
        return output.file.name
