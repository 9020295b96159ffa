"""The host blog: a small but real post model that shows how a blog plugs blogimages in."""

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

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(status__in=PostStatus.values), name="post_status_valid")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("posts:develop", kwargs={"slug": self.slug})


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
