import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from blogimages.exceptions import ProviderServerError
from blogimages.models import ImageOutput
from tests.conftest import copy_migrated_sqlite

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def run(*args, capsys):
    call_command("generate_image", *args)
    return capsys.readouterr().out


def test_output_writes_numbered_files_in_the_named_format(recorder, tmp_path, capsys):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    out = run("a robot", "-n", "3", "--size", "64x48", "--output", str(tmp_path / "robot.webp"), capsys=capsys)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["robot_1.webp", "robot_2.webp", "robot_3.webp"]
    for path in tmp_path.iterdir():
        with Image.open(path) as image:
            assert image.format == "WEBP" and image.size == (64, 48)
    assert "3 of 3 image(s)" in out and "wrote" in out
    assert ImageOutput.objects.filter(status="succeeded").count() == 3


def test_single_output_keeps_the_name(recorder, tmp_path, capsys):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    run("a robot", "--size", "64x48", "--output", str(tmp_path / "robot.jpg"), capsys=capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["robot.jpg"]
    with Image.open(tmp_path / "robot.jpg") as image:
        assert image.format == "JPEG"


def test_raw_prints_json_with_metadata(recorder, capsys):
    out = run("a robot", "--size", "64x48", "--seed", "7", "--steps", "12", "--negative", "blur", "--raw",
              capsys=capsys)
    data = json.loads(out)
    [image] = data["images"]
    assert image["seed"] == 7 and image["status"] == "succeeded" and image["width"] == 64
    assert image["parameters"]["steps"] == 12 and image["parameters"]["negative_prompt"] == "blur"
    assert Path(image["path"]).exists() and image["sha256"]
    assert recorder.requests[0].seed == 7


def test_provider_style_values_become_the_provider_style(recorder, capsys):
    run("a robot", "--size", "64x48", "--style", "vivid", capsys=capsys)
    run("a robot", "--size", "64x48", "--style", "watercolor", capsys=capsys)
    first, second = recorder.requests
    assert first.style == "vivid" and first.prompt == "a robot"
    assert second.style == "" and second.prompt == "a robot. watercolor"


@pytest.mark.parametrize(
    "args, message",
    [
        (["x", "-n", "0"], "-n must be between 1 and 10"),
        (["x", "-n", "11"], "-n must be between 1 and 10"),
        (["x", "--size", "big"], "--size must look like 1024x768"),
        (["x", "--size", "8x8"], "size 8x8 is not allowed"),
        (["x", "-p", "nope"], "'nope' is not configured"),
        (["x", "--output", "robot.gif"], "--output must end in"),
        (["x", "--output", "/no/such/dir/robot.png"], "does not exist"),
        (["x", "--setting", "missing"], "No ImageSetting named 'missing'"),
    ],
)
def test_bad_input_is_a_command_error(recorder, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_image", *args)


def test_provider_failure_is_a_command_error_and_a_failed_row(recorder):
    recorder.script(ProviderServerError("upstream is down", status_code=502))
    with pytest.raises(CommandError, match="1 of 1 image\\(s\\) failed: test: upstream is down"):
        call_command("generate_image", "x", "--size", "64x48")
    assert ImageOutput.objects.get().status == "failed"


def _cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}", MEDIA_ROOT=str(tmp_path / "media"),
               DJANGO_SETTINGS_MODULE="config.settings")
    return env


@pytest.fixture
def cli_env(tmp_path, migrated_sqlite):
    env = _cli_env(tmp_path)
    copy_migrated_sqlite(migrated_sqlite, tmp_path / "cli.sqlite3")
    return env


def test_real_subprocess_with_the_cards_provider(cli_env, tmp_path):
    """The issue's acceptance run: three visibly different PNGs, rows and sidecars."""
    target = tmp_path / "out" / "lighthouse.png"
    target.parent.mkdir()
    proc = subprocess.run(
        [sys.executable, "manage.py", "generate_image", "a lighthouse at dusk", "-n", "3", "--output", str(target)],
        cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    files = sorted(target.parent.iterdir())
    assert [f.name for f in files] == ["lighthouse_1.png", "lighthouse_2.png", "lighthouse_3.png"]
    pixels = []
    for f in files:
        with Image.open(f) as image:
            assert image.format == "PNG"
            pixels.append(image.convert("RGB").resize((32, 32)).tobytes())
    assert len(set(pixels)) == 3, "the three images should look different"
    stored = list((tmp_path / "media" / "blogimages" / "tests").rglob("*"))
    assert len([p for p in stored if p.suffix == ".json"]) == 3
    assert len([p for p in stored if p.name.endswith(".thumb.webp")]) == 3
    assert "3 of 3 image(s)" in proc.stdout


def test_real_subprocess_errors_are_one_line_with_nonzero_exit(cli_env):
    cases = (
        (["x", "-n", "11"], 1),
        (["x", "--size", "99999x1"], 1),
        (["x", "--bogus-flag"], 2),
        (["x", "-p", "unconfigured"], 1),
    )
    for args, code in cases:
        proc = subprocess.run([sys.executable, "manage.py", "generate_image", *args], cwd=ROOT, env=cli_env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_real_subprocess_raw_json(cli_env):
    proc = subprocess.run([sys.executable, "manage.py", "generate_image", "a fox", "--size", "256x256", "--seed", "5",
                           "--raw"], cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    [image] = json.loads(proc.stdout)["images"]
    assert image["seed"] == 5 and image["width"] == 256 and image["provider"] == "cards"
