"""Generating images for a post: section prompts, cost before commitment, batches, retries.

    plan = plan_post_batch(post=post, setting=setting)      # nothing stored yet
    plan.image_count, plan.cost_estimate                      # show the author first
    started = start_post_batch(post=post, setting=setting)   # batch + queued images + tasks
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from . import boards, budgets, generation, ratelimit, reconcile, slots, style_guide
from .access import can_review
from .conf import blogimages_settings
from .exceptions import QueueUnavailable
from .integration import SlotInfo, get_post_adapter, get_post_model
from .providers import get_provider
from .providers.base import MAX_SEED
from .models import (
    BatchStatus,
    GenerationBatch,
    ImageOutput,
    ImagePrompt,
    ImagePromptExample,
    ImageSetting,
    OutputStatus,
    PromptRun,
    PromptSource,
    ReviewStatus,
)
from .queueing import enqueue_outputs

ACTIVE = (OutputStatus.QUEUED, OutputStatus.RUNNING)


def trim_text(text: str, limit: int) -> str:
    """Trim at a word boundary, with an ellipsis, so a prompt never carries a whole essay."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.-")
    return f"{cut}…"


def section_context(post, section: SlotInfo) -> dict[str, Any]:
    context = dict(get_post_adapter().context(post))
    context.setdefault("title", get_post_adapter().title(post))
    context.setdefault("summary", "")
    context.setdefault("tags", "")
    context["heading"] = getattr(section, "heading", "") or context["title"]
    context["section_text"] = trim_text(section.text, blogimages_settings.SECTION_TEXT_CHARS)
    return context


def default_example() -> ImagePromptExample | None:
    name = blogimages_settings.DEFAULT_SECTION_EXAMPLE
    return ImagePromptExample.objects.filter(name=name).first() if name else None


_UNSET: Any = object()


def build_section_prompt(post, section: SlotInfo, *, example: ImagePromptExample | None = None,
                         default: ImagePromptExample | None = _UNSET) -> ImagePrompt:
    """A new (unsaved) prompt for the section from a library example or the default template
    (`default`: the default example when the caller already read it)."""
    example = example or (default_example() if default is _UNSET else default)
    context = section_context(post, section)
    if example is not None:
        prompt = example.build_prompt(context)
        prompt.example = example
    else:
        template = blogimages_settings.SECTION_TEMPLATE
        prompt = ImagePromptExample(
            name="", description=template.get("description", "{heading}"), style=template.get("style", ""),
            format=template.get("format", ""), negative_prompt=template.get("negative_prompt", ""),
        ).build_prompt(context)
    prompt.post, prompt.section_key, prompt.source = post, section.key, PromptSource.TEMPLATE
    return prompt


PROMPT_PARTS = ("description", "style", "format", "negative_prompt")


def saved_section_prompts(post, keys: list[str]) -> dict[str, ImagePrompt]:
    """Each section's saved prompt (the newest, as section_prompt reads it), in one query."""
    found: dict[str, ImagePrompt] = {}
    for prompt in ImagePrompt.objects.filter(post=post, section_key__in=keys).select_related("example"):
        found.setdefault(prompt.section_key, prompt)  # ordered newest first
    return found


def section_prompt(post, section: SlotInfo, *, example: ImagePromptExample | None = None,
                   saved: ImagePrompt | None = _UNSET, default: ImagePromptExample | None = _UNSET) -> ImagePrompt:
    """The section's prompt: the author's own words win; a prompt that came from a template
    is rebuilt from the section's current text (unsaved changes; the caller saves).

    `saved` and `default` are for callers that read every section's prompt at once
    (saved_section_prompts) and the default example once."""
    if saved is _UNSET:
        saved = ImagePrompt.objects.filter(post=post, section_key=section.key).select_related("example").first()
    if saved is not None and saved.source != PromptSource.TEMPLATE:
        if example is None:
            return saved
        # An example asked for this run never replaces what an author or editor wrote: the run
        # uses a prompt of its own, not bound to the section, and the section keeps its words.
        fresh = build_section_prompt(post, section, example=example, default=default)
        fresh.post, fresh.section_key = None, ""
        return fresh
    fresh = build_section_prompt(post, section, example=example or (saved.example if saved else None),
                                 default=default)
    if saved is None:
        return fresh
    for name in (*PROMPT_PARTS, "example"):
        setattr(saved, name, getattr(fresh, name))
    saved.source = PromptSource.TEMPLATE
    return saved


