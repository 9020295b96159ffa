"""The prompt history: every prompt you ran, newest first, with its results; "Use again"."""

from __future__ import annotations

import dataclasses

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..models import ImageOutput, RunSource
from ..selectors import RUN_OUTCOMES, UNATTRIBUTED, RunFilters, run_list, sees_unattributed_runs
from .common import JUMP_PARAM, cursor_pager, with_thumb_sizes

PER_PAGE = 20
THUMBS_PER_RUN = 8


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """Newest first, by cursor ("Newer / Older" stay put when new runs arrive), or from a
    date (`?jump=YYYY-MM-DD`); the filters ride along in every link."""
    filters = RunFilters.from_params(request.GET)
    staff = sees_unattributed_runs(request.user)
    who_error = "" if staff or filters.who != UNATTRIBUTED else \
        "Only staff see the runs recorded for nobody (the command line without --user)."
    if who_error:
        filters = dataclasses.replace(filters, who="")
    query = filters.as_params()
    pager = cursor_pager(request.GET, run_list(request.user, filters), size=PER_PAGE, query=query,
                         jumps=True)
    runs = pager.items
    images: dict[int, list[ImageOutput]] = {}
    for output in ImageOutput.objects.filter(run__in=runs).order_by("pk"):
        images.setdefault(output.run_id, []).append(output)
    for run in runs:
        run.images = with_thumb_sizes(images.get(run.pk, [])[:THUMBS_PER_RUN])
    return render(request, "blogimages/history.html", {
        "nav": "history", "runs": runs, "pager": pager, "filters": filters, "outcomes": RUN_OUTCOMES,
        "sources": dict(RunSource.choices), "filtered": bool(query), "query": query, "jump_param": JUMP_PARAM,
        "sees_unattributed": staff, "who_error": who_error, "unattributed": filters.who == UNATTRIBUTED,
        "next_url": pager.older_url, "previous_url": pager.newer_url,
    })
