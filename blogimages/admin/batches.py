"""Post batches: one "generate images for this post" run each."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from ..batches import retry_failed
from ..models import GenerationBatch


@admin.register(GenerationBatch)
class GenerationBatchAdmin(admin.ModelAdmin):
    list_display = ("__str__", "post", "status", "progress", "cost_estimate", "created_by", "created_at")
    list_filter = ("status", ("post", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("post", "created_by", "setting")
    date_hierarchy = "created_at"
    readonly_fields = ("post", "setting", "created_by", "status", "total", "succeeded_count", "failed_count",
                       "cost_estimate", "created_at", "started_at", "finished_at", "images")
    fields = readonly_fields
    actions = ["retry_failed"]

    @admin.display(description="Done")
    def progress(self, obj: GenerationBatch) -> str:
        failed = f", {obj.failed_count} failed" if obj.failed_count else ""
        return f"{obj.done_count} of {obj.total}{failed}"

    @admin.display(description="Images")
    def images(self, obj: GenerationBatch) -> str:
        url = reverse("admin:blogimages_imageoutput_changelist") + f"?batch__id__exact={obj.pk}"
        return format_html('<a href="{}">{} image(s) of this batch</a>', url, obj.outputs.count())

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retry the failed images of the selected batches", permissions=["change"])
    def retry_failed(self, request, queryset):
        total = sum(retry_failed(batch) for batch in queryset)
        self.message_user(request, f"{total} failed image(s) queued again.", messages.SUCCESS)
