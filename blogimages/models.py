"""blogimages' data: settings presets, prompts, the prompt library, images and batches."""

from __future__ import annotations

import re
import string
import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from .providers.base import MAX_SEED_64

MAX_SIDE = 8192
_TWO_64 = 2**64


class Seed64Field(models.BigIntegerField):
    """A seed from 0 to 2^64−1 (ComfyUI's range) in a signed 64-bit column.

    Seeds above 2^63−1 are stored as their two's complement (negative) value, so every
    column value stands for exactly one seed and seeds below 2^63 read the same in SQL.
    """

    description = "An unsigned 64-bit seed"

    @property
    def validators(self):  # the signed bigint range of BigIntegerField would refuse 2^63 and up
        return [MinValueValidator(0), MaxValueValidator(MAX_SEED_64), *self._validators]

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        if not 0 <= value <= MAX_SEED_64:
            # A negative column value means a seed of 2^63 and up: refuse to write one by mistake.
            raise ValueError(f"A seed is 0 to {MAX_SEED_64}, not {value}.")
        return value - _TWO_64 if value > 2**63 - 1 else value

    def from_db_value(self, value, expression, connection):
        return value + _TWO_64 if value is not None and value < 0 else value

    def formfield(self, **kwargs):
        return super().formfield(**{"min_value": 0, "max_value": MAX_SEED_64, **kwargs})

# Token-priced images cost fractions of a cent; a call's cost is split over its images.
COST_PLACES = 6


class CostBasis(models.TextChoices):
    USAGE = "usage", "From the provider's usage"
    ESTIMATE = "estimate", "Estimated (the provider reported no usage)"


