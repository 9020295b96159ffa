"""Generating images for a post: section prompts, cost before commitment, batches, retries.

    plan = plan_post_batch(post=post, setting=setting)      # nothing stored yet
    plan.image_count, plan.cost_estimate                      # show the author first
    started = start_post_batch(post=post, setting=setting)   # batch + queued images + tasks
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import generation
from .budgets import check_budget
from .conf import blogimages_settings
from .integration import SectionInfo, get_post_adapter, get_post_model
from .models import (
    BatchStatus,
    GenerationBatch,
    ImageOutput,
    ImagePrompt,
    ImagePromptExample,
    ImageSetting,
    OutputStatus,
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


def section_context(post, section: SectionInfo) -> dict[str, Any]:
    context = dict(get_post_adapter().context(post))
    context.setdefault("title", get_post_adapter().title(post))
    context.setdefault("summary", "")
    context.setdefault("tags", "")
    context["heading"] = section.heading
    context["section_text"] = trim_text(section.text, blogimages_settings.SECTION_TEXT_CHARS)
    return context


def default_example() -> ImagePromptExample | None:
    name = blogimages_settings.DEFAULT_SECTION_EXAMPLE
    return ImagePromptExample.objects.filter(name=name).first() if name else None


def build_section_prompt(post, section: SectionInfo, *, example: ImagePromptExample | None = None) -> ImagePrompt:
    """A new (unsaved) prompt for the section from a library example or the default template."""
    example = example or default_example()
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


def section_prompt(post, section: SectionInfo, *, example: ImagePromptExample | None = None) -> ImagePrompt:
    """The section's prompt: the author's own words win; a prompt that came from a template
    is rebuilt from the section's current text (unsaved changes; the caller saves)."""
    saved = ImagePrompt.objects.filter(post=post, section_key=section.key).select_related("example").first()
    if saved is not None and saved.source != PromptSource.TEMPLATE and example is None:
        return saved
    fresh = build_section_prompt(post, section, example=example or (saved.example if saved else None))
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


def find_section(post, key: str) -> SectionInfo:
    for section in get_post_adapter().sections(post):
        if section.key == key:
            return section
    raise ValueError(f"The post has no section {key!r}.")


def select_sections(post, keys: list[str] | None) -> list[SectionInfo]:
    sections = get_post_adapter().sections(post)
    if not keys:
        return sections
    by_key = {s.key: s for s in sections}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise ValueError(
            f"Unknown section(s): {', '.join(unknown)}; the post has: {', '.join(by_key) or 'no sections'}."
        )
    return [by_key[k] for k in dict.fromkeys(keys)]


@dataclass(frozen=True, kw_only=True)
class SectionPlan:
    section: SectionInfo
    prompt: ImagePrompt
    plan: generation.Plan


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
    def provider_aliases(self) -> list[str]:
        return sorted({s.plan.provider.alias for s in self.sections})


def plan_post_batch(
    *, post, setting: ImageSetting | None = None, provider: str | None = None, sections: list[str] | None = None,
    n_per_section: int = 1, example: ImagePromptExample | None = None, overrides: dict[str, Any] | None = None,
) -> BatchPlan:
    """What a batch would do and cost; validates every section's request; stores nothing."""
    if not 1 <= n_per_section <= blogimages_settings.MAX_N:
        raise ValueError(f"Images per section must be between 1 and {blogimages_settings.MAX_N}.")
    if setting is None and example is not None:
        setting = example.setting
    plans = []
    for section in select_sections(post, sections):
        prompt = section_prompt(post, section, example=example)
        plan = generation.plan_for_prompt(prompt, setting=setting, provider=provider, overrides=overrides,
                                          n=n_per_section)
        plans.append(SectionPlan(section=section, prompt=prompt, plan=plan))
    if not plans:
        raise ValueError("The post has no sections to illustrate.")
    return BatchPlan(post=post, setting=setting, n_per_section=n_per_section, sections=plans)


@dataclass(frozen=True, kw_only=True)
class BatchStart:
    batch: GenerationBatch
    created: bool
    # Sections left out because images for them were already being made.
    skipped: list[str] = field(default_factory=list)


def start_post_batch(
    *, post, setting: ImageSetting | None = None, provider: str | None = None, sections: list[str] | None = None,
    n_per_section: int = 1, example: ImagePromptExample | None = None, overrides: dict[str, Any] | None = None,
    user=None, api_token=None,
) -> BatchStart:
    """Create a GenerationBatch and one queued ImageOutput per image; queue the tasks on commit.

    Two concurrent starts for the same post serialize on the post's row: sections that
    already have images queued or running are skipped, so no work is done twice.
    """
    with transaction.atomic():
        get_post_model().objects.select_for_update().filter(pk=post.pk).first()
        plan = plan_post_batch(post=post, setting=setting, provider=provider, sections=sections,
                               n_per_section=n_per_section, example=example, overrides=overrides)
        check_budget(user=user, cost=plan.cost_estimate)
        busy = set(
            ImageOutput.objects.filter(
                post=post, section_key__in=[s.section.key for s in plan.sections], status__in=ACTIVE
            ).values_list("section_key", flat=True)
        )
        todo = [s for s in plan.sections if s.section.key not in busy]
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
        ids: list[int] = []
        cost = Decimal("0")
        cost_known = True
        for item in todo:
            prompt = item.prompt
            if prompt.pk is None and getattr(user, "is_authenticated", False):
                prompt.author = user
            if prompt.pk is None or prompt.source == PromptSource.TEMPLATE:
                prompt.save()
            outputs = generation.queue_outputs(item.plan, prompt=prompt, setting=plan.setting, post=post,
                                               section_key=item.section.key, batch=batch, user=user,
                                               api_token=api_token)
            ids += [o.pk for o in outputs]
            if item.plan.cost_estimate is None:
                cost_known = False
            else:
                cost += item.plan.cost_estimate
        batch.total = len(ids)
        batch.cost_estimate = cost if cost_known else None
        if not ids:
            batch.status, batch.finished_at = BatchStatus.SUCCEEDED, timezone.now()
        batch.save(update_fields=["total", "cost_estimate", "status", "finished_at"])
        transaction.on_commit(lambda: enqueue_outputs(ids))
    return BatchStart(batch=batch, created=True, skipped=sorted(busy))


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


def regenerate_section(
    *, post, section_key: str, setting: ImageSetting | None = None, provider: str | None = None, user=None,
) -> BatchStart:
    """A new image for one section (new seed), as a one-section batch."""
    return start_post_batch(post=post, setting=setting, provider=provider, sections=[section_key], user=user)


def sections_needing_images(post) -> list[str]:
    """Sections with no approved image, nothing in progress, and no pending image of the
    current prompt: what automation should generate, and nothing it already did."""
    keys = []
    outputs = ImageOutput.objects.filter(post=post, derived_from__isnull=True)
    for section in get_post_adapter().sections(post):
        mine = outputs.filter(section_key=section.key)
        if mine.filter(review_status=ReviewStatus.APPROVED).exists() or mine.filter(status__in=ACTIVE).exists():
            continue
        prompt_text = section_prompt(post, section).text()
        if mine.filter(prompt_text=prompt_text, review_status=ReviewStatus.PENDING,
                       status=OutputStatus.SUCCEEDED).exists():
            continue
        keys.append(section.key)
    return keys
