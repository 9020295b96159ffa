import hashlib

import pytest
from django.db import transaction
from django.template import Context, Template

from blogimages import generation, renditions
from blogimages.imaging.renditions import parse_spec, srcset_widths
from blogimages.models import Rendition
from blogimages.storage import get_storage


def card(size=(1000, 500), fmt=None):
    overrides = {"width": size[0], "height": size[1], **({"output_format": fmt} if fmt else {})}
    [output] = generation.generate(prompt="Tide pools", provider="cards", overrides=overrides)
    return output


def test_specs_and_widths():
    assert parse_spec("w800.webp").height is None and parse_spec("fill-1200x630.png").height == 630
    with pytest.raises(ValueError, match="Unknown rendition spec"):
        parse_spec("w800.gif")
    assert srcset_widths(640, [480, 800, 1200]) == [480, 640]  # never upscaled


@pytest.mark.django_db
def test_renditions_are_made_once_and_the_original_is_untouched():
    image = card()
    with image.file.open("rb") as handle:
        before = hashlib.sha256(handle.read()).hexdigest()
    first = renditions.prepare_renditions([image])[image.pk]
    assert sorted(first) == ["w1000.png", "w1000.webp", "w480.png", "w480.webp", "w800.png", "w800.webp"]
    assert (first["w480.webp"].width, first["w480.webp"].height) == (480, 240)
    again = renditions.prepare_renditions([image])[image.pk]
    assert {r.pk for r in again.values()} == {r.pk for r in first.values()} and Rendition.objects.count() == 6
    with image.file.open("rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == before == image.sha256


@pytest.mark.django_db(transaction=True)
def test_rendition_files_go_with_their_image():
    image = card((600, 300))
    names = [r.file.name for r in renditions.prepare_renditions([image])[image.pk].values()]
    assert all(get_storage().exists(name) for name in names)
    with transaction.atomic():
        image.delete()
    assert not any(get_storage().exists(name) for name in names) and not Rendition.objects.exists()


@pytest.mark.django_db
def test_blog_image_tag_for_a_webp_original():
    image = card((900, 450), fmt="webp")
    image.alt_text = 'Starfish "up close"'
    html = Template('{% load blogimages %}{% blog_image image sizes="50vw" %}').render(Context({"image": image}))
    assert "<source" not in html  # a WebP original needs no second format
    assert 'srcset="' in html and 'sizes="50vw"' in html and 'width="900" height="450"' in html
    assert 'alt="Starfish &quot;up close&quot;"' in html and 'loading="lazy"' in html
    assert Template("{% load blogimages %}{% ai_label image %}").render(Context({"image": image})) == ""
