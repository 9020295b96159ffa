"""Editors' page of the images still missing approved alt text, each with its form to approve or edit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ..describe import images_to_describe, suggest_description
from ..exceptions import BlogImagesError
from ..integration import get_post_adapter
from ..llms import get_llm
from ..models import ImageOutput
from .common import REVIEW_PERMISSION, with_thumb_sizes

PER_PAGE = 24


def _post_from(slug: str):
    if not slug:
        return None
    try:
        return get_post_adapter().get_post(slug)
    except Exception:  # the host's own DoesNotExist: an unknown slug lists nothing rather than everything
        return False


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
def alt_text_missing(request: HttpRequest) -> HttpResponse:
    """Finished images whose alt text nobody has approved yet (optionally of one post, ?post=SLUG)."""
    slug = request.GET.get("post", "").strip()
    post = _post_from(slug)
    images = images_to_describe(missing=True, post=post or None)
    if post is False:
        images = images.none()
    page = Paginator(images.select_related("post"), PER_PAGE).get_page(request.GET.get("page"))
    llm = get_llm()
    return render(request, "blogimages/alt_text.html", {
        "page": page, "images": with_thumb_sizes(page.object_list), "slug": slug, "post": post or None, "unknown_post": post is False, "nav": "gallery",
        "vision": llm.capabilities(llm.vision_model).vision, "llm": llm,
        "next": request.get_full_path(),
    })


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_POST
def alt_text_suggest(request: HttpRequest, pk: int) -> HttpResponse:
    """A fresh suggestion for one image (from the image with a vision LLM, else from its prompt)."""
    output = get_object_or_404(ImageOutput, pk=pk)
    try:
        found = suggest_description(output, user=request.user)
    except (BlogImagesError, ValueError) as exc:
        messages.error(request, f"Image #{output.pk}: no suggestion: {exc}")
    else:
        if found is None:
            messages.info(request, f"Image #{output.pk} already has approved alt text; it was left alone.")
        else:
            messages.success(request, f"Image #{output.pk}: a new suggestion ({found.source}); check it and save.")
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/images/alt-text/") else "blogimages:alt_text_missing")
