"""What the admin modules share: the errors an action reports, links, JSON display."""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse
from django.utils.html import format_html

from ..exceptions import BlogImagesError

# Errors a review action reports to the editor as a message (bad input, provider problems,
# a file missing from storage).
ACTION_ERRORS = (ValueError, BlogImagesError, LookupError, OSError)


def _image_admin_url(pk: int) -> str:
    return reverse("admin:blogimages_imageoutput_change", args=[pk])


def _pretty_json(value: Any) -> str:
    if not value:
        return "—"
    return format_html('<pre class="bi-json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, default=str))
