"""Alt text suggested offline, until an LLM can look at the image (a later issue).

Made from what the image was asked to show (the prompt's description), not from the style
words: "a lighthouse at dusk" is what a reader needs, "4k, trending on artstation" is not.
A `cards` image shows its own words, so they are its alt text. Pure: no database.
"""

from __future__ import annotations

import re

MAX_ALT_CHARS = 125

# Prompt boilerplate that says nothing about the picture's content.
_BOILERPLATE = re.compile(
    r"\b(?:\d+k|uhd|hdr|8k|4k|hd|ultra[- ]?detailed|highly detailed|hyper[- ]?realistic|photorealistic|"
    r"trending(?: on \w+)?|artstation|unreal engine|octane render|masterpiece|best quality|high quality|"
    r"award[- ]winning|sharp focus|intricate(?: details)?|cinematic lighting|volumetric lighting|"
    r"studio lighting|bokeh|wallpaper|concept art|digital art|high resolution|hi-?res)\b",
    re.IGNORECASE,
)
# Screen readers already say "image"; alt text never starts by repeating it.
_LEADING = re.compile(
    r"^(?:(?:an?|the)\s+)?(?:image|picture|photo(?:graph)?|illustration|rendering|render|drawing)\s+"
    r"(?:of|showing|depicting)\s+",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def clean(text: str) -> str:
    """The description without boilerplate, "Image of", placeholders or stray punctuation."""
    text = _PLACEHOLDER.sub(" ", text or "")
    text = _BOILERPLATE.sub(" ", text)
    text = " ".join(text.split())
    # Boilerplate removal leaves ", ," and trailing commas behind.
    text = re.sub(r"\s*([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"\s+([,;:.])", r"\1", text).strip(" ,;:-.")
    previous = None
    while previous != text:
        previous, text = text, _LEADING.sub("", text).strip(" ,;:-.")
    return text


def shorten(text: str, limit: int = MAX_ALT_CHARS) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.-")
    return f"{cut}…"


def suggest(*, description: str, provider: str = "", visible_text: str = "") -> str:
    """A first alt text: a card's visible words, else the cleaned description, ≤125 chars."""
    if provider == "cards" and visible_text.strip():
        return shorten(" ".join(visible_text.split()))
    text = clean(description)
    if text:
        text = text[0].upper() + text[1:]
    return shorten(text)
