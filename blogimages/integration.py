"""The contract a host blog implements so blogimages can work with its posts.

blogimages knows a post only through this adapter: its sections, its text fields, its slug,
and how to give a section its chosen image. The host names its post model in
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
