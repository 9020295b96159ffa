"""The site's S3 storage: django-storages' S3Storage whose presigned `.url` stays the same for
a window of BLOGIMAGES_SIGNED_URL_SECONDS (signed_media.presigned), as local signed links do.

Stock S3Storage signs anew on every call: `{{ output.file.url }}` and every thumbnail then
differ on each render, so browsers never reuse a cached image. Configure it as STORAGES'
S3 backend (config/settings.py does when AWS_STORAGE_BUCKET_NAME is set).
"""

from __future__ import annotations

from storages.backends.s3 import S3Storage

from . import signed_media


class S3MediaStorage(S3Storage):
    def url(self, name, parameters=None, expire=None, http_method=None):
        if parameters or http_method or not self.querystring_auth:
            return super().url(name, parameters, expire, http_method)  # not a plain GET link
        return signed_media.presigned(self, name, expire)

    def presign(self, name: str, expire: int) -> str:
        """A new presigned GET link of `name` for `expire` seconds (what `url` reuses)."""
        return super().url(name, expire=expire)
