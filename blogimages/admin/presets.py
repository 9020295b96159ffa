"""What authors reuse: settings, prompts, library examples, watermark presets, ComfyUI workflows."""

from __future__ import annotations

import base64
import io

from django.contrib import admin
from django.db import transaction
from django.utils.html import format_html_join
from django.utils.text import Truncator

from .. import derive
from ..forms_admin import (
    ComfyWorkflowForm,
    ImageSettingForm,
    WatermarkPresetForm,
)
from ..imaging import watermark
from ..models import (
    ComfyWorkflow,
    ImagePrompt,
    ImagePromptExample,
    ImageSetting,
    WatermarkPreset,
)


@admin.register(ImageSetting)
class ImageSettingAdmin(admin.ModelAdmin):
    form = ImageSettingForm
    list_display = ("name", "provider", "model", "size", "steps", "guidance_scale", "seed", "quality", "style",
                    "updated_at")
    list_filter = ("provider",)
    search_fields = ("name", "model", "notes")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = [
        (None, {"fields": ("name", "provider", "model", ("width", "height"))}),
        ("Parameters", {"fields": ("steps", "guidance_scale", "seed", "quality", "style", "sampler",
                                   "extra_settings")}),
        (None, {"fields": ("notes", "created_at", "updated_at")}),
    ]

    @admin.display(description="Size")
    def size(self, obj: ImageSetting) -> str:
        return f"{obj.width}×{obj.height}"


@admin.register(ImagePrompt)
class ImagePromptAdmin(admin.ModelAdmin):
    list_display = ("short_text", "source", "post", "section_key", "example", "author", "updated_at")
    list_filter = ("source", ("post", admin.RelatedOnlyFieldListFilter))
    search_fields = ("description", "style", "format")
    list_select_related = ("post", "example", "author")
    raw_id_fields = ("source_post", "post", "example", "author")
    readonly_fields = ("composed", "created_at", "updated_at")
    fieldsets = [
        (None, {"fields": ("description", "style", "format", "negative_prompt", "composed")}),
        ("Where it came from", {"fields": ("source", "source_post", "source_field", "post", "section_key", "example",
                                           "author", "created_at", "updated_at")}),
    ]

    @admin.display(description="Prompt")
    def short_text(self, obj: ImagePrompt) -> str:
        return Truncator(obj.text()).chars(90)

    @admin.display(description="Text sent to the provider")
    def composed(self, obj: ImagePrompt) -> str:
        return obj.text() if obj.pk else "—"


@admin.register(ImagePromptExample)
class ImagePromptExampleAdmin(admin.ModelAdmin):
    list_display = ("name", "setting", "tags", "rating", "updated_at")
    list_filter = ("rating", "setting")
    search_fields = ("name", "description", "style", "tags", "notes")
    list_select_related = ("setting",)
    raw_id_fields = ("author",)
    readonly_fields = ("created_at", "updated_at")


SAMPLE_SIZE = (480, 270)


def _sample_background(dark: bool) -> bytes:
    """A gradient with some texture, dark or light, to preview watermarks on."""
    from PIL import Image, ImageDraw

    width, height = SAMPLE_SIZE
    image = Image.new("RGB", SAMPLE_SIZE)
    draw = ImageDraw.Draw(image)
    top, bottom = ((28, 34, 52), (6, 8, 14)) if dark else ((250, 244, 230), (214, 226, 238))
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    accent = (70, 90, 140) if dark else (236, 200, 170)
    draw.ellipse((width * 0.55, height * 0.1, width * 1.05, height * 1.1), fill=accent)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@admin.register(WatermarkPreset)
class WatermarkPresetAdmin(admin.ModelAdmin):
    form = WatermarkPresetForm
    list_display = ("name", "describe", "is_default", "updated_at")
    readonly_fields = ("preview",)
    fieldsets = [
        (None, {"fields": ("name", "make_default")}),
        ("Mark", {"fields": ("text", "logo", "font", "color")}),
        ("Placement", {"fields": ("position", "opacity", "scale", "margin")}),
        ("Preview", {"fields": ("preview",)}),
    ]

    @admin.display(description="Watermark")
    def describe(self, obj: WatermarkPreset) -> str:
        spec = obj.spec or {}
        what = f"“{spec.get('text')}”" if spec.get("text") else "logo" if obj.logo else "—"
        return f"{what}, {spec.get('position', 'bottom-right')}, opacity {spec.get('opacity', 0.5)}"

    @admin.display(description="On a dark and a light image")
    def preview(self, obj: WatermarkPreset) -> str:
        if not obj.pk:
            return "Save the preset to see it on sample images."
        try:
            spec = derive.preset_spec(obj)
            samples = [watermark.watermark(_sample_background(dark), spec) for dark in (True, False)]
        except (ValueError, OSError) as exc:
            return f"Cannot preview: {exc}"
        return format_html_join(
            " ", '<img src="data:image/png;base64,{}" width="{}" alt="preview" class="bi-sample">',
            ((base64.b64encode(data).decode("ascii"), SAMPLE_SIZE[0]) for data in samples),
        )

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            if obj.is_default:
                WatermarkPreset.objects.exclude(pk=obj.pk).filter(is_default=True).update(is_default=False)
            super().save_model(request, obj, form, change)


@admin.register(ComfyWorkflow)
class ComfyWorkflowAdmin(admin.ModelAdmin):
    form = ComfyWorkflowForm
    list_display = ("name", "description", "nodes", "updated_at")
    search_fields = ("name", "description")

    @admin.display(description="Nodes")
    def nodes(self, obj: ComfyWorkflow) -> int:
        return len(obj.workflow) if isinstance(obj.workflow, dict) else 0
