"""An estimate of None (no price for the request) is never free: while a budget applies the
request is refused (budgets.PriceUnknown) on every path that spends, before anything is stored
or any provider is called; a price of 0 is free, and without a budget nothing changes."""

import dataclasses
import json
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from blogimages import batches, budgets, derive, editing, generation, tokens
from blogimages.budgets import BudgetExceeded, PriceUnknown
from blogimages.models import GenerationBatch, ImageOutput, OutputStatus, ReviewEvent
from blogimages.providers import GeneratedImage, GenerationResult
from blogimages.providers.cards import CardsProvider
from blogimages.providers.testing import RecordingProvider, solid_png
from tests.blogimages.test_review import make_user
from tests.conftest import png_bytes, require_service
from tests.factories import PostFactory, SectionFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SIZE = {"width": 32, "height": 32}
# Priced only by quality: a request with no quality (and no default) has no price.
BY_QUALITY = {"hd:*": Decimal("0.08"), "standard:*": Decimal("0.05")}


class QualityPriced(RecordingProvider):
    def capabilities(self, model=""):
        return dataclasses.replace(super().capabilities(model), prices=BY_QUALITY)


class QualityPricedEdits(CardsProvider):
    def capabilities(self, model=""):
        return dataclasses.replace(super().capabilities(model), prices=BY_QUALITY, qualities=("standard", "hd"))


class QualityPricedVariations(QualityPriced):
    """Variations from the image itself (as OpenAI's GPT image models make them), priced by quality."""

    def variation_models(self):
        return ("recorder",)

    def create_variation(self, *, image, n, model, size, prompt):
        self.requests.append(("variation", n, size))
        images = tuple(GeneratedImage(data=solid_png(32, 32, 7 + i), mime_type="image/png") for i in range(n))
        return GenerationResult(images=images, model=model, request_id="var", cost=Decimal("0.08") * n,
                                cost_basis="estimate")


