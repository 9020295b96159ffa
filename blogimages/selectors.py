"""Reads: the one place that turns gallery/API filters into an ImageOutput query."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date

from .models import ImageOutput, ImagePromptExample, OutputStatus, ReviewStatus


@dataclass(frozen=True, kw_only=True)
class ImageFilters:
    q: str = ""  # words in the prompt text
    post: int | None = None  # the post's primary key
    section: str = ""
    provider: str = ""
    model: str = ""
    review_status: str = ""
    status: str = ""
    batch: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    originals_only: bool = False
    flat: bool = False  # every copy as its own tile instead of stacked under its original
    board: int | None = None  # the board's primary key (the view checks the user may open it)
    # Near-duplicates (same pHash) shown as one tile, the newest; the others are counted on it.
    collapse: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ImageFilters:
        """Lenient parsing of query parameters: a value that makes no sense is ignored."""

        def integer(name: str) -> int | None:
            value = (params.get(name) or "").strip()
            return int(value) if value.isdigit() else None

        def choice(name: str, allowed) -> str:
            value = (params.get(name) or "").strip()
            return value if value in allowed else ""

        return cls(
            q=(params.get("q") or "").strip()[:200],
            post=integer("post"),
            section=(params.get("section") or "").strip()[:100],
            provider=(params.get("provider") or "").strip()[:50],
            model=(params.get("model") or "").strip()[:200],
            review_status=choice("review_status", ReviewStatus.values),
            status=choice("status", OutputStatus.values),
            batch=integer("batch"),
            date_from=parse_date((params.get("date_from") or "").strip()) if _is_date(params.get("date_from")) else None,
            date_to=parse_date((params.get("date_to") or "").strip()) if _is_date(params.get("date_to")) else None,
            originals_only=(params.get("originals_only") or "") in ("1", "true", "on"),
            flat=(params.get("flat") or "") in ("1", "true", "on"),
            board=integer("board"),
            collapse=(params.get("collapse") or "") in ("1", "true", "on"),
        )

    @property
    def narrows(self) -> bool:
        """Any filter but `flat` (which only unstacks): the grid is not simply every original."""
        return any(name != "flat" for name in self.as_params())

    def as_params(self) -> dict[str, str]:
        """The non-empty filters as query parameters (for bookmarkable URLs and pagination)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, "", False):
                continue
            out[f.name] = "1" if value is True else str(value)
        return out


def _is_date(value: str | None) -> bool:
    """A real date the database can compare with (year 1900 to 9000: no overflow at the edges)."""
    try:
        parsed = parse_date(value.strip()) if value else None
    except ValueError:
        return False
    return parsed is not None and 1900 <= parsed.year <= 9000


def image_list(filters: ImageFilters | None = None) -> QuerySet[ImageOutput]:
    """Images matching the filters, newest first, with what a list row shows joined in."""
    filters = filters or ImageFilters()
    images = ImageOutput.objects.select_related("post", "prompt", "created_by").order_by("-created_at", "-id")
    for word in filters.q.split()[:8]:
        images = images.filter(prompt_text__icontains=word)
    if filters.post is not None:
        images = images.filter(post_id=filters.post)
    if filters.section:
        images = images.filter(section_key=filters.section)
    if filters.provider:
        images = images.filter(provider=filters.provider)
    if filters.model:
        images = images.filter(model=filters.model)
    if filters.review_status:
        images = images.filter(review_status=filters.review_status)
    if filters.status:
        images = images.filter(status=filters.status)
    if filters.batch is not None:
        images = images.filter(batch_id=filters.batch)
    tz = timezone.get_current_timezone()
    if filters.date_from:
        images = images.filter(created_at__gte=dt.datetime.combine(filters.date_from, dt.time.min, tzinfo=tz))
    if filters.date_to:
        images = images.filter(created_at__lt=dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min,
                                                                  tzinfo=tz))
    if filters.originals_only:
        images = images.filter(derived_from__isnull=True)
    if filters.board is not None:
        images = images.filter(board_entries__board_id=filters.board)
    return images


@contextmanager
def without_jit(using: str = DEFAULT_DB_ALIAS, *, enabled: bool = True) -> Iterator[None]:
    """The reads inside run without PostgreSQL's JIT compiler (other databases, or not
    `enabled`: as they are; it costs a transaction, worth it only for the costly reads).

    A filtered or searched grid has a per-row subquery (`gallery_images`) that the planner
    costs for every row, though it runs only for copies: the estimate passes `jit_above_cost`
    and PostgreSQL compiled the query before running it. At 100,000 images a search's page
    took 690-750 ms, of which the scan was 78 ms; without JIT, 85-120 ms. `SET LOCAL` lasts
    for this transaction only, so a connection pooler in transaction mode passes on nothing."""
    connection = connections[using]
    if not enabled or connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield


