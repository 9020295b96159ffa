"""The host blog's admin: posts with their sections and each section's chosen image.

A section's image is chosen through blogimages (the image's "Assign to a section" action,
which records who chose it); here it is shown, with a link to the image.
"""

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from .models import Post, Section


class SectionInline(admin.TabularInline):
    model = Section
    extra = 0
    fields = ("order", "key", "heading", "body", "chosen_image_preview")
    readonly_fields = ("chosen_image_preview",)
    ordering = ("order", "id")
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 44})},
        models.CharField: {"widget": forms.TextInput(attrs={"size": 24})},
        models.SlugField: {"widget": forms.TextInput(attrs={"size": 14})},
        models.PositiveIntegerField: {"widget": forms.NumberInput(attrs={"style": "width: 4em"})},
    }

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("chosen_image")

    @admin.display(description="Chosen image")
    def chosen_image_preview(self, obj: Section) -> str:
        return _image_preview(obj.chosen_image if obj.pk else None)


def _image_preview(image) -> str:
    if image is None:
        return "—"
    url = reverse("admin:blogimages_imageoutput_change", args=[image.pk])
    if image.thumbnail:
        return format_html('<a href="{}"><img src="{}" loading="lazy" width="120" alt="Image {}" '
                           'style="border-radius:4px;display:block"></a><a href="{}">#{}</a>',
                           url, image.thumbnail.url, image.pk, url, image.pk)
    return format_html('<a href="{}">#{}</a>', url, image.pk)


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "status", "section_count", "images_link", "published_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("title", "slug", "summary", "tags")
    prepopulated_fields = {"slug": ("title",)}
    date_hierarchy = "created_at"
    inlines = [SectionInline]
    fieldsets = [
        (None, {"fields": ("title", "slug", "status", "published_at")}),
        ("Text", {"fields": ("summary", "body", "tags")}),
        ("Images", {"fields": ("featured_image_preview", "social_image_preview"),
                    "description": "Chosen on the develop screen or with an image's “Use in post…”."}),
    ]
    readonly_fields = ("featured_image_preview", "social_image_preview")

    @admin.display(description="Featured image")
    def featured_image_preview(self, obj: Post) -> str:
        return _image_preview(obj.featured_image if obj.pk else None)

    @admin.display(description="Social card")
    def social_image_preview(self, obj: Post) -> str:
        return _image_preview(obj.social_image if obj.pk else None)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_sections=Count("sections"))

    @admin.display(description="Sections", ordering="n_sections")
    def section_count(self, obj: Post) -> int:
        return obj.n_sections

    @admin.display(description="Images")
    def images_link(self, obj: Post) -> str:
        url = reverse("admin:blogimages_imageoutput_changelist") + f"?post__id__exact={obj.pk}"
        return format_html('<a href="{}">Review images</a>', url)
