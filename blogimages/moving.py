"""Moving every stored file from one storage alias to another (`manage.py move_images`).

Resumable and safe to interrupt: each file is copied under the same name, read back and
checked against the sha256 of the source bytes (and of the image row, for originals), and
a file already at the target with the right bytes is skipped, so a second run picks up
where the first stopped. The sources are deleted only at the end of a run in which every
file arrived whole — until then the site keeps working from the old storage.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

from .models import ImageOutput, Rendition, WatermarkPreset

logger = logging.getLogger("blogimages.moving")


@dataclass
class MoveReport:
    copied: int = 0
    already: int = 0
    bytes_copied: int = 0
    missing: list[str] = field(default_factory=list)  # named by a row, in neither storage
    failed: dict[str, str] = field(default_factory=dict)  # name -> why
    deleted_sources: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def stored_names() -> Iterator[tuple[str, str | None]]:
    """(name, expected sha256 or None) for every file a row names, in a stable order."""
    seen: set[str] = set()
    rows = ImageOutput.objects.order_by("pk").values_list("file", "thumbnail", "sidecar", "sha256")
    for file, thumbnail, sidecar, sha in rows.iterator(chunk_size=500):
        for name, expected in ((file, sha or None), (thumbnail, None), (sidecar, None)):
            if name and name not in seen:
                seen.add(name)
                yield name, expected
    for name in Rendition.objects.order_by("pk").values_list("file", flat=True).iterator(chunk_size=500):
        if name and name not in seen:
            seen.add(name)
            yield name, None
    for name in WatermarkPreset.objects.order_by("pk").values_list("logo", flat=True):
        if name and name not in seen:
            seen.add(name)
            yield name, None


def _read(storage: Storage, name: str) -> bytes | None:
    try:
        with storage.open(name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _place(storage: Storage) -> tuple:
    """Where a storage keeps its bytes, whatever its class: two aliases with the same place are
    one storage (moving between them would delete the files it "moved")."""
    from django.core.files.storage import FileSystemStorage

    from .dbstorage import DatabaseStorage

    if isinstance(storage, DatabaseStorage):  # a FileSystemStorage subclass: checked first
        return ("database",)
    if hasattr(storage, "bucket_name"):
        return ("s3", storage.bucket_name, getattr(storage, "endpoint_url", None), getattr(storage, "location", ""))
    if isinstance(storage, FileSystemStorage):
        return ("filesystem", os.path.realpath(storage.location))
    return (type(storage), id(storage))


def same_place(a: Storage, b: Storage) -> bool:
    return _place(a) == _place(b)


def move_files(*, source_alias: str, target_alias: str, delete_source: bool = True,
               progress: Callable[[str], None] | None = None) -> MoveReport:
    source, target = storages[source_alias], storages[target_alias]
    if same_place(source, target):
        raise ValueError(f"{source_alias!r} and {target_alias!r} are the same storage: nothing to move.")
    report = MoveReport()
    moved: list[str] = []
    for name, expected in stored_names():
        at_target = _read(target, name) if target.exists(name) else None
        data = _read(source, name)
        want = _sha(data) if data is not None else expected
        if at_target is not None and (want is None or _sha(at_target) == want):
            report.already += 1
            moved.append(name)
            continue
        if data is None:
            report.missing.append(name)
            continue
        if expected and _sha(data) != expected:
            report.failed[name] = "the source file does not match the image's sha256 (left where it is)"
            continue
        if at_target is not None:
            target.delete(name)  # a copy from an interrupted run that is not whole
        try:
            saved = target.save(name, ContentFile(data))
        except Exception as exc:  # any storage error: reported, the source stays
            report.failed[name] = f"could not be written: {exc}"
            continue
        check = _read(target, saved)
        if saved != name or check is None or _sha(check) != _sha(data):
            target.delete(saved)
            report.failed[name] = "the copy read back does not match the source's sha256"
            continue
        report.copied += 1
        report.bytes_copied += len(data)
        moved.append(name)
        if progress is not None:
            progress(name)
    if delete_source and report.ok:
        for name in moved:
            if source.exists(name):
                source.delete(name)
                report.deleted_sources += 1
    logger.info("moved files from %s to %s: %d copied, %d already there, %d missing, %d failed",
                source_alias, target_alias, report.copied, report.already, len(report.missing), len(report.failed))
    return report
