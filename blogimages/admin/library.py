"""Boards and the prompt history (read-only: written by the app as users work)."""

from __future__ import annotations

from django.contrib import admin

from ..models import Board, PromptRun


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "visibility", "auto_add", "updated_at")
    list_filter = ("visibility",)
    search_fields = ("name", "owner__username")
    raw_id_fields = ("owner", "cover")
    # The link is made and revoked by changing the visibility (boards.update_board), never typed.
    readonly_fields = ("share_token", "created_at", "updated_at")
    exclude = ("images",)


@admin.register(PromptRun)
class PromptRunAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "source", "provider", "model", "width", "height", "seed", "n")
    list_filter = ("source", "provider")
    search_fields = ("prompt_text",)
    readonly_fields = [f.name for f in PromptRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
