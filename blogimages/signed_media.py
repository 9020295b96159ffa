"""URLs to stored files that work in production: absolute, signed and expiring.

`/media/...` is served only by runserver with DEBUG on. A URL handed to a program (a `/v1`
answer, an API client) must work behind gunicorn too, must not be guessable, and should stop
working after a while, as OpenAI's do (60 minutes):

    url_for(output.file.name, request=request)   # -> https://blog.example.com/images/media/<token>/<leaf>

- S3 and other storages that presign: their own presigned URL, expiring when a local link of
  the same window does; made once per window and name and then reused (`presigned`).
- Local storage: a URL of this app (`serve`) whose token names the file and its expiry, signed
  with SECRET_KEY. `serve` streams the file, or hands it to the web server with
  `X-Accel-Redirect` (nginx, `BLOGIMAGES_MEDIA_ACCEL_REDIRECT` = its internal location) or
  `X-Sendfile` (Apache, `BLOGIMAGES_MEDIA_SENDFILE`) — views/media.py.

Links are stable within a window of the lifetime L (BLOGIMAGES_SIGNED_URL_SECONDS): a link made
at any moment of the window [kL, (k+1)L) expires at (k+2)L and is signed as of kL, so the same
file has the same URL for the whole window (browsers reuse a thumbnail across pages) and every
link handed out stays valid for at least L. `serve` answers with `Cache-Control: private,
max-age=<seconds the link has left>`.

The host is `BLOGIMAGES_PUBLIC_BASE_URL` when set (behind a proxy the request's own Host may be
an internal name), else the request's.
"""

from __future__ import annotations

import copy
import hashlib
import math
import posixpath
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.http import RFC3986_SUBDELIMS

from .conf import blogimages_settings
from .storage import get_storage

SALT = "blogimages.signed-media"


def _lifetime(expires_in: int | None) -> int:
    # At least a second: a window of 0 would have no end.
    return max(1, int(expires_in if expires_in is not None else blogimages_settings.SIGNED_URL_SECONDS))


def window(lifetime: int, now: float | None = None) -> tuple[int, int]:
    """(start, expiry) of the link window `now` falls in: the window of `lifetime` seconds that
    contains now, and its end plus one more lifetime (so a link lives between L and 2L)."""
    now = math.floor(time.time() if now is None else now)
    start = now - now % lifetime
    return start, start + 2 * lifetime


