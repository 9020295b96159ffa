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
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from blogimages import assist, batches, chat, post_renditions, publishing, renditions, review, style_guide
from blogimages.exceptions import BlogImagesError
from blogimages.forms import PromptPartsForm
from blogimages.integration import SlotInfo, get_post_adapter, slot_size
from blogimages.selectors import unfinished_images
from blogimages.slots import SHAPE_SIZES
from blogimages.models import (
    GenerationBatch,
    ImageOutput,
    ImageSetting,
    OutputStatus,
    ReviewAction,
    ReviewEvent,
)
from blogimages.templatetags.blogimages import alt_for
from blogimages.views.common import field_label, is_fragment, with_thumb_sizes

from .models import Post, PostStatus

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


# -- the public post page ------------------------------------------------------------------


@require_GET
def post_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The published post as readers see it; editors also see drafts, marked as a preview."""
    post = get_object_or_404(Post.objects.select_related("featured_image", "social_image"), slug=slug)
    preview = not post.is_published
    if preview and not request.user.has_perm(REVIEW_PERMISSION):
        raise Http404("No such post.")
    sections = list(post.sections.select_related("chosen_image"))
    shown = [post.featured_image, *(s.chosen_image for s in sections)]
    social = post.social_image or post.featured_image
    if preview:
        # A preview's renditions stay behind signed links; the editor waits for them.
        renditions.prepare_renditions(shown)
        og_image = renditions.fill(social, renditions.SOCIAL_SIZE) if social else None
    else:
        # A published page's renditions are public and cacheable, made at publish: the page only
        # reads them (an image whose renditions are not ready yet is shown as its original).
        post_renditions.prepare_published(post, shown, social)
        og_image = renditions.fill(social, renditions.SOCIAL_SIZE, make=False) if social else None
    return render(request, "posts/post_detail.html", {
        "post": post, "sections": sections, "preview": preview, "public": not preview, "social": social,
        "og_image": og_image,
        "canonical": request.build_absolute_uri(post.get_absolute_url()),
        "og_image_url": request.build_absolute_uri(renditions.url_of(og_image, public=not preview))
        if og_image else "",
        "og_alt": alt_for(social) if social else "",
    })


# -- what the develop screen shows ---------------------------------------------------------


@dataclass
class SectionRow:
    section: SlotInfo
    candidates: list[ImageOutput] = field(default_factory=list)
    total: int = 0
    chosen: ImageOutput | None = None
    chosen_id: int | None = None
    prompt: object = None
    latest_failed: ImageOutput | None = None
    active: bool = False
    size: object = None
    setting_id: int | None = None

    @property
    def slot_size(self) -> tuple[int, int]:
        return slot_size(self.section)

    @property
    def retryable(self) -> bool:
        return self.latest_failed is not None and batches.is_retryable(self.latest_failed)

    @property
    def key(self) -> str:
        return self.section.key

    @property
    def form(self) -> PromptPartsForm:
        """The slot's prompt as an edit form (ids unique per slot); each field knows its saved
        value so the page can say when the box differs from it."""
        initial = {name: getattr(self.prompt, name) or "" for name in batches.PROMPT_PARTS}
        form = PromptPartsForm(initial=initial, auto_id=f"id_{self.key}_%s")
        for name, value in initial.items():
            form.fields[name].widget.attrs["data-saved"] = value
        return form


def section_rows(post: Post, *, only: str | None = None, with_prompts: bool = True) -> list[SectionRow]:
    """Every slot (or one) with its candidate images, fetched in one query for all slots."""
    adapter = get_post_adapter()
    sections = adapter.slots(post)
    if only is not None:
        sections = [s for s in sections if s.key == only]
        if not sections:
            raise Http404(f"The post has no image slot {only!r}.")
    keys = [s.key for s in sections]
    chosen_ids = adapter.chosen_slot_images(post)
    remembered = last_setting_id(post)
    by_key: dict[str, list[ImageOutput]] = defaultdict(list)
    outputs = ImageOutput.objects.filter(post=post, section_key__in=keys).order_by("-created_at", "-id")
    by_pk = {}
    for output in with_thumb_sizes(outputs):
        by_key[output.section_key].append(output)
        by_pk[output.pk] = output
    missing = [pk for key, pk in chosen_ids.items() if key in keys and pk and pk not in by_pk]
    if missing:  # chosen from elsewhere (another post's image, say): still show it
        by_pk.update({o.pk: o for o in with_thumb_sizes(ImageOutput.objects.filter(pk__in=missing))})
    reasons = dict(ReviewEvent.objects.filter(
        output__in=[o for o in by_pk.values() if o.review_status == "rejected"], action=ReviewAction.REJECT,
    ).order_by("output_id", "created_at").values_list("output_id", "note"))
    for output in by_pk.values():
        output.reject_reason = reasons.get(output.pk, "")
    rows = []
    for section in sections:
        mine = by_key[section.key]
        chosen_id = chosen_ids.get(section.key)
        # The prompt decides the size too (a shape word in Format), so every row knows it.
        prompt = batches.section_prompt(post, section)
        try:
            size = batches.slot_size_for(section, prompt)
        except (BlogImagesError, ValueError):
            size = None
        rows.append(SectionRow(
            size=size, setting_id=remembered,
            section=section,
            candidates=mine[:CANDIDATES_SHOWN],
            total=len(mine),
            chosen_id=chosen_id,
            chosen=by_pk.get(chosen_id) if chosen_id else None,
            prompt=prompt,
            latest_failed=mine[0] if mine and mine[0].status == OutputStatus.FAILED else None,
            active=any(o.status in ACTIVE for o in mine),
        ))
    return rows


def last_setting_id(post: Post) -> int | None:
    """The setting the post's latest batch used: remembered as the default of the next one."""
    return GenerationBatch.objects.filter(post=post).order_by("-created_at", "-id").values_list(
        "setting_id", flat=True).first()


