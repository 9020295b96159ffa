"""OpenAI's image models, read from `openai_models.json` (the data; this is only its reader).

Adding a model is one entry in the JSON file; everything the provider, the checks and the
data migration know about a model comes from here: its family's sizes, qualities, formats,
limits and prices, and its lifecycle (active, or retired on a date with a replacement).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from .base import Capabilities, ModelLifecycle

DATA_FILE = Path(__file__).with_name("openai_models.json")
PER_MILLION = Decimal(1_000_000)
# The size the token table's other sizes are scaled from.
REFERENCE_SIZE = "1024x1024"


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    name: str
    family: str
    status: str
    shutdown_date: dt.date | None
    replacement: str
    capabilities: Capabilities
    auto_size: bool = False
    takes_response_format: bool = False
    backgrounds: tuple[str, ...] = ()
    moderation: tuple[str, ...] = ()
    extra_params: tuple[str, ...] = ()
    # None: the model makes no edits. Otherwise max_images, mask, input_fidelity values
    # (empty = the field must be left out: the model always keeps the input's detail).
    edits: Mapping[str, Any] | None = None

    def lifecycle(self, on: dt.date | None = None) -> ModelLifecycle:
        # A dated retirement is judged by the date (deprecated before it); an undated one is final.
        return ModelLifecycle.judge(self.name, shutdown_date=self.shutdown_date, replacement=self.replacement,
                                    retired=self.status == "retired" and self.shutdown_date is None, on=on)

    @property
    def gpt_image(self) -> bool:
        return not self.takes_response_format


@dataclass(frozen=True)
class ModelTable:
    default_model: str
    models: Mapping[str, ModelInfo] = field(default_factory=dict)

    def get(self, name: str) -> ModelInfo | None:
        return self.models.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self.models)


def _size(value: str) -> tuple[int, int]:
    width, _, height = value.partition("x")
    return int(width), int(height)


def _aspect(value: str) -> float:
    width, _, height = value.partition(":")
    return int(width) / int(height)


def _family(families: Mapping[str, Any], name: str) -> dict[str, Any]:
    spec = dict(families[name])
    parent = spec.pop("inherits", None)
    return {**_family(families, parent), **spec} if parent else spec


def _capabilities(spec: Mapping[str, Any]) -> Capabilities:
    sizes = spec.get("sizes") or {}
    pricing = spec.get("pricing") or {}
    fixed = tuple(_size(s) for s in sizes.get("fixed", ()))
    kwargs: dict[str, Any] = {}
    if not fixed:
        multiple = int(sizes.get("multiple", 1))
        max_edge = int(sizes.get("max_edge", 2048))
        min_aspect = _aspect(sizes["min_aspect"]) if "min_aspect" in sizes else 0.0
        min_pixels = int(sizes.get("min_pixels", 0))
        # No side limit of its own below the edge: the pixel floor and the aspect range decide.
        kwargs.update(
            min_size=multiple, max_size=max_edge, size_multiple=multiple, min_aspect=min_aspect,
            max_aspect=_aspect(sizes["max_aspect"]) if "max_aspect" in sizes else 0.0,
            min_pixels=min_pixels, max_pixels=int(sizes.get("max_pixels", 0)),
        )
    return Capabilities(
        sizes=fixed,
        default_size=(1024, 1024),
        max_n=int(spec.get("max_n", 1)),
        max_prompt_length=int(spec.get("max_prompt_length", 4000)),
        qualities=tuple(spec.get("qualities", ())),
        styles=tuple(spec.get("styles", ())),
        output_formats=tuple(spec.get("output_formats", ("png",))),
        prices={k: Decimal(v) for k, v in (pricing.get("per_image") or {}).items()},
        token_prices={k: Decimal(v) for k, v in (pricing.get("per_1m_tokens") or {}).items()},
        output_tokens={q: dict(t) for q, t in (pricing.get("output_tokens") or {}).items()},
        **kwargs,
    )


def parse(data: Mapping[str, Any]) -> ModelTable:
    families = data["families"]
    models: dict[str, ModelInfo] = {}
    for name, entry in data["models"].items():
        spec = _family(families, entry["family"])
        shutdown = entry.get("shutdown_date")
        models[name] = ModelInfo(
            name=name,
            family=entry["family"],
            status=entry.get("status", "active"),
            shutdown_date=dt.date.fromisoformat(shutdown) if shutdown else None,
            replacement=entry.get("replacement", ""),
            capabilities=_capabilities(spec),
            auto_size=bool((spec.get("sizes") or {}).get("auto")),
            takes_response_format=bool(spec.get("takes_response_format")),
            backgrounds=tuple(spec.get("backgrounds", ())),
            moderation=tuple(spec.get("moderation", ())),
            extra_params=tuple(spec.get("extra_params", ())),
            edits=spec.get("edits"),
        )
    default = data["default_model"]
    if default not in models:
        raise ValueError(f"{DATA_FILE.name}: default model {default!r} has no entry")
    return ModelTable(default_model=default, models=models)


@cache
def table() -> ModelTable:
    return parse(json.loads(DATA_FILE.read_text(encoding="utf-8")))


# -- prices -------------------------------------------------------------------------------


def estimated_output_tokens(caps: Capabilities, *, width: int, height: int, quality: str) -> int | None:
    """Image-output tokens for one image: the table's entry, or its 1024x1024 entry scaled
    by the pixel count. `auto` (and no quality) may pick high: estimate the worst case."""
    if not caps.output_tokens:
        return None
    if quality in ("", "auto") or quality not in caps.output_tokens:
        quality = "high" if "high" in caps.output_tokens else next(iter(caps.output_tokens))
    row = caps.output_tokens[quality]
    size = f"{width}x{height}"
    if size in row:
        return int(row[size])
    base = row.get(REFERENCE_SIZE)
    if base is None:
        return None
    return math.ceil(base * width * height / (1024 * 1024))


def estimate_text_tokens(prompt: str) -> int:
    # About four characters a token for English; the estimate only has to be close.
    return max(1, math.ceil(len(prompt) / 4))


def token_cost(caps: Capabilities, usage: Mapping[str, Any]) -> Decimal | None:
    """USD of a usage object, by token type. Without a breakdown, input counts as text and
    output as image tokens (the Images API has been seen without output_tokens_details)."""
    rates = caps.token_prices
    if not rates or not isinstance(usage, Mapping):
        return None

    def count(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    input_total, output_total = count(usage.get("input_tokens")), count(usage.get("output_tokens"))
    if not input_total and not output_total:
        return None
    ind = usage.get("input_tokens_details") if isinstance(usage.get("input_tokens_details"), Mapping) else None
    outd = usage.get("output_tokens_details") if isinstance(usage.get("output_tokens_details"), Mapping) else None
    image_in = count(ind.get("image_tokens")) if ind else 0
    text_in = count(ind.get("text_tokens")) if ind else input_total
    if ind and image_in + text_in < input_total:
        text_in = input_total - image_in
    if outd:
        image_out, text_out = count(outd.get("image_tokens")), count(outd.get("text_tokens"))
    else:
        image_out, text_out = output_total, 0
    zero = Decimal(0)
    total = (
        text_in * rates.get("text_input", zero)
        + image_in * rates.get("image_input", rates.get("text_input", zero))
        + image_out * rates.get("image_output", zero)
        # Text output (reasoning) is priced at the text rate where the table has none of its own.
        + text_out * rates.get("text_output", rates.get("text_input", zero))
    )
    return total / PER_MILLION


# -- upgrading stored parameters (the data migration and `manage.py check` use this) --------

# dall-e-3's `style` has no API field on GPT image models: it becomes words in the prompt.
STYLE_WORDS = {
    "vivid": "vivid, hyper-real and dramatic",
    "natural": "natural, true to life, not hyper-real",
}
QUALITY_MAP = {"hd": "high", "standard": "medium"}


def upgrade(params: Mapping[str, Any], *, on: dt.date | None = None) -> tuple[dict[str, Any], list[str], str]:
    """Parameters naming a retired model, rewritten for its replacement.

    `params` has model, width, height, quality, style and extra. Returns the new values,
    one line per change, and the words a retired `style` becomes (for the prompt's style
    part; "" if none). Parameters of a model that is not retired come back unchanged.
    """
    data = dict(params)
    info = table().get(data.get("model") or "")
    if info is None or not info.lifecycle(on).retired or not info.replacement:
        return data, [], ""
    target = table().get(info.replacement)
    if target is None:
        return data, [], ""
    caps = target.capabilities
    changes = [f"model {info.name} (shut down {info.shutdown_date}) -> {target.name}"]
    data["model"] = target.name
    quality = data.get("quality") or ""
    if quality and quality not in caps.qualities:
        new = QUALITY_MAP.get(quality, "")
        changes.append(f"quality {quality} -> {new or 'the default'}")
        data["quality"] = new
    style_words = ""
    style = data.get("style") or ""
    if style and style not in caps.styles:
        style_words = STYLE_WORDS.get(style, style)
        changes.append(f"style {style} -> the words \"{style_words}\" in the prompt's style")
        data["style"] = ""
    width, height = int(data.get("width") or 1024), int(data.get("height") or 1024)
    if not caps.allows_size(width, height):
        new_w, new_h = caps.nearest_size(width, height)
        changes.append(f"size {width}x{height} -> {new_w}x{new_h}")
        data["width"], data["height"] = new_w, new_h
    extra = dict(data.get("extra") or {})
    for name in sorted(set(extra) - set(target.extra_params)):
        changes.append(f"{name} dropped (not taken by {target.name})")
        extra.pop(name)
    data["extra"] = extra
    return data, changes, style_words
