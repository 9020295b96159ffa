"""The host blog: a small but real post model that shows how a blog plugs blogimages in."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse


class PostStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class Post(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    summary = models.TextField(blank=True)
    body = models.TextField(blank=True)
    tags = models.CharField(max_length=300, blank=True, help_text="Comma-separated.")
    status = models.CharField(max_length=20, choices=PostStatus.choices, default=PostStatus.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # The post's own image slots (each section has its own chosen image).
    featured_image = models.ForeignKey(
        "blogimages.ImageOutput", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The 16:9 hero image at the top of the post.",
    )
    social_image = models.ForeignKey(
        "blogimages.ImageOutput", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The 1200×630 card shown when the post is shared (og:image).",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(status__in=PostStatus.values), name="post_status_valid")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("posts:detail", kwargs={"slug": self.slug})

    @property
    def is_published(self) -> bool:
        return self.status == PostStatus.PUBLISHED


# Slot keys the post itself uses; a section may not take one of them.
RESERVED_SLOT_KEYS = ("featured", "social")


class Section(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="sections")
    order = models.PositiveIntegerField(default=0)
    key = models.SlugField(max_length=100, help_text="Stable name of the section within its post.")
    heading = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    chosen_image = models.ForeignKey(
        "blogimages.ImageOutput", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["post", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["post", "key"], name="section_key_unique_per_post")]

    def __str__(self) -> str:
        return f"{self.post.slug}/{self.key}"

    def clean(self) -> None:
        if self.key in RESERVED_SLOT_KEYS:
            raise ValidationError({"key": f"{self.key!r} names the post's own {self.key} image; choose another key."})
