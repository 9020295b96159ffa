"""Where files go and how they are named; thumbnails and JSON sidecars.

Everything goes through Django's storage API (`storages[BLOGIMAGES_STORAGE]`), so the
same code writes to a local folder or to S3 through django-storages:

    blogimages/tests/2026-11-21/154210-a-lighthouse-at-dusk-1a2b3c4d.png
    blogimages/posts/<post-slug>/<section-key>-1a2b3c4d.png
    ... and beside each: <stem>.thumb.webp and <stem>.json
"""

from __future__ import annotations

import io
import json
import logging
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from .conf import blogimages_settings
from .exceptions import InvalidImage

logger = logging.getLogger("blogimages.storage")

ACCEPTED_FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"), "WEBP": ("webp", "image/webp")}
SLUG_MAX = 40


def get_storage() -> Storage:
    return storages[blogimages_settings.STORAGE]


def safe_slug(value: str, *, max_length: int = SLUG_MAX, fallback: str = "image") -> str:
    """A lowercase ASCII slug that cannot leave its folder: no dots, slashes or control chars."""
    value = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    value = value[:max_length].rstrip("-")
    return value or fallback


def stem_for_test_image(*, prompt_text: str, short_id: str, when: datetime | None = None) -> str:
    when = timezone.localtime(when or timezone.now())
    root = blogimages_settings.ROOT
    return f"{root}/tests/{when:%Y-%m-%d}/{when:%H%M%S}-{safe_slug(prompt_text)}-{safe_slug(short_id)}"


def post_image_stem(*, post_slug: str, section_key: str, short_id: str) -> str:
    root = blogimages_settings.ROOT
    post_part = safe_slug(post_slug, max_length=80, fallback="post")
    section_part = safe_slug(section_key, max_length=60, fallback="section")
    return f"{root}/posts/{post_part}/{section_part}-{safe_slug(short_id)}"


def derived_stem(original_name: str, suffix: str) -> str:
    """`.../hero-1a2b3c4d.png` + "wm" -> `.../hero-1a2b3c4d-wm` (beside its original)."""
    stem = original_name.rsplit(".", 1)[0]
    return f"{stem}-{safe_slug(suffix, max_length=20, fallback='derived')}"


def thumbnail_name(stem: str) -> str:
    return f"{stem}.thumb.webp"


def sidecar_name(stem: str) -> str:
    return f"{stem}.json"


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    format: str  # PNG, JPEG, WEBP
    extension: str
    mime_type: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """Check that `data` is a whole PNG, JPEG or WebP image within the configured limits."""
    info, image = load_image(data)
    image.close()
    return info


