"""The contract a host blog implements so blogimages can work with its posts.

blogimages knows a post only through this adapter: its image slots (featured, social, one per
section, or the host's own), its text fields, its slug, and how to give a slot its chosen
image. A host written against the older section-only contract (`sections()`,
`assign_image()`, `chosen_images()`) keeps working: its slots are its sections. The host names its post model in
`BLOGIMAGES_POST_MODEL` (like AUTH_USER_MODEL) and its adapter class in
`BLOGIMAGES_POST_ADAPTER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .conf import blogimages_settings

if TYPE_CHECKING:
    from django.db.models import Model

    from .models import ImageOutput


@dataclass(frozen=True, kw_only=True)
class SectionInfo:
    key: str
    heading: str
    text: str


class SlotKind:
    FEATURED = "featured"
    SOCIAL = "social"
    SECTION = "section"


# Sizes a slot of each kind is made at unless the host or BLOGIMAGES_SLOT_SIZES says
# otherwise: a 16:9 hero, the 1.91:1 card Open Graph and Twitter expect, landscape sections.
DEFAULT_SLOT_SIZES: dict[str, tuple[int, int]] = {
    SlotKind.FEATURED: (1536, 864),
    SlotKind.SOCIAL: (1200, 630),
    SlotKind.SECTION: (1536, 864),
}


@dataclass(frozen=True, kw_only=True)
class SlotInfo:
    """One place on a post that shows an image.

    `text` is what prompts are made from ({section_text}); `size` is the target (width,
    height); None lets `slot_size()` pick it from BLOGIMAGES_SLOT_SIZES and the defaults.
    """

    key: str
    label: str
    kind: str = SlotKind.SECTION
    text: str = ""
    size: tuple[int, int] | None = None
    # What {heading} means in this slot's prompts: a section's heading; blank = the post's title.
    heading: str = ""


def slot_size(slot: SlotInfo) -> tuple[int, int]:
    """The size a slot's images are made at: BLOGIMAGES_SLOT_SIZES by slot key, then by kind,
    then the slot's own size, then the default of its kind (landscape 16:9 if unknown)."""
    configured = blogimages_settings.SLOT_SIZES or {}
    for name in (slot.key, slot.kind):
        if name in configured:
            width, height = configured[name]
            return int(width), int(height)
    if slot.size:
        return slot.size
    return DEFAULT_SLOT_SIZES.get(slot.kind, DEFAULT_SLOT_SIZES[SlotKind.SECTION])


class PostAdapter:
    """Subclass and implement every method; the defaults raise so a gap is noticed."""

    def slug(self, post: Model) -> str:
        """A URL-safe name for the post's folder (`blogimages/posts/<slug>/`)."""
        return str(getattr(post, "slug", "") or post.pk)

    def title(self, post: Model) -> str:
        return str(getattr(post, "title", "") or post)

    def context(self, post: Model) -> dict[str, Any]:
        """Values for prompt placeholders: at least title, summary and tags."""
        return {"title": self.title(post), "summary": "", "tags": ""}

    def get_post(self, slug: str) -> Model:
        """The post a slug names (the CLI and the API find posts this way)."""
        return get_post_model()._default_manager.get(slug=slug)

    def is_published(self, post: Model) -> bool:
        """Whether the post is public (automation generates only for published posts)."""
        return False

    def sections(self, post: Model) -> list[SectionInfo]:
        raise NotImplementedError

    def slots(self, post: Model) -> list[SlotInfo]:
        """Every image slot of the post. Default: one per section (the older contract)."""
        return [SlotInfo(key=s.key, label=s.heading, kind=SlotKind.SECTION, text=s.text, heading=s.heading)
                for s in self.sections(post)]

    def assign_slot_image(self, post: Model, slot_key: str, image: ImageOutput | None) -> None:
        """Make `image` the chosen image of the slot (None clears it). Default: assign_image()."""
        self.assign_image(post, slot_key, image)

    def chosen_slot_images(self, post: Model) -> dict[str, int | None]:
        """{slot key: chosen ImageOutput id or None}. Default: chosen_images()."""
        return self.chosen_images(post)

    def text_fields(self, post: Model) -> dict[str, str]:
        """The post's importable text fields: {field name: its text}."""
        raise NotImplementedError

    def assign_image(self, post: Model, section_key: str, image: ImageOutput | None) -> None:
        """Make `image` the chosen image of the section (None clears it)."""
        raise NotImplementedError

    def chosen_images(self, post: Model) -> dict[str, int | None]:
        """{section key: chosen ImageOutput id or None}."""
        raise NotImplementedError


def get_post_model() -> type[Model]:
    try:
        return apps.get_model(blogimages_settings.POST_MODEL, require_ready=False)
    except (ValueError, LookupError) as exc:
        raise ImproperlyConfigured(
            f"BLOGIMAGES_POST_MODEL refers to {blogimages_settings.POST_MODEL!r}, which is not an installed model."
        ) from exc


@lru_cache(maxsize=4)
def _adapter_for(path: str) -> PostAdapter:
    try:
        return import_string(path)()
    except ImportError as exc:
        raise ImproperlyConfigured(f"BLOGIMAGES_POST_ADAPTER {path!r} could not be imported: {exc}") from exc


def get_post_adapter() -> PostAdapter:
    path = blogimages_settings.POST_ADAPTER
    if not path:
        raise ImproperlyConfigured("Set BLOGIMAGES_POST_ADAPTER to the dotted path of your PostAdapter subclass.")
    return _adapter_for(path)