def _develop_context(request: HttpRequest, post: Post, **extra) -> dict:
    rows = section_rows(post)
    adapter = get_post_adapter()
    fields = [(name, field_label(name)) for name in adapter.text_fields(post)]
    batch = GenerationBatch.objects.filter(post=post).order_by("-created_at", "-id").first()
    return {
        "post": post, "rows": rows, "fields": fields, "nav": "posts",
        "batch": batch,
        "image_steps": unfinished_images(batch) if batch is not None and not batch.is_finished else [],
        "failed_outputs": batches.latest_failed(post),
        "settings": ImageSetting.objects.all(), "remembered_setting": last_setting_id(post),
        "shape_sizes": {word: list(size) for word, size in SHAPE_SIZES.items()},
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
    setting = _setting_from(data) if "setting" in data else _remembered_setting(post)
    # By default only the slots without an approved image; "regenerate all" makes every slot anew.
    only_missing = data.get("regenerate_all") != "on"
    use_style_guide = data.get("skip_style_guide") != "on"
    # Story mode: the slots as one series (one style, a seed family).
    story = data.get("story") == "on"
    plan, error = None, ""
    if request.method == "POST":
        try:
            started = batches.start_post_batch(post=post, setting=setting, user=request.user,
                                               only_missing=only_missing, use_style_guide=use_style_guide,
                                               story=story)
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
            plan = batches.plan_post_batch(post=post, setting=setting, only_missing=only_missing,
                                           use_style_guide=use_style_guide, story=story)
        except (BlogImagesError, ValueError) as exc:
            error = str(exc)
    context = {"post": post, "plan": plan, "error": error, "setting": setting, "regenerate_all": not only_missing,
               "settings": ImageSetting.objects.all(), "style_guide": style_guide.active_guide(),
               "skip_style_guide": not use_style_guide, "story": story}
    if is_fragment(request):
        return render(request, "posts/develop.html#plan", context)
    return render(request, "posts/develop.html", {**_develop_context(request, post), **context, "show_plan": True})


def _remembered_setting(post: Post) -> ImageSetting | None:
    pk = last_setting_id(post)
    return ImageSetting.objects.filter(pk=pk).first() if pk else None


def _progress_response(request, post, batch, **extra) -> HttpResponse:
    response = render(request, "posts/develop.html#progress", {
        "post": post, "batch": batch, "can_edit": request.user.has_perm(REVIEW_PERMISSION),
        "failed_outputs": batches.latest_failed(post),
        "image_steps": [] if batch.is_finished else unfinished_images(batch), **extra})
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
    """Queue every slot's failed newest image again, exactly as asked (whichever batch made it)."""
    post = get_object_or_404(Post, slug=slug)
    batch = get_object_or_404(GenerationBatch, pk=batch_id, post=post)
    count = batches.retry_outputs(batches.latest_failed(post))
    batch.refresh_from_db()
    if not is_fragment(request):
        messages.success(request, f"Retrying {count} failed image(s).")
        return redirect(reverse("posts:develop", kwargs={"slug": post.slug}) + "#batch-panel")
    return _progress_response(request, post, batch)


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def approve_all(request: HttpRequest, slug: str) -> HttpResponse:
    """Approve and choose the newest candidate of every slot that has no approved image."""
    post = get_object_or_404(Post, slug=slug)
    try:
        done = publishing.approve_newest_for_empty_slots(post, user=request.user)
    except (ValueError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        if done:
            messages.success(request, f"Approved and chose the newest image of {len(done)} slot(s): "
                                      f"{', '.join(done)}.")
        else:
            messages.info(request, "Every slot with an image already has an approved one.")
    return redirect(reverse("posts:develop", kwargs={"slug": post.slug}) + "#batch-panel")


@login_required
@permission_required("posts.change_post", raise_exception=True)
@require_POST
def publish(request: HttpRequest, slug: str) -> HttpResponse:
    """Publish the post (or take it back to draft) and show the page readers will see."""
    post = get_object_or_404(Post, slug=slug)
    if request.POST.get("unpublish"):
        Post.objects.filter(pk=post.pk).update(status=PostStatus.DRAFT)
        messages.success(request, "Back to draft: only editors can see the post now.")
        return redirect(reverse("posts:develop", kwargs={"slug": post.slug}))
    post.status = PostStatus.PUBLISHED
    post.published_at = post.published_at or timezone.now()
    post.save(update_fields=["status", "published_at", "updated_at"])
    return redirect(post.get_absolute_url())


# -- one section -------------------------------------------------------------------------


def _section_response(request, post: Post, key: str, *, error: str = "", notice: str = "",
                      part: str = "candidates", error_field: str = "") -> HttpResponse:
    if not is_fragment(request):
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        return redirect(reverse("posts:develop", kwargs={"slug": post.slug}) + f"#section-{key}")
    row = section_rows(post, only=key, with_prompts=part == "prompt")[0]
    context = {"post": post, "row": row, "section_error": error, "section_notice": notice,
               "error_field": error_field, "settings": ImageSetting.objects.all(),
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
    """A new image for the slot from the text in its prompt box (saved first if it changed)."""
    post = get_object_or_404(Post, slug=slug)
    error, field = "", ""
    parts = {name: request.POST[name] for name in batches.PROMPT_PARTS if name in request.POST}
    try:
        started = batches.regenerate_section(post=post, section_key=key, setting=_setting_from(request.POST),
                                             user=request.user, prompt_parts=parts or None)
    except (BlogImagesError, ValueError) as exc:
        error = str(exc)
        field = "description" if "description" in error.lower() else "setting"
    else:
        if not started.created:
            error = "Images for this slot are already being made."
    notice = "" if error else ("Prompt saved; new image requested." if parts else "New image requested.")
    return _section_response(request, post, key, error=error, notice=notice, error_field=field,
                             part="prompt" if field == "description" else "candidates")


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def section_retry(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    """Ask again for a failed image exactly as before: same provider, setting, size and seed."""
    post = get_object_or_404(Post, slug=slug)
    output = _candidate(post, key, request.POST)
    if output.status != OutputStatus.FAILED:
        return _section_response(request, post, key, error="Only a failed image can be retried.")
    if not batches.is_retryable(output):
        return _section_response(request, post, key, error_field="description",
                                 error="Asking again would fail the same way: change the prompt or the setting.")
    batches.retry_outputs([output])
    snap = output.setting_snapshot or {}
    notice = (f"Retrying image #{output.pk} exactly as before: {output.provider}"
              f"{' · ' + output.setting.name if output.setting else ''}, {snap.get('width')}×{snap.get('height')}, "
              f"seed {output.seed}.")
    return _section_response(request, post, key, notice=notice)


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


@login_required
@require_GET
def slot_chat(request: HttpRequest, slug: str, slot: str) -> HttpResponse:
    """"Refine in chat": the user's thread for this slot, started from its current prompt."""
    post = get_object_or_404(Post, slug=slug)
    try:
        thread = chat.thread_for_slot(user=request.user, post=post, slot_key=slot)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    return redirect("blogimages:chat_thread", pk=thread.pk)


def _proposal_page(request: HttpRequest, post: Post, key: str, make) -> HttpResponse:
    try:
        slot = batches.find_slot(post, key)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    current = batches.section_prompt(post, slot)
    shown = {name: request.POST.get(name, getattr(current, name)) for name in batches.PROMPT_PARTS}
    error, proposal, changes = "", None, []
    try:
        proposal = make(post, key, shown)
        changes = assist.differences(shown, proposal)
    except (BlogImagesError, ValueError) as exc:
        error = str(exc)
    return render(request, "posts/proposal.html", {
        "post": post, "slot": slot, "current": shown, "proposal": proposal, "changes": changes, "error": error,
        "nav": "posts",
    }, status=200 if proposal else 502)


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def section_draft(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    """"Draft from the post": a proposal for the slot's prompt; nothing is saved until accepted."""
    post = get_object_or_404(Post, slug=slug)
    return _proposal_page(request, post, key,
                          lambda post, key, shown: assist.draft_for_slot(post, key, user=request.user))


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def section_improve(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    """"Improve": the prompt as written (saved or not) rewritten, as a proposal."""
    post = get_object_or_404(Post, slug=slug)
    return _proposal_page(request, post, key, lambda post, key, shown: assist.improve(shown, user=request.user))
