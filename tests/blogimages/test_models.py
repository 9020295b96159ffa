import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from blogimages.models import ImageOutput, ImagePromptExample, ImageSetting, compose_prompt, fill_placeholders, normalize_tags
from tests.factories import (
    ImageOutputFactory,
    ImagePromptExampleFactory,
    ImagePromptFactory,
    ImageSettingFactory,
    PostFactory,
)

pytestmark = pytest.mark.django_db


def violates(factory, **kwargs):
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            factory(**kwargs)


def test_setting_constraints():
    violates(ImageSettingFactory, width=0)
    violates(ImageSettingFactory, height=10000)
    violates(ImageSettingFactory, steps=0)
    # Seeds are 64-bit (ComfyUI's range): stored exactly, nothing outside 0 … 2^64−1 is written.
    for seed in (2**32, 2**63, 2**64 - 1):
        assert ImageSetting.objects.get(pk=ImageSettingFactory(seed=seed).pk).seed == seed
    for seed in (-1, 2**64):
        with pytest.raises(ValueError, match="A seed is 0 to"), transaction.atomic():
            ImageSettingFactory(seed=seed)


def test_output_constraints():
    violates(ImageOutputFactory, status="done")
    violates(ImageOutputFactory, review_status="maybe")
    violates(ImageOutputFactory, width=0)
    with pytest.raises(ValueError, match="A seed is 0 to"), transaction.atomic():
        ImageOutputFactory(seed=-5)
    violates(ImageOutputFactory, status="succeeded", file="")
    violates(ImageOutputFactory, status="failed", error="")
    violates(ImageOutputFactory, section_key="intro", post=None)
    ImageOutputFactory(status="succeeded", file="blogimages/tests/x.png")
    ImageOutputFactory(status="failed", error="why")
    ImageOutputFactory(post=PostFactory(), section_key="intro")


def test_output_indexes_cover_gallery_filters():
    indexed = {tuple(index.fields) for index in ImageOutput._meta.indexes}
    # The gallery's ordering (created_at, id) leads the first: keyset pages read it alone.
    assert {("-created_at", "-id", "derived_from"), ("provider", "-created_at"), ("post", "section_key"), ("review_status", "-created_at")} <= indexed


def test_rating_and_source_constraints():
    violates(ImagePromptExampleFactory, rating=6)
    violates(ImagePromptFactory, source="scraped")


def test_prompt_text_composes_parts_one_way():
    prompt = ImagePromptFactory.build(description="A fox.", style="watercolor", format="")
    assert prompt.text() == "A fox. watercolor"
    assert compose_prompt("  A fox  ", "", "square.") == "A fox. square"


def test_placeholders_fill_and_keep_unknown_safely():
    context = {"title": "Coast", "heading": "Tide pools"}
    assert fill_placeholders("{heading} on {title}", context) == "Tide pools on Coast"
    assert fill_placeholders("{unknown} {title}", context) == "{unknown} Coast"
    # Attribute access and format specs are never evaluated.
    assert fill_placeholders("{title.__class__} {title:>10}", context) == "{title.__class__} {title:>10}"
    assert fill_placeholders("a {{literal}} brace", context) == "a {literal} brace"


def test_example_builds_prompt_and_normalizes_tags():
    example = ImagePromptExampleFactory(description="{heading}", style="{tags}", tags="Cover, cover , Social!,")
    assert example.tags == "cover, social" and example.tag_list == ["cover", "social"]
    prompt = example.build_prompt({"heading": "Intro", "tags": "sea"})
    assert (prompt.description, prompt.style) == ("Intro", "sea")
    assert normalize_tags(["A", "b", "a"]) == "a, b"
    assert ImagePromptExample.objects.filter(tags__iregex=r"(^|, )social(,|$)").count() == 1


def test_migrations_match_the_models():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_setting_clean_checks_its_own_fields_only(recorder):
    # Whether the provider takes a preset is the service's question (tests/blogimages/test_presets.py).
    ImageSettingFactory.build(width=64, height=64).full_clean()
    ImageSettingFactory.build(quality="ultra").full_clean()
    with pytest.raises(ValidationError, match="Must be a JSON object"):
        ImageSettingFactory.build(extra_settings=["not", "a", "dict"]).full_clean()