def save_section_prompt(
    post, section_key: str, *, description: str, style: str = "", format: str = "", negative_prompt: str = "",
    example: ImagePromptExample | None = None, source: str = PromptSource.MANUAL, source_field: str = "", user=None,
) -> ImagePrompt:
    """Store the author's prompt for a section (one per section; edited in place)."""
    find_section(post, section_key)
    defaults = {
        "description": description, "style": style, "format": format, "negative_prompt": negative_prompt,
        "example": example, "source": source, "source_field": source_field,
        "source_post": post if source == PromptSource.POST_FIELD else None,
    }
    if getattr(user, "is_authenticated", False):
        defaults["author"] = user
    prompt, _ = ImagePrompt.objects.update_or_create(post=post, section_key=section_key, defaults=defaults)
    return prompt


def import_post_field(post, section_key: str, field_name: str, *, user=None) -> ImagePrompt:
    """Use one of the post's text fields (as the adapter exposes them) as the section's description."""
    fields = get_post_adapter().text_fields(post)
    if field_name not in fields:
        raise ValueError(f"The post has no importable field {field_name!r}; choose one of: {', '.join(fields)}.")
    current = section_prompt(post, find_section(post, section_key))
    return save_section_prompt(
        post, section_key, description=fields[field_name], style=current.style, format=current.format,
        negative_prompt=current.negative_prompt, source=PromptSource.POST_FIELD, source_field=field_name, user=user,
    )


def find_slot(post, key: str) -> SlotInfo:
    for slot in get_post_adapter().slots(post):
        if slot.key == key:
            return slot
    raise ValueError(f"The post has no image slot {key!r}.")


find_section = find_slot  # the name callers written before slots use


def select_slots(post, keys: list[str] | None) -> list[SlotInfo]:
    all_slots = get_post_adapter().slots(post)
    if not keys:
        return all_slots
    by_key = {s.key: s for s in all_slots}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise ValueError(
            f"Unknown slot(s): {', '.join(unknown)}; the post has: {', '.join(by_key) or 'no slots'}."
        )
    return [by_key[k] for k in dict.fromkeys(keys)]


select_sections = select_slots


def slots_without_approved_image(post) -> list[str]:
    """Slot keys whose chosen image is missing or not approved (what "Generate all" makes by default)."""
    chosen = get_post_adapter().chosen_slot_images(post)
    approved = set(
        ImageOutput.objects.filter(pk__in=[pk for pk in chosen.values() if pk], review_status=ReviewStatus.APPROVED)
        .values_list("pk", flat=True)
    )
    return [slot.key for slot in get_post_adapter().slots(post) if chosen.get(slot.key) not in approved]


def slot_size_for(slot: SlotInfo, prompt: ImagePrompt, *, setting: ImageSetting | None = None,
                  provider: str | None = None, overrides: dict[str, Any] | None = None) -> slots.SlotSize:
    """The size the slot's next image is made at: an explicit size (setting or overrides)
    wins; else a shape word in Format; else the slot's size; fitted to what the provider makes."""
    overrides = overrides or {}
    if overrides.get("width") and overrides.get("height"):
        return slots.SlotSize(width=int(overrides["width"]), height=int(overrides["height"]), reason="setting")
    if setting is not None:
        return slots.SlotSize(width=setting.width, height=setting.height, reason="setting")
    backend = get_provider(provider)
    caps = backend.capabilities(overrides.get("model") or backend.defaults.get("model", ""))
    return slots.size_for_slot(slot, format_text=prompt.format, caps=caps)


@dataclass(frozen=True, kw_only=True)
class SectionPlan:
    section: SlotInfo
    prompt: ImagePrompt
    plan: generation.Plan
    size: slots.SlotSize | None = None


@dataclass(frozen=True, kw_only=True)
class BatchPlan:
    post: Any
    setting: ImageSetting | None
    n_per_section: int
    sections: list[SectionPlan] = field(default_factory=list)

    @property
    def image_count(self) -> int:
        return sum(s.plan.request.n for s in self.sections)

    @property
    def cost_estimate(self) -> Decimal | None:
        """Estimated USD for the whole batch; None when a provider has no price table."""
        costs = [s.plan.cost_estimate for s in self.sections]
        return None if any(c is None for c in costs) else sum(costs, Decimal("0"))

    @property
    def unpriced_label(self) -> str:
        """The first section whose price is unknown, as a refusal names it ("" when all are priced)."""
        return next((s.plan.price_label for s in self.sections if s.plan.cost_estimate is None), "")

    @property
    def provider_aliases(self) -> list[str]:
        return sorted({s.plan.provider.alias for s in self.sections})


