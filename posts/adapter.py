"""posts' side of the blogimages contract (blogimages.integration.PostAdapter)."""

from __future__ import annotations

from typing import Any

from blogimages.integration import PostAdapter as BasePostAdapter
from blogimages.integration import SectionInfo

from .models import Post, PostStatus, Section

TEXT_FIELDS = ("title", "summary", "body", "tags")


class PostAdapter(BasePostAdapter):
    def slug(self, post: Post) -> str:
        return post.slug

    def title(self, post: Post) -> str:
        return post.title

    def context(self, post: Post) -> dict[str, Any]:
        return {"title": post.title, "summary": post.summary, "tags": post.tags}

    def get_post(self, slug: str) -> Post:
        return Post.objects.get(slug=slug)

    def is_published(self, post: Post) -> bool:
        return post.status == PostStatus.PUBLISHED

    def sections(self, post: Post) -> list[SectionInfo]:
        return [SectionInfo(key=s.key, heading=s.heading, text=s.body) for s in post.sections.all()]

    def text_fields(self, post: Post) -> dict[str, str]:
        fields = {name: getattr(post, name) for name in TEXT_FIELDS}
        for section in post.sections.all():
            fields[f"section:{section.key}:heading"] = section.heading
            fields[f"section:{section.key}:body"] = section.body
        return fields

    def assign_image(self, post: Post, section_key: str, image) -> None:
        updated = Section.objects.filter(post=post, key=section_key).update(chosen_image=image)
        if not updated:
            raise LookupError(f"Post {post.slug!r} has no section {section_key!r}.")

    def chosen_images(self, post: Post) -> dict[str, int | None]:
        return dict(post.sections.values_list("key", "chosen_image_id"))
