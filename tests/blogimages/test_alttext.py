from blogimages import alttext


def test_suggestion_drops_image_of_and_boilerplate():
    text = alttext.suggest(description="Image of a lighthouse at dusk, 4k, trending on artstation, highly detailed")
    assert text == "A lighthouse at dusk"


def test_suggestion_is_at_most_125_characters_cut_at_a_word():
    text = alttext.suggest(description="A harbour with fishing boats and gulls " * 10)
    assert len(text) <= 125 and text.endswith("…") and not text.endswith(" …")


def test_cards_images_are_described_by_their_visible_text():
    assert alttext.suggest(description="ignored", provider="cards", visible_text="Tide  pools") == "Tide pools"
    # A card without words falls back to the description.
    assert alttext.suggest(description="photo of tide pools", provider="cards") == "Tide pools"


def test_placeholders_never_reach_the_alt_text():
    assert alttext.suggest(description="{heading}: a quiet beach") == "A quiet beach"


def test_a_card_whose_word_is_cut_across_lines_keeps_the_word_in_its_alt_text():
    from blogimages.providers.base import GenerationRequest
    from blogimages.providers.cards import CardsProvider

    result = CardsProvider(alias="cards").generate(
        GenerationRequest(prompt="a red lighthouse at dusk", width=256, height=256, seed=1))
    assert result.images[0].metadata["text"] == "a red lighthouse at dusk"