class _SignedAt(signing.TimestampSigner):
    """A TimestampSigner whose timestamp is given (the window's start), not the current second:
    Django's signatures carry the second they were made, which would change the link every second."""

    def __init__(self, *args, at: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._at = at

    def timestamp(self) -> str:
        return signing.b62_encode(self._at)


def make_token(name: str, *, expires_in: int | None = None) -> str:
    """A token for `name`, the same for every call within one window (see `window`)."""
    start, expiry = window(_lifetime(expires_in))
    return _token(name, start, expiry, settings.SECRET_KEY)


@lru_cache(maxsize=4096)
def _token(name: str, start: int, expiry: int, _secret_key: str) -> str:
    """Signed once per name and window: a gallery page signs ~50 links (HMAC and zlib each),
    the same ones every render. The key is part of the cache's key so a changed SECRET_KEY
    (a rotation, a test's override) signs anew."""
    return _SignedAt(salt=SALT, at=start).sign_object({"n": name, "e": expiry}, compress=True)


def read_grant(token: str) -> tuple[str, int]:
    """(storage name, expiry as a Unix time) a token grants, or PermissionError (tampered, expired)."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature as exc:
        raise PermissionError("This link is not valid.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("n"), str) or not isinstance(data.get("e"), int):
        raise PermissionError("This link is not valid.")
    if time.time() > data["e"]:
        raise PermissionError("This link has expired.")
    return data["n"], data["e"]


def read_token(token: str) -> str:
    """The storage name a token grants, or PermissionError (tampered, expired)."""
    return read_grant(token)[0]


def seconds_left(expiry: int) -> int:
    """Whole seconds until `expiry` (never below 0): what a cache may keep a signed file."""
    return max(0, math.floor(expiry - time.time()))


def private_media() -> bool:
    """BLOGIMAGES_PRIVATE_MEDIA, which defaults to on unless DEBUG is."""
    value = blogimages_settings.PRIVATE_MEDIA
    return (not settings.DEBUG) if value is None else bool(value)


def public_url(name: str) -> str:
    """The plain, cacheable URL of a published file (a rendition on a public page): MEDIA_URL +
    name for local files (views/media.public serves it only while it is published), the
    unsigned object URL on S3 (the bucket policy makes the renditions prefix public)."""
    storage = get_storage()
    if hasattr(storage, "public_url"):
        return storage.public_url(name)
    if hasattr(storage, "querystring_auth"):
        unsigned = copy.copy(storage)
        unsigned.querystring_auth = False
        return unsigned.url(name)
    return storage.url(name)


def _presigned(name: str, lifetime: int) -> str | None:
    storage = get_storage()
    if not hasattr(storage, "bucket_name"):
        return None  # not an S3-style storage
    return presigned(storage, name, lifetime)


#: SigV4's longest X-Amz-Expires (7 days).
PRESIGN_LONGEST = 7 * 24 * 3600
#: Presigned links this process handed out lately (key → (url, hand out until)); the shared
#: cache makes the processes agree, this spares a gallery page's ~50 links a round trip each.
_recent: OrderedDict[str, tuple[str, int]] = OrderedDict()
_RECENT_KEEP = 4096
_recent_lock = threading.Lock()


def presigned(storage, name: str, expires_in: int | None = None) -> str:
    """The storage's presigned URL of `name`, the same for a whole window (see `window`), as a
    local link is: a presigned URL carries the second it was signed, so signing on every render
    made every page differ and no browser reuse an image. The first call of a window signs it
    to expire with the window's local links (at least L after any hand-out, at most SigV4's
    7 days); it is handed out again only while it has at least half of its life left."""
    lifetime = _lifetime(expires_in)
    now = math.floor(time.time())
    start, expiry = window(lifetime, now)
    where = (storage.bucket_name, getattr(storage, "endpoint_url", None), getattr(storage, "custom_domain", None),
             getattr(storage, "location", ""), name, lifetime, start)
    key = "blogimages:presigned:" + hashlib.sha256(repr(where).encode()).hexdigest()
    with _recent_lock:
        found = _recent.get(key)
        if found is not None and found[1] > now:
            _recent.move_to_end(key)
            return found[0]
    def usable(entry) -> bool:
        return isinstance(entry, tuple) and len(entry) == 2 and entry[1] > now

    found = cache.get(key)
    if not usable(found):
        signed_for = min(expiry - now, PRESIGN_LONGEST)
        sign = getattr(storage, "presign", None)  # blogimages.s3_storage: its own unshared signer
        url = sign(name, signed_for) if sign is not None else storage.url(name, expire=signed_for)
        # Within the window a link always has half its life left; the cap of 7 days may end that sooner.
        until = min(start + lifetime, now + signed_for // 2)
        found = (url, until)
        if not cache.add(key, found, max(1, until - now)):
            theirs = cache.get(key)  # another process signed it first: everyone hands out theirs
            if usable(theirs):
                found = theirs
            else:  # what the cache kept is past its hand-out time (clocks differ): ours replaces it
                cache.set(key, found, max(1, until - now))
    with _recent_lock:
        _recent[key] = found
        _recent.move_to_end(key)
        while len(_recent) > _RECENT_KEEP:
            _recent.popitem(last=False)
    return found[0]


@lru_cache(maxsize=16)
def _media_around(urlconf: str, prefix: str) -> tuple[str, str, str]:
    path = reverse("blogimages:signed_media", args=[_TOKEN_MARK, _LEAF_MARK])
    head, _, rest = path.partition(_TOKEN_MARK)
    middle, _, tail = rest.partition(_LEAF_MARK)
    return head, middle, tail


_TOKEN_MARK, _LEAF_MARK = "tokenmark0", "leafmark0"
# What reverse() leaves unquoted in a path (django.urls.resolvers).
_PATH_SAFE = RFC3986_SUBDELIMS + "/~:@"


def _media_path(token: str, leaf: str) -> str:
    """reverse("blogimages:signed_media", args=[token, leaf]), the resolver walked once per
    URLconf: a gallery page signs ~50 links and reversing each was half of their cost."""
    if "/" in leaf or not leaf:
        return reverse("blogimages:signed_media", args=[token, leaf])  # its own clear error
    head, middle, tail = _media_around(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    return f"{head}{quote(token, safe=_PATH_SAFE)}{middle}{quote(leaf, safe=_PATH_SAFE)}{tail}"


def url_for(name: str, *, request: HttpRequest | None = None, expires_in: int | None = None) -> str:
    lifetime = _lifetime(expires_in)
    presigned = _presigned(name, lifetime)
    if presigned:
        return presigned
    return app_url(name, request=request, expires_in=lifetime)


def app_url(name: str, *, request: HttpRequest | None = None, expires_in: int | None = None) -> str:
    """The link served by this app (`serve`), whatever the storage: for storages that cannot presign."""
    lifetime = _lifetime(expires_in)
    path = _media_path(make_token(name, expires_in=lifetime), posixpath.basename(name) or "file")
    base = (blogimages_settings.PUBLIC_BASE_URL or "").rstrip("/")
    if base:
        return base + path
    return request.build_absolute_uri(path) if request is not None else path