class ImageSetting(models.Model):
    """A named preset of generation parameters for one provider."""

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=50, default="cards", help_text="An alias in BLOGIMAGES_PROVIDERS.")
    model = models.CharField(max_length=200, blank=True, help_text="Blank: the provider's default model.")
    width = models.PositiveIntegerField(default=1024, validators=[MinValueValidator(1), MaxValueValidator(MAX_SIDE)])
    height = models.PositiveIntegerField(default=1024, validators=[MinValueValidator(1), MaxValueValidator(MAX_SIDE)])
    steps = models.PositiveIntegerField(null=True, blank=True)
    guidance_scale = models.FloatField(null=True, blank=True)
    seed = Seed64Field(
        null=True, blank=True,
        help_text="Blank: a new random seed for every image. 0 to 2^64−1 (ComfyUI); AUTOMATIC1111 takes up to 2^32−1.",
    )
    quality = models.CharField(max_length=30, blank=True)
    style = models.CharField(max_length=30, blank=True)
    sampler = models.CharField(max_length=100, blank=True)
    extra_settings = models.JSONField(default=dict, blank=True)
    fallbacks = models.JSONField(
        default=list, blank=True,
        help_text='Provider aliases tried in order when this one fails or cannot be reached, e.g. ["openai", "cards"].',
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(width__gte=1, width__lte=MAX_SIDE, height__gte=1, height__lte=MAX_SIDE),
                name="imagesetting_size_in_range",
            ),
            models.CheckConstraint(condition=Q(steps__isnull=True) | Q(steps__gte=1), name="imagesetting_steps_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def parameters(self) -> dict[str, Any]:
        """The request parameters this preset sets (blank fields left out)."""
        params: dict[str, Any] = {"width": self.width, "height": self.height}
        for name in ("model", "quality", "style", "sampler"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        for name in ("steps", "guidance_scale", "seed"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        if self.extra_settings:
            params["extra"] = dict(self.extra_settings)
        return params

    def clean(self) -> None:
        # Whether the provider takes the preset is checked where presets are saved
        # (presets.validate_setting): a model never calls a service.
        if not isinstance(self.extra_settings, dict):
            raise ValidationError({"extra_settings": "Must be a JSON object."})
        if not isinstance(self.fallbacks, list) or not all(isinstance(a, str) and a for a in self.fallbacks):
            raise ValidationError({"fallbacks": 'Must be a JSON list of provider aliases, e.g. ["cards"].'})


class PromptSource(models.TextChoices):
    MANUAL = "manual", "Written by hand"
    POST_FIELD = "post_field", "Imported from a post field"
    # Built from a library example or the default template; follows the post's text.
    TEMPLATE = "template", "From a template"


def compose_prompt(description: str, style: str = "", format: str = "") -> str:
    """The one way the three prompt parts become the text a provider receives."""
    parts = [part.strip().rstrip(".").strip() for part in (description, style, format)]
    return ". ".join(part for part in parts if part)


class ImagePrompt(models.Model):
    """A concrete prompt: what to draw, in which style, in which format."""

    description = models.TextField()
    style = models.CharField(max_length=500, blank=True)
    format = models.CharField(max_length=500, blank=True)
    negative_prompt = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=PromptSource.choices, default=PromptSource.MANUAL)
    source_post = models.ForeignKey(
        settings.BLOGIMAGES_POST_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_field = models.CharField(max_length=100, blank=True)
    # Set when this is the current prompt of one section of a post (the develop screen).
    post = models.ForeignKey(
        settings.BLOGIMAGES_POST_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="section_prompts"
    )
    section_key = models.CharField(max_length=100, blank=True)
    example = models.ForeignKey(
        "ImagePromptExample", null=True, blank=True, on_delete=models.SET_NULL, related_name="prompts",
        help_text="The library example this prompt was built from.",
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=PromptSource.values), name="imageprompt_source_valid"
            ),
            models.UniqueConstraint(
                fields=["post", "section_key"], condition=Q(post__isnull=False), name="imageprompt_one_per_section"
            ),
            models.CheckConstraint(
                condition=Q(post__isnull=False) | Q(section_key=""), name="imageprompt_section_needs_post"
            ),
        ]

    def __str__(self) -> str:
        return self.text()[:80]

    def text(self) -> str:
        return compose_prompt(self.description, self.style, self.format)


class _KeepUnknown(dict):
    """format_map() mapping that leaves unknown placeholders as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_placeholders(template: str, context: dict[str, Any]) -> str:
    """Replace `{name}` placeholders; unknown names and stray braces are kept literally."""
    out = []
    for literal, field_name, format_spec, conversion in string.Formatter().parse(template):
        out.append(literal)
        if field_name is None:
            continue
        if field_name in context and not format_spec and not conversion:
            out.append(str(context[field_name]))
        else:
            # Keep anything we do not understand verbatim, never evaluate it.
            spec = f"!{conversion}" if conversion else ""
            spec += f":{format_spec}" if format_spec else ""
            out.append("{" + field_name + spec + "}")
    return "".join(out)


PLACEHOLDERS = ("title", "summary", "heading", "section_text", "tags")
TAG_RE = re.compile(r"[^\w\- ]+")


def normalize_tags(value: str | list[str]) -> str:
    items = value if isinstance(value, list) else value.split(",")
    seen: list[str] = []
    for item in items:
        tag = TAG_RE.sub("", item).strip().lower()
        if tag and tag not in seen:
            seen.append(tag)
    return ", ".join(seen)


class ImagePromptExample(models.Model):
    """The prompt library: a named, reusable prompt (with placeholders) and a setting."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(help_text="May use {title}, {summary}, {heading}, {section_text}, {tags}.")
    style = models.CharField(max_length=500, blank=True)
    format = models.CharField(max_length=500, blank=True)
    negative_prompt = models.TextField(blank=True)
    setting = models.ForeignKey(ImageSetting, null=True, blank=True, on_delete=models.SET_NULL, related_name="examples")
    tags = models.CharField(max_length=300, blank=True, help_text="Comma-separated.")
    notes = models.TextField(blank=True)
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="imagepromptexample_rating_1_5"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.tags = normalize_tags(self.tags)
        super().save(*args, **kwargs)

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in self.tags.split(", ") if tag]

    def build_prompt(self, context: dict[str, Any] | None = None, **prompt_fields: Any) -> ImagePrompt:
        """An unsaved ImagePrompt with the placeholders filled from `context`."""
        context = context or {}
        return ImagePrompt(
            description=fill_placeholders(self.description, context),
            style=fill_placeholders(self.style, context),
            format=fill_placeholders(self.format, context),
            negative_prompt=fill_placeholders(self.negative_prompt, context),
            **prompt_fields,
        )


class BatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIALLY_FAILED = "partially_failed", "Partially failed"
    FAILED = "failed", "Failed"


