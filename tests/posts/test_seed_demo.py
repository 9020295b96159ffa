import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from blogimages.models import ImagePromptExample, ImageSetting
from posts.models import Post

pytestmark = pytest.mark.django_db


def seed(*args, capsys) -> str:
    call_command("seed_demo", *args)
    return capsys.readouterr().out


def test_seed_demo_is_idempotent_and_prints_a_random_password_once(capsys):
    first = seed(capsys=capsys)
    password = re.search(r"Staff login: demo / (\S+)", first).group(1)
    user = get_user_model().objects.get(username="demo")
    assert user.is_staff and not user.is_superuser and user.check_password(password)
    assert len(password) >= 12
    assert user.has_perm("blogimages.change_imageoutput") and user.has_perm("posts.change_post")

    post = Post.objects.get(slug="a-weekend-on-the-coast")
    assert post.sections.count() >= 4
    counts = (Post.objects.count(), post.sections.count(), ImagePromptExample.objects.count(),
              ImageSetting.objects.count())

    second = seed(capsys=capsys)
    assert "already exists" in second and password not in second
    user.refresh_from_db()
    assert user.check_password(password)  # unchanged
    assert (Post.objects.count(), post.sections.count(), ImagePromptExample.objects.count(),
            ImageSetting.objects.count()) == counts


def test_reset_password_gives_a_new_random_password(capsys):
    first = re.search(r"demo / (\S+)", seed(capsys=capsys)).group(1)
    second = re.search(r"demo / (\S+)", seed("--reset-password", capsys=capsys)).group(1)
    assert first != second
    assert get_user_model().objects.get(username="demo").check_password(second)
