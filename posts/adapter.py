"""posts' side of the blogimages contract (blogimages.integration.PostAdapter)."""

from __future__ import annotations

from typing import Any

from blogimages import post_renditions
from blogimages.integration import PostAdapter as BasePostAdapter
from blogimages.integration import SectionInfo, SlotInfo, SlotKind

from .models import Post, PostStatus, Section

TEXT_FIELDS = ("title", "summary", "body", "tags")
# The slots the post itself holds, by key: the field that stores the chosen image.
POST_SLOTS = {"featured": "featured_image", "social": "social_image"}


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

    def slots(self, post: Post) -> list[SlotInfo]:
        own = [
            SlotInfo(key="featured", label="Featured image", kind=SlotKind.FEATURED, text=post.summary),
            SlotInfo(key="social", label="Social card", kind=SlotKind.SOCIAL, text=post.summary),
        ]
        return own + [SlotInfo(key=s.key, label=s.heading, kind=SlotKind.SECTION, text=s.body, heading=s.heading)
                      for s in post.sections.all()]

    def assign_slot_image(self, post: Post, slot_key: str, image) -> None:
        if slot_key in POST_SLOTS:
            setattr(post, POST_SLOTS[slot_key], image)
            Post.objects.filter(pk=post.pk).update(**{POST_SLOTS[slot_key]: image})
        else:
            self.assign_image(post, slot_key, image)
        # A published post shows the new image at once: its renditions are made now, not by a reader.
        post_renditions.schedule(post)

    def chosen_slot_images(self, post: Post) -> dict[str, int | None]:
        own = Post.objects.filter(pk=post.pk).values(*(f"{f}_id" for f in POST_SLOTS.values())).first() or {}
        return {key: own.get(f"{field}_id") for key, field in POST_SLOTS.items()} | self.chosen_images(post)

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
