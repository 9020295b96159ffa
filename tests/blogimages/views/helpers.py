"""Shared by the view tests (blogimages' pages and the posts develop screen)."""

from django.contrib.auth.models import Permission

from tests.factories import UserFactory

# What htmx sends: the view answers with a fragment.
HX = {"HTTP_HX_REQUEST": "true"}


def hx(target: str) -> dict:
    return {**HX, "HTTP_HX_TARGET": target}


def make_editor(username: str = "editor", **kwargs):
    """Like seed_demo's demo user: staff with every blogimages and posts permission."""
    user = UserFactory(username=username, is_staff=True, **kwargs)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=("blogimages", "posts")))
    return user