class GenerationBatch(models.Model):
    """One "generate images for this post" run; the develop screen's progress bar reads it."""

    post = models.ForeignKey(settings.BLOGIMAGES_POST_MODEL, on_delete=models.CASCADE, related_name="image_batches")
    setting = models.ForeignKey(ImageSetting, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=BatchStatus.choices, default=BatchStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    succeeded_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    cost_estimate = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "generation batches"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=BatchStatus.values), name="generationbatch_status_valid"),
            models.CheckConstraint(
                condition=Q(succeeded_count__lte=models.F("total") - models.F("failed_count")),
                name="generationbatch_counts_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"Batch {self.pk} ({self.status})"

    @property
    def done_count(self) -> int:
        return self.succeeded_count + self.failed_count

    @property
    def is_finished(self) -> bool:
        return self.status in (BatchStatus.SUCCEEDED, BatchStatus.PARTIALLY_FAILED, BatchStatus.FAILED)


class OutputStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class AltTextStatus(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    APPROVED = "approved", "Approved"


class ImageOutput(models.Model):
    """One generated, uploaded or derived image, and everything known about how it came to be."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    prompt = models.ForeignKey(ImagePrompt, null=True, blank=True, on_delete=models.SET_NULL, related_name="outputs")
    # The composed text actually sent, kept even if the prompt is later edited or deleted.
    prompt_text = models.TextField()
    negative_prompt = models.TextField(blank=True)
    setting = models.ForeignKey(ImageSetting, null=True, blank=True, on_delete=models.SET_NULL, related_name="outputs")
    setting_snapshot = models.JSONField(default=dict, blank=True, help_text="The parameters actually sent.")
    provider = models.CharField(max_length=50)
    model = models.CharField(max_length=200, blank=True)
    seed = Seed64Field(null=True, blank=True)
    # While it runs: {"value": step, "max": steps, "queue_position": n or None, "source": "websocket" |
    # "polling" | "progress"}, as the provider reports it (ComfyUI's WebSocket, A1111's /progress).
    progress = models.JSONField(default=dict, blank=True)
    revised_prompt = models.TextField(blank=True)
    provider_metadata = models.JSONField(default=dict, blank=True)

    file = models.FileField(max_length=500, blank=True)
    thumbnail = models.FileField(max_length=500, blank=True)
    sidecar = models.FileField(max_length=500, blank=True)
    mime_type = models.CharField(max_length=50, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # The file's C2PA Content Credentials as last checked: state (trusted, valid, invalid,
    # unsigned, none), signer, generator, edits; the manifest a provider sent, under "received".
    credentials = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=20, choices=OutputStatus.choices, default=OutputStatus.QUEUED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    review_status = models.CharField(max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)

    # What a reader who cannot see the image is told; suggested from the prompt until a person approves it.
    alt_text = models.CharField(max_length=300, blank=True)
    alt_status = models.CharField(max_length=20, choices=AltTextStatus.choices, default=AltTextStatus.SUGGESTED)
    decorative = models.BooleanField(default=False, help_text="Purely decorative: published with alt=\"\".")
    caption = models.CharField(max_length=500, blank=True)
    # A realistic depiction of people, places or events must carry a visible AI label (EU AI Act Art. 50(4)).
    realistic = models.BooleanField(
        default=False, help_text="A realistic depiction: pages show a visible “AI-generated” label."
    )
    # Where crops keep their centre, as fractions of width and height (set by clicking the image).
    focal_x = models.FloatField(default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    focal_y = models.FloatField(default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])

    post = models.ForeignKey(
        settings.BLOGIMAGES_POST_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="image_outputs"
    )
    section_key = models.CharField(max_length=100, blank=True)
    derived_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derivatives"
    )
    derivation = models.CharField(max_length=50, blank=True, help_text="How a derived image was made, e.g. watermark.")
    batch = models.ForeignKey(
        GenerationBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="outputs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cost_estimate = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    # What the image cost once made: its share of its call's cost, priced from the
    # provider's usage (stored once, on the call's first image) or, without one, estimated.
    cost = models.DecimalField(max_digits=14, decimal_places=COST_PLACES, null=True, blank=True)
    cost_basis = models.CharField(max_length=10, choices=CostBasis.choices, blank=True)
    api_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="outputs",
        help_text="The API token the image was requested with, if any.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # Which task should run a queued image and when it was handed to the broker (for a
    # delayed retry: when it falls due). A queued row with neither, or an old one, has no
    # live task: the reconciler re-enqueues it.
    task_id = models.CharField(max_length=255, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    provider_ms = models.PositiveIntegerField(null=True, blank=True)
    # The 64-bit pHash of the pixels (imagehash, 16 hex digits): near-duplicates differ in few bits.
    phash = models.CharField(max_length=16, blank=True, db_index=True)
    # The request (prompt history) this image was made by.
    run = models.ForeignKey("PromptRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="outputs")
    # sha256 of the provider and everything sent (generation.request_key), for a provider that is
    # deterministic for a seed: an identical request finds its image by it. Blank otherwise.
    request_key = models.CharField(max_length=64, blank=True, db_index=True)
    # Set when an identical earlier request was answered from storage (no provider call).
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reuses"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The gallery's and the API's order, with the primary key that makes it total:
            # keyset pages start inside it, numbered pages skip ids in it. derived_from rides
            # along (after the unique id it changes no order) so the gallery's "originals
            # only" test is answered from the index too (an INCLUDE column, without
            # SQLite's "non-key columns ignored" warning).
            models.Index(fields=["-created_at", "-id", "derived_from"], name="imageoutput_created_id_idx"),
            models.Index(fields=["provider", "-created_at"], name="imageoutput_provider_idx"),
            models.Index(fields=["post", "section_key"], name="imageoutput_post_section_idx"),
            models.Index(fields=["review_status", "-created_at"], name="imageoutput_review_idx"),
            models.Index(fields=["status"], name="imageoutput_status_idx"),
            models.Index(fields=["status", "enqueued_at"], name="imageoutput_enqueued_idx"),
            models.Index(fields=["created_by", "-created_at"], name="imageoutput_user_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=OutputStatus.values), name="imageoutput_status_valid"),
            models.CheckConstraint(
                condition=Q(review_status__in=ReviewStatus.values), name="imageoutput_review_status_valid"
            ),
            models.CheckConstraint(
                condition=(Q(width__isnull=True) | Q(width__gte=1)) & (Q(height__isnull=True) | Q(height__gte=1)),
                name="imageoutput_size_positive",
            ),
            # A succeeded image always has its file; a failed one always says why.
            models.CheckConstraint(
                condition=~Q(status=OutputStatus.SUCCEEDED) | ~Q(file=""), name="imageoutput_succeeded_has_file"
            ),
            models.CheckConstraint(
                condition=~Q(status=OutputStatus.FAILED) | ~Q(error=""), name="imageoutput_failed_has_error"
            ),
            models.CheckConstraint(
                condition=Q(post__isnull=False) | Q(section_key=""), name="imageoutput_section_needs_post"
            ),
            models.CheckConstraint(
                condition=Q(alt_status__in=AltTextStatus.values), name="imageoutput_alt_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(focal_x__gte=0, focal_x__lte=1, focal_y__gte=0, focal_y__lte=1),
                name="imageoutput_focal_in_image",
            ),
        ]

    def __str__(self) -> str:
        return f"Image {self.pk} ({self.provider}, {self.status})"

    @property
    def short_id(self) -> str:
        return self.uid.hex[:8]

    @property
    def is_finished(self) -> bool:
        return self.status in (OutputStatus.SUCCEEDED, OutputStatus.FAILED)

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class Rendition(models.Model):
    """A derived file of an image at one spec (e.g. `w800.webp`), made once for pages and reused.

    Like Wagtail's renditions: the original is never touched, one row per image and spec,
    and renditions are not images of their own (the gallery never lists them).
    """

    image = models.ForeignKey(ImageOutput, on_delete=models.CASCADE, related_name="renditions")
    spec = models.CharField(max_length=100)
    file = models.FileField(max_length=500)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    mime_type = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image", "width"]
        constraints = [models.UniqueConstraint(fields=["image", "spec"], name="rendition_one_per_spec")]

    def __str__(self) -> str:
        return f"{self.image_id}/{self.spec}"

    @property
    def url(self) -> str:
        return self.file.url


class ComfyWorkflow(models.Model):
    """A ComfyUI workflow in API format with placeholders, registered in the admin."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    workflow = models.JSONField(help_text="API-format workflow (Export (API) in ComfyUI) with {{placeholders}}, "
                                          "or exported as it is and given a node map.")
    nodes = models.JSONField(
        default=dict, blank=True, verbose_name="node map",
        help_text='Which node input takes each value, e.g. {"prompt": "6.text", "seed": "3.seed", "width": "5.width"} '
                  "(Open WebUI's COMFYUI_WORKFLOW_NODES list works too). Left empty for an exported standard graph, "
                  "it is guessed and shown to confirm.",
    )
    options = models.JSONField(
        default=dict, blank=True,
        help_text='This workflow\'s size limits: {"min_size": 512, "max_size": 1536, "size_multiple": 64, '
                  '"max_pixels": 1572864}. Empty: 64 to 2048 px in steps of 8.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReviewAction(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    REGENERATE = "regenerate", "Regenerated"
    ASSIGN = "assign", "Assigned to a section"
    USE = "use", "Used in a post"
    ALT_TEXT = "alt_text", "Alt text edited"
    REPLACE = "replace", "Replaced with an upload"
    WATERMARK = "watermark", "Watermarked"
    RESIZE = "resize", "Resized"
    CONVERT = "convert", "Converted"
    UPSCALE = "upscale", "Upscaled"
    PUBLISH = "publish", "Publish copy made"
    VARIATION = "variation", "Variations requested"
    EDIT = "edit", "Edited"
    DELETE = "delete", "Deleted"


class ReviewEvent(models.Model):
    """Who did what to an image, and when: the review trail shown on the image."""

    output = models.ForeignKey(ImageOutput, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=ReviewAction.choices)
    note = models.TextField(blank=True)
    # Anything else worth keeping: the new image's id, the section key, the preset used...
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["output", "-created_at"], name="reviewevent_output_idx")]
        constraints = [models.CheckConstraint(condition=Q(action__in=ReviewAction.values), name="reviewevent_action_valid")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} image {self.output_id}"


