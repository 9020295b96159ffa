"""The review desk: ImageOutput's list with thumbnails, filters and bulk actions, and its change
page with a large preview, the review trail, derived images and a button for every review action.
Everything generated is read-only; state changes only through the services in `review.py` and
`derive.py`, so the admin, the author pages and the APIs behave the same."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import datetime as dt

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.db.models import Count, Max, Min, QuerySet
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext

from .. import bulk, content_credentials, derive, review
from ..paging import CheapPaginator
from ..selectors import filter_choices
from ..forms_admin import (
    AssignForm,
    ConvertForm,
    PromptEditForm,
    RejectForm,
    ResizeForm,
    UploadForm,
    UpscaleForm,
    VariationsForm,
    WatermarkForm,
)
from ..integration import get_post_adapter
from ..models import (
    ImageOutput,
    OutputStatus,
    ReviewEvent,
)
from .common import ACTION_ERRORS, _image_admin_url, _pretty_json


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("original", "Originals"), ("derived", "Derived (watermark, resize…)"), ("variation", "Variations"),
                ("upload", "Uploads")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "original":
            return queryset.filter(derived_from__isnull=True)
        if value == "derived":
            return queryset.filter(derived_from__isnull=False).exclude(derivation__in=["variation", "upload"])
        if value in ("variation", "upload"):
            return queryset.filter(derivation=value)
        return queryset


class ProviderFilter(admin.SimpleListFilter):
    """The providers configured and present (selectors.filter_choices: cached), not a
    DISTINCT over every image per render."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        return [(alias, alias) for alias in filter_choices()["providers"]]

    def queryset(self, request, queryset):
        return queryset.filter(provider=self.value()) if self.value() else queryset


# A filtered changelist with at most this many rows takes its first and last dates from
# the rows themselves, found by the filter's own plan.
BOUNDS_SCAN_LIMIT = 10_000


