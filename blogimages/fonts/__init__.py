"""Open fonts bundled with the app, so rendering never depends on what the host has installed.

DejaVu (regular, bold) covers the most scripts; Inter (display, label; SIL OFL 1.1, see
LICENSE-Inter.txt) is the nicer face for titles and is used whenever it has every glyph.
"""

from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent

FONTS = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "display": "InterDisplay-Bold.otf",
    "label": "Inter-SemiBold.otf",
}


def font_path(name: str = "bold") -> Path:
    return FONT_DIR / FONTS[name]