def gallery_images(filters: ImageFilters | None = None) -> QuerySet[ImageOutput]:
    """The gallery's tiles: `image_list`, with variations and derived copies stacked under their
    original (`stack_count` on each tile) unless `filters.flat`. A copy whose original is not
    in the result (filtered out, or deleted) keeps its own tile, so nothing matching disappears."""
    filters = filters or ImageFilters()
    images = image_list(filters)
    if filters.collapse:
        images = collapse_duplicates(images, filters)
    if filters.flat:
        return images
    copies = (ImageOutput.objects.filter(derived_from=OuterRef("pk")).order_by().values("derived_from")
              .annotate(n=Count("pk")).values("n"))
    if not filters.narrows:
        # Unfiltered, every original is shown (a deleted one leaves derived_from NULL): the
        # tiles are exactly the originals, read from the (created_at, id) index alone.
        tiles = images.filter(derived_from__isnull=True)
    else:
        # A correlated lookup of the one original by its primary key, only for copies (the OR
        # skips it for originals): a page reads its own rows, not every id that matches. A
        # scalar subquery, not EXISTS: PostgreSQL turns a NOT EXISTS under OR into a hash of
        # every matching row, a scan of the whole table per query as soon as one copy is in
        # range (at 100,000 images, `?provider=cards` took 39 ms where this takes 0.4).
        original = image_list(filters).order_by().filter(pk=OuterRef("derived_from_id")).values("pk")[:1]
        tiles = images.alias(original_shown=Subquery(original)).filter(
            Q(derived_from__isnull=True) | Q(original_shown__isnull=True))
    return tiles.annotate(stack_count=Coalesce(Subquery(copies, output_field=IntegerField()), 0))


def collapse_duplicates(images: QuerySet[ImageOutput], filters: ImageFilters) -> QuerySet[ImageOutput]:
    """One tile per picture: of the images with the same perceptual hash, only the newest is
    shown, with `duplicate_count` (how many others it stands for). Uses the phash index."""
    same = image_list(filters).order_by().filter(phash=OuterRef("phash")).exclude(phash="")
    newer = same.filter(Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"),
                                                                      pk__gt=OuterRef("pk")))
    others = same.exclude(pk=OuterRef("pk")).values("phash").annotate(n=Count("pk")).values("n")
    return images.exclude(Exists(newer)).annotate(
        duplicate_count=Coalesce(Subquery(others, output_field=IntegerField()), 0))


def stack_of(originals, *, limit: int = 24) -> None:
    """Fetch the stacked copies of the tiles that have any (one query), as `tile.stack`."""
    originals = [o for o in originals if getattr(o, "stack_count", 0)]
    for original in originals:
        original.stack = []
    if not originals:
        return
    by_pk = {o.pk: o for o in originals}
    copies = (ImageOutput.objects.filter(derived_from__in=list(by_pk)).select_related("created_by")
              .order_by("-created_at", "-id"))
    for copy in copies:
        stack = by_pk[copy.derived_from_id].stack
        if len(stack) < limit:
            stack.append(copy)


# The providers and models present change only when images are made: re-read whole at most
# this often, and in between only the rows newer than the last read.
FILTER_CHOICES_TTL = 600
FILTER_CHOICES_KEY = "blogimages:gallery-filter-choices"


def filter_choices() -> dict[str, list[str]]:
    """Providers (the configured ones and those present) and models present, for the filter
    dropdowns. One primary-key lookup per render; the DISTINCT runs only over rows made
    since the cached answer (and over everything once per FILTER_CHOICES_TTL)."""
    from .providers import providers as registry

    images = ImageOutput.objects.order_by()  # the default ordering would join DISTINCT
    newest = images.order_by("-pk").values_list("pk", "uid").first()
    cached = cache.get(FILTER_CHOICES_KEY)
    if newest is None:
        pairs: set[tuple[str, str]] = set()
    elif cached and tuple(cached["newest"]) == (newest[0], str(newest[1])):
        pairs = {tuple(pair) for pair in cached["pairs"]}
    else:
        since = cached["newest"] if cached else None
        if since and images.filter(pk=since[0], uid=since[1]).exists():
            pairs = {tuple(pair) for pair in cached["pairs"]}
            pairs |= set(images.filter(pk__gt=since[0]).values_list("provider", "model").distinct())
        else:
            pairs = set(images.values_list("provider", "model").distinct())
        cache.set(FILTER_CHOICES_KEY, {"newest": (newest[0], str(newest[1])), "pairs": sorted(pairs)},
                  FILTER_CHOICES_TTL)
    return {
        "providers": sorted({provider for provider, _model in pairs} | set(registry.aliases())),
        "models": sorted({model for _provider, model in pairs if model}),
    }


