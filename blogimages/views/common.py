"""Small helpers shared by the page views."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from ..conf import blogimages_settings
from ..models import ImageOutput

REVIEW_PERMISSION = "blogimages.change_imageoutput"
DELETE_PERMISSION = "blogimages.delete_imageoutput"
SIDECAR_MAX_BYTES = 256 * 1024


def is_fragment(request: HttpRequest) -> bool:
    """An htmx request that wants a fragment (a history restore wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    # The same URL serves a page and a fragment: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def thumb_size(output: ImageOutput) -> tuple[int, int] | None:
    """Displayed size of the thumbnail (the image fitted in THUMBNAIL_SIZE), for width/height attributes."""
    if not (output.width and output.height):
        return None
    box = blogimages_settings.THUMBNAIL_SIZE
    scale = min(1.0, box / max(output.width, output.height))
    return max(1, round(output.width * scale)), max(1, round(output.height * scale))


def with_thumb_sizes(outputs: Iterable[ImageOutput]) -> list[ImageOutput]:
    outputs = list(outputs)
    for output in outputs:
        output.thumb_size = thumb_size(output)
    return outputs


def read_sidecar(output: ImageOutput) -> str | None:
    """The sidecar JSON, pretty-printed; None when there is none or it cannot be read."""
    if not output.sidecar.name:
        return None
    try:
        with output.sidecar.storage.open(output.sidecar.name, "rb") as handle:
            data = handle.read(SIDECAR_MAX_BYTES + 1)
    except OSError:
        return None
    if len(data) > SIDECAR_MAX_BYTES:
        return data[:SIDECAR_MAX_BYTES].decode("utf-8", "replace") + "\n…"
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return data.decode("utf-8", "replace")


def field_label(name: str) -> str:
    """`section:arrival:body` -> `Section arrival: body`; `summary` -> `Summary`."""
    if name.startswith("section:"):
        _, key, part = (name.split(":", 2) + ["", ""])[:3]
        return f"Section {key}: {part}"
    return name.replace("_", " ").capitalize()