class WatermarkPreset(models.Model):
    """A named watermark (text or logo, position, opacity...) managed in the admin.

    `spec` is `imaging.watermark.WatermarkSpec.to_dict()`; a logo is stored as a file beside it.
    """

    name = models.CharField(max_length=100, unique=True)
    spec = models.JSONField(default=dict)
    logo = models.ImageField(upload_to="blogimages/watermarks/", blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_watermark"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A personal API token. Only a hash is stored; the token is shown once, when created."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blogimages_tokens")
    name = models.CharField(max_length=100, blank=True)
    # The first characters of the token, to tell tokens apart in lists; not a secret.
    prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        from django.utils import timezone

        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class LlmCall(models.Model):
    """One call to a text/vision model: its tokens and price, counted against the budgets."""

    alias = models.CharField(max_length=50)
    model = models.CharField(max_length=200, blank=True)
    purpose = models.CharField(max_length=30, blank=True, help_text="chat, draft, improve, describe...")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=COST_PLACES, null=True, blank=True)
    cost_basis = models.CharField(max_length=10, choices=CostBasis.choices, blank=True)
    request_id = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.alias} {self.purpose} ({self.input_tokens}+{self.output_tokens} tokens)"


class ChatThread(models.Model):
    """A conversation about one image idea, owned by a user, optionally bound to a post slot."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blogimages_chats")
    title = models.CharField(max_length=200, blank=True)
    post = models.ForeignKey(
        settings.BLOGIMAGES_POST_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    slot_key = models.CharField(max_length=100, blank=True)
    llm = models.CharField(max_length=50, blank=True, help_text="The LLM alias; empty = the default.")
    provider = models.CharField(max_length=50, blank=True, help_text="The image provider; empty = the default.")
    # The prompt and parameters the next turn refines (llms.rules.PromptState as JSON).
    state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(condition=Q(post__isnull=False) | Q(slot_key=""), name="chatthread_slot_needs_post"),
        ]

    def __str__(self) -> str:
        return self.title or f"Chat #{self.pk}"


class ChatMessage(models.Model):
    class Role(models.TextChoices):
        USER = "user", "You"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        # An assistant message is stored before it is answered, so the page can show it
        # (streamed or polled) at once; "answering" is claimed by exactly one request.
        PENDING = "pending", "Waiting"
        ANSWERING = "answering", "Answering"
        DONE = "done", "Done"

    thread = models.ForeignKey(ChatThread, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=20, choices=Role.choices)
    text = models.TextField(blank=True)
    # For a turn that generated: the exact prompt parts and parameters sent, and what the
    # interpreter or the model understood, so nothing about the turn is hidden.
    prompt = models.JSONField(default=dict, blank=True)
    notes = models.JSONField(default=list, blank=True)
    llm_call = models.ForeignKey(LlmCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outputs = models.ManyToManyField(ImageOutput, blank=True, related_name="chat_messages")
    error = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DONE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.text[:60]}"

    @property
    def is_answered(self) -> bool:
        return self.status == self.Status.DONE


class StyleGuide(models.Model):
    """The blog's visual identity, applied to every generation for a post while enabled."""

    name = models.CharField(max_length=120, default="Blog style guide")
    enabled = models.BooleanField(default=True)
    style_words = models.CharField(max_length=500, blank=True, help_text="e.g. flat illustration, soft grain")
    palette = models.CharField(max_length=300, blank=True, help_text="e.g. teal, sand and coral")
    mood = models.CharField(max_length=200, blank=True, help_text="e.g. calm, optimistic")
    never_show = models.CharField(
        max_length=500, blank=True,
        help_text="Comma-separated: the negative prompt where the provider takes one, else “avoid …” words.",
    )
    reference_images = models.ManyToManyField(ImageOutput, blank=True, related_name="+",
                                              help_text="Used by providers that take reference images.")
    # {"featured": {"style": "...", "format": "..."}, "section": {...}} by slot kind or key.
    slot_defaults = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-enabled", "-updated_at"]

    def __str__(self) -> str:
        return self.name


