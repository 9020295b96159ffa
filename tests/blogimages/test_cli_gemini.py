"""The gemini provider end to end: `generate_image ... -p gemini` and generation.generate against the stand-in."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from blogimages import generation
from blogimages.models import ImageOutput, OutputStatus
from tests.blogimages.providers.gemini_server import (
    API_KEY,
    GeminiStandIn,
    image_answer,
    png,
    quota_error,
    usage_metadata,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.fixture
def stand_in(httpserver) -> GeminiStandIn:
    return GeminiStandIn(httpserver)


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "GEMINI_API_KEY")}


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    """One migrated SQLite file for the module's subprocess runs; each test gets a copy."""
    path = tmp_path_factory.mktemp("gemini-cli") / "template.sqlite3"
    env = {**_base_env(), "DATABASE_URL": f"sqlite:///{path}", "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return path


@pytest.fixture
def gemini_env(tmp_path, stand_in, migrated_database):
    database = tmp_path / "cli.sqlite3"
    shutil.copyfile(migrated_database, database)
    return {**_base_env(), "DATABASE_URL": f"sqlite:///{database}", "MEDIA_ROOT": str(tmp_path / "media"),
            "DJANGO_SETTINGS_MODULE": "config.settings", "GEMINI_API_KEY": API_KEY,
            "GEMINI_BASE_URL": stand_in.base_url}


@pytest.fixture
def gemini_settings(settings, stand_in):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "gemini": {"BACKEND": "blogimages.providers.gemini.GeminiProvider",
                   "OPTIONS": {"api_key": API_KEY, "base_url": stand_in.base_url, "timeout": 5}},
    }
    return settings


def test_generate_image_with_gemini_stores_the_exact_requested_size(gemini_env, stand_in, tmp_path):
    proc = subprocess.run(
        [sys.executable, "manage.py", "generate_image", "a lighthouse at dusk", "-p", "gemini", "--size", "1200x630",
         "--raw"],
        cwd=ROOT, env=gemini_env, capture_output=True, text=True, timeout=120,
    )

    assert proc.returncode == 0, proc.stderr
    [image] = json.loads(proc.stdout)["images"]
    assert (image["status"], image["provider"], image["model"]) == ("succeeded", "gemini", "gemini-3.1-flash-image")
    assert (image["width"], image["height"]) == (1200, 630)
    with Image.open(image["path"]) as stored:
        assert stored.size == (1200, 630)
    assert image["cost_estimate_usd"] is not None
    [body] = stand_in.requests
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "1K"}
    assert stand_in.headers[0]["X-Goog-Api-Key"] == API_KEY
    assert API_KEY not in proc.stdout + proc.stderr


def test_generate_image_with_gemini_fails_in_one_line_without_the_key(gemini_env, stand_in):
    stand_in.then_answer(quota_error("32s"), status=429)

    proc = subprocess.run(
        [sys.executable, "manage.py", "generate_image", "a lighthouse at dusk", "-p", "gemini"],
        cwd=ROOT, env=gemini_env, capture_output=True, text=True, timeout=120,
    )

    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert "rate limited or out of quota (retry after 32 s)" in line
    assert API_KEY not in proc.stdout + proc.stderr


def test_generation_stores_both_sizes_and_the_usage_once(gemini_settings, stand_in):
    outputs = generation.generate(prompt="a lighthouse at dusk", provider="gemini",
                                  overrides={"width": 1600, "height": 900}, n=2)

    assert [o.status for o in outputs] == [OutputStatus.SUCCEEDED] * 2
    for output in outputs:
        output.refresh_from_db()
        assert (output.width, output.height) == (1600, 900)
        assert output.provider_metadata["generated_size"] == "2752x1536"
        assert output.provider_metadata["requested_size"] == "1600x900"
    # One usage for the provider call (its two API calls summed), on the call's first image.
    usage = outputs[0].provider_metadata["usage"]
    assert usage["calls"] == 2 and usage["output_tokens_details"]["image_tokens"] == 2 * 1680
    assert len(stand_in.requests) == 2
    assert outputs[0].cost_estimate is not None


