"""The review trail: every action on an image, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.text import Truncator

from ..models import ReviewEvent
from .common import _image_admin_url, _pretty_json


@admin.register(ReviewEvent)
class ReviewEventAdmin(admin.ModelAdmin):
    """The review trail: read-only, written by the review services only."""

    list_display = ("created_at", "image_link", "action", "actor", "note_excerpt")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter))
    search_fields = ("note",)
    list_select_related = ("output", "actor")
    date_hierarchy = "created_at"
    readonly_fields = ("output", "actor", "action", "note", "data_pretty", "created_at")
    fields = readonly_fields

    @admin.display(description="Image", ordering="output")
    def image_link(self, obj: ReviewEvent) -> str:
        return format_html('<a href="{}">#{}</a>', _image_admin_url(obj.output_id), obj.output_id)

    @admin.display(description="Note")
    def note_excerpt(self, obj: ReviewEvent) -> str:
        return Truncator(obj.note).chars(80)

    @admin.display(description="Data")
    def data_pretty(self, obj: ReviewEvent) -> str:
        return _pretty_json(obj.data)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
