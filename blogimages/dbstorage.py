"""`BLOGIMAGES_STORAGE=database`: every file (original, thumbnail, renditions, sidecar) as one row
of django-binary-database-files' `File` table, its bytes in a BinaryField (`bytea` on PostgreSQL,
a BLOB on SQLite) — binary, not base64, which would cost a third more space.

That package is the maintained one (releases through 2026, Django 5.2 supported) that stores
bytes as binary; django-db-file-storage keeps base64 text. Its storage class is used as it is,
with what one system of record needs on top:

- nothing is ever written under MEDIA_ROOT (its filesystem mirror is off: DB_FILES_AUTO_EXPORT_DB_TO_FS);
- a missing file is FileNotFoundError, not an empty file;
- `listdir` reads the table (the reconciler finds sidecars with it);
- each row keeps the sha256 of its bytes, which the serving view sends as the ETag;
- `url()` is this app's signed media link (signed_media.py), stable for a window so browsers
  can cache it; the view answers with the link's remaining lifetime as max-age and 304 for a
  matching If-None-Match (the ETag).
"""

from __future__ import annotations

import hashlib
from io import BytesIO, UnsupportedOperation

from binary_database_files.models import File
from binary_database_files.storage import DatabaseFile, DatabaseStorage as _PackageStorage
from django.core.files.storage import FileSystemStorage
from django.db import IntegrityError, transaction

class DatabaseStorage(_PackageStorage):
    def _open(self, name, mode="rb"):
        row = File.objects.filter(name=self.get_instance_name(name)).only("content", "size").first()
        if row is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        handle = BytesIO(bytes(row.content))
        handle.name, handle.mode, handle.size = name, mode, row.size
        return DatabaseFile(handle, name=name)

    def _save(self, name, content):
        name = self.get_instance_name(name)
        try:
            content.seek(0)
        except (AttributeError, UnsupportedOperation):
            pass
        data = content.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            with transaction.atomic():
                File.objects.create(name=name, content=data, size=len(data),
                                    _content_hash=hashlib.sha256(data).hexdigest())
        except IntegrityError as exc:
            # Names are picked free first (get_available_name); a race lost is an error, never an overwrite.
            raise FileExistsError(f"A stored file named {name!r} already exists.") from exc
        return name

    def exists(self, name):
        return File.objects.filter(name=self.get_instance_name(name)).exists()

    def delete(self, name):
        File.objects.filter(name=self.get_instance_name(name)).delete()

    def size(self, name):
        size = File.objects.filter(name=self.get_instance_name(name)).values_list("size", flat=True).first()
        if size is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        return size

    def listdir(self, path):
        prefix = self.get_instance_name(path).strip("/")
        prefix = prefix + "/" if prefix else ""
        dirs, files = set(), []
        for stored in File.objects.filter(name__startswith=prefix).values_list("name", flat=True).iterator():
            rest = stored[len(prefix):]
            if "/" in rest:
                dirs.add(rest.split("/", 1)[0])
            else:
                files.append(rest)
        if not dirs and not files:
            raise FileNotFoundError(f"No stored files under {path!r}.")
        return sorted(dirs), sorted(files)

    def path(self, name):
        raise NotImplementedError("Files stored in the database have no path on disk.")

    def sha256(self, name) -> str | None:
        """The hex sha256 of the stored bytes (kept on the row), or None when there is no such file."""
        return File.objects.filter(name=self.get_instance_name(name)).values_list("_content_hash", flat=True).first()

    def get_modified_time(self, name):
        from django.utils import timezone

        created = File.objects.filter(name=self.get_instance_name(name)).values_list(
            "created_datetime", flat=True).first()
        if created is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        return created if timezone.is_aware(created) else timezone.make_aware(created)

    get_created_time = get_modified_time

    def url(self, name):
        """signed_media's link, the same for a whole window of BLOGIMAGES_SIGNED_URL_SECONDS so
        browsers can cache it (signed_media.window)."""
        from .signed_media import app_url

        return app_url(name)

    def public_url(self, name):
        """A published rendition's plain MEDIA_URL path (views/media.public serves it from here
        only while it is published)."""
        return FileSystemStorage.url(self, name)