def plan_post_batch(
    *, post, setting: ImageSetting | None = None, provider: str | None = None, sections: list[str] | None = None,
    n_per_section: int = 1, example: ImagePromptExample | None = None, overrides: dict[str, Any] | None = None,
    only_missing: bool = False, use_style_guide: bool = True, story: bool = False,
) -> BatchPlan:
    """What a batch would do and cost; validates every slot's request; stores nothing.

    `sections` names slots (featured, social, section keys); None means every slot, or with
    `only_missing` the slots without an approved image. `story` makes the slots one series
    (see `story_sheet`)."""
    if not 1 <= n_per_section <= blogimages_settings.MAX_N:
        raise ValueError(f"Images per section must be between 1 and {blogimages_settings.MAX_N}.")
    if setting is None and example is not None:
        setting = example.setting
    if sections is None and only_missing:
        sections = slots_without_approved_image(post)
        if not sections:
            raise ValueError("Every slot already has an approved image; choose “regenerate all” to make new ones.")
    plans = []
    chosen = select_slots(post, sections)
    # Read once for every section, not once per section: saved prompts, the default
    # example, the style guide.
    saved = saved_section_prompts(post, [section.key for section in chosen])
    default = default_example() if example is None else None
    guide = style_guide.active_guide() if use_style_guide else None
    prompts = [section_prompt(post, section, example=example, saved=saved.get(section.key), default=default)
               for section in chosen]
    sheet = story_sheet(post, prompts, overrides=overrides) if story else None
    for index, (section, prompt) in enumerate(zip(chosen, prompts)):
        size = slot_size_for(section, prompt, setting=setting, provider=provider, overrides=overrides)
        slot_overrides = dict(overrides or {})
        if size.reason != "setting":
            slot_overrides.update(width=size.width, height=size.height)
        sent = prompt
        if sheet is not None:
            # An unsaved copy: the series' style for this run, the slot's saved prompt untouched.
            sent = ImagePrompt(description=prompt.description, style=sheet["style"], format=prompt.format,
                               negative_prompt=prompt.negative_prompt)
            takes_seed = get_provider(provider or (setting.provider if setting else None)).capabilities(
                slot_overrides.get("model") or (setting.model if setting else "") or "").supports_seed
            if takes_seed:
                slot_overrides["seed"] = (sheet["seed"] + index * n_per_section) % (MAX_SEED + 1)
        plan = generation.plan_for_prompt(sent, setting=setting, provider=provider, overrides=slot_overrides,
                                          n=n_per_section, post=post, slot_key=section.key, slot_kind=section.kind,
                                          use_style_guide=use_style_guide, guide=guide)
        if sheet is not None:
            marks = {"seed": plan.request.seed if takes_seed else None, "index": index + 1, "of": len(chosen),
                     "style": sheet["style"], "seed_family": sheet["seed"] if takes_seed else None}
            if not takes_seed:
                marks["note"] = f"{plan.provider.alias} takes no seed: only the style sheet holds the series together"
            # Kept with the style guide's marks: both are what this run added to the slot's prompt.
            plan = replace(plan, style_guide={**(plan.style_guide or {}), "story": marks})
        plans.append(SectionPlan(section=section, prompt=prompt, plan=plan, size=size))
    if not plans:
        raise ValueError("The post has no image slots to illustrate.")
    return BatchPlan(post=post, setting=setting, n_per_section=n_per_section, sections=plans)


