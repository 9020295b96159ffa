"""The gallery: a filtered, paginated thumbnail grid; an image's detail, download and delete."""

from __future__ import annotations

import logging
import posixpath
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import push_url

from .. import archive, bulk, review
from ..forms import GalleryFilterForm
from ..models import ImageOutput, WatermarkPreset
from ..selectors import ImageFilters, filter_choices, gallery_images, stack_of
from ..review import can_delete, can_review
from .common import is_fragment, read_sidecar, vary_on_htmx, with_thumb_sizes

logger = logging.getLogger("blogimages.views")

PER_PAGE = 24
MAX_PER_PAGE = 100
MAX_SELECTION = 500  # images one bulk action or zip may name


def per_page_from(params) -> int:
    value = (params.get("per_page") or "").strip()
    return min(MAX_PER_PAGE, max(1, int(value))) if value.isdigit() else PER_PAGE


def gallery_context(request: HttpRequest, params) -> dict:
    """The grid for the filters in `params` (the query string, or a bulk action's `next`)."""
    filters = ImageFilters.from_params(params)
    per_page = per_page_from(params)
    page = Paginator(gallery_images(filters), per_page).get_page(params.get("page"))
    query = filters.as_params()
    if per_page != PER_PAGE:
        query["per_page"] = str(per_page)

    def page_url(number: int) -> str:
        return "?" + urlencode({**query, "page": number})

    outputs = with_thumb_sizes(page.object_list)
    stack_of(outputs)
    for output in outputs:
        output.stack = with_thumb_sizes(getattr(output, "stack", []))
        for tile in (output, *output.stack):
            tile.deletable = can_delete(request.user, tile)
    bookmark = reverse("blogimages:gallery") + ("?" + urlencode(query) if query else "")
    return {
        "page": page, "outputs": outputs, "nav": "gallery",
        "filtered": bool({k: v for k, v in filters.as_params().items() if k != "flat"}),
        "flat": filters.flat,
        "next_url": page_url(page.next_page_number()) if page.has_next() else "",
        "previous_url": page_url(page.previous_page_number()) if page.has_previous() else "",
        "bookmark_url": bookmark,
        "return_url": bookmark + (("&" if "?" in bookmark else "?") + f"page={page.number}" if page.number > 1 else ""),
        "can_review": can_review(request.user),
        "watermark_presets": WatermarkPreset.objects.order_by("name"),
    }


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    """Newest first. The filters live in the query string, so a filtered view is a bookmark.

    Fragments: the filter form asks for `#gallery-results` (count, grid, pager); the
    infinite-scroll sentinel asks for the next page's items only.
    """
    context = gallery_context(request, request.GET)
    if is_fragment(request):
        if request.htmx.target == "gallery-results":
            response = render(request, "blogimages/gallery.html#results", context)
            # The filter form pushes its URL; push the clean one (no empty fields) instead.
            return vary_on_htmx(push_url(response, context["bookmark_url"]))
        return vary_on_htmx(render(request, "blogimages/gallery.html#page-items", context))
    context["filter_form"] = GalleryFilterForm(request.GET or None, choices=filter_choices())
    return vary_on_htmx(render(request, "blogimages/gallery.html", context))


def _selection(request: HttpRequest) -> tuple[str, list[ImageOutput]]:
    """(action, images) from the bulk form: `action=approve` acts on the ticked `ids`;
    a tile's own button sends `action=approve:12` and acts on that image alone."""
    action, _, single = (request.POST.get("action") or "").partition(":")
    wanted = [single] if single else request.POST.getlist("ids")
    pks = sorted({int(v) for v in wanted if v.strip().isdigit()})[:MAX_SELECTION]
    outputs = list(ImageOutput.objects.select_related("post", "derived_from").filter(pk__in=pks).order_by("pk"))
    return action.strip(), outputs


def _return_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) \
            and target.startswith(reverse("blogimages:gallery")):
        return target
    return reverse("blogimages:gallery")