class CheapDatesQuerySet(QuerySet):
    """The changelist's queryset: the date hierarchy's drill-down levels come from the
    first and last dates (two index lookups) instead of a DISTINCT over every row, so a
    level may offer a month or day without images (it then lists none).

    The bounds are read once per render (Django's date_hierarchy tag asks for them, then for
    the years: two identical MIN/MAX queries). Of a filtered list they come from its rows
    when it has few: PostgreSQL answers MIN and MAX by walking the date index from each end
    to the first row that passes the filter, and when few or none pass (a search that
    matches nothing) each walk read the whole table: at 100,000 images the search page took
    560 ms, 2 x 300 of them in those walks."""

    def aggregate(self, *args, **kwargs):
        first, last = kwargs.get("first"), kwargs.get("last")
        if (not args and set(kwargs) == {"first", "last"} and type(first) is Min and type(last) is Max
                and first.source_expressions == last.source_expressions
                and isinstance(getattr(first.source_expressions[0], "name", None), str)):
            return dict(self.date_bounds(first.source_expressions[0].name))
        return super().aggregate(*args, **kwargs)

    def date_bounds(self, field_name: str) -> dict:
        cache = self.__dict__.setdefault("_date_bounds", {})
        if field_name not in cache:
            rows = QuerySet(model=self.model, query=self.query.chain(), using=self._db).order_by()
            bounds = None
            if rows.query.where:
                head = rows.values(field_name)[:BOUNDS_SCAN_LIMIT + 1].aggregate(
                    first=Min(field_name), last=Max(field_name), rows=Count("*"))
                if head["rows"] <= BOUNDS_SCAN_LIMIT:
                    bounds = {"first": head["first"], "last": head["last"]}
            if bounds is None:  # unfiltered, or many rows: the walks stop at once
                bounds = rows.aggregate(first=Min(field_name), last=Max(field_name))
            cache[field_name] = bounds
        return cache[field_name]

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        bounds = self.date_bounds(field_name)
        if not bounds["first"]:
            return []
        first, last = timezone.localtime(bounds["first"]), timezone.localtime(bounds["last"])
        periods, current = [], first.replace(month=1 if kind == "year" else first.month,
                                             day=1 if kind in ("year", "month") else first.day,
                                             hour=0, minute=0, second=0, microsecond=0)
        while current <= last:
            periods.append(current)
            if kind == "year":
                current = current.replace(year=current.year + 1)
            elif kind == "month":
                current = current.replace(year=current.year + current.month // 12, month=current.month % 12 + 1)
            else:
                current = timezone.localtime(current + dt.timedelta(days=1)).replace(hour=0)
        return periods if order == "ASC" else periods[::-1]


# Sections of the change page; every field is read-only.
# The only fields of an image a person edits in the admin: how it is published.
PUBLISHING_EDITABLE = ("alt_text", "caption", "decorative", "realistic", "focal_x", "focal_y")

OUTPUT_FIELDSETS = [
    ("Review", {"fields": ("review_status", "status", "error", "post", "section_key", "chosen_for", "lineage",
                           "created_by")}),
    ("Publishing", {"fields": ("alt_text", "alt_status", "caption", "decorative", "realistic", "focal_x", "focal_y")}),
    ("Prompt", {"fields": ("prompt_text", "negative_prompt", "revised_prompt", "prompt", "setting")}),
    ("Generation", {"fields": ("provider", "model", "seed", "snapshot", "metadata", "attempts", "cost_estimate",
                               "cost", "cost_basis",
                               "batch", "api_token")}),
    ("File", {"fields": ("file", "thumbnail", "sidecar", "mime_type", "width", "height", "bytes", "sha256", "uid",
                         "content_credentials")}),
    ("Timing", {"fields": ("created_at", "queued_at", "started_at", "finished_at", "provider_ms"),
                "classes": ("collapse",)}),
]


@admin.register(ImageOutput)
class ImageOutputAdmin(admin.ModelAdmin):
    list_display = ("thumb", "summary", "review", "status", "source", "where", "created_at")
    list_display_links = ("thumb", "summary")
    # Cheap at 100,000 images: no DISTINCT scans for the filters (the post filter lists the
    # posts, not the posts that have images), an estimated count, ids-first pages, no
    # second COUNT(*) of the whole table, and a date hierarchy from the first/last dates.
    list_filter = ("status", "review_status", ProviderFilter, "post", KindFilter,
                   ("created_at", admin.DateFieldListFilter))
    date_hierarchy = "created_at"
    search_fields = ("prompt_text",)
    search_help_text = "Search the prompt text."
    list_select_related = ("post",)
    list_per_page = 48
    paginator = CheapPaginator
    show_full_result_count = False
    fieldsets = OUTPUT_FIELDSETS
    actions = ["approve_selected", "reject_selected", "regenerate_selected", "watermark_selected", "resize_selected",
               "variations_selected"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return CheapDatesQuerySet(model=queryset.model, query=queryset.query, using=queryset._db,
                                  hints=queryset._hints)

    # -- list columns -----------------------------------------------------------------

    def action_checkbox(self, obj: ImageOutput) -> str:
        """Django's own checkbox, character for character, without rendering a form widget
        through the template engine for each of the page's 48 rows (a sixth of the page)."""
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                           helpers.ACTION_CHECKBOX_NAME, str(obj.pk), label)

    @admin.display(description="Image")
    def thumb(self, obj: ImageOutput) -> str:
        if obj.thumbnail:
            return format_html('<img src="{}" loading="lazy" alt="Image {}" class="bi-thumb" width="96">',
                               obj.thumbnail.url, obj.pk)
        return format_html('<span class="bi-nothumb">{}</span>', obj.get_status_display())

    @admin.display(description="Prompt", ordering="prompt_text")
    def summary(self, obj: ImageOutput) -> str:
        kind = ""
        if obj.derived_from_id:
            kind = format_html('<span class="bi-kind">{} of #{}</span><br>', obj.derivation or "derived",
                               obj.derived_from_id)
        return format_html("{}<strong>#{}</strong> {}", kind, obj.pk, Truncator(obj.prompt_text).chars(70))

    @admin.display(description="Review", ordering="review_status")
    def review(self, obj: ImageOutput) -> str:
        return format_html('<span class="bi-badge {}">{}</span>', obj.review_status, obj.get_review_status_display())

    @admin.display(description="Provider", ordering="provider")
    def source(self, obj: ImageOutput) -> str:
        return f"{obj.provider}/{obj.model}" if obj.model else obj.provider

    @admin.display(description="Post › section", ordering="post")
    def where(self, obj: ImageOutput) -> str:
        if not obj.post_id:
            return "—"
        return format_html("{}<br><small>› {}</small>", Truncator(str(obj.post)).chars(40), obj.section_key or "—")

    # -- change page fields -----------------------------------------------------------

    @admin.display(description="Setting snapshot (what was sent)")
    def snapshot(self, obj: ImageOutput) -> str:
        return _pretty_json(obj.setting_snapshot)

    @admin.display(description="Provider metadata")
    def metadata(self, obj: ImageOutput) -> str:
        return _pretty_json(obj.provider_metadata)

    @admin.display(description="Derived from / derivation")
    def lineage(self, obj: ImageOutput) -> str:
        if not obj.derived_from_id:
            return "Original"
        return format_html('{} of <a href="{}">image #{}</a>', obj.derivation or "Derived",
                           _image_admin_url(obj.derived_from_id), obj.derived_from_id)

    @admin.display(description="Content Credentials (C2PA)")
    def content_credentials(self, obj: ImageOutput) -> str:
        record = obj.credentials or {}
        line = format_html('<span class="bi-badge credentials-{}">{}</span> {}', record.get("state") or "none",
                           record.get("state") or "none", content_credentials.describe(record))
        received = record.get("received")
        if received:
            line = format_html("{}<br><small>As the provider sent it: {}</small>", line,
                               content_credentials.describe(received))
        return line

    @admin.display(description="Shown in sections")
    def chosen_for(self, obj: ImageOutput) -> str:
        keys = review.slots_showing(obj)
        return ", ".join(keys) if keys else "—"

    def get_readonly_fields(self, request, obj=None):
        computed = ("snapshot", "metadata", "lineage", "chosen_for", "content_credentials")
        return [f.name for f in self.model._meta.fields if f.name not in ("id", *PUBLISHING_EDITABLE)] + list(computed)

    def has_add_permission(self, request) -> bool:
        return False  # images come from generation, uploads (replace) and derivations

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is None:
            return super().has_delete_permission(request)
        return review.can_delete(request.user, obj)

    def save_model(self, request, obj, form, change) -> None:
        # Review state changes through the actions only; only how the image is published
        # is edited here, and only those columns are written: saving the whole stale object
        # could overwrite a generation that just finished.
        if not change:
            super().save_model(request, obj, form, change)
            return
        changed = sorted(set(form.changed_data) & set(PUBLISHING_EDITABLE))
        if not changed:
            return
        fields = list(changed)
        if {"alt_text", "decorative"} & set(changed):
            obj.alt_status = "approved"  # what a person wrote is approved alt text
            fields.append("alt_status")
        obj.save(update_fields=fields)
        review.record(obj, user=request.user, action="alt_text", note=obj.alt_text or "(decorative)",
                      data={"changed": changed})

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The review trail goes with its image; it cannot be deleted on its own.
        perms_needed.discard(ReviewEvent._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj) -> None:
        # The admin checked has_delete_permission (review.can_delete); the service checks again
        # and may refuse a chosen image with no approved successor: say so instead of a 500.
        pk = obj.pk
        try:
            replaced = review.delete(obj, user=request.user)
        except (PermissionDenied, ValueError) as exc:
            self.message_user(request, f"Image #{pk} was not deleted: {exc}", messages.ERROR)
            raise _NotDeleted from exc
        if replaced:
            self.message_user(request, review.describe_deletion(pk, replaced), messages.WARNING)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except _NotDeleted:
            return redirect(reverse("admin:blogimages_imageoutput_change", args=[object_id]))

    def log_deletions(self, request, queryset) -> None:
        # The delete action logs the whole selection before delete_queryset runs; the service may
        # refuse some of it, so that action's entries are written there, for what was deleted.
        if isinstance(queryset, QuerySet):
            return
        super().log_deletions(request, queryset)

    def delete_queryset(self, request, queryset) -> None:
        # The bulk action goes through the same service per image: one refusal stops no other.
        selected = list(queryset.select_related("derived_from", "post"))
        before = {obj.pk: copy.copy(obj) for obj in selected}  # a deleted row forgets its pk
        result = bulk.apply("delete", selected, user=request.user)
        if result.done:
            super().log_deletions(request, [before[pk] for pk in result.done])
        level = messages.ERROR if result.all_refused else messages.WARNING if result.refused else messages.SUCCESS
        self.message_user(request, result.summary(), level)
        request._blogimages_bulk_deleted = True

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs) -> None:
        # Django's delete action then says "Successfully deleted N" whatever happened; our
        # summary (what was deleted, what was refused and why) has already said it exactly.
        if getattr(request, "_blogimages_bulk_deleted", False) and str(message).startswith("Successfully deleted"):
            return
        super().message_user(request, message, level, *args, **kwargs)

    # -- the change page ----------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if obj is not None:
            context.update(self._review_context(request, obj))
        context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _review_context(self, request, obj: ImageOutput) -> dict[str, Any]:
        events = list(obj.events.select_related("actor"))
        for event in events:
            event.links = _event_links(event)
        return {
            "image": obj,
            "can_review": review.can_review(request.user),
            "can_derive": review.can_derive(request.user, obj),
            "is_finished_image": obj.status == OutputStatus.SUCCEEDED and bool(obj.file),
            "events": events,
            "derivatives": list(obj.derivatives.order_by("-created_at", "-id")),
            "parent": obj.derived_from,
            "sections_showing": review.slots_showing(obj),
            "review_urls": {name: reverse(f"admin:blogimages_imageoutput_{name}", args=[obj.pk])
                            for name, _ in self._review_views()},
        }

    # -- custom URLs ------------------------------------------------------------------

    def _review_views(self) -> list[tuple[str, Callable]]:
        return [
            ("approve", self.approve_view),
            ("reject", self.reject_view),
            ("regenerate", self.regenerate_view),
            ("regenerate_prompt", self.regenerate_prompt_view),
            ("assign", self.assign_view),
            ("replace", self.replace_view),
            ("watermark", self.watermark_view),
            ("resize", self.resize_view),
            ("convert", self.convert_view),
            ("upscale", self.upscale_view),
            ("variations", self.variations_view),
        ]

    def get_urls(self):
        urls = [
            path(f"<path:object_id>/{name.replace('_', '-')}/", self.admin_site.admin_view(view),
                 name=f"blogimages_imageoutput_{name}")
            for name, view in self._review_views()
        ]
        return urls + super().get_urls()

    def _object(self, request, object_id) -> ImageOutput:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such image.")
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _reviewer(self, request, object_id) -> ImageOutput:
        obj = self._object(request, object_id)
        if not review.can_review(request.user):
            raise PermissionDenied
        return obj

    def _deriver(self, request, object_id) -> ImageOutput:
        obj = self._object(request, object_id)
        if not review.can_derive(request.user, obj):
            raise PermissionDenied
        return obj

    def _back(self, obj: ImageOutput) -> HttpResponseRedirect:
        return HttpResponseRedirect(_image_admin_url(obj.pk))

    def _form_page(self, request, obj: ImageOutput | None, form, *, title: str, submit: str, intro: str = "",
                   outputs=None, bulk_action: str = "", multipart: bool = False) -> TemplateResponse:
        outputs = list(outputs) if outputs is not None else [obj]
        cancel = _image_admin_url(obj.pk) if obj is not None else reverse("admin:blogimages_imageoutput_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "intro": intro,
            "form": form,
            "original": obj,
            "outputs": outputs,
            "bulk_action": bulk_action,
            "submit_label": submit,
            "multipart": multipart,
            "cancel_url": cancel,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/blogimages/imageoutput/action_form.html", context)

    def _run(self, request, obj: ImageOutput, work: Callable[[], Any], done: Callable[[Any], str]) -> bool:
        """Run a service; report success or the error as an admin message."""
        try:
            result = work()
        except ACTION_ERRORS as exc:
            self.message_user(request, f"Image #{obj.pk}: {exc}", messages.ERROR)
            return False
        self.message_user(request, done(result), messages.SUCCESS)
        return True

    def approve_view(self, request, object_id):
        obj = self._reviewer(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._run(request, obj, lambda: review.approve(obj, user=request.user),
                  lambda changed: f"Image #{obj.pk} {'approved' if changed else 'was already approved'}.")
        return self._back(obj)

    def _form_action(self, request, obj: ImageOutput, form, work: Callable[[dict], Any], done: Callable[[Any], str],
                     **page: Any):
        """GET shows the form; a valid POST runs the service and goes back to the image, an
        invalid one (or a service error, shown as a message) shows the form again."""
        if request.method == "POST" and form.is_valid() and self._run(request, obj, lambda: work(form.cleaned_data),
                                                                      done):
            return self._back(obj)
        return self._form_page(request, obj, form, **page)

    def reject_view(self, request, object_id):
        obj = self._reviewer(request, object_id)
        return self._form_action(
            request, obj, RejectForm(request.POST or None),
            lambda data: review.reject(obj, user=request.user, reason=data["reason"]),
            lambda changed: f"Image #{obj.pk} {'rejected' if changed else 'was already rejected'}.",
            title=f"Reject image #{obj.pk}", submit="Reject", intro="Say why, so the author knows what to change.",
        )

    def regenerate_view(self, request, object_id):
        obj = self._reviewer(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._run(request, obj, lambda: review.regenerate(obj, user=request.user), _made("Regenerated as"))
        return self._back(obj)

    def regenerate_prompt_view(self, request, object_id):
        obj = self._reviewer(request, object_id)
        try:
            parts = derive.prompt_parts(obj)
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._back(obj)
        return self._form_action(
            request, obj, PromptEditForm(request.POST or None, initial=parts),
            lambda data: review.regenerate_with_prompt(
                obj, data["description"], user=request.user, style=data["style"], format=data["format"],
                negative_prompt=data["negative_prompt"]),
            _made("Regenerated with the edited prompt as"),
            title=f"Regenerate image #{obj.pk} with an edited prompt", submit="Regenerate",
            intro="Same setting and provider, a new seed.",
        )

    def assign_view(self, request, object_id):
        obj = self._reviewer(request, object_id)
        if not obj.post_id:
            self.message_user(request, f"Image #{obj.pk} belongs to no post; only a post's images go in its sections.",
                              messages.ERROR)
            return self._back(obj)
        adapter = get_post_adapter()
        chosen = adapter.chosen_slot_images(obj.post)
        choices = []
        for section in adapter.slots(obj.post):
            current = chosen.get(section.key)
            label = f"{section.label} ({section.key})"
            label += f" — now image #{current}" if current else " — no image yet"
            choices.append((section.key, label))

        def done(shown: ImageOutput) -> str:
            copy = f" (a publish copy of #{obj.pk})" if shown.pk != obj.pk else ""
            return f"Section {form.cleaned_data['section']!r} now shows image #{shown.pk}{copy}."

        form = AssignForm(request.POST or None, sections=choices, initial={"section": obj.section_key or None})
        return self._form_action(
            request, obj, form, lambda data: review.assign_to_section(obj, data["section"], user=request.user), done,
            title=f"Assign image #{obj.pk} to a section of “{obj.post}”", submit="Assign",
            intro="This overrides the section's current image.",
        )

    def replace_view(self, request, object_id):
        obj = self._reviewer(request, object_id)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                new = review.replace_with_upload(obj, form.cleaned_data["image"], user=request.user,
                                                 note=form.cleaned_data["note"])
            except ACTION_ERRORS as exc:
                form.add_error("image", f"{exc} Nothing was stored.")
            else:
                self.message_user(request, f"Uploaded image stored as #{new.pk}, beside image #{obj.pk}.",
                                  messages.SUCCESS)
                return HttpResponseRedirect(_image_admin_url(new.pk))
        return self._form_page(request, obj, form, title=f"Replace image #{obj.pk} with an upload", submit="Upload",
                               multipart=True,
                               intro="The original is kept; the upload is stored beside it and takes its place "
                                     "in its section.")

    def watermark_view(self, request, object_id):
        obj = self._deriver(request, object_id)
        form = WatermarkForm(request.POST or None, request.FILES or None)
        return self._form_action(
            request, obj, form, lambda data: derive.watermark_output(obj, user=request.user, **form.watermark_kwargs()),
            _made("Watermarked copy:"), title=f"Watermark image #{obj.pk}", submit="Watermark", multipart=True,
            intro="The watermark goes on a copy; the original is not changed.",
        )

    def resize_view(self, request, object_id):
        obj = self._deriver(request, object_id)
        form = ResizeForm(request.POST or None)
        return self._form_action(
            request, obj, form, lambda data: derive.resize_output(obj, user=request.user, **form.resize_kwargs()),
            _made("Resized copy:"), title=f"Resize image #{obj.pk}", submit="Resize",
        )

    def convert_view(self, request, object_id):
        obj = self._deriver(request, object_id)
        return self._form_action(
            request, obj, ConvertForm(request.POST or None),
            lambda data: derive.convert_output(obj, user=request.user, output_format=data["output_format"],
                                               quality=data["quality"]),
            _made("Converted copy:"), title=f"Convert image #{obj.pk}", submit="Convert",
        )

    def upscale_view(self, request, object_id):
        obj = self._deriver(request, object_id)
        return self._form_action(
            request, obj, UpscaleForm(request.POST or None),
            lambda data: derive.upscale_output(obj, user=request.user, factor=data["factor"]),
            _made("Upscaled copy:"), title=f"Upscale image #{obj.pk}", submit="Upscale",
            intro="Lanczos resampling; sharper AI upscalers can come from a provider later.",
        )

    def variations_view(self, request, object_id):
        obj = self._deriver(request, object_id)
        return self._form_action(
            request, obj, VariationsForm(request.POST or None),
            lambda data: derive.variations(obj, data["n"], user=request.user),
            _made("More like this:"), title=f"More like image #{obj.pk}", submit="Make variations",
            intro="New seeds and nearby settings (or the provider's own variation endpoint).",
        )

    # -- bulk actions -------------------------------------------------------------------

    def _each(self, request, queryset, work: Callable[[ImageOutput], Any], verb: str) -> None:
        done, errors = [], []
        for obj in queryset:
            try:
                result = work(obj)
            except ACTION_ERRORS as exc:
                errors.append(f"#{obj.pk}: {exc}")
                continue
            if result is not False:
                done.append(obj.pk)
        if done:
            self.message_user(request, f"{verb} {len(done)} image(s): " + ", ".join(f"#{pk}" for pk in done) + ".",
                              messages.SUCCESS)
        skipped = queryset.count() - len(done) - len(errors)
        if skipped > 0:
            self.message_user(request, f"{skipped} image(s) needed no change.", messages.INFO)
        for error in errors:
            self.message_user(request, error, messages.ERROR)

    def _bulk_form(self, request, form_class, **kwargs):
        if "apply" in request.POST:  # the intermediate page was submitted
            return form_class(request.POST, request.FILES or None, **kwargs)
        return form_class(**kwargs)

    @admin.action(description="Approve selected images", permissions=["change"])
    def approve_selected(self, request, queryset):
        review.require_reviewer(request.user)
        self._each(request, queryset, lambda obj: review.approve(obj, user=request.user), "Approved")

    @admin.action(description="Reject selected images…", permissions=["change"])
    def reject_selected(self, request, queryset):
        review.require_reviewer(request.user)
        form = self._bulk_form(request, RejectForm)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._each(request, queryset, lambda obj: review.reject(obj, user=request.user, reason=reason), "Rejected")
            return None
        return self._form_page(request, None, form, title="Reject images", submit="Reject", outputs=queryset,
                               bulk_action="reject_selected", intro="One reason for all of them.")

    @admin.action(description="Regenerate selected images (new seed)", permissions=["change"])
    def regenerate_selected(self, request, queryset):
        review.require_reviewer(request.user)
        self._each(request, queryset, lambda obj: review.regenerate(obj, user=request.user), "Regenerated")

    @admin.action(description="Watermark selected images…", permissions=["change"])
    def watermark_selected(self, request, queryset):
        review.require_reviewer(request.user)
        form = self._bulk_form(request, WatermarkForm)
        if form.is_bound and form.is_valid():
            kwargs = form.watermark_kwargs()
            self._each(request, queryset, lambda obj: derive.watermark_output(obj, user=request.user, **kwargs),
                       "Watermarked")
            return None
        return self._form_page(request, None, form, title="Watermark images", submit="Watermark", outputs=queryset,
                               bulk_action="watermark_selected", multipart=True,
                               intro="Each image gets a watermarked copy beside it; the originals are not changed.")

    @admin.action(description="Resize selected images to a format…", permissions=["change"])
    def resize_selected(self, request, queryset):
        review.require_reviewer(request.user)
        form = self._bulk_form(request, ResizeForm)
        if form.is_bound and form.is_valid():
            kwargs = form.resize_kwargs()
            self._each(request, queryset, lambda obj: derive.resize_output(obj, user=request.user, **kwargs), "Resized")
            return None
        return self._form_page(request, None, form, title="Resize images", submit="Resize", outputs=queryset,
                               bulk_action="resize_selected")

    @admin.action(description="More like this (variations)…", permissions=["change"])
    def variations_selected(self, request, queryset):
        review.require_reviewer(request.user)
        form = self._bulk_form(request, VariationsForm)
        if form.is_bound and form.is_valid():
            n = form.cleaned_data["n"]
            self._each(request, queryset, lambda obj: derive.variations(obj, n, user=request.user),
                       "Made variations of")
            return None
        return self._form_page(request, None, form, title="More like these", submit="Make variations",
                               outputs=queryset, bulk_action="variations_selected")


def _made(prefix: str) -> Callable[[Any], str]:
    def message(result) -> str:
        items = result if isinstance(result, list) else [result]
        described = ", ".join(f"#{o.pk} ({o.get_status_display().lower()})" if o.status != OutputStatus.SUCCEEDED
                              else f"#{o.pk}" for o in items)
        return f"{prefix} {described}."

    return message


LINK_KEYS = {"new_output": "new image", "new_outputs": "new image", "assigned_output": "shown image",
             "previous": "previous image", "replaces": "replaced image", "deleted_output": None}


def _event_links(event: ReviewEvent) -> list[tuple[str, str | None, str]]:
    """(label, admin url or None, text) for the ids an event's data mentions."""
    links = []
    for key, label in LINK_KEYS.items():
        value = (event.data or {}).get(key)
        ids = value if isinstance(value, list) else [value] if value else []
        for pk in ids:
            if isinstance(pk, int):
                links.append((label or "deleted image", _image_admin_url(pk) if label else None, f"#{pk}"))
    for key in ("section", "preset", "format", "output_format", "factor", "method"):
        value = (event.data or {}).get(key)
        if value not in (None, ""):
            links.append((key.replace("_", " "), None, str(value)))
    return links


class _NotDeleted(Exception):
    """The service refused a delete the admin had confirmed (rolls back delete_view's transaction)."""