def load_image(data: bytes) -> tuple[ImageInfo, Image.Image]:
    """`inspect_image`, returning the decoded image too so callers decode only once.

    Pillow's own bomb check only warns below twice its limit, so the warning is made an
    error and the pixel count is checked against our limit before anything is decoded.
    """
    max_bytes = blogimages_settings.MAX_IMAGE_BYTES
    if not data:
        raise InvalidImage("The image is empty.")
    if len(data) > max_bytes:
        raise InvalidImage(f"The image is {len(data):,} bytes; at most {max_bytes:,} are accepted.")
    max_pixels = blogimages_settings.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                fmt = image.format or ""
                if width * height > max_pixels:
                    raise InvalidImage(
                        f"The image is {width}x{height} ({width * height:,} pixels); at most {max_pixels:,} are accepted."
                    )
                if fmt not in ACCEPTED_FORMATS:
                    raise InvalidImage(f"Unsupported image format {fmt or 'unknown'}; PNG, JPEG or WebP expected.")
                image.verify()
            # verify() leaves the image unusable and misses truncated pixel data: decode once.
            decoded = Image.open(io.BytesIO(data))
            decoded.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(f"The image is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError as exc:
        # Pillow's message names an in-memory buffer; say it in a person's words.
        raise InvalidImage("The data is not a valid image: not a PNG, JPEG or WebP file.") from exc
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise InvalidImage(f"The data is not a valid image ({type(exc).__name__}: {exc}).") from exc
    extension, mime = ACCEPTED_FORMATS[fmt]
    return ImageInfo(format=fmt, extension=extension, mime_type=mime, width=width, height=height), decoded


# WebP effort: on generated pictures method 0 encodes in a quarter of the time of the
# default 4 (0.6 ms less than method 1 on a 384 px thumbnail) at a file within 0.5 % of
# method 1's and smaller than method 4's for the same quality.
THUMBNAIL_WEBP_METHOD = 0
# Shrink by a whole factor first (a box average of the decoded pixels, Image.reduce), then
# LANCZOS the rest of the way: half the time of LANCZOS alone on a 1024² image, a tenth of
# the memory of the 2048² one (no large intermediate), and 45-51 dB PSNR against a pure
# LANCZOS thumbnail of generated pictures, i.e. the same picture at thumbnail size.
THUMBNAIL_REDUCING_GAP = 1.0


def make_thumbnail(source: bytes | Image.Image) -> bytes:
    """A WebP no larger than THUMBNAIL_SIZE on its longest side, from bytes or a decoded image.

    A decoded image is left as it is: the thumbnail is resized from it directly (no
    full-size copy, no conversion of an image already in RGB/RGBA/L)."""
    return encode_thumbnail(thumbnail_image(source))


def thumbnail_image(source: bytes | Image.Image) -> Image.Image:
    """The thumbnail's pixels, not yet encoded: a new image, so the caller may close the
    full-size one before the WebP encoder allocates its buffers (see `encode_thumbnail`)."""
    size = blogimages_settings.THUMBNAIL_SIZE
    if isinstance(source, Image.Image):
        image = source
    else:
        image = Image.open(io.BytesIO(source))
        image.draft("RGB", (size, size))  # JPEG decodes at reduced scale: far less work
    if image.mode not in ("RGB", "RGBA", "L") or (image.mode == "L" and "transparency" in image.info):
        # Palette, 16-bit, CMYK...: resampling needs a real colour mode (small images mostly).
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    width, height = image.size
    scale = min(1.0, size / max(width, height))
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target == image.size:
        return image.copy() if image is source else image  # small already: a thumbnail-sized copy
    return image.resize(target, Image.Resampling.LANCZOS, reducing_gap=THUMBNAIL_REDUCING_GAP)


def encode_thumbnail(thumb: Image.Image) -> bytes:
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=blogimages_settings.THUMBNAIL_QUALITY, method=THUMBNAIL_WEBP_METHOD)
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def sidecar_json(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")


class Pieces(io.RawIOBase):
    """A file's bytes given as pieces in order (e.g. views of a PNG around new chunks), read
    as one file: the storage backends read or chunk it, and no joined copy is ever made."""

    def __init__(self, pieces: Iterable[bytes | memoryview]) -> None:
        super().__init__()
        self.pieces = [memoryview(piece).cast("B") for piece in pieces]
        self.size = sum(len(piece) for piece in self.pieces)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, min(self.size, base + offset))
        return self._position

    def readinto(self, buffer) -> int:
        target = memoryview(buffer).cast("B")
        written, start = 0, 0
        for piece in self.pieces:
            end = start + len(piece)
            if end > self._position and written < len(target):
                offset = self._position - start
                count = min(len(piece) - offset, len(target) - written)
                target[written:written + count] = piece[offset:offset + count]
                written += count
                self._position += count
            start = end
        return written


class FileBatch:
    """Files written for one unit of work, deleted together if that work does not complete."""

    def __init__(self, storage: Storage | None = None) -> None:
        self.storage = storage or get_storage()
        self.names: list[str] = []

    def save(self, name: str, data: bytes | Pieces) -> str:
        # Pick the free name first: cleaning up after a failed write must only ever touch
        # the name this write used, never an existing file the storage steered around.
        target = self.storage.get_available_name(name)
        content = ContentFile(data) if isinstance(data, bytes) else File(data, name=target.rsplit("/", 1)[-1])
        try:
            saved = self.storage.save(target, content)
        except Exception:
            delete_files([target], storage=self.storage)
            raise
        self.names.append(saved)
        return saved

    def discard(self) -> None:
        delete_files(self.names, storage=self.storage)
        self.names = []


@contextmanager
def file_batch(storage: Storage | None = None) -> Iterator[FileBatch]:
    """Write files inside the block; if the block raises, every file written is removed."""
    batch = FileBatch(storage)
    try:
        yield batch
    except BaseException:
        batch.discard()
        raise


def delete_files(names: Iterable[str], *, storage: Storage | None = None) -> None:
    storage = storage or get_storage()
    for name in names:
        if not name:
            continue
        try:
            storage.delete(name)
        except Exception:  # a missing or locked file must not hide the real error
            logger.warning("could not delete %s", name, exc_info=True)