def _back_to_gallery(request: HttpRequest, text: str, *, level: int = messages.INFO) -> HttpResponse:
    """htmx: the refreshed results for the same filters, with the summary; else redirect there."""
    url = _return_url(request)
    if is_fragment(request):
        params = QueryDict(urlsplit(url).query)
        context = {**gallery_context(request, params), "bulk_message": text,
                   "bulk_level": "error" if level >= messages.WARNING else "success"}
        return vary_on_htmx(render(request, "blogimages/gallery.html#results", context))
    messages.add_message(request, level, text)
    return redirect(url)


@login_required
@require_POST
def gallery_bulk(request: HttpRequest) -> HttpResponse:
    """Approve, reject, delete or watermark the selected images, each through its service
    and its own permission check (bulk.apply). Delete asks first, like the single delete."""
    action, outputs = _selection(request)
    if action == "zip":
        return gallery_zip(request)
    if action not in bulk.ACTIONS:
        return _back_to_gallery(request, "Choose an action.", level=messages.WARNING)
    if not outputs:
        return _back_to_gallery(request, "Select at least one image first.", level=messages.WARNING)
    if action == "delete" and request.POST.get("confirm") != "yes":
        allowed = [o for o in outputs if can_delete(request.user, o)]
        context = {"nav": "gallery", "allowed": allowed, "refused": [o for o in outputs if o not in allowed],
                   "next": _return_url(request)}
        return render(request, "blogimages/bulk_confirm_delete.html", context)
    reasons = {}
    if action == "reject":
        shared = (request.POST.get("reason") or "").strip()
        reasons = {o.pk: (request.POST.get(f"reason-{o.pk}") or "").strip() or shared for o in outputs}
    result = bulk.apply(action, outputs, user=request.user, reasons=reasons,
                        preset=(request.POST.get("preset") or "").strip() or None)
    logger.info("user %s bulk %s: done %s, refused %s", request.user.pk, action, result.done, sorted(result.refused))
    level = messages.ERROR if result.all_refused else messages.WARNING if result.refused else messages.SUCCESS
    response = _back_to_gallery(request, result.summary(), level=level)
    if result.all_refused and not is_fragment(request):
        # Nothing was allowed: say so with the status too (the message is on the next page).
        raise PermissionDenied(result.summary())
    return response


@login_required
@require_POST
def gallery_zip(request: HttpRequest) -> HttpResponse:
    """The selected originals as one streamed zip, or a clear error when it would be too big."""
    _action, outputs = _selection(request)
    if not outputs:
        return _back_to_gallery(request, "Select at least one image to download.", level=messages.WARNING)
    try:
        entries, skipped = archive.plan(sorted(outputs, key=lambda o: o.pk))
    except archive.ArchiveTooLarge as exc:
        return _back_to_gallery(request, str(exc), level=messages.ERROR)
    if not entries:
        return _back_to_gallery(request, "None of the selected images has a file to download.",
                                level=messages.WARNING)
    response = StreamingHttpResponse(archive.stream(entries, skipped), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, f"blogimages-{len(entries)}-images.zip")
    return response


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
    if request.method == "POST":
        name = output.file.name
        try:
            replaced = review.delete(output, user=request.user)  # checks who may, and refuses a blank slot
        except ValueError as exc:
            messages.error(request, str(exc))
            return redirect("blogimages:image_detail", pk)
        logger.info("user %s deleted image %s (%s); slots given other images: %s", request.user.pk, pk, name, replaced)
        (messages.warning if replaced else messages.success)(request, review.describe_deletion(pk, replaced))
        return redirect("blogimages:gallery")
    if not can_delete(request.user, output):
        raise PermissionDenied("Only the image's creator or staff may delete it; an approved or chosen image, "
                               "only staff who review images.")
    return render(request, "blogimages/image_confirm_delete.html",
                  {"output": output, "nav": "gallery", "derivative_count": output.derivatives.count(),
                   "slots_showing": review.slots_showing(output)})