def tag_regex(tag: str) -> str:
    """Tags are stored normalized as "a, b, c": a regex matching one whole tag."""
    return rf"(^|, ){re.escape(tag.strip().lower())}(,|$)"


def example_list(*, q: str = "", tag: str = "", provider: str = "") -> QuerySet[ImagePromptExample]:
    """Prompt library examples matching words (in the name, description, style, format, negative
    prompt or tags: every word somewhere), a tag and a provider."""
    examples = ImagePromptExample.objects.select_related("setting").order_by("name")
    for word in q.split()[:8]:
        examples = examples.filter(
            Q(name__icontains=word) | Q(description__icontains=word) | Q(style__icontains=word)
            | Q(format__icontains=word) | Q(negative_prompt__icontains=word) | Q(tags__icontains=word)
        )
    if tag:
        examples = examples.filter(tags__iregex=tag_regex(tag))
    if provider:
        examples = examples.filter(setting__provider=provider)
    return examples


@dataclass(frozen=True, kw_only=True)
class SlotImage:
    key: str
    label: str
    chosen_id: int | None
    state: str  # "approved" (a chosen, approved image), "chosen" (awaiting approval) or "missing"


@dataclass(frozen=True, kw_only=True)
class PostImages:
    post: object
    title: str
    published: bool
    slots: list[SlotImage]

    @property
    def missing(self) -> list[SlotImage]:
        return [slot for slot in self.slots if slot.state != "approved"]

    @property
    def done(self) -> int:
        return len(self.slots) - len(self.missing)


def post_images_overview(posts) -> list[PostImages]:
    """For each post, every section and whether it has a chosen, approved image (the landing
    page's "what still needs images"). Two adapter reads per post, one query for the images."""
    from .integration import get_post_adapter

    adapter = get_post_adapter()
    rows = []
    for post in posts:
        chosen = adapter.chosen_images(post)
        rows.append((post, adapter.sections(post), chosen))
    ids = {pk for _, _, chosen in rows for pk in chosen.values() if pk}
    approved = set(ImageOutput.objects.filter(pk__in=ids, review_status=ReviewStatus.APPROVED,
                                              status=OutputStatus.SUCCEEDED).values_list("pk", flat=True))
    overview = []
    for post, sections, chosen in rows:
        slots = []
        for section in sections:
            pk = chosen.get(section.key)
            state = "approved" if pk in approved else "chosen" if pk else "missing"
            slots.append(SlotImage(key=section.key, label=section.heading or section.key, chosen_id=pk, state=state))
        overview.append(PostImages(post=post, title=adapter.title(post), published=adapter.is_published(post),
                                   slots=slots))
    return overview


# -- the prompt history ----------------------------------------------------------------------------

RUN_OUTCOMES = ("succeeded", "failed", "partial", "pending")
#: `who=unattributed`: the runs nobody is recorded for (the CLI without --user, a task with no
#: user), which would otherwise be in nobody's history. Staff only.
UNATTRIBUTED = "unattributed"


def sees_unattributed_runs(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


def recallable_runs(user):
    """The runs `user` may open and "Use again": their own, and for staff the unattributed ones."""
    from .models import PromptRun

    if not getattr(user, "is_authenticated", False):
        return PromptRun.objects.none()
    query = Q(user=user)
    if sees_unattributed_runs(user):
        query |= Q(user__isnull=True)
    return PromptRun.objects.filter(query)


@dataclass(frozen=True, kw_only=True)
class RunFilters:
    q: str = ""  # words in the prompt (full-text on PostgreSQL, "contains" elsewhere)
    provider: str = ""
    model: str = ""
    size: str = ""  # "1024x768"
    seed: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    outcome: str = ""  # one of RUN_OUTCOMES
    run: int | None = None
    who: str = ""  # "" (your runs) or UNATTRIBUTED (staff: the runs recorded for nobody)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunFilters:
        def integer(name: str) -> int | None:
            value = (params.get(name) or "").strip()
            return int(value) if value.isdigit() and len(value) <= 20 else None

        size = (params.get("size") or "").strip().lower().replace("×", "x")
        return cls(
            q=(params.get("q") or "").strip()[:200],
            provider=(params.get("provider") or "").strip()[:50],
            model=(params.get("model") or "").strip()[:200],
            size=size if re.fullmatch(r"\d{1,5}x\d{1,5}", size) else "",
            seed=integer("seed"),
            date_from=parse_date(params["date_from"].strip()) if _is_date(params.get("date_from")) else None,
            date_to=parse_date(params["date_to"].strip()) if _is_date(params.get("date_to")) else None,
            outcome=(params.get("outcome") or "").strip() if params.get("outcome") in RUN_OUTCOMES else "",
            run=integer("run"),
            who=UNATTRIBUTED if (params.get("who") or "").strip() == UNATTRIBUTED else "",
        )

    def as_params(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) not in (None, "")}


