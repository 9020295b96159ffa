"""The gallery: a filtered, paginated thumbnail grid; an image's detail, download and delete."""

from __future__ import annotations

import logging
import posixpath
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import push_url

from .. import review
from ..forms import GalleryFilterForm
from ..models import ImageOutput
from ..selectors import ImageFilters, filter_choices, image_list
from ..review import can_delete, can_review
from .common import is_fragment, read_sidecar, vary_on_htmx, with_thumb_sizes

logger = logging.getLogger("blogimages.views")

PER_PAGE = 24
MAX_PER_PAGE = 100


def per_page_from(params) -> int:
    value = (params.get("per_page") or "").strip()
    return min(MAX_PER_PAGE, max(1, int(value))) if value.isdigit() else PER_PAGE


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    """Newest first. The filters live in the query string, so a filtered view is a bookmark.

    Fragments: the filter form asks for `#gallery-results` (count, grid, pager); the
    infinite-scroll sentinel asks for the next page's items only.
    """
    filters = ImageFilters.from_params(request.GET)
    per_page = per_page_from(request.GET)
    page = Paginator(image_list(filters), per_page).get_page(request.GET.get("page"))
    params = filters.as_params()
    if per_page != PER_PAGE:
        params["per_page"] = str(per_page)

    def page_url(number: int) -> str:
        return "?" + urlencode({**params, "page": number})

    context = {
        "page": page, "outputs": with_thumb_sizes(page.object_list), "nav": "gallery",
        "filtered": bool(filters.as_params()),
        "next_url": page_url(page.next_page_number()) if page.has_next() else "",
        "previous_url": page_url(page.previous_page_number()) if page.has_previous() else "",
        "bookmark_url": request.path + ("?" + urlencode(params) if params else ""),
    }
    if is_fragment(request):
        if request.htmx.target == "gallery-results":
            response = render(request, "blogimages/gallery.html#results", context)
            # The filter form pushes its URL; push the clean one (no empty fields) instead.
            return vary_on_htmx(push_url(response, context["bookmark_url"]))
        return vary_on_htmx(render(request, "blogimages/gallery.html#page-items", context))
    context["filter_form"] = GalleryFilterForm(request.GET or None, choices=filter_choices())
    return vary_on_htmx(render(request, "blogimages/gallery.html", context))


@login_required
@require_GET
def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    output = get_object_or_404(
        ImageOutput.objects.select_related("post", "prompt", "prompt__example", "setting", "created_by", "batch",
                                           "derived_from", "api_token"),
        pk=pk,
    )
    context = {
        "output": output, "nav": "gallery",
        "events": output.events.select_related("actor"),
        "derivatives": with_thumb_sizes(output.derivatives.order_by("-created_at", "-id")),
        "sidecar": read_sidecar(output),
        "can_delete": can_delete(request.user, output),
        "can_review": can_review(request.user),
        "file_name": posixpath.basename(output.file.name) if output.file.name else "",
    }
    return render(request, "blogimages/image_detail.html", context)


@login_required
@require_GET
def image_download(request: HttpRequest, pk: int) -> FileResponse:
    """The original file, as an attachment."""
    output = get_object_or_404(ImageOutput, pk=pk)
    if not output.file.name:
        raise Http404("This image has no file.")
    try:
        handle = output.file.storage.open(output.file.name, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The file is missing from storage.") from exc
    return FileResponse(handle, as_attachment=True, filename=posixpath.basename(output.file.name),
                        content_type=output.mime_type or None)


@login_required
@require_http_methods(["GET", "POST"])
def image_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes the row (its files go once the delete commits)."""
    output = get_object_or_404(ImageOutput.objects.select_related("post"), pk=pk)
    if not can_delete(request.user, output):
        raise PermissionDenied("Only the image's creator or staff may delete it.")
    if request.method == "POST":
        logger.info("user %s deleted image %s (%s)", request.user.pk, output.pk, output.file.name)
        review.delete(output, user=request.user)
        messages.success(request, f"Deleted image #{pk} and its files.")
        return redirect("blogimages:gallery")
    return render(request, "blogimages/image_confirm_delete.html",
                  {"output": output, "nav": "gallery", "derivative_count": output.derivatives.count()})