class BoardVisibility(models.TextChoices):
    PRIVATE = "private", "Private"
    STAFF = "staff", "Shared with staff"
    LINK = "link", "Anyone with the link"


class Board(models.Model):
    """A user's named collection of images: private, shared with staff, or public by an unguessable link."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blogimages_boards")
    name = models.CharField(max_length=120)
    visibility = models.CharField(max_length=10, choices=BoardVisibility.choices, default=BoardVisibility.PRIVATE)
    # Only while visibility is "link"; a new one each time the link is made, so revoking is final.
    share_token = models.CharField(max_length=64, blank=True)
    # The share link shows prompts and generation parameters only when the owner allows it.
    share_details = models.BooleanField(default=False)
    # New generations of the owner are added here while set (at most one per owner).
    auto_add = models.BooleanField(default=False)
    cover = models.ForeignKey(ImageOutput, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    images = models.ManyToManyField(ImageOutput, through="BoardImage", related_name="boards", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(visibility__in=BoardVisibility.values), name="board_visibility_valid"),
            models.CheckConstraint(
                condition=Q(visibility=BoardVisibility.LINK, share_token__gt="")
                | (~Q(visibility=BoardVisibility.LINK) & Q(share_token="")),
                name="board_token_iff_link",
            ),
            models.UniqueConstraint(fields=["share_token"], condition=~Q(share_token=""), name="board_token_unique"),
            models.UniqueConstraint(fields=["owner"], condition=Q(auto_add=True), name="board_one_auto_add"),
            models.UniqueConstraint(fields=["owner", "name"], name="board_name_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class BoardImage(models.Model):
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="entries")
    image = models.ForeignKey(ImageOutput, on_delete=models.CASCADE, related_name="board_entries")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["board", "image"], name="boardimage_once")]
        indexes = [models.Index(fields=["board", "-added_at"], name="boardimage_board_idx")]


class RunSource(models.TextChoices):
    TESTER = "tester", "Prompt tester"
    COMPARE = "compare", "Compare"
    CHAT = "chat", "Chat"
    DEVELOP = "develop", "Develop screen"
    CLI = "cli", "Command line"
    API = "api", "JSON API"
    V1 = "v1", "/v1 API"
    OTHER = "other", "Other"


class PromptRun(models.Model):
    """One prompt a user ran, with every parameter sent: the prompt history and its "Use again"."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="blogimages_runs")
    source = models.CharField(max_length=20, choices=RunSource.choices, default=RunSource.OTHER)
    prompt = models.ForeignKey(ImagePrompt, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    prompt_text = models.TextField()
    description = models.TextField(blank=True)
    style = models.CharField(max_length=500, blank=True)
    format = models.CharField(max_length=500, blank=True)
    negative_prompt = models.TextField(blank=True)
    setting = models.ForeignKey(ImageSetting, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provider = models.CharField(max_length=50)
    model = models.CharField(max_length=200, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    seed = Seed64Field(null=True, blank=True)  # ComfyUI's 0…2^64−1, like ImageOutput.seed
    n = models.PositiveSmallIntegerField(default=1)
    # The request as sent (generation.snapshot of the first image): what "Use again" refills.
    parameters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="promptrun_user_idx"),
            models.Index(fields=["provider", "-created_at"], name="promptrun_provider_idx"),
            # PostgreSQL's full-text search of the history (selectors.run_list uses the same
            # expression, so the planner can use it); the migration creates it only there.
            GinIndex(SearchVector("prompt_text", config="english"), name="promptrun_search_idx"),
        ]

    def __str__(self) -> str:
        return self.prompt_text[:80]