def story_sheet(post, prompts: list[ImagePrompt], *, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """One style sheet for a post's series: a seed family and one style for every slot.

    The base seed is the caller's (`overrides["seed"]`) or one fixed by the post, so the
    series is the same family every time it is made; slot i takes base + i * n. The style
    is the first slot's with a style (the featured image's, normally), so every image of
    the post is drawn the same way; with the style guide on, its words join each as usual."""
    seed = (overrides or {}).get("seed")
    if seed in (None, ""):
        digest = hashlib.sha256(f"story:{get_post_adapter().slug(post)}".encode()).digest()
        seed = int.from_bytes(digest[:4], "big")
    style = next((p.style for p in prompts if p.style.strip()), "")
    return {"seed": int(seed) % (MAX_SEED + 1), "style": style}


@dataclass(frozen=True, kw_only=True)
class BatchStart:
    batch: GenerationBatch
    created: bool
    # Sections left out because images for them were already being made.
    skipped: list[str] = field(default_factory=list)


def start_post_batch(
    *, post, setting: ImageSetting | None = None, provider: str | None = None, sections: list[str] | None = None,
    n_per_section: int = 1, example: ImagePromptExample | None = None, overrides: dict[str, Any] | None = None,
    user=None, api_token=None, only_missing: bool = False, use_style_guide: bool = True, story: bool = False,
) -> BatchStart:
    """Create a GenerationBatch and one queued ImageOutput per image; queue the tasks on commit.

    Two concurrent starts for the same post serialize on the post's row: sections that
    already have images queued or running are skipped, so no work is done twice.

    `user` None is the system (automation, the CLI run by an operator); a person needs the
    right to develop posts (review images), whichever face they come through.
    """
    if user is not None and not can_review(user):
        raise PermissionDenied("Starting a batch for a post needs the permission to review images.")
    # A batch start is one request against the per-user (and per-token) rate limits.
    ratelimit.hit(user=user, token=api_token)
    with transaction.atomic():
        get_post_model().objects.select_for_update().filter(pk=post.pk).first()
        plan = plan_post_batch(post=post, setting=setting, provider=provider, sections=sections,
                               n_per_section=n_per_section, example=example, overrides=overrides,
                               only_missing=only_missing, use_style_guide=use_style_guide, story=story)
        budgets.reserve(user=user, cost=plan.cost_estimate, label=plan.unpriced_label)
        busy = set(
            ImageOutput.objects.filter(
                post=post, section_key__in=[s.section.key for s in plan.sections], status__in=ACTIVE
            ).values_list("section_key", flat=True)
        )
        todo = [s for s in plan.sections if s.section.key not in busy]
        if busy and not todo:
            # "In progress" must mean a live task: images left behind by an outage are
            # handed over again (or adopted) rather than blocking this start.
            transaction.on_commit(lambda: _revive_quietly(post))
        if not todo:
            existing = (
                GenerationBatch.objects.filter(post=post, outputs__section_key__in=busy, outputs__status__in=ACTIVE)
                .order_by("-created_at").first()
            )
            if existing is not None:
                return BatchStart(batch=existing, created=False, skipped=sorted(busy))
        batch = GenerationBatch.objects.create(
            post=post, setting=plan.setting, created_by=user if getattr(user, "is_authenticated", False) else None,
            status=BatchStatus.QUEUED,
        )
        cost = Decimal("0")
        cost_known = True
        _save_prompts([item.prompt for item in todo], user=user)
        # Every section's prompt-history run in one INSERT too.
        runs = PromptRun.objects.bulk_create([
            generation.build_run(item.plan, prompt=item.prompt, setting=plan.setting, post=post, user=user,
                                 api_token=api_token)
            for item in todo])
        pending = []
        for item, run in zip(todo, runs):
            pending += generation.build_outputs(item.plan, prompt=item.prompt, setting=plan.setting, post=post,
                                                section_key=item.section.key, batch=batch, user=user,
                                                api_token=api_token, run=run)
            if item.plan.cost_estimate is None:
                cost_known = False
            else:
                cost += item.plan.cost_estimate
        # Every image row in one INSERT: the tasks can start as soon as this commits.
        created = ImageOutput.objects.bulk_create(pending)
        boards.collect(created)
        ids = [o.pk for o in created]
        batch.total = len(ids)
        batch.cost_estimate = cost if cost_known else None
        if not ids:
            batch.status, batch.finished_at = BatchStatus.SUCCEEDED, timezone.now()
        batch.save(update_fields=["total", "cost_estimate", "status", "finished_at"])
        transaction.on_commit(lambda: enqueue_outputs(ids))
        if busy:
            # After this batch's tasks are out (hooks run in order): reviving scans the
            # post's other images, and this batch's first image need not wait for it.
            transaction.on_commit(lambda: _revive_quietly(post))
    return BatchStart(batch=batch, created=True, skipped=sorted(busy))


def _save_prompts(prompts: list[ImagePrompt], *, user) -> None:
    """Save the batch's prompts in two statements at most: new ones inserted together,
    template-built ones rewritten together (an author's own prompt is never touched)."""
    new, rebuilt, seen = [], [], set()
    for prompt in prompts:
        if id(prompt) in seen:
            continue
        seen.add(id(prompt))
        if prompt.pk is None:
            if getattr(user, "is_authenticated", False) and prompt.author_id is None:
                prompt.author = user
            new.append(prompt)
        elif prompt.source == PromptSource.TEMPLATE:
            rebuilt.append(prompt)
    if new:
        ImagePrompt.objects.bulk_create(new)
    if rebuilt:
        now = timezone.now()
        for prompt in rebuilt:
            prompt.updated_at = now
        ImagePrompt.objects.bulk_update(rebuilt, [*PROMPT_PARTS, "example", "source", "updated_at"])


def _revive_quietly(post) -> None:
    report = reconcile.revive(ImageOutput.objects.filter(post=post))
    if report.queue_error:
        raise QueueUnavailable()


def retry_failed(batch: GenerationBatch) -> int:
    """Re-queue only the failed images of a batch (same prompt and seed). Returns how many."""
    with transaction.atomic():
        failed = list(batch.outputs.select_for_update().filter(status=OutputStatus.FAILED).values_list("pk", flat=True))
        ImageOutput.objects.filter(pk__in=failed).update(
            status=OutputStatus.QUEUED, queued_at=timezone.now(), started_at=None, finished_at=None
        )
        generation.refresh_batch(batch.pk)
        transaction.on_commit(lambda: enqueue_outputs(failed))
    batch.refresh_from_db()
    return len(failed)


def retry_outputs(outputs: list[ImageOutput]) -> int:
    """Queue failed images again exactly as they were asked for: the same row, provider,
    setting snapshot, size and seed (a Retry is not a new image). Returns how many."""
    with transaction.atomic():
        failed = list(ImageOutput.objects.select_for_update().filter(
            pk__in=[o.pk for o in outputs], status=OutputStatus.FAILED).values_list("pk", flat=True))
        ImageOutput.objects.filter(pk__in=failed).update(
            status=OutputStatus.QUEUED, queued_at=timezone.now(), started_at=None, finished_at=None
        )
        for batch_id in set(ImageOutput.objects.filter(pk__in=failed, batch__isnull=False)
                            .values_list("batch_id", flat=True)):
            generation.refresh_batch(batch_id)
        transaction.on_commit(lambda: enqueue_outputs(failed))
    return len(failed)


def latest_failed(post) -> list[ImageOutput]:
    """The slots whose newest image failed (what the develop screen offers to retry), across batches."""
    keys = [slot.key for slot in get_post_adapter().slots(post)]
    newest: dict[str, ImageOutput] = {}
    for output in ImageOutput.objects.filter(post=post, section_key__in=keys, derived_from__isnull=True).order_by(
            "section_key", "-created_at", "-id"):
        newest.setdefault(output.section_key, output)
    return [o for o in newest.values() if o.status == OutputStatus.FAILED]


def is_retryable(output: ImageOutput) -> bool:
    """Whether asking again could help: not for bad input or refused content (edit instead)."""
    details = (output.provider_metadata or {}).get("error")
    return True if not details else bool(details.get("retryable"))


def regenerate_section(
    *, post, section_key: str, setting: ImageSetting | None = None, provider: str | None = None, user=None,
    prompt_parts: dict[str, str] | None = None,
) -> BatchStart:
    """A new image for one slot (new seed), as a one-slot batch. With `prompt_parts` (what is
    in the prompt box) the prompt is saved first when it differs: saving and generating are one."""
    if prompt_parts is not None:
        current = section_prompt(post, find_slot(post, section_key))
        parts = {name: (prompt_parts.get(name) or "").strip() for name in PROMPT_PARTS}
        if not parts["description"]:
            raise ValueError("The description is required.")
        if any(parts[name] != (getattr(current, name) or "").strip() for name in PROMPT_PARTS):
            save_section_prompt(post, section_key, **parts, user=user)
    return start_post_batch(post=post, setting=setting, provider=provider, sections=[section_key], user=user)


def sections_needing_images(post) -> list[str]:
    """Sections with no approved image, nothing in progress, and no pending image of the
    current prompt: what automation should generate, and nothing it already did."""
    keys = []
    outputs = ImageOutput.objects.filter(post=post, derived_from__isnull=True)
    for section in get_post_adapter().slots(post):
        mine = outputs.filter(section_key=section.key)
        if mine.filter(review_status=ReviewStatus.APPROVED).exists() or mine.filter(status__in=ACTIVE).exists():
            continue
        prompt_text = section_prompt(post, section).text()
        if mine.filter(prompt_text=prompt_text, review_status=ReviewStatus.PENDING,
                       status=OutputStatus.SUCCEEDED).exists():
            continue
        keys.append(section.key)
    return keys
