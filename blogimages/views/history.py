"""The prompt history: every prompt you ran, newest first, with its results; "Use again"."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..models import ImageOutput, RunSource
from ..selectors import RUN_OUTCOMES, RunFilters, run_list
from .common import with_thumb_sizes

PER_PAGE = 20
THUMBS_PER_RUN = 8


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    filters = RunFilters.from_params(request.GET)
    page = Paginator(run_list(request.user, filters), PER_PAGE).get_page(request.GET.get("page"))
    runs = list(page.object_list)
    images: dict[int, list[ImageOutput]] = {}
    for output in ImageOutput.objects.filter(run__in=runs).order_by("pk"):
        images.setdefault(output.run_id, []).append(output)
    for run in runs:
        run.images = with_thumb_sizes(images.get(run.pk, [])[:THUMBS_PER_RUN])
    query = filters.as_params()

    def page_url(number: int) -> str:
        return "?" + urlencode({**query, "page": number})

    return render(request, "blogimages/history.html", {
        "nav": "history", "runs": runs, "page": page, "filters": filters, "outcomes": RUN_OUTCOMES,
        "sources": dict(RunSource.choices), "filtered": bool(query),
        "next_url": page_url(page.next_page_number()) if page.has_next() else "",
        "previous_url": page_url(page.previous_page_number()) if page.has_previous() else "",
    })
