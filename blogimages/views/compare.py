"""Compare: one prompt, 2 to 4 providers or settings, side by side."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from .. import generation
from ..exceptions import BlogImagesError
from ..forms import CompareForm
from ..models import ImagePrompt
from .common import is_fragment
from ..messages import author_message_for_exception
from .tester import form_error_message


@login_required
@require_http_methods(["GET", "POST"])
def compare(request: HttpRequest) -> HttpResponse:
    cells: list[dict] = []
    error = None
    if request.method == "POST":
        form = CompareForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            for choice in form.choices_to_run():
                # One prompt row per cell: each image keeps the prompt it was made from.
                prompt = ImagePrompt(description=data["description"], style=data["style"], format=data["format"],
                                     negative_prompt=data["negative_prompt"])
                cell = {"label": choice["label"], "outputs": [], "error": ""}
                try:
                    cell["outputs"] = generation.submit(
                        prompt=prompt, setting=choice["setting"], provider=choice["provider"],
                        overrides=form.overrides(), n=1, user=request.user, source="compare",
                    )
                except (BlogImagesError, ValueError) as exc:
                    cell["error"] = author_message_for_exception(
                        exc, provider=choice["provider"] or (choice["setting"].provider if choice["setting"] else ""))
                cells.append(cell)
        else:
            error = form_error_message(form)
    else:
        form = CompareForm(initial={"targets": []})
    context = {"form": form, "cells": cells, "error": error, "submitted": request.method == "POST", "nav": "prompts"}
    if is_fragment(request) and request.method == "POST":
        return render(request, "blogimages/compare.html#results", context)
    return render(request, "blogimages/compare.html", context)
