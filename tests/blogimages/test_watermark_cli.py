"""`python manage.py watermark IMAGE_ID... [--preset | --text | --logo] [--position] [--opacity] ...`"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from blogimages.imaging import provenance
from blogimages.models import ImageOutput, ReviewEvent, WatermarkPreset
from tests.blogimages.test_review import make_image, media_files
from tests.conftest import copy_migrated_sqlite, png_bytes

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def run(*args, capsys) -> str:
    call_command("watermark", *[str(a) for a in args])
    return capsys.readouterr().out


def test_default_watermark_for_several_images(recorder, capsys):
    first, second = make_image(size=(160, 90)), make_image(size=(90, 160))
    out = run(first.pk, second.pk, capsys=capsys)
    lines = out.strip().splitlines()
    assert len(lines) == 2
    for line, original in zip(lines, (first, second), strict=True):
        copy = original.derivatives.get()
        assert copy.file.name == original.file.name.replace(".png", "-wm.png")
        assert line.startswith(f"#{copy.pk} ") and copy.file.path in line and f"watermark of #{original.pk}" in line
        assert copy.provider_metadata["spec"]["text"] == "AI-generated"
        assert ReviewEvent.objects.get(output=original).actor is None  # the system
        assert provenance.read_provenance(Path(copy.file.path).read_bytes())["prompt"] == original.prompt_text


def test_preset_text_logo_and_options(recorder, capsys, tmp_path):
    image = make_image(size=(160, 90))
    WatermarkPreset.objects.create(name="brand", spec={"text": "© Brand", "position": "top-left"})
    assert "preset 'brand'" in run(image.pk, "--preset", "brand", capsys=capsys)
    run(image.pk, "--text", "© Coast", "--position", "tiled", "--opacity", "0.3", "--scale", "0.15", "--margin", "0",
        capsys=capsys)
    logo = tmp_path / "logo.png"
    logo.write_bytes(png_bytes(40, 20))
    run(image.pk, "--logo", logo, "--position", "center", capsys=capsys)
    specs = [o.provider_metadata["spec"] for o in image.derivatives.order_by("pk")]
    assert (specs[0]["text"], specs[0]["position"]) == ("© Brand", "top-left")
    assert (specs[1]["text"], specs[1]["position"], specs[1]["opacity"], specs[1]["scale"], specs[1]["margin"]) == (
        "© Coast", "tiled", 0.3, 0.15, 0.0)
    assert specs[2]["logo"].endswith("bytes") and specs[2]["position"] == "center"
    stem = image.file.name.rsplit(".", 1)[0]
    assert [o.file.name for o in image.derivatives.order_by("pk")] == [
        f"{stem}-wm.png", f"{stem}-wm-2.png", f"{stem}-wm-3.png"]


def test_the_default_preset_wins_over_the_setting(recorder, capsys):
    image = make_image()
    WatermarkPreset.objects.create(name="house", spec={"text": "© House"}, is_default=True)
    assert "preset 'house'" in run(image.pk, capsys=capsys)


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}"], "No image with id {missing}"),
        (["{queued}"], "Only finished images can be watermarked"),
        (["{image}", "--opacity", "2"], "opacity must be in"),
        (["{image}", "--preset", "nope"], "No watermark preset named 'nope'"),
        (["{image}", "--logo", "/no/such/logo.png"], "is not a file"),
        (["{image}", "--scale", "0"], "scale must be in"),
    ],
)
def test_bad_input_is_a_command_error_and_stores_nothing(recorder, args, message, _media_root):
    from tests.factories import ImageOutputFactory

    image, queued = make_image(), ImageOutputFactory(status="queued")
    before = media_files(_media_root)
    # Not a fixed number: the database's sequence reaches any such id once enough tests ran.
    missing = queued.pk + 1000
    args = [a.format(image=image.pk, queued=queued.pk, missing=missing) for a in args]
    with pytest.raises(CommandError, match=message.format(missing=missing)):
        call_command("watermark", *args)
    assert media_files(_media_root) == before and ImageOutput.objects.count() == 2


def test_preset_and_text_together_are_refused(recorder):
    image = make_image()
    with pytest.raises(SystemExit) as exit_info:
        call_command("watermark", str(image.pk), "--preset", "a", "--text", "b")
    assert exit_info.value.code == 2


# -- as a real subprocess -------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, migrated_sqlite):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}", MEDIA_ROOT=str(tmp_path / "media"),
               DJANGO_SETTINGS_MODULE="config.settings")
    copy_migrated_sqlite(migrated_sqlite, tmp_path / "cli.sqlite3")
    return env


def manage(env, *args, timeout=120):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_real_subprocess(cli_env, tmp_path):
    made = manage(cli_env, "generate_image", "Night harbour lights", "--style", "noir", "--size", "320x180", "--raw")
    assert made.returncode == 0, made.stderr
    [image] = json.loads(made.stdout)["images"]

    proc = manage(cli_env, "watermark", str(image["id"]), "--text", "© Coast", "--position", "bottom-left")
    assert proc.returncode == 0, proc.stderr
    original = Path(image["path"])
    expected = original.with_name(original.stem + "-wm.png")
    assert proc.stdout.startswith("#") and str(expected) in proc.stdout
    assert expected.exists() and expected.with_suffix(".json").exists()
    assert expected.with_name(expected.stem + ".thumb.webp").exists()
    assert json.loads(expected.with_suffix(".json").read_text())["derived_from"] == image["id"]

    for args, code in ((["12345"], 1), (["abc"], 2), ([str(image["id"]), "--opacity", "7"], 1),
                       ([str(image["id"]), "--position", "middle"], 2)):
        bad = manage(cli_env, "watermark", *args, timeout=60)
        assert bad.returncode == code, (args, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr, bad.stderr
