"""The site's local file storage: Django's FileSystemStorage whose `.url` respects
BLOGIMAGES_PRIVATE_MEDIA.

With it on, `.url` is a signed, expiring link (signed_media.py), so every page, admin screen
and API answer that shows a file (`{{ output.file.url }}`, thumbnails, sidecars) hands out a
link that works with DEBUG off and is no guessable public path. Published renditions ask for
`public_url` instead (renditions.url_of). Configure it as STORAGES["default"].
"""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage

from . import signed_media


class MediaStorage(FileSystemStorage):
    def url(self, name: str | None) -> str:
        if name and signed_media.private_media():
            return signed_media.url_for(name)
        return super().url(name)

    def public_url(self, name: str) -> str:
        return super().url(name)
