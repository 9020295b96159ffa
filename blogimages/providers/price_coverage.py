"""What a provider could be asked that its price list cannot price.

While a budget applies, a request priced at None is refused (budgets.PriceUnknown), so an
operator wants to hear of the gaps from `manage.py check` before a user meets one. The
provider's own `estimate_cost` answers each probe, the same call the budget makes, so the
token-priced OpenAI models and Gemini are judged as they will be priced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..exceptions import BlogImagesError
from .base import BaseProvider, Capabilities, GenerationRequest, apply_defaults

# A blog's social card (1200x630): the size a range-sized model is most often asked for
# besides its default, fitted to what the model makes as build_request fits it.
PROBE_SIZE = (1200, 630)
# How many gaps one line names before "and N more".
MAX_NAMED = 6


@dataclass(frozen=True)
class Gap:
    """One model with requests it cannot price: the qualities ("" = none given) and sizes."""

    model: str
    everything: bool
    qualities: tuple[str, ...]  # unpriced at every probed size
    sizes: tuple[tuple[int, int], ...]  # unpriced with every probed quality
    pairs: tuple[tuple[str, tuple[int, int]], ...]  # the rest

    def describe(self) -> str:
        name = self.model or "its default model"
        if self.everything:
            return f"{name} (any size or quality)"
        parts = [f"quality {quality_name(q)}" for q in self.qualities]
        parts += [f"size {w}x{h}" for w, h in self.sizes]
        parts += [f"quality {quality_name(q)} at {w}x{h}" for q, (w, h) in self.pairs]
        if len(parts) > MAX_NAMED:
            parts = parts[:MAX_NAMED] + [f"and {len(parts) - MAX_NAMED} more"]
        return f"{name} ({', '.join(parts)})"


def quality_name(quality: str) -> str:
    return repr(quality) if quality else "none given"


def free(caps: Capabilities) -> bool:
    """A flat {"*": 0} list (the local providers): nothing to probe."""
    return not caps.token_prices and set(caps.prices) == {"*"} and not caps.prices["*"]


def probe_sizes(caps: Capabilities) -> tuple[tuple[int, int], ...]:
    if caps.sizes:
        return tuple(caps.sizes)
    sizes = [caps.default_size]
    # Sizes a price list names, when the model can make them, then the social card.
    for key in caps.prices:
        width, sep, height = key.partition(":")[2].partition("x")
        if sep and width.isdigit() and height.isdigit() and caps.allows_size(int(width), int(height)):
            sizes.append((int(width), int(height)))
    sizes.append(caps.nearest_size(*PROBE_SIZE))
    return tuple(dict.fromkeys(sizes))


def unpriced(provider: BaseProvider) -> list[Gap]:
    """Every model the provider offers (or its default, when it takes any name) with the
    qualities and sizes whose price is unknown; empty when all are priced (or free)."""
    default_caps = provider.capabilities()
    models = tuple(default_caps.models) or (default_caps.default_model,)
    gaps = []
    for model in models:
        caps = provider.capabilities(model)
        if free(caps):
            continue
        qualities = tuple(caps.qualities) + (("",) if "" not in caps.qualities else ())
        sizes = probe_sizes(caps)
        missing = set()
        for quality in qualities:
            for width, height in sizes:
                request = apply_defaults(
                    GenerationRequest(prompt="a lighthouse", model=model, width=width, height=height, quality=quality),
                    provider.defaults,
                )
                # A default quality answers for "left unset": probe what will be sent.
                try:
                    cost = provider.estimate_cost(replace(request, model=request.model or model))
                except (BlogImagesError, ValueError):
                    cost = None  # no estimate is what the budget would meet too
                if cost is None:
                    missing.add((quality, (width, height)))
        if missing:
            gaps.append(_gap(model, missing, qualities, sizes))
    return gaps


def _gap(model, missing, qualities, sizes) -> Gap:
    if len(missing) == len(qualities) * len(sizes):
        return Gap(model=model, everything=True, qualities=(), sizes=(), pairs=())
    whole_qualities = tuple(q for q in qualities if all((q, s) in missing for s in sizes))
    whole_sizes = tuple(s for s in sizes if all((q, s) in missing for q in qualities))
    pairs = tuple((q, s) for q in qualities for s in sizes
                  if (q, s) in missing and q not in whole_qualities and s not in whole_sizes)
    return Gap(model=model, everything=False, qualities=whole_qualities, sizes=whole_sizes, pairs=pairs)