def test_a_safety_block_leaves_a_failed_image_with_the_reason(gemini_settings, stand_in):
    stand_in.then_answer({"promptFeedback": {"blockReason": "SAFETY"},
                          "usageMetadata": usage_metadata(prompt_tokens=7, image_tokens=0)})

    [output] = generation.generate(prompt="something refused", provider="gemini")

    output.refresh_from_db()
    assert output.status == OutputStatus.FAILED
    assert "blocked by Gemini's safety system (SAFETY)" in output.error
    assert output.provider_metadata["error"]["type"] == "ContentRefused"
    assert not output.file
    assert ImageOutput.objects.count() == 1


def test_non_image_bytes_leave_a_failed_image_not_a_file(gemini_settings, stand_in):
    stand_in.then_answer(image_answer(b"<html>oops</html>", model="gemini-3.1-flash-image"))

    [output] = generation.generate(prompt="a lighthouse", provider="gemini", overrides={"width": 1200, "height": 630})

    output.refresh_from_db()
    assert output.status == OutputStatus.FAILED
    assert "gemini returned an unusable image" in output.error
    assert not output.file


def _two_images_around_a_broken_one(stand_in, size):
    """Calls 1 and 3 answer a white and a black image; call 2 answers bytes that are no image."""
    model = "gemini-3.1-flash-image"
    stand_in.then_answer(image_answer(png(size, color="white", centre="white"), model=model))
    stand_in.then_answer(image_answer(b"<html>oops</html>", model=model))
    stand_in.then_answer(image_answer(png(size, color="black", centre="black"), model=model))


def _corner(path: Path) -> tuple[int, int, int]:
    with Image.open(path) as image:
        return image.convert("RGB").getpixel((0, 0))


def test_a_failed_image_leaves_its_number_unused_in_the_output_files(gemini_env, stand_in, tmp_path):
    """Image k of n is written to name_k whatever failed before it: the third image is fox_3,
    not fox_2, and the failed second one has its own line saying fox_2 was not written."""
    _two_images_around_a_broken_one(stand_in, (1024, 1024))
    target = tmp_path / "out" / "fox.png"
    target.parent.mkdir()

    proc = subprocess.run(
        [sys.executable, "manage.py", "generate_image", "a fox", "-p", "gemini", "-n", "3", "--size", "1024x1024",
         "--output", str(target)],
        cwd=ROOT, env=gemini_env, capture_output=True, text=True, timeout=120,
    )

    assert proc.returncode == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["fox_1.png", "fox_3.png"]
    assert _corner(target.parent / "fox_1.png") == (255, 255, 255)
    assert _corner(target.parent / "fox_3.png") == (0, 0, 0)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("2 of 3 image(s)")
    [failed] = [line for line in lines if "FAILED" in line]
    assert failed.lstrip().startswith("2/3 #") and "gemini returned an unusable image" in failed
    assert failed.endswith("(fox_2.png not written)")
    assert [m[1] for line in lines if (m := re.match(r"  (\d/3) #\d+ ", line))] == ["1/3", "2/3", "3/3"]
    assert [line for line in lines if line.startswith("wrote ")] == \
        [f"wrote {target.parent / 'fox_1.png'}", f"wrote {target.parent / 'fox_3.png'}"]
    [error] = proc.stderr.strip().splitlines()
    assert "1 of 3 image(s) failed" in error


def test_an_edit_with_a_failed_image_writes_the_others_under_their_own_numbers(gemini_settings, stand_in, tmp_path,
                                                                                capsys):
    from django.core.management import CommandError, call_command

    [source] = generation.generate(prompt="a harbour", provider="cards", overrides={"width": 128, "height": 96})
    _two_images_around_a_broken_one(stand_in, (1184, 864))

    with pytest.raises(CommandError, match="1 of 3 image\\(s\\) failed"):
        call_command("edit_image", str(source.pk), "the harbour at night", "-p", "gemini", "-n", "3",
                     "--output", str(tmp_path / "night.png"), "--raw")

    images = json.loads(capsys.readouterr().out)["images"]
    assert [(i["index"], i["status"]) for i in images] == [(1, "succeeded"), (2, "failed"), (3, "succeeded")]
    assert [i["output_file"] for i in images] == [str(tmp_path / "night_1.png"), None, str(tmp_path / "night_3.png")]
    assert sorted(p.name for p in tmp_path.glob("night*")) == ["night_1.png", "night_3.png"]
    # Each file is its own image's stored bytes (same format: copied as stored).
    for image in (images[0], images[2]):
        assert Path(image["output_file"]).read_bytes() == Path(image["path"]).read_bytes()
    assert _corner(tmp_path / "night_3.png") == (0, 0, 0)
