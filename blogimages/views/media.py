"""Files behind signed, expiring links (see signed_media.py): streamed, or handed to the web server."""

from __future__ import annotations

import mimetypes
import posixpath
from urllib.parse import quote

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET

from ..conf import blogimages_settings
from ..signed_media import read_token
from ..storage import get_storage


LONG_MAX_AGE = 365 * 24 * 3600


@require_GET
def serve(request: HttpRequest, token: str, leaf: str) -> HttpResponse:
    try:
        name = read_token(token)
    except PermissionError as exc:
        return HttpResponseForbidden(str(exc), content_type="text/plain; charset=utf-8")
    if posixpath.basename(name) != leaf:
        return HttpResponseForbidden("This link is not valid.", content_type="text/plain; charset=utf-8")
    return file_response(request, name)


def file_response(request: HttpRequest, name: str, *, cache_seconds: int = 300,
                  long_cache: bool = True) -> HttpResponse:
    """The stored file `name` (the caller has checked the right to it): streamed, handed to
    the web server, or for a storage that keeps sha256s, with it as ETag and a long max-age."""
    storage = get_storage()
    # A storage that keeps each file's sha256 (the database one) is answered with it as the
    # ETag: a name's bytes never change, so browsers may keep them long and revalidate cheaply.
    digest = storage.sha256(name) if hasattr(storage, "sha256") else None
    if digest is None and not storage.exists(name):
        raise Http404("The file is gone.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    accel = blogimages_settings.MEDIA_ACCEL_REDIRECT
    if digest:
        etag = f'"{digest}"'
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponse(status=304)
        else:
            response = FileResponse(storage.open(name, "rb"), content_type=content_type)
        response["ETag"] = etag
        response["Cache-Control"] = (f"private, max-age={LONG_MAX_AGE}, immutable" if long_cache
                                     else f"private, max-age={cache_seconds}")
        response["X-Content-Type-Options"] = "nosniff"
        return response
    if accel:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(name)
    elif blogimages_settings.MEDIA_SENDFILE:
        response = HttpResponse(content_type=content_type)
        response["X-Sendfile"] = storage.path(name)
    else:
        response = FileResponse(storage.open(name, "rb"), content_type=content_type)
    # The link is a capability: caches may keep it only as long as it is valid, and only privately.
    response["Cache-Control"] = f"private, max-age={cache_seconds}"
    response["X-Content-Type-Options"] = "nosniff"
    return response
