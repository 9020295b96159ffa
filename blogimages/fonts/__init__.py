"""Open fonts bundled with the app, so rendering never depends on what the host has installed."""

from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent

FONTS = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
}


def font_path(name: str = "bold") -> Path:
    return FONT_DIR / FONTS[name]
