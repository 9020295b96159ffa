"""`manage.py edit_image`: the edit path from the command line, with generate_image's error rules."""

import io
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from blogimages import generation
from blogimages.models import ImageOutput
from tests.blogimages.test_cli import ROOT, cli_env  # noqa: F401
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(settings):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"
    [output] = generation.generate(prompt="Harbour", overrides={"width": 128, "height": 96})
    return output


def write_mask(path, size=(128, 96)):
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 64, 96))
    mask.save(path, "PNG")
    return path


def test_an_edit_with_mask_reference_and_output(card, tmp_path, capsys):
    mask = write_mask(tmp_path / "mask.png")
    call_command("edit_image", str(card.pk), "Harbour at night", "--mask", str(mask), "-n", "2",
                 "--output", str(tmp_path / "night.png"), "--raw")
    data = json.loads(capsys.readouterr().out)
    assert [i["status"] for i in data["images"]] == ["succeeded", "succeeded"]
    assert {i["derived_from"] for i in data["images"]} == {card.pk}
    assert {i["derivation"] for i in data["images"]} == {"edit"}
    assert sorted(p.name for p in tmp_path.glob("night*")) == ["night_1.png", "night_2.png"]


@pytest.mark.parametrize("args, message", [
    (["999999", "x"], "No image with id 999999"),
    (["{id}", "x", "-n", "11"], "-n must be between 1 and 10"),
    (["{id}", "x", "--mask", "/nonexistent/mask.png"], "--mask /nonexistent/mask.png"),
    (["{id}", "x", "--mask", "{plain}"], "no transparency"),
    (["{id}", "x", "--strength", "2"], "between 0 and 1"),
    (["{id}", "x", "-p", "test"], "cannot edit images"),
    (["{id}", "x", "--reference", "999999"], "no image with that id"),
    (["{id}", "x", "--reference", "{plain}"], "takes none"),
])
def test_bad_input_is_a_command_error_and_nothing_is_stored(card, tmp_path, args, message):
    plain = tmp_path / "plain.png"
    plain.write_bytes(png_bytes(128, 96))
    args = [a.format(id=card.pk, plain=plain) for a in args]
    before = ImageOutput.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("edit_image", *args)
    assert ImageOutput.objects.count() == before


def test_real_subprocess_edit_of_a_generated_card(cli_env, tmp_path):  # noqa: F811
    made = subprocess.run([sys.executable, "manage.py", "generate_image", "a lighthouse", "--size", "256x192",
                           "--raw"], cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    [image] = json.loads(made.stdout)["images"]
    mask = write_mask(tmp_path / "mask.png", size=(256, 192))
    proc = subprocess.run([sys.executable, "manage.py", "edit_image", str(image["id"]), "a lighthouse by night",
                           "--mask", str(mask), "--strength", "0.8", "--output", str(tmp_path / "edit.png")],
                          cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "1 of 1 image(s)" in proc.stdout
    with Image.open(tmp_path / "edit.png") as edited, Image.open(io.BytesIO(open(image["path"], "rb").read())) as src:
        assert edited.size == (256, 192)
        keep = (128, 0, 256, 192)
        assert edited.convert("RGB").crop(keep).tobytes() == src.convert("RGB").crop(keep).tobytes()
    bad = subprocess.run([sys.executable, "manage.py", "edit_image", str(image["id"]), "x", "--mask",
                          str(tmp_path / "missing.png")], cwd=ROOT, env=cli_env, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
