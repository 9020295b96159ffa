"""The public, read-only Content Credentials of an image a published post shows.

`/images/credentials/<uid>/`: anyone may read it while a published post shows the image, as
anyone may fetch its renditions; any other image (a draft's, an unused candidate, an unknown
uid) is a 404. It shows the manifest summary (content_credentials.public_summary): the
signer, what generated the image, the edits and whether it validates — no prompt.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import content_credentials, renditions
from ..models import ImageOutput
from ..templatetags.blogimages import alt_for


@require_GET
def public_credentials(request: HttpRequest, uid) -> HttpResponse:
    image = ImageOutput.objects.select_related("post").filter(uid=uid).first()
    if image is None or not renditions.shown_on_published_post(image) or not content_credentials.carries_manifest(image):
        raise Http404("No Content Credentials to show here.")
    response = render(request, "blogimages/credentials_public.html", {
        "image": image, "alt": alt_for(image), "summary": content_credentials.public_summary(image.credentials),
        "post_url": getattr(image.post, "get_absolute_url", lambda: "")(),
    })
    response["Cache-Control"] = "public, max-age=300"
    return response
