"""The avatar, icon and logo mark presets the app ships with, made offline by `cards` at full size."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from PIL import Image

from blogimages import generation
from blogimages.exceptions import UnsupportedFeature
from blogimages.models import ImagePromptExample, ImageSetting, OutputStatus
from blogimages.presets import SHIPPED_EXAMPLES, SHIPPED_SETTINGS, install_shipped_presets
from blogimages.providers.base import GenerationRequest
from blogimages.providers.cards import CardsProvider, initials

pytestmark = pytest.mark.django_db


def test_the_command_adds_what_is_missing_and_leaves_edits_alone():
    out = io.StringIO()
    call_command("load_presets", stdout=out)
    assert "4 of 4 settings and 3 of 3 prompt examples added" in out.getvalue()
    assert set(ImagePromptExample.objects.values_list("name", flat=True)) == {"Avatar", "Icon", "Logo mark"}
    ImagePromptExample.objects.filter(name="Icon").update(style="my own icon style")
    assert install_shipped_presets() == (0, 0)
    assert ImagePromptExample.objects.get(name="Icon").style == "my own icon style"


def test_the_demo_loads_them(capsys):
    call_command("seed_demo")
    names = set(ImageSetting.objects.values_list("name", flat=True))
    assert {s["name"] for s in SHIPPED_SETTINGS} <= names
    assert {e["name"] for e in SHIPPED_EXAMPLES} <= set(ImagePromptExample.objects.values_list("name", flat=True))


@pytest.mark.parametrize("name", [e["name"] for e in SHIPPED_EXAMPLES])
def test_each_example_makes_a_centred_mark_on_a_transparent_ground(name):
    install_shipped_presets()
    example = ImagePromptExample.objects.select_related("setting").get(name=name)
    prompt = example.description.format(title="Maya Lindqvist", heading="Tide pools")
    [output] = generation.generate(prompt=prompt, setting=example.setting)
    output.refresh_from_db()
    assert output.status == OutputStatus.SUCCEEDED and output.mime_type == "image/png"
    with output.file.open("rb") as fh:
        image = Image.open(io.BytesIO(fh.read()))
        image.load()
    side = example.setting.width
    assert image.size == (side, side) and image.mode == "RGBA"
    alpha = image.getchannel("A")
    # Corners transparent, centre opaque: a mark in the middle of nothing.
    assert alpha.getpixel((2, 2)) == 0 and alpha.getpixel((side - 3, side - 3)) == 0
    assert alpha.getpixel((side // 2, side // 2)) == 255
    left, top, right, bottom = alpha.getbbox()
    assert abs((left + right) / 2 - side / 2) <= side * 0.1 and abs((top + bottom) / 2 - side / 2) <= side * 0.02


def render(**fields):
    provider = CardsProvider(alias="cards", options={})
    request = GenerationRequest(**{"prompt": "Maya Lindqvist", "prompt_description": "Maya Lindqvist",
                                   "width": 256, "height": 256, "seed": 3, **fields})
    provider.validate(request)
    return provider.generate(request).images[0]


def test_a_named_solid_background_and_the_avatars_initials():
    made = render(extra={"layout": "avatar", "background": "#f4efe6"})
    image = Image.open(io.BytesIO(made.data))
    assert image.mode == "RGB" and image.getpixel((1, 1)) == (0xF4, 0xEF, 0xE6)
    assert made.metadata["background"] == "#f4efe6" and made.metadata["text"] == "ML"
    assert initials("a red lighthouse") == "AR" and initials("Øresund bridge", 1) == "Ø"


def test_transparency_needs_png_or_webp_and_a_background_must_be_a_colour():
    webp = Image.open(io.BytesIO(render(extra={"layout": "icon", "background": "transparent"},
                                        output_format="webp").data))
    assert webp.mode == "RGBA"
    with pytest.raises(UnsupportedFeature, match="transparent background needs png or webp"):
        render(extra={"layout": "icon", "background": "transparent"}, output_format="jpeg")
    with pytest.raises(UnsupportedFeature, match="neither 'transparent' nor a colour"):
        render(extra={"layout": "icon", "background": "sky blue"})


def test_no_text_words_drop_the_letters():
    assert render(extra={"layout": "avatar"}, negative_prompt="text").metadata["text"] == ""
