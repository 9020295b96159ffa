"""The offline `rules` backend: a deterministic interpreter of refinement requests.

Not a language model, and labelled as such wherever it answers. It reads a message as a list
of clauses ("wider, and without people") and turns each into a change of the prompt or the
parameters; a clause it does not understand joins the description, so nothing is dropped
and every turn shows the exact prompt and parameters it produced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from .base import BaseLLM, Completion, CompletionRequest, LlmCapabilities

COLOURS = (
    "red", "orange", "yellow", "green", "teal", "cyan", "blue", "navy", "purple", "violet", "magenta", "pink",
    "brown", "beige", "gold", "golden", "silver", "black", "white", "grey", "gray", "turquoise", "crimson",
    "amber", "emerald", "indigo", "coral", "ochre",
)
PALETTES = {
    "pastel": "pastel palette", "monochrome": "monochrome palette", "black and white": "black and white",
    "sepia": "sepia tones", "muted": "muted palette", "vibrant": "vibrant colours", "neon": "neon colours",
    "warm colours": "warm palette", "warm colors": "warm palette", "cool colours": "cool palette",
    "cool colors": "cool palette", "earthy": "earthy palette", "duotone": "duotone palette",
}
LIGHT = {
    "at night": "at night", "night": "at night", "nighttime": "at night", "golden hour": "golden hour light",
    "at dawn": "at dawn", "dawn": "at dawn", "sunrise": "at sunrise", "at sunrise": "at sunrise",
    "at dusk": "at dusk", "dusk": "at dusk", "sunset": "at sunset", "at sunset": "at sunset",
    "midday": "midday sun", "at noon": "midday sun", "daylight": "bright daylight", "daytime": "bright daylight",
    "blue hour": "blue hour light", "overcast": "overcast light", "foggy": "in fog", "in fog": "in fog",
    "backlit": "backlit", "candlelight": "candlelight", "moonlight": "moonlight", "moonlit": "moonlight",
}
MOODS = (
    "moody", "cheerful", "calm", "dramatic", "mysterious", "playful", "serene", "gloomy", "cozy", "cosy",
    "joyful", "melancholic", "melancholy", "peaceful", "tense", "eerie", "whimsical", "romantic", "energetic",
    "happy", "sad", "dark", "bright", "friendly", "epic", "nostalgic", "minimal", "minimalist",
)
# Aspect ratios from tallest to widest: "wider" and "taller" step along this ladder.
LADDER = (Fraction(1, 3), Fraction(9, 16), Fraction(2, 3), Fraction(3, 4), Fraction(1), Fraction(4, 3),
          Fraction(3, 2), Fraction(16, 9), Fraction(21, 9), Fraction(3))
SHAPES = {"square": Fraction(1), "portrait": Fraction(2, 3), "landscape": Fraction(3, 2),
          "banner": Fraction(3), "panorama": Fraction(21, 9), "widescreen": Fraction(16, 9)}
AGAIN = re.compile(r"^(another( one)?|again|one more|once more|try again|new version|regenerate|reroll|"
                   r"same again|different seed|new seed)$")
SPLIT = re.compile(r"\s*(?:,|;|\.(?:\s|$)|\band then\b|\band\b|\bbut\b|\bplus\b)\s*")
FILLER = re.compile(r"^(please |can you |could you |now |ok(ay)? |and |also |then |just )+")
MAKE = re.compile(r"^(make (it|the image|the picture|this)|make|turn it|turn|it should be|should be|"
                  r"let it be|be|go)\s+")
SEED_STEP = 6364136223846793005
# Every provider takes 32-bit seeds (cards, A1111, ComfyUI); some take more, none fewer.
SEED_MOD = 2**32


@dataclass(frozen=True, kw_only=True)
class PromptState:
    """Everything a turn can change; `style_text` and `description_text` compose the prompt."""

    description: str = ""
    style: str = ""
    format: str = ""
    negative_prompt: str = ""
    palette: str = ""
    light: str = ""
    mood: str = ""
    additions: tuple[str, ...] = ()
    emphasis: tuple[str, ...] = ()
    width: int = 1024
    height: int = 1024
    seed: int | None = None

    @property
    def description_text(self) -> str:
        extra = [f"with {a}" for a in self.additions]
        return ", ".join(p for p in (self.description, *extra) if p)

    @property
    def style_text(self) -> str:
        return ", ".join(p for p in (self.style, self.palette, self.light, self.mood, *self.emphasis) if p)


@dataclass(frozen=True, kw_only=True)
class Refinement:
    state: PromptState
    understood: tuple[str, ...] = ()  # one line per clause: what it changed
    unparsed: tuple[str, ...] = ()
    based_on: int | None = None  # "like #N": the thread image number it started from


def _round8(value: float) -> int:
    return max(64, int(round(value / 8)) * 8)


def resize_to(state: PromptState, ratio: Fraction) -> PromptState:
    """The same long side at a new aspect ratio."""
    long_side = max(state.width, state.height)
    if ratio >= 1:
        return replace(state, width=_round8(long_side), height=_round8(long_side / ratio))
    return replace(state, width=_round8(long_side * ratio), height=_round8(long_side))


def _step(state: PromptState, wider: bool) -> PromptState:
    current = Fraction(state.width, state.height)
    options = [r for r in LADDER if (r > current * Fraction(101, 100) if wider else r < current * Fraction(99, 100))]
    if not options:
        return state
    return resize_to(state, min(options) if wider else max(options))


def next_seed(seed: int | None) -> int:
    return ((seed or 0) * SEED_STEP + 1442695040888963407) % SEED_MOD


def _without(items: Sequence[str], word: str) -> tuple[str, ...]:
    return tuple(i for i in items if i.lower() != word.lower())


def _add_negative(negative: str, word: str) -> str:
    parts = [p.strip() for p in negative.split(",") if p.strip()]
    if word.lower() not in (p.lower() for p in parts):
        parts.append(word)
    return ", ".join(parts)


def _drop_negative(negative: str, word: str) -> str:
    return ", ".join(p.strip() for p in negative.split(",") if p.strip() and p.strip().lower() != word.lower())


def clauses(message: str) -> list[str]:
    text = " ".join(message.strip().split())
    # "black and white", "teal and orange": one palette, not two clauses.
    colours = "|".join(COLOURS)
    text = re.sub(rf"\b({colours}) and ({colours})\b", r"\1_and_\2", text, flags=re.I)
    parts = [p.replace("_and_", " and ") for p in SPLIT.split(text)]
    return [p for p in (p.strip(" .!") for p in parts) if p]


def interpret(message: str, state: PromptState, *, presets: Mapping[str, str] | None = None,
              images: Sequence[PromptState] = (), first_turn: bool = False) -> Refinement:
    """`message` applied to `state`. `presets` maps library names to their style; `images` are
    the thread's earlier images' states, numbered from 1, for "like #N but ...". On the
    `first_turn` of a thread that starts from a slot's prompt, a message that changes nothing
    it understands is what to draw: it replaces the description (style and size stay)."""
    presets = {k.lower(): v for k, v in (presets or {}).items()}
    understood: list[str] = []
    unparsed: list[str] = []
    based_on = None
    text = message.strip()
    like = re.match(r"^\s*(?:like|as in|same as)\s+#(\d+)\s*(?:,?\s*but\b)?\s*(.*)$", text, re.I | re.S)
    if like:
        number = int(like.group(1))
        if 1 <= number <= len(images):
            state, based_on = images[number - 1], number
            understood.append(f"start from image #{number}")
        else:
            understood.append(f"there is no image #{number} in this thread; kept the current prompt")
        text = like.group(2)
    if not state.description:
        # The first message of a thread is what to draw; there is nothing to refine yet.
        cleaned = text.strip().rstrip(".")
        return Refinement(state=replace(state, description=cleaned), understood=("new description",),
                          based_on=based_on)
    if first_turn and not like and all(_apply(c, state, presets)[1] is None for c in clauses(text)):
        return Refinement(state=replace(state, description=text.strip().rstrip("."), additions=()),
                          understood=("new description (replaces the slot's prompt)",))
    for clause in clauses(text):
        state, note = _apply(clause, state, presets)
        if note is None:
            unparsed.append(clause)
            state = replace(state, description=f"{state.description}, {clause}")
            understood.append(f"“{clause}” not understood: added to the description")
        else:
            understood.append(note)
    return Refinement(state=state, understood=tuple(understood), unparsed=tuple(unparsed), based_on=based_on)


def _apply(clause: str, state: PromptState, presets: Mapping[str, str]) -> tuple[PromptState, str | None]:
    lowered = FILLER.sub("", clause.lower()).strip()
    if AGAIN.match(lowered) or lowered in ("another", "again please"):
        return replace(state, seed=next_seed(state.seed)), "new seed, same prompt"
    word = MAKE.sub("", lowered).strip()
    word = re.sub(r"^(a bit |a little |much |even |slightly )", "", word)
    if word in ("wider", "more wide", "broader", "less tall"):
        new = _step(state, wider=True)
        return new, f"wider: {new.width}×{new.height}"
    if word in ("taller", "more tall", "narrower", "less wide", "higher"):
        new = _step(state, wider=False)
        return new, f"taller: {new.width}×{new.height}"
    shape = re.sub(r"^(a |an |in |as a |as an )", "", word).removesuffix(" format").removesuffix(" shape")
    if shape in SHAPES:
        new = resize_to(state, SHAPES[shape])
        return new, f"{shape}: {new.width}×{new.height}"
    match = re.match(r"^(?:without|no|remove|drop|get rid of|lose)\s+(?:the\s+|any\s+)?(.+)$", lowered)
    if match:
        thing = match.group(1).strip()
        return (replace(state, negative_prompt=_add_negative(state.negative_prompt, thing),
                        additions=_without(state.additions, thing)), f"negative prompt: {thing}")
    match = re.match(r"^in the style of\s+(.+)$", lowered) or re.match(r"^(?:in|as)\s+(.+?)\s+style$", lowered)
    if match:
        name = match.group(1).strip()
        if name in presets:
            return replace(state, style=presets[name]), f"style from the library preset “{name}”"
        return replace(state, style=", ".join(p for p in (state.style, f"in the style of {name}") if p)), (
            f"style: in the style of {name} (no library preset of that name)")
    match = re.match(r"^(more|less)\s+(.+)$", word)
    if match:
        way, thing = match.groups()
        other = f"{'less' if way == 'more' else 'more'} {thing}"
        emphasis = tuple(e for e in state.emphasis if e not in (other, f"{way} {thing}")) + (f"{way} {thing}",)
        return replace(state, emphasis=emphasis), f"style: {way} {thing}"
    match = re.match(r"^(?:with|add|include|put in|and)\s+(?:a |an |some )?(.+)$", lowered)
    if match:
        thing = match.group(1).strip()
        return (replace(state, additions=_without(state.additions, thing) + (thing,),
                        negative_prompt=_drop_negative(state.negative_prompt, thing)), f"added: {thing}")
    light = word.removeprefix("set ").removeprefix("during ")
    if light in LIGHT or f"at {light}" in LIGHT:
        value = LIGHT.get(light) or LIGHT[f"at {light}"]
        return replace(state, light=value), f"light: {value}"
    palette = re.sub(r"\s+(tones?|colou?rs?|palette|hues?)$", "", word).removeprefix("in ")
    if palette in PALETTES or word in PALETTES:
        value = PALETTES.get(word) or PALETTES[palette]
        return replace(state, palette=value), f"palette: {value}"
    colours = [w for w in re.split(r"[\s/-]+", palette) if w]
    if colours and all(w in COLOURS or w in ("and", "ish") for w in colours):
        value = f"{' and '.join(w for w in colours if w != 'and')} palette"
        return replace(state, palette=value), f"palette: {value}"
    mood = word.removeprefix("more ").removeprefix("feel ").removesuffix(" mood").removesuffix(" feel")
    if mood in MOODS:
        return replace(state, mood=f"{mood} atmosphere"), f"mood: {mood}"
    return state, None


class RulesLLM(BaseLLM):
    """The default LLM: offline and deterministic. It does not converse; the chat applies
    `interpret` to every message and the assistants draft from templates."""

    def capabilities(self, model: str = "") -> LlmCapabilities:
        return LlmCapabilities(offline=True)

    @property
    def label(self) -> str:
        return "rules (offline interpreter, not an AI model)"

    def complete_request(self, request: CompletionRequest, *, on_text=None) -> Completion:
        last = next((m for m in reversed(request.messages) if m.role == "user"), None)
        text = f"(offline rules) {last.content}" if last else ""
        return Completion(text=text, model="rules")
