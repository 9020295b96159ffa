"""Pages that put an image on a post: "Use in post…", alt text and caption, focal point."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from .. import publishing, similar
from ..exceptions import BlogImagesError
from ..integration import get_post_adapter, get_post_model, slot_size
from ..models import ImageOutput
from ..review import REVIEW_PERMISSION
from .common import is_fragment

POSTS_LISTED = 200


def find_post(value: str):
    """A post by id or slug; None when there is none."""
    value = (value or "").strip()
    if not value:
        return None
    model = get_post_model()
    if value.isdigit():
        found = model._default_manager.filter(pk=value).first()
        if found is not None:
            return found
    try:
        return get_post_adapter().get_post(value)
    except (model.DoesNotExist, ValueError, LookupError):
        return None


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def image_use(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: choose a post and a slot. POST (`post`, `slot`): fit the image to the slot and assign it."""
    output = get_object_or_404(ImageOutput.objects.select_related("post"), pk=pk)
    data = request.POST if request.method == "POST" else request.GET
    post = find_post(data.get("post", "")) or (output.post if output.post_id else None)
    slot_key = (data.get("slot") or output.section_key or "").strip()
    error = ""
    if request.method == "POST":
        if post is None:
            error = "Choose the post the image goes in."
        else:
            try:
                shown = publishing.use_in_post(output, post=post, slot_key=slot_key, user=request.user)
            except (ValueError, PermissionDenied, BlogImagesError) as exc:
                error = str(exc)
            else:
                adapter = get_post_adapter()
                slot = next(s for s in adapter.slots(post) if s.key == slot_key)
                messages.success(request, f"Image #{shown.pk} is now the {slot.label.lower()} of “{adapter.title(post)}”.")
                for dup in similar.used_in_other_posts(output, post=post)[:3]:
                    messages.warning(request, _duplicate_warning(dup))
                develop = _develop_url(post)
                return redirect(develop or reverse("blogimages:image_detail", args=[shown.pk]))
    adapter = get_post_adapter()
    slots = []
    if post is not None:
        chosen = adapter.chosen_slot_images(post)
        slots = [(s, slot_size(s), chosen.get(s.key)) for s in adapter.slots(post)]
    context = {
        "output": output, "post": post, "slot_key": slot_key, "slots": slots, "error": error, "nav": "gallery",
        "duplicates": [_duplicate_warning(dup) for dup in similar.used_in_other_posts(output, post=post)[:3]],
        "posts": get_post_model()._default_manager.all()[:POSTS_LISTED],
    }
    template = "blogimages/image_use.html#form" if is_fragment(request) else "blogimages/image_use.html"
    return render(request, template, context, status=400 if error else 200)


def _duplicate_warning(dup) -> str:
    same = "The same picture" if dup.distance == 0 else f"A near-identical image (#{dup.image.pk})"
    return f"{same} is already the {dup.slot_key} image of “{dup.post_title}”: readers may see it twice."


def _develop_url(post) -> str:
    try:
        return reverse("posts:develop", kwargs={"slug": get_post_adapter().slug(post)})
    except Exception:  # a host without the develop screen: the image page it is
        return ""


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def image_alt(request: HttpRequest, pk: int) -> HttpResponse:
    """Save alt text, caption, decorative and realistic flags (then back where the form was)."""
    output = get_object_or_404(ImageOutput, pk=pk)
    try:
        publishing.update_alt_text(
            output, user=request.user, alt_text=request.POST.get("alt_text", ""),
            caption=request.POST.get("caption", ""), decorative=request.POST.get("decorative") == "on",
            realistic=request.POST.get("realistic") == "on",
        )
    except (ValueError, PermissionDenied) as exc:
        error = str(exc)
    else:
        error = ""
    if is_fragment(request):
        return render(request, "blogimages/_alt_form.html", {"output": output, "alt_error": error,
                                                            "alt_saved": not error}, status=400 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Alt text saved.")
    return redirect(_back(request, output))


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def image_focal(request: HttpRequest, pk: int) -> HttpResponse:
    output = get_object_or_404(ImageOutput, pk=pk)
    try:
        publishing.set_focal_point(output, user=request.user, x=float(request.POST.get("x", "")),
                                   y=float(request.POST.get("y", "")))
    except (ValueError, PermissionDenied) as exc:
        messages.error(request, f"Focal point not set: {exc}")
    else:
        messages.success(request, f"Focal point set at {output.focal_x:.0%} across, {output.focal_y:.0%} down.")
    return redirect(_back(request, output))


def _back(request: HttpRequest, output: ImageOutput) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("blogimages:image_detail", args=[output.pk])
