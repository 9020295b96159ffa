"""The image editor: `/images/<id>/edit/` — paint a mask on the image, write what to change,
pick references and a strength, and get derived images with a before/after slider.

The page works without JavaScript (a mask can be uploaded as a file); `editor.js` adds the
canvas mask painter and sends the painted mask as a PNG data URL in `mask_data`.
"""

from __future__ import annotations

import base64
import binascii

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from .. import editing
from ..access import can_derive
from ..exceptions import BlogImagesError
from ..models import ImageOutput, OutputStatus
from ..review import read_upload

REFERENCES_OFFERED = 24


def _data_url(value: str) -> bytes:
    text = value.partition(",")[2] if value.startswith("data:") else value
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("The painted mask could not be read; paint it again or upload a mask file.") from exc


@login_required
@require_http_methods(["GET", "POST"])
def image_edit(request: HttpRequest, pk: int) -> HttpResponse:
    output = get_object_or_404(ImageOutput.objects.select_related("post"), pk=pk)
    if not can_derive(request.user, output):
        raise PermissionDenied("Only reviewers and the image's creator may edit this image.")
    if request.method == "GET" and request.GET.get("result", "").isdigit():
        # One result card: polled while its image is queued or running.
        result = get_object_or_404(ImageOutput, pk=int(request.GET["result"]), derived_from=output)
        return render(request, "blogimages/image_edit.html#result", {"output": output, "result": result})
    offered = editing.editing_providers()
    default = editing.source_provider(output) or (offered[0] if offered else "")
    gallery = (ImageOutput.objects.filter(status=OutputStatus.SUCCEEDED).exclude(pk=output.pk)
               .exclude(thumbnail="").order_by("-created_at", "-id")[:REFERENCES_OFFERED])
    form = {"prompt": output.prompt_text, "strength": "0.75", "provider": default, "n": "1", "references": []}
    error, results = "", []
    status = 200
    if request.method == "POST":
        data = request.POST
        form = {"prompt": data.get("prompt", ""), "strength": data.get("strength", ""),
                "provider": data.get("provider", default), "n": data.get("n", "1"),
                "references": data.getlist("reference")}
        try:
            if form["provider"] not in offered:
                raise ValueError(f"Choose a provider that can edit: {', '.join(offered) or 'none is configured'}.")
            mask = None
            if data.get("mask_data"):
                mask = _data_url(data["mask_data"])
            elif request.FILES.get("mask"):
                mask = read_upload(request.FILES["mask"])
            references: list = [get_object_or_404(ImageOutput, pk=int(ref)) for ref in form["references"]
                                if ref.isdigit()]
            references += [read_upload(f) for f in request.FILES.getlist("reference_files")]
            strength = float(form["strength"]) if form["strength"] not in ("", None) else None
            n = int(form["n"] or 1)
            results = editing.edit(source=output, prompt=form["prompt"], mask=mask, references=references,
                                   strength=strength, provider=form["provider"], n=n, user=request.user,
                                   background=True)
        except (BlogImagesError, ValueError, PermissionDenied) as exc:
            error, status = str(exc), 400
    context = {"output": output, "offered": offered, "form": form, "error": error, "results": results,
               "gallery": gallery, "nav": "gallery"}
    return render(request, "blogimages/image_edit.html", context, status=status)
