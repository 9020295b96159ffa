"""Stored files over HTTP: behind signed, expiring links (see signed_media.py), and the
renditions of published images at their plain MEDIA_URL paths.

Both stream the file or hand it to the web server (X-Accel-Redirect for nginx, X-Sendfile
for Apache). With BLOGIMAGES_PRIVATE_MEDIA off and DEBUG on, `public` serves the whole media
folder as runserver always did.
"""

from __future__ import annotations

import mimetypes
import posixpath
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from django.views.static import serve as static_serve

from .. import renditions
from ..conf import blogimages_settings
from ..signed_media import private_media, read_grant, seconds_left
from ..storage import get_storage

# A rendition's name is its image's uid and spec, and its bytes never change: caches may keep it.
PUBLISHED_CACHE_CONTROL = "public, max-age=31536000, immutable"


LONG_MAX_AGE = 365 * 24 * 3600


def _send(name: str, *, cache_control: str, request: HttpRequest | None = None,
          long_cache: bool = True) -> HttpResponse:
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
        match = request is not None and etag in [tag.strip() for tag in
                                                 request.headers.get("If-None-Match", "").split(",")]
        response = HttpResponse(status=304) if match else FileResponse(storage.open(name, "rb"),
                                                                       content_type=content_type)
        response["ETag"] = etag
        private = cache_control.startswith("private")
        response["Cache-Control"] = (f"{'private' if private else 'public'}, max-age={LONG_MAX_AGE}, immutable"
                                     if long_cache else cache_control)
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
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def serve(request: HttpRequest, token: str, leaf: str) -> HttpResponse:
    try:
        name, expiry = read_grant(token)
    except PermissionError as exc:
        return HttpResponseForbidden(str(exc), content_type="text/plain; charset=utf-8")
    if posixpath.basename(name) != leaf:
        return HttpResponseForbidden("This link is not valid.", content_type="text/plain; charset=utf-8")
    # The link is a capability: caches may keep it only as long as it is valid, and only privately.
    # (The same link is handed out for a whole window, so a browser reuses what it kept.)
    return _send(name, cache_control=f"private, max-age={seconds_left(expiry)}", request=request, long_cache=False)


def file_response(request: HttpRequest, name: str, *, cache_seconds: int = 300,
                  long_cache: bool = True) -> HttpResponse:
    """The stored file `name`, for a caller that has checked the right to it (a shared board)."""
    return _send(name, cache_control=f"private, max-age={cache_seconds}", request=request, long_cache=long_cache)


@require_GET
def public(request: HttpRequest, name: str) -> HttpResponse:
    if settings.DEBUG and not private_media():
        return static_serve(request, name, document_root=settings.MEDIA_ROOT)
    # Anything else (an original, a sidecar, a draft's rendition) is "not found", not "forbidden":
    # the answer says nothing about which files exist.
    if posixpath.normpath(name) != name or not renditions.is_published(name):
        raise Http404("No such file.")
    return _send(name, cache_control=PUBLISHED_CACHE_CONTROL, request=request)
