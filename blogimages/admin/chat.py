"""The style guide, LLM calls (a read-only spend record) and chat threads."""

from __future__ import annotations

from django.contrib import admin

from ..models import ChatThread, LlmCall, StyleGuide


@admin.register(StyleGuide)
class StyleGuideAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "style_words", "palette", "mood", "updated_at")
    filter_horizontal = ("reference_images",)


@admin.register(LlmCall)
class LlmCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "alias", "model", "purpose", "user", "input_tokens", "output_tokens", "cost", "error")
    list_filter = ("alias", "purpose")
    readonly_fields = [f.name for f in LlmCall._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # a record of what was spent, written by the app only


@admin.register(ChatThread)
class ChatThreadAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "post", "slot_key", "updated_at")
    search_fields = ("title", "messages__text")
    raw_id_fields = ("user", "post")
