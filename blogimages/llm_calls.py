"""The one way a service calls an LLM: budget first, then the call, then its usage recorded.

Every call leaves an LlmCall row (failed ones too, with the reason), priced from the usage
the model reported, so LLM spend counts against the same budgets as images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

from .budgets import check_budget
from .exceptions import BlogImagesError
from .llms import BaseLLM, Completion, CompletionRequest, get_llm
from .models import COST_PLACES, CostBasis, LlmCall

QUANTUM = Decimal(1).scaleb(-COST_PLACES)


def llm_complete(
    request: CompletionRequest, *, alias: str | None = None, user=None, purpose: str = "",
    on_text: Callable[[str], None] | None = None,
) -> tuple[Completion, LlmCall]:
    """Answer `request` with the LLM `alias` (default one), refusing a call over budget."""
    backend, owner = _budgeted(request, alias, user)
    try:
        completion = backend.complete(request, on_text=on_text)
    except BlogImagesError as exc:
        _record_failure(backend, request, owner, purpose, exc)
        raise
    return completion, _record(backend, request, owner, purpose, completion)


def llm_stream(
    request: CompletionRequest, *, alias: str | None = None, user=None, purpose: str = "",
) -> Iterator[str | tuple[Completion, LlmCall]]:
    """Like llm_complete, as a generator: text pieces as the model writes them, then (completion, call).

    A backend that does not stream yields only the final pair; the budget check and the
    LlmCall row are the same either way."""
    backend, owner = _budgeted(request, alias, user)
    try:
        for piece in backend.stream(request):
            if isinstance(piece, Completion):
                yield piece, _record(backend, request, owner, purpose, piece)
                return
            yield piece
    except BlogImagesError as exc:
        _record_failure(backend, request, owner, purpose, exc)
        raise


def _budgeted(request: CompletionRequest, alias: str | None, user) -> tuple[BaseLLM, object]:
    backend: BaseLLM = get_llm(alias)
    owner = user if getattr(user, "is_authenticated", False) else None
    model = backend.model_for(request)
    # An offline interpreter costs nothing; a model without a price is unknown, never free
    # (refused while a budget applies, see budgets.PriceUnknown).
    cost = Decimal(0) if backend.capabilities(model).offline else backend.estimate_cost(request)
    check_budget(user=owner, cost=cost, label=f"LLM {backend.alias} {model}".rstrip())
    return backend, owner


def _record_failure(backend: BaseLLM, request: CompletionRequest, owner, purpose: str, exc: Exception) -> None:
    LlmCall.objects.create(alias=backend.alias, model=backend.model_for(request), purpose=purpose, user=owner,
                           error=str(exc)[:2000], request_id=getattr(exc, "request_id", "") or "")


def _record(backend: BaseLLM, request: CompletionRequest, owner, purpose: str, completion: Completion) -> LlmCall:
    model = backend.model_for(request)
    usage = completion.usage
    cost = backend.cost_from_usage(completion.model or model, usage)
    basis = CostBasis.USAGE
    if usage is None:
        # The host reported nothing: count the estimate rather than nothing.
        cost, basis = backend.estimate_cost(request), CostBasis.ESTIMATE
    return LlmCall.objects.create(
        alias=backend.alias, model=completion.model or model, purpose=purpose, user=owner,
        input_tokens=usage.input_tokens if usage else 0, output_tokens=usage.output_tokens if usage else 0,
        cost=cost.quantize(QUANTUM) if cost is not None else None, cost_basis=basis if cost is not None else "",
        request_id=completion.request_id,
    )