def search_prompts(runs, q: str):
    """PostgreSQL: full-text search (the GIN index promptrun_search_idx is on this exact
    expression); any other database: every word contained in the prompt."""
    from django.db import connection

    if not q:
        return runs
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        return runs.annotate(search=SearchVector("prompt_text", config="english")).filter(
            search=SearchQuery(q, config="english", search_type="websearch"))
    for word in q.split()[:8]:
        runs = runs.filter(prompt_text__icontains=word)
    return runs


def run_list(user, filters: RunFilters | None = None):
    """The user's runs (for staff with `who=unattributed`: the runs recorded for nobody, e.g.
    the CLI without --user), newest first, with how many of their images succeeded and failed."""
    from .models import PromptRun

    filters = filters or RunFilters()
    if filters.who == UNATTRIBUTED:
        runs = PromptRun.objects.filter(user__isnull=True) if sees_unattributed_runs(user) \
            else PromptRun.objects.none()
    else:
        runs = PromptRun.objects.filter(user=user) if user is not None else PromptRun.objects.none()
    runs = search_prompts(runs, filters.q)
    if filters.run is not None:
        runs = runs.filter(pk=filters.run)
    if filters.provider:
        runs = runs.filter(provider=filters.provider)
    if filters.model:
        runs = runs.filter(model=filters.model)
    if filters.size:
        width, height = filters.size.split("x")
        runs = runs.filter(width=int(width), height=int(height))
    if filters.seed is not None:
        runs = runs.filter(seed=filters.seed)
    tz = timezone.get_current_timezone()
    if filters.date_from:
        runs = runs.filter(created_at__gte=dt.datetime.combine(filters.date_from, dt.time.min, tzinfo=tz))
    if filters.date_to:
        runs = runs.filter(created_at__lt=dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min,
                                                              tzinfo=tz))
    runs = runs.annotate(
        ok_count=Count("outputs", filter=Q(outputs__status=OutputStatus.SUCCEEDED), distinct=True),
        failed_count=Count("outputs", filter=Q(outputs__status=OutputStatus.FAILED), distinct=True),
        image_count=Count("outputs", distinct=True),
    )
    if filters.outcome == "succeeded":
        runs = runs.filter(ok_count=F("image_count"), image_count__gt=0)
    elif filters.outcome == "failed":
        runs = runs.filter(failed_count=F("image_count"), image_count__gt=0)
    elif filters.outcome == "partial":
        runs = runs.filter(ok_count__gt=0, failed_count__gt=0)
    elif filters.outcome == "pending":
        runs = runs.filter(image_count__gt=F("ok_count") + F("failed_count"))
    return runs.order_by("-created_at", "-id")


@dataclass(frozen=True)
class ImageStep:
    """Where one unfinished image of a batch is: queued, waiting on the server, or at a step."""

    output: ImageOutput
    value: int
    maximum: int
    queue_position: int | None

    @property
    def label(self) -> str:
        if self.maximum:
            return f"step {self.value} of {self.maximum}"
        if self.queue_position:
            return f"waiting, #{self.queue_position} in the provider's queue"
        return "starting" if self.output.status == OutputStatus.RUNNING else "queued"


def unfinished_images(batch) -> list[ImageStep]:
    """The batch's images still queued or running, each with the progress its provider reports."""
    steps = []
    for output in batch.outputs.filter(status__in=[OutputStatus.QUEUED, OutputStatus.RUNNING]).order_by(
            "section_key", "pk"):
        progress = output.progress if isinstance(output.progress, dict) else {}
        steps.append(ImageStep(output=output, value=int(progress.get("value") or 0),
                               maximum=int(progress.get("max") or 0), queue_position=progress.get("queue_position")))
    return steps
