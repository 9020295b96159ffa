"""The host blog's pages: the post list and a post's develop screen (its images, section by section).

This is the host's side, so it may use both `posts` and `blogimages`; the images are reached
through blogimages' services (batches, generation) and the PostAdapter contract.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from blogimages import batches, review
from blogimages.exceptions import BlogImagesError
from blogimages.forms import PromptPartsForm
from blogimages.integration import SectionInfo, get_post_adapter
from blogimages.models import (
    GenerationBatch,
    ImageOutput,
    ImageSetting,
    OutputStatus,
)
from blogimages.views.common import field_label, is_fragment, with_thumb_sizes

from .models import Post

REVIEW_PERMISSION = "blogimages.change_imageoutput"
CANDIDATES_SHOWN = 12
ACTIVE = (OutputStatus.QUEUED, OutputStatus.RUNNING)


@login_required
@require_GET
def post_list(request: HttpRequest) -> HttpResponse:
    posts = Post.objects.annotate(
        section_count=Count("sections", distinct=True), image_count=Count("image_outputs", distinct=True)
    )
    return render(request, "posts/post_list.html", {"posts": posts, "nav": "posts"})


# -- what the develop screen shows ---------------------------------------------------------


@dataclass
class SectionRow:
    section: SectionInfo
    candidates: list[ImageOutput] = field(default_factory=list)
    total: int = 0
    chosen: ImageOutput | None = None
    chosen_id: int | None = None
    prompt: object = None
    latest_failed: ImageOutput | None = None
    active: bool = False

    @property
    def key(self) -> str:
        return self.section.key

    @property
    def form(self) -> PromptPartsForm:
        """The section's prompt as an edit form (ids unique per section)."""
        return PromptPartsForm(initial={name: getattr(self.prompt, name) for name in batches.PROMPT_PARTS},
                               auto_id=f"id_{self.key}_%s")


def section_rows(post: Post, *, only: str | None = None, with_prompts: bool = True) -> list[SectionRow]:
    """Every section (or one) with its candidate images, fetched in one query for all sections."""
    adapter = get_post_adapter()
    sections = adapter.sections(post)
    if only is not None:
        sections = [s for s in sections if s.key == only]
        if not sections:
            raise Http404(f"The post has no section {only!r}.")
    keys = [s.key for s in sections]
    chosen_ids = adapter.chosen_images(post)
    by_key: dict[str, list[ImageOutput]] = defaultdict(list)
    outputs = ImageOutput.objects.filter(post=post, section_key__in=keys).order_by("-created_at", "-id")
    by_pk = {}
    for output in with_thumb_sizes(outputs):
        by_key[output.section_key].append(output)
        by_pk[output.pk] = output
    missing = [pk for key, pk in chosen_ids.items() if key in keys and pk and pk not in by_pk]
    if missing:  # chosen from elsewhere (another post's image, say): still show it
        by_pk.update({o.pk: o for o in with_thumb_sizes(ImageOutput.objects.filter(pk__in=missing))})
    rows = []
    for section in sections:
        mine = by_key[section.key]
        chosen_id = chosen_ids.get(section.key)
        rows.append(SectionRow(
            section=section,
            candidates=mine[:CANDIDATES_SHOWN],
            total=len(mine),
            chosen_id=chosen_id,
            chosen=by_pk.get(chosen_id) if chosen_id else None,
            prompt=batches.section_prompt(post, section) if with_prompts else None,
            latest_failed=mine[0] if mine and mine[0].status == OutputStatus.FAILED else None,
            active=any(o.status in ACTIVE for o in mine),
        ))
    return rows


def _develop_context(request: HttpRequest, post: Post, **extra) -> dict:
    rows = section_rows(post)
    adapter = get_post_adapter()
    fields = [(name, field_label(name)) for name in adapter.text_fields(post)]
    return {
        "post": post, "rows": rows, "fields": fields, "nav": "posts",
        "batch": GenerationBatch.objects.filter(post=post).order_by("-created_at", "-id").first(),
        "settings": ImageSetting.objects.all(),
        "can_edit": request.user.has_perm(REVIEW_PERMISSION),
        **extra,
    }


@login_required
@require_GET
def develop(request: HttpRequest, slug: str) -> HttpResponse:
    post = get_object_or_404(Post, slug=slug)
    return render(request, "posts/develop.html", _develop_context(request, post))


# -- generate all --------------------------------------------------------------------------


