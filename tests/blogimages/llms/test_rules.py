"""The offline interpreter: one row per phrase the issue names, with the prompt and parameters it gives."""

from __future__ import annotations

from dataclasses import replace

import pytest

from blogimages.llms.rules import PromptState, interpret, next_seed

BASE = PromptState(description="a red lighthouse at dusk", width=1024, height=1024, seed=42)
PRESETS = {"Noir poster": "film noir, high contrast, black and white"}

# (message, description, style, negative prompt, width, height, seed)
ROWS = [
    # colour and palette words
    ("make it blue", "a red lighthouse at dusk", "blue palette", "", 1024, 1024, 42),
    ("in teal and orange tones", "a red lighthouse at dusk", "teal and orange palette", "", 1024, 1024, 42),
    ("pastel colours", "a red lighthouse at dusk", "pastel palette", "", 1024, 1024, 42),
    ("black and white", "a red lighthouse at dusk", "black and white", "", 1024, 1024, 42),
    # light and time of day
    ("at night", "a red lighthouse at dusk", "at night", "", 1024, 1024, 42),
    ("golden hour", "a red lighthouse at dusk", "golden hour light", "", 1024, 1024, 42),
    ("make it foggy", "a red lighthouse at dusk", "in fog", "", 1024, 1024, 42),
    # mood
    ("more cheerful", "a red lighthouse at dusk", "more cheerful", "", 1024, 1024, 42),
    ("make it moody", "a red lighthouse at dusk", "moody atmosphere", "", 1024, 1024, 42),
    # shape
    ("wider", "a red lighthouse at dusk", "", "", 1024, 768, 42),
    ("taller", "a red lighthouse at dusk", "", "", 768, 1024, 42),
    ("square", "a red lighthouse at dusk", "", "", 1024, 1024, 42),
    ("portrait", "a red lighthouse at dusk", "", "", 680, 1024, 42),
    ("make it a banner", "a red lighthouse at dusk", "", "", 1024, 344, 42),
    # another one / again: a new seed, the same prompt
    ("another one", "a red lighthouse at dusk", "", "", 1024, 1024, next_seed(42)),
    ("again", "a red lighthouse at dusk", "", "", 1024, 1024, next_seed(42)),
    # with X / add X
    ("with a sailing boat", "a red lighthouse at dusk, with sailing boat", "", "", 1024, 1024, 42),
    ("add seagulls", "a red lighthouse at dusk, with seagulls", "", "", 1024, 1024, 42),
    # without X / no X: into the negative prompt
    ("without people", "a red lighthouse at dusk", "", "people", 1024, 1024, 42),
    ("no text", "a red lighthouse at dusk", "", "text", 1024, 1024, 42),
    # more / less X
    ("less clutter", "a red lighthouse at dusk", "less clutter", "", 1024, 1024, 42),
    ("more contrast", "a red lighthouse at dusk", "more contrast", "", 1024, 1024, 42),
    # in the style of <a library preset>, and of something that is not one
    ("in the style of Noir poster", "a red lighthouse at dusk", "film noir, high contrast, black and white", "",
     1024, 1024, 42),
    ("in the style of Hokusai", "a red lighthouse at dusk", "in the style of hokusai", "", 1024, 1024, 42),
    # anything else joins the description
    ("a cat on the rocks", "a red lighthouse at dusk, a cat on the rocks", "", "", 1024, 1024, 42),
    # several at once
    ("wider, and without people", "a red lighthouse at dusk", "", "people", 1024, 768, 42),
    ("please make it wider and at night, with stars", "a red lighthouse at dusk, with stars", "at night", "",
     1024, 768, 42),
]


@pytest.mark.parametrize(("message", "description", "style", "negative", "width", "height", "seed"), ROWS,
                         ids=[row[0] for row in ROWS])
def test_phrase(message, description, style, negative, width, height, seed):
    result = interpret(message, BASE, presets=PRESETS).state
    assert (result.description_text, result.style_text, result.negative_prompt) == (description, style, negative)
    assert (result.width, result.height, result.seed) == (width, height, seed)


def test_the_first_message_is_the_description():
    result = interpret("a red lighthouse at dusk", PromptState(width=1536, height=864))
    assert result.state.description == "a red lighthouse at dusk" and (result.state.width, result.state.height) == (
        1536, 864)


def test_wider_steps_along_the_ratio_ladder():
    state = PromptState(description="x", width=1536, height=864)  # 16:9
    assert (interpret("wider", state).state.width, interpret("wider", state).state.height) == (1536, 656)  # 21:9
    assert interpret("wider", PromptState(description="x", width=1536, height=512)).state.height == 512  # 3:1 is the end


def test_like_n_but_starts_from_that_image():
    first = replace(BASE, description="a blue boat", negative_prompt="people")
    second = replace(BASE, description="a red lighthouse at dusk", width=1024, height=768)
    result = interpret("like #1 but at night", second, images=[first, second])
    assert result.based_on == 1
    assert (result.state.description, result.state.light, result.state.negative_prompt) == (
        "a blue boat", "at night", "people")


def test_like_a_missing_image_says_so_and_keeps_the_prompt():
    result = interpret("like #5 but wider", BASE, images=[BASE])
    assert result.based_on is None and "no image #5" in result.understood[0]
    assert (result.state.width, result.state.height) == (1024, 768)


def test_each_clause_says_what_it_did_and_what_it_did_not_understand():
    result = interpret("wider, without people, zorbly", BASE)
    assert result.understood == ("wider: 1024×768", "negative prompt: people",
                                 "“zorbly” not understood: added to the description")
    assert result.unparsed == ("zorbly",)


def test_with_after_without_takes_the_thing_back():
    state = interpret("without boats", BASE).state
    state = interpret("with boats", state).state
    assert state.negative_prompt == "" and state.additions == ("boats",)
    state = interpret("no boats", state).state
    assert state.negative_prompt == "boats" and state.additions == ()


def test_more_then_less_replaces_the_emphasis():
    state = interpret("more contrast", BASE).state
    assert interpret("less contrast", state).state.emphasis == ("less contrast",)


def test_a_later_light_replaces_the_earlier_one():
    state = interpret("at night", BASE).state
    assert interpret("golden hour", state).state.style_text == "golden hour light"


def test_the_same_message_gives_the_same_result():
    assert interpret("another one, wider", BASE) == interpret("another one, wider", BASE)


def test_a_first_turn_that_only_describes_replaces_the_slots_description():
    slot = PromptState(description="Harbour: the old harbour at night", style="watercolour", width=1536, height=864)
    result = interpret("a red lighthouse at dusk", slot, first_turn=True)
    assert (result.state.description, result.state.style, result.state.width) == (
        "a red lighthouse at dusk", "watercolour", 1536)
    assert interpret("wider", slot, first_turn=True).state.description == slot.description
