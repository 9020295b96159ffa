"""openai_models: the model table is data; its reader, prices, sizes and upgrades."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from blogimages.providers import openai_models
from blogimages.providers.openai_models import DATA_FILE, estimated_output_tokens, parse, table, token_cost, upgrade


def test_the_default_is_gpt_image_2_and_every_entry_parses():
    models = table()
    assert models.default_model == "gpt-image-2"
    assert set(models.names()) >= {"gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-flare",
                                   "gpt-image-2.5-sunburst", "gpt-image-2.6-flare", "gpt-image-2.6-sunburst"}
    for info in models.models.values():
        if info.status == "retired":
            # Every retirement names a replacement the table knows and that is active.
            assert info.shutdown_date and models.get(info.replacement).status == "active", info.name


def test_adding_a_model_is_one_entry():
    data = json.loads(DATA_FILE.read_text())
    data["models"]["gpt-image-2.7-flare"] = {"family": "gpt-image-2.5", "status": "active"}

    info = parse(data).get("gpt-image-2.7-flare")

    assert info.capabilities.qualities == ("auto", "low", "medium", "high", "xhigh", "max")
    assert info.capabilities.allows_size(1536, 864) and info.gpt_image


@pytest.mark.parametrize(("model", "on", "status"), [
    ("dall-e-3", dt.date(2026, 12, 1), "retired"),
    ("gpt-image-1.5", dt.date(2026, 12, 1), "retired"),  # its shutdown day
    ("gpt-image-1.5", dt.date(2026, 11, 1), "deprecated"),
    ("gpt-image-2", dt.date(2026, 12, 1), "active"),
])
def test_lifecycle_is_judged_by_the_shutdown_date(model, on, status):
    assert table().get(model).lifecycle(on).status == status


@pytest.mark.parametrize(("width", "height", "allowed"), [
    (1536, 864, True), (3840, 2160, True), (2160, 3840, True), (1024, 1024, True),
    (1200, 630, False),   # not multiples of 16
    (3072, 1008, False),  # wider than 3:1
    (3840, 2176, False),  # more than 3840x2160 worth of pixels
    (512, 512, False),    # under 655,360 pixels
])
def test_gpt_image_2_sizes(width, height, allowed):
    assert table().get("gpt-image-2").capabilities.allows_size(width, height) is allowed


@pytest.mark.parametrize(("model", "asked", "made"), [
    ("gpt-image-2", (1200, 630), (1216, 640)),
    ("gpt-image-2", (1600, 900), (1600, 896)),
    ("gpt-image-2", (256, 256), (816, 816)),
    ("gpt-image-2.6-flare", (1200, 630), (1536, 1024)),
    ("gpt-image-2.6-flare", (900, 1600), (1024, 1536)),
])
def test_nearest_size_keeps_the_shape(model, asked, made):
    assert table().get(model).capabilities.nearest_size(*asked) == made


def test_output_tokens_come_from_the_table_or_scale_with_pixels():
    caps = table().get("gpt-image-2").capabilities
    assert estimated_output_tokens(caps, width=1024, height=1536, quality="medium") == 1584
    assert estimated_output_tokens(caps, width=2048, height=2048, quality="low") == 1088
    assert estimated_output_tokens(caps, width=1024, height=1024, quality="auto") == 4160  # the worst case


@pytest.mark.parametrize(("usage", "cost"), [
    # text in $5, image in $8, image out $30 per 1M tokens
    ({"input_tokens": 1546, "input_tokens_details": {"image_tokens": 1536, "text_tokens": 10},
      "output_tokens": 4160, "output_tokens_details": {"image_tokens": 4160, "text_tokens": 0},
      "total_tokens": 5706}, Decimal("0.137138")),
    # no breakdowns: input as text, output as image
    ({"input_tokens": 10, "output_tokens": 1056, "total_tokens": 1066}, Decimal("0.03173")),
    ({"input_tokens": 0, "output_tokens": 0}, None),
    ({"input_tokens": "many"}, None),
])
def test_token_cost_prices_each_kind_of_token(usage, cost):
    assert token_cost(table().get("gpt-image-2").capabilities, usage) == cost


def test_upgrade_maps_a_dall_e_3_setting():
    params, changes, words = upgrade({"model": "dall-e-3", "width": 1024, "height": 1792, "quality": "standard",
                                      "style": "natural", "extra": {"response_format": "b64_json"}})

    assert params == {"model": "gpt-image-2", "width": 1024, "height": 1792, "quality": "medium", "style": "",
                      "extra": {}}
    assert words == openai_models.STYLE_WORDS["natural"]
    assert changes[0] == "model dall-e-3 (shut down 2026-05-12) -> gpt-image-2"
    assert "response_format dropped (not taken by gpt-image-2)" in changes


def test_upgrade_leaves_current_models_alone():
    params = {"model": "gpt-image-2", "width": 1200, "height": 630, "quality": "high", "style": "", "extra": {}}
    assert upgrade(params) == (params, [], "")