def providers(settings, **options):
    settings.BLOGIMAGES_PROVIDERS = {
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
        "byq": {"BACKEND": f"{__name__}.QualityPriced", "OPTIONS": options.get("byq", {})},
        "byq_edits": {"BACKEND": f"{__name__}.QualityPricedEdits", "OPTIONS": options.get("byq_edits", {})},
        "byq_var": {"BACKEND": f"{__name__}.QualityPricedVariations", "OPTIONS": options.get("byq_var", {})},
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "test"
    settings.BLOGIMAGES_RATE_LIMITS = {}
    from blogimages.providers import providers as registry

    return registry


def stored() -> tuple[int, int]:
    return ImageOutput.objects.count(), ReviewEvent.objects.count()


# -- the rule at its root ---------------------------------------------------------------------


def test_an_unknown_cost_is_refused_while_a_budget_applies(settings):
    from django.db import transaction

    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    user = UserFactory()
    with pytest.raises(PriceUnknown, match=r"unknown .*byq recorder 32x32.*your daily budget \(\$5.00\)"):
        budgets.check_budget(user=user, cost=None, label="byq recorder 32x32")
    with transaction.atomic(), pytest.raises(PriceUnknown):
        budgets.reserve(user=user, cost=None)
    assert issubclass(PriceUnknown, BudgetExceeded)  # every face that answers a budget refusal answers it
    budgets.check_budget(user=user, cost=Decimal(0))  # a price of 0 is free
    budgets.check_budget(user=None, cost=None)  # no budget applies to the system: nothing to judge
    settings.BLOGIMAGES_BUDGETS = {}
    budgets.check_budget(user=user, cost=None)


# -- every path that spends ---------------------------------------------------------------------


def test_a_generation_without_a_price_is_refused_under_a_budget_and_made_without_one(settings):
    registry = providers(settings)
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    user = UserFactory()
    with pytest.raises(PriceUnknown, match="byq recorder 32x32"):
        generation.generate(prompt="x", provider="byq", overrides=SIZE, user=user)
    with pytest.raises(PriceUnknown):
        generation.submit(prompt="x", provider="byq", overrides=SIZE, user=user)
    assert registry["byq"].requests == [] and stored() == (0, 0)
    # Priced by the quality asked for, or by the provider's default quality: let in.
    [made] = generation.generate(prompt="x", provider="byq", overrides={**SIZE, "quality": "hd"}, user=user)
    assert (made.status, made.cost_estimate) == (OutputStatus.SUCCEEDED, Decimal("0.08"))
    # A local provider's price is 0 ({"*": 0}): free, not unknown.
    [card] = generation.generate(prompt="x", provider="cards", overrides={"width": 64, "height": 64}, user=user)
    assert (card.status, card.cost_estimate) == (OutputStatus.SUCCEEDED, Decimal(0))
    settings.BLOGIMAGES_BUDGETS = {}
    [free_run] = generation.generate(prompt="x", provider="byq", overrides=SIZE, user=user)
    assert free_run.status == OutputStatus.SUCCEEDED and free_run.cost_estimate is None


def test_a_provider_default_prices_the_request(settings):
    providers(settings, byq={"defaults": {"quality": "standard"}})
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    [made] = generation.generate(prompt="x", provider="byq", overrides=SIZE, user=UserFactory())
    assert made.cost_estimate == Decimal("0.05")


def test_a_fallback_without_a_price_makes_the_chain_unknown(settings):
    registry = providers(settings)
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    user = UserFactory()
    # The first provider is priced; its fallback would be asked the same request with no price.
    with pytest.raises(PriceUnknown, match="fallbacks byq"):
        generation.generate(prompt="x", provider="test", overrides={**SIZE, "fallbacks": ["byq"]}, user=user)
    assert registry["test"].requests == [] and stored() == (0, 0)
    # A fallback that cannot take the request at all will not be asked: it spends nothing.
    plan = generation.build_request(prompt_text="x", provider="test",
                                    overrides={"width": 5000, "height": 4000, "fallbacks": ["cards"]})
    assert plan.cost_per_image == Decimal("0.04")


def test_an_edit_without_a_price_is_refused_with_nothing_stored(settings):
    registry = providers(settings)
    [card] = generation.generate(prompt="Harbour", provider="cards", overrides={"width": 96, "height": 64})
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    user = make_user()
    before = stored()
    with pytest.raises(PriceUnknown, match="byq_edits"):
        editing.edit(source=card, prompt="at night", provider="byq_edits", user=user)
    with pytest.raises(PriceUnknown):
        editing.edit(image=png_bytes(96, 64), prompt="at night", provider="byq_edits", user=user)
    assert stored() == before and registry["byq_edits"] is not None
    [edited] = editing.edit(source=card, prompt="at night", provider="byq_edits", user=user,
                            overrides={"quality": "standard"})
    assert edited.cost_estimate == Decimal("0.05")


def test_a_batch_with_an_unpriced_section_is_refused_whole(settings):
    providers(settings)
    post = PostFactory(title="Coast", slug="coast")
    SectionFactory(post=post, key="intro", heading="Arriving", body="word " * 50)
    SectionFactory(post=post, key="pools", heading="Tide pools", body="Starfish.")
    settings.BLOGIMAGES_BUDGETS = {"global_daily": "5"}  # the system starts batches: the site's budget applies
    with pytest.raises(PriceUnknown, match="the site's daily budget"):
        batches.start_post_batch(post=post, provider="byq", overrides=SIZE)
    assert stored() == (0, 0) and not GenerationBatch.objects.exists()
    started = batches.start_post_batch(post=post, provider="byq", overrides={**SIZE, "quality": "hd"})
    assert started.batch.total >= 2 and started.batch.cost_estimate == Decimal("0.08") * started.batch.total


def test_a_reseed_rerun_and_variations_of_an_unpriced_image_are_refused(settings):
    providers(settings)
    [original] = generation.generate(prompt="x", provider="byq", overrides=SIZE)  # no budget yet
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    user = make_user()
    before = stored()
    with pytest.raises(PriceUnknown):
        derive.variations(original, 2, user=user)
    with pytest.raises(PriceUnknown):
        derive.queue_rerun(original, derive.plan_from_output(original), user=user, prompt=original.prompt)
    assert stored() == before


def test_endpoint_variations_are_priced_as_sent_with_the_providers_defaults(settings):
    """The variation request goes out with the provider's default quality: priced with it, not
    as a request without one (which a price list keyed by quality cannot price)."""
    registry = providers(settings, byq_var={"defaults": {"quality": "hd"}})
    [original] = generation.generate(prompt="x", provider="byq_var", overrides=SIZE)
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.20"}
    user = make_user()
    made = derive.variations(original, 2, user=user)
    assert [m.cost_estimate for m in made] == [Decimal("0.08")] * 2
    assert budgets.spent(user=user, period="daily") == Decimal("0.16")
    with pytest.raises(BudgetExceeded, match=r"about \$0.08"):  # $0.04 left
        derive.variations(original, 1, user=user)
    assert [r for r in registry["byq_var"].requests if isinstance(r, tuple)] == [("variation", 2, "32x32")]


def test_endpoint_variations_without_a_price_are_refused(settings):
    registry = providers(settings)
    [original] = generation.generate(prompt="x", provider="byq_var", overrides=SIZE)
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    before = stored()
    with pytest.raises(PriceUnknown, match="byq_var recorder 32x32"):
        derive.variations(original, 1, user=make_user())
    assert stored() == before
    assert not [r for r in registry["byq_var"].requests if isinstance(r, tuple)]


def test_an_llm_without_a_price_is_refused_and_the_offline_rules_are_free(settings):
    from blogimages.llm_calls import llm_complete
    from blogimages.llms import CompletionRequest
    from blogimages.llms.base import Message
    from blogimages.models import LlmCall

    settings.BLOGIMAGES_LLMS = {
        "rules": {"BACKEND": "blogimages.llms.rules.RulesLLM", "OPTIONS": {}},
        # Never reached: the refusal comes before any call (the port is closed).
        "host": {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
                 "OPTIONS": {"model": "local-7b", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}},
    }
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    user = UserFactory()
    request = CompletionRequest(messages=[Message(role="user", content="hello")])
    with pytest.raises(PriceUnknown, match="LLM host local-7b"):
        llm_complete(request, alias="host", user=user)
    assert not LlmCall.objects.exists()
    completion, call = llm_complete(request, alias="rules", user=user)
    assert "offline" in completion.text and call.cost is None


# -- the faces' answers --------------------------------------------------------------------------


def test_v1_and_the_json_api_answer_an_unpriced_request_400_without_retry_after(client, settings):
    registry = providers(settings)
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "byq"
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "5"}
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"
    user = UserFactory(username="scripter")
    _token, raw = tokens.create_token(user, name="tests")
    response = client.post("/v1/images/generations", data=json.dumps({"prompt": "x", "size": "1024x1024"}),
                           content_type="application/json", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "price_unknown" and "unknown" in error["message"]
    assert "Retry-After" not in response and response["x-should-retry"] == "false"
    response = client.post("/api/images/generate", data=json.dumps({"prompt": "x", **SIZE}),
                           content_type="application/json", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "price_unknown" and "Retry-After" not in response
    assert registry["byq"].requests == [] and not ImageOutput.objects.exists()


# -- concurrent requests on PostgreSQL --------------------------------------------------------------


def _race(ask, count: int) -> list[str]:
    start = threading.Barrier(count)
    outcomes: list[str] = []

    def run(index):
        try:
            start.wait()
            ask(index)
            outcomes.append("made")
        except PriceUnknown:
            outcomes.append("unpriced")
        except BudgetExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_concurrent_priced_and_unpriced_requests_cannot_overspend(settings):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent transactions need DATABASE_URL=postgres://...")
    providers(settings)
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.16"}  # room for two hd images
    user = UserFactory()

    def ask(index):
        quality = {"quality": "hd"} if index % 2 else {}
        generation.generate(prompt="x", provider="byq", overrides={**SIZE, **quality}, user=user)

    assert _race(ask, 8) == ["made"] * 2 + ["refused"] * 2 + ["unpriced"] * 4
    assert budgets.spent(user=user, period="daily") == Decimal("0.16")
    assert ImageOutput.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_endpoint_variations_cannot_overspend(settings):
    """On the old code the variation was reserved as a request without the default quality:
    no price, nothing reserved, and all eight were made."""
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent transactions need DATABASE_URL=postgres://...")
    providers(settings, byq_var={"defaults": {"quality": "hd"}})
    [original] = generation.generate(prompt="x", provider="byq_var", overrides=SIZE)
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.24"}  # $0.08 a variation: room for 3 of 8
    user = make_user()
    assert _race(lambda _i: derive.variations(original, 1, user=user), 8) == ["made"] * 3 + ["refused"] * 5
    assert budgets.spent(user=user, period="daily") == Decimal("0.24")
    assert ImageOutput.objects.filter(derivation="variation", status=OutputStatus.SUCCEEDED).count() == 3