def _setting_from(data) -> ImageSetting | None:
    value = (data.get("setting") or "").strip()
    return ImageSetting.objects.filter(pk=value).first() if value.isdigit() else None


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def generate_all(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: what the batch would make and cost. POST: start it, then show its progress."""
    post = get_object_or_404(Post, slug=slug)
    data = request.POST if request.method == "POST" else request.GET
    setting = _setting_from(data)
    plan, error = None, ""
    if request.method == "POST":
        try:
            started = batches.start_post_batch(post=post, setting=setting, user=request.user)
        except (BlogImagesError, ValueError) as exc:
            error = str(exc)
        else:
            batch = started.batch
            batch.refresh_from_db()  # without a broker the images were made at commit
            if not is_fragment(request):
                messages.success(request, f"Batch #{batch.pk} started: {batch.total} image(s).")
                return redirect(reverse("posts:develop", kwargs={"slug": post.slug}) + "#batch-panel")
            return _progress_response(request, post, batch, skipped=started.skipped, created=started.created)
    if not error:
        try:
            plan = batches.plan_post_batch(post=post, setting=setting)
        except (BlogImagesError, ValueError) as exc:
            error = str(exc)
    context = {"post": post, "plan": plan, "error": error, "setting": setting,
               "settings": ImageSetting.objects.all()}
    if is_fragment(request):
        return render(request, "posts/develop.html#plan", context)
    return render(request, "posts/develop.html", {**_develop_context(request, post), **context, "show_plan": True})


def _progress_response(request, post, batch, **extra) -> HttpResponse:
    response = render(request, "posts/develop.html#progress", {"post": post, "batch": batch,
                                                               "can_edit": request.user.has_perm(REVIEW_PERMISSION),
                                                               **extra})
    if batch.is_finished:
        # Sections refresh their candidates when a batch is done. The event is fired on
        # <body> itself: the element that asked may already have been swapped out, and an
        # event on a detached element never bubbles to the sections' listeners.
        trigger_client_event(response, "batch-finished", {"batch": batch.pk, "target": "body"})
    return response


@login_required
@require_GET
def batch_progress(request: HttpRequest, slug: str, batch_id: int) -> HttpResponse:
    post = get_object_or_404(Post, slug=slug)
    batch = get_object_or_404(GenerationBatch, pk=batch_id, post=post)
    if not is_fragment(request):
        return redirect(reverse("posts:develop", kwargs={"slug": post.slug}) + "#batch-panel")
    return _progress_response(request, post, batch)


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def batch_retry(request: HttpRequest, slug: str, batch_id: int) -> HttpResponse:
    """Queue the batch's failed images again (same prompts and seeds)."""
    post = get_object_or_404(Post, slug=slug)
    batch = get_object_or_404(GenerationBatch, pk=batch_id, post=post)
    count = batches.retry_failed(batch)
    batch.refresh_from_db()
    if not is_fragment(request):
        messages.success(request, f"Retrying {count} failed image(s).")
        return redirect(reverse("posts:develop", kwargs={"slug": post.slug}) + "#batch-panel")
    return _progress_response(request, post, batch)


# -- one section -------------------------------------------------------------------------


def _section_response(request, post: Post, key: str, *, error: str = "", notice: str = "",
                      part: str = "candidates") -> HttpResponse:
    if not is_fragment(request):
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        return redirect(reverse("posts:develop", kwargs={"slug": post.slug}) + f"#section-{key}")
    row = section_rows(post, only=key, with_prompts=part == "prompt")[0]
    context = {"post": post, "row": row, "section_error": error, "section_notice": notice,
               "can_edit": request.user.has_perm(REVIEW_PERMISSION)}
    if part == "prompt":
        context["fields"] = [(n, field_label(n)) for n in get_post_adapter().text_fields(post)]
    return render(request, f"posts/develop.html#{part}", context)


@login_required
@require_GET
def section_candidates(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    """A section's images; polled while some are queued or running, reloaded when a batch ends."""
    post = get_object_or_404(Post, slug=slug)
    return _section_response(request, post, key)


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def section_prompt_save(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    post = get_object_or_404(Post, slug=slug)
    form = PromptPartsForm(request.POST)
    if not form.is_valid():
        return _section_response(request, post, key, error="The description is required.", part="prompt")
    try:
        batches.save_section_prompt(post, key, **form.cleaned_data, user=request.user)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    return _section_response(request, post, key, notice="Prompt saved.", part="prompt")


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def section_prompt_import(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    post = get_object_or_404(Post, slug=slug)
    name = (request.POST.get("field") or "").strip()
    try:
        batches.import_post_field(post, key, name, user=request.user)
    except ValueError as exc:
        return _section_response(request, post, key, error=str(exc), part="prompt")
    return _section_response(request, post, key, notice=f"Imported {field_label(name).lower()}.", part="prompt")


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def section_regenerate(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    """A new image for the section from its current prompt (also the retry of a failed section)."""
    post = get_object_or_404(Post, slug=slug)
    error = ""
    try:
        started = batches.regenerate_section(post=post, section_key=key, setting=_setting_from(request.POST),
                                             user=request.user)
    except (BlogImagesError, ValueError) as exc:
        error = str(exc)
    else:
        if not started.created:
            error = "Images for this section are already being made."
    return _section_response(request, post, key, error=error, notice="" if error else "New image requested.")


def _candidate(post: Post, key: str, data) -> ImageOutput:
    value = (data.get("output") or "").strip()
    if not value.isdigit():
        raise Http404("No image chosen.")
    return get_object_or_404(ImageOutput, pk=value, post=post, section_key=key)


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def section_choose(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    post = get_object_or_404(Post, slug=slug)
    output = _candidate(post, key, request.POST)
    if output.status != OutputStatus.SUCCEEDED:
        return _section_response(request, post, key, error="Only a finished image can be chosen.")
    try:
        review.assign_to_section(output, key, user=request.user)
    except (ValueError, PermissionDenied) as exc:
        return _section_response(request, post, key, error=str(exc))
    return _section_response(request, post, key, notice=f"Image #{output.pk} chosen.")


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def section_approve(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    """Approve an image and make it the section's chosen one."""
    post = get_object_or_404(Post, slug=slug)
    output = _candidate(post, key, request.POST)
    if output.status != OutputStatus.SUCCEEDED:
        return _section_response(request, post, key, error="Only a finished image can be approved.")
    try:
        with transaction.atomic():
            review.approve(output, user=request.user)
            review.assign_to_section(output, key, user=request.user)
    except (ValueError, PermissionDenied) as exc:
        return _section_response(request, post, key, error=str(exc))
    return _section_response(request, post, key, notice=f"Image #{output.pk} approved and chosen.")
