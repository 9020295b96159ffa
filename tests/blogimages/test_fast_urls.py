"""The cached reversals the gallery uses are the URLs `reverse` gives, character for character."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.urls import reverse, set_script_prefix

from blogimages.signed_media import _media_path
from blogimages.templatetags.blogimages_urls import pk_path

NAMES = ["blogimages:image_detail", "blogimages:image_download", "blogimages:image_use", "blogimages:image_delete"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("pk", [1, 42, 987_654_321, 10**12])
def test_pk_path_is_reverse(name, pk):
    assert pk_path(name, pk) == reverse(name, args=[pk])


def test_pk_url_filter_renders_what_the_url_tag_renders():
    template = Template('{% load blogimages_urls %}{{ pk|pk_url:"blogimages:image_detail" }}|'
                        "{% url 'blogimages:image_detail' pk %}")
    mine, theirs = template.render(Context({"pk": 77})).split("|")
    assert mine == theirs == "/images/77/"


def test_pk_path_follows_the_script_prefix():
    try:
        set_script_prefix("/blog/")
        assert pk_path("blogimages:image_detail", 5) == reverse("blogimages:image_detail", args=[5]) \
            == "/blog/images/5/"
    finally:
        set_script_prefix("/")
    assert pk_path("blogimages:image_detail", 5) == "/images/5/"


def test_pk_path_refuses_a_pk_that_is_no_number():
    with pytest.raises((TypeError, ValueError)):
        pk_path("blogimages:image_detail", "5/../../admin")


@pytest.mark.parametrize("leaf", ["a.png", "a b.png", "naïve café.webp", "100%.png", "x?y#z.png", "it's (1).jpg",
                                  "file"])
def test_signed_media_path_is_reverse(leaf):
    token = "eyJuIjoiYSJ9:1vQ2:abc-_DEF"
    assert _media_path(token, leaf) == reverse("blogimages:signed_media", args=[token, leaf])


def test_signed_media_path_of_a_leaf_reverse_refuses_is_still_refused():
    from django.urls import NoReverseMatch

    with pytest.raises(NoReverseMatch):
        _media_path("token", "a/b.png")
