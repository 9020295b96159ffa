"""The gallery's "download as zip": the selected originals, streamed, with readable names.

Nothing is written anywhere: the archive is built while it is sent (ZIP_STORED, since
PNG/JPEG/WebP are compressed already), so memory stays flat however many images there are.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from django.utils.text import slugify

from .conf import blogimages_settings
from .models import ImageOutput, OutputStatus

CHUNK = 64 * 1024
NAME_WORDS = 8


class ArchiveTooLarge(ValueError):
    """The selection is over the archive's limits; the message says by how much."""


@dataclass(frozen=True)
class Entry:
    name: str
    output: ImageOutput
    size: int


def readable_name(output: ImageOutput) -> str:
    """`12-a-lighthouse-at-dusk-watermark.png`: id (unique), the prompt's first words, how it was made."""
    words = slugify(" ".join((output.prompt_text or "").split()[:NAME_WORDS]))[:60].strip("-") or "image"
    extension = posixpath.splitext(output.file.name)[1].lower() or ".bin"
    derivation = f"-{slugify(output.derivation)}" if output.derivation else ""
    return f"{output.pk}-{words}{derivation}{extension}"


def plan(outputs: Sequence[ImageOutput]) -> tuple[list[Entry], list[ImageOutput]]:
    """(what goes in the archive, what cannot: no file). Raises ArchiveTooLarge over the limits."""
    entries, skipped = [], []
    for output in outputs:
        if output.status != OutputStatus.SUCCEEDED or not output.file.name:
            skipped.append(output)
            continue
        size = output.bytes
        if size is None:
            try:
                size = output.file.storage.size(output.file.name)
            except OSError:
                skipped.append(output)
                continue
        entries.append(Entry(name=readable_name(output), output=output, size=size))
    max_images, max_bytes = blogimages_settings.ZIP_MAX_IMAGES, blogimages_settings.ZIP_MAX_BYTES
    if len(entries) > max_images:
        raise ArchiveTooLarge(f"{len(entries)} images are selected; a zip holds at most {max_images}. "
                              "Select fewer images, or filter the gallery and download in parts.")
    total = sum(entry.size for entry in entries)
    if total > max_bytes:
        raise ArchiveTooLarge(f"The selected originals add up to {_mb(total)}; a zip holds at most {_mb(max_bytes)}. "
                              "Select fewer images, or download them in parts.")
    return entries, skipped


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class _Sink(io.RawIOBase):
    """A write-only, unseekable file: zipfile then writes data descriptors and never seeks back."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def manifest(entries: Sequence[Entry], skipped: Sequence[ImageOutput]) -> str:
    lines = ["Images from blogimages: file, image id, size, prompt.", ""]
    for entry in entries:
        lines.append(f"{entry.name}\t#{entry.output.pk}\t{entry.output.width}x{entry.output.height}\t"
                     f"{' '.join(entry.output.prompt_text.split())}")
    if skipped:
        lines += ["", "Not included (no stored file):"]
        lines += [f"#{o.pk}\t{o.get_status_display()}" for o in skipped]
    return "\n".join(lines) + "\n"


def stream(entries: Sequence[Entry], skipped: Sequence[ImageOutput] = ()) -> Iterator[bytes]:
    """The zip's bytes, file by file. A file that vanished since `plan` is noted, not fatal."""
    sink = _Sink()
    missing: list[ImageOutput] = list(skipped)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for entry in entries:
            output = entry.output
            try:
                source = output.file.storage.open(output.file.name, "rb")
            except OSError:
                missing.append(output)
                continue
            info = zipfile.ZipInfo(entry.name, date_time=output.created_at.timetuple()[:6])
            with source, archive.open(info, "w", force_zip64=entry.size > 2**31) as target:
                for chunk in iter(partial(source.read, CHUNK), b""):
                    target.write(chunk)
                    yield sink.take()
            yield sink.take()
        archive.writestr("README.txt", manifest([e for e in entries if e.output not in missing], missing))
    yield sink.take()
