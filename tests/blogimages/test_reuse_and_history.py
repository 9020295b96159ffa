"""Identical requests cost nothing twice (BLOGIMAGES_REUSE_IDENTICAL), and the prompt history:
every run with its results, searchable, and "Use again" / "Use prompt only" in the tester."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from PIL import Image, ImageChops

from blogimages import generation, tokens
from blogimages.exceptions import ProviderError
from blogimages.models import ImageOutput, PromptRun
from blogimages.selectors import RunFilters, run_list, search_prompts
from tests.blogimages.views.helpers import make_editor

pytestmark = pytest.mark.django_db


@pytest.fixture
def det(settings):
    """A recording provider that declares itself deterministic for a seed, beside cards."""
    settings.BLOGIMAGES_PROVIDERS = {
        "det": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {"deterministic": True}},
        "rec": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"
    from blogimages.providers import providers

    return providers["det"]


@pytest.fixture
def editor():
    return make_editor()


def make(provider="det", seed=7, prompt="A lighthouse", **overrides):
    return generation.generate(prompt=prompt, provider=provider,
                               overrides={"seed": seed, "width": 64, "height": 48, **overrides})


def pixels(output):
    with output.file.storage.open(output.file.name) as handle:
        return Image.open(handle).convert("RGB").copy()


def test_an_identical_request_is_answered_from_storage_with_no_provider_call(det):
    [first] = make()
    assert len(det.requests) == 1 and first.request_key
    [second] = make()
    assert len(det.requests) == 1, "no second provider call"
    assert second.status == "succeeded" and second.reused_from_id == first.pk
    assert second.provider_metadata["reused_from"] == first.pk and second.cost == 0
    assert second.sha256 == first.sha256 and second.file.name != first.file.name, "its own copy of the bytes"
    assert second.phash == first.phash and second.sidecar.name


def test_anything_different_is_a_new_call(det):
    make()
    make(seed=8)
    make(prompt="A lighthouse at night")
    make(width=80)
    make(steps=20)
    assert len(det.requests) == 5
    [random_seed] = generation.generate(prompt="A lighthouse", provider="det", overrides={"width": 64, "height": 48})
    assert random_seed.reused_from_id is None and len(det.requests) == 6


def _reuse_lookups(work) -> int:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        work()
    return sum(q["sql"].startswith("SELECT") and '"request_key" =' in q["sql"] for q in captured.captured_queries)


def test_a_drawn_seed_looks_up_nothing_but_its_image_answers_that_seed_later(det):
    drawn = []
    # No seed asked for: the one drawn for this request can name no stored image yet.
    assert _reuse_lookups(lambda: drawn.extend(generation.generate(
        prompt="A lighthouse", provider="det", overrides={"width": 64, "height": 48}))) == 0
    [first] = drawn
    assert first.request_key and first.seed is not None and len(det.requests) == 1
    # Asked for by its seed ("make this one again"), it is found and reused.
    again = []
    assert _reuse_lookups(lambda: again.extend(make(seed=first.seed))) == 1
    assert again[0].reused_from_id == first.pk and len(det.requests) == 1


def test_a_new_renderer_version_is_a_new_call(det, monkeypatch):
    # A renderer whose pixels changed (a layout fix) must not answer with its older images.
    make()
    monkeypatch.setattr(type(det), "render_version", 2, raising=False)
    [again] = make()
    assert len(det.requests) == 2 and again.reused_from_id is None


def test_only_deterministic_providers_reuse_and_the_setting_turns_it_off(det, settings):
    from blogimages.providers import providers

    recorder = providers["rec"]
    make("rec")
    [again] = make("rec")
    assert len(recorder.requests) == 2 and again.reused_from_id is None and again.request_key == ""
    settings.BLOGIMAGES_REUSE_IDENTICAL = False
    make()
    make()
    assert len(det.requests) == 2


def test_a_failed_earlier_request_is_never_reused(det):
    det.script(ProviderError("refused", provider="det"))
    [failed] = make()
    assert failed.status == "failed"
    [second] = make()
    assert second.status == "succeeded" and second.reused_from_id is None and len(det.requests) == 2


def test_a_stored_file_that_no_longer_matches_its_sha256_is_not_reused(det):
    [first] = make()
    with first.file.storage.open(first.file.name, "wb") as handle:
        handle.write(b"tampered")
    [second] = make()
    assert second.reused_from_id is None and len(det.requests) == 2 and second.status == "succeeded"


def test_v1_answers_an_identical_request_from_storage(det, editor):
    client, raw = Client(), tokens.create_token(editor)[1]
    body = {"model": "det", "prompt": "A harbour", "size": "64x48", "seed": 3, "response_format": "b64_json"}
    first = client.post("/v1/images/generations", body, content_type="application/json",
                        headers={"Authorization": f"Bearer {raw}"})
    if first.status_code != 200:
        pytest.skip(f"/v1 does not take this request here: {first.content[:200]!r}")
    second = client.post("/v1/images/generations", body, content_type="application/json",
                         headers={"Authorization": f"Bearer {raw}"})
    assert second.status_code == 200 and len(det.requests) == 1
    assert ImageOutput.objects.filter(reused_from__isnull=False).count() == 1
    assert PromptRun.objects.filter(source="v1", user=editor).count() == 2


def test_every_run_is_in_the_history_with_its_source_and_results(det, editor, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(editor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/images/test/", {"description": "A red kite over dunes", "provider": "det", "n": 2,
                                                 "width": 64, "height": 48, "seed": 40})
    assert response.status_code == 200
    run = PromptRun.objects.get()
    assert (run.user, run.source, run.provider, run.seed, run.n, run.width) == (editor, "tester", "det", 40, 2, 64)
    assert run.outputs.count() == 2
    html = client.get("/images/history/").content.decode()
    assert "A red kite over dunes" in html and "2 of 2 made" in html and "Prompt tester" in html
    assert f"/images/test/?recall={run.pk}" in html
    other = Client()
    other.force_login(make_editor("other"))
    assert "A red kite" not in other.get("/images/history/").content.decode(), "your own history only"


@pytest.mark.clock
def test_history_filters_by_text_provider_size_seed_date_and_outcome(det, editor, clock):
    kite = generation.generate(prompt="A red kite over dunes", provider="det", user=editor,
                               overrides={"seed": 1, "width": 64, "height": 48})
    generation.generate(prompt="Harbour at dawn", provider="cards", user=editor,
                        overrides={"seed": 2, "width": 96, "height": 64})
    det.script(ProviderError("refused", provider="det"))
    generation.generate(prompt="A failing kite", provider="det", user=editor,
                        overrides={"seed": 3, "width": 64, "height": 48})

    def texts(**params):
        return [r.prompt_text for r in run_list(editor, RunFilters.from_params({k: str(v) for k, v in params.items()}))]

    assert texts(q="kite") == ["A failing kite", "A red kite over dunes"]
    assert texts(q="dunes kite") == ["A red kite over dunes"]
    assert texts(provider="cards") == ["Harbour at dawn"]
    assert texts(size="96x64") == ["Harbour at dawn"]
    assert texts(seed=1) == ["A red kite over dunes"]
    assert texts(outcome="failed") == ["A failing kite"]
    assert texts(outcome="succeeded") == ["Harbour at dawn", "A red kite over dunes"]
    today = kite[0].created_at.date()
    assert len(texts(date_from=today, date_to=today)) == 3
    assert texts(date_from=today + dt.timedelta(days=1)) == []


@pytest.mark.clock
def test_done_when_use_again_on_a_week_old_run_reproduces_the_same_image(editor, settings, clock,
                                                                        django_capture_on_commit_callbacks):
    settings.BLOGIMAGES_REUSE_IDENTICAL = False  # drawn again by the provider, not copied
    client = Client()
    client.force_login(editor)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/images/test/", {"description": "Lighthouse", "style": "flat poster", "format": "wide",
                                      "provider": "cards", "n": 1, "width": 160, "height": 90})
    run = PromptRun.objects.get()
    [original] = run.outputs.all()
    assert run.seed is not None, "a seedable provider gets a fixed seed even when none was typed"
    clock.shift(dt.timedelta(days=7))
    page = client.get(f"/images/test/?recall={run.pk}").content.decode()
    assert ">\nLighthouse</textarea>" in page and f'value="{run.seed}"' in page and 'value="flat poster"' in page
    assert f'name="recall" value="{run.pk}"' in page
    form = {"description": "Lighthouse", "style": "flat poster", "format": "wide", "provider": "cards", "n": 1,
            "width": 160, "height": 90, "seed": run.seed, "recall": run.pk}
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/images/test/", form)
    again = PromptRun.objects.exclude(pk=run.pk).get()
    [copy] = again.outputs.all()
    assert copy.reused_from_id is None and copy.seed == original.seed
    assert copy.setting_snapshot["prompt"] == original.setting_snapshot["prompt"]
    assert ImageChops.difference(pixels(copy), pixels(original)).getbbox() is None, "the same picture"
    only = client.get(f"/images/test/?recall={run.pk}&prompt_only=1").content.decode()
    assert ">\nLighthouse</textarea>" in only and f'value="{run.seed}"' not in only and 'name="recall" value' not in only


def test_use_again_never_recalls_someone_elses_run(editor, det):
    generation.generate(prompt="Secret prompt", provider="det", user=make_editor("other"),
                        overrides={"seed": 1, "width": 64, "height": 48})
    run = PromptRun.objects.get()
    client = Client()
    client.force_login(editor)
    assert "Secret prompt" not in client.get(f"/images/test/?recall={run.pk}").content.decode()


def test_postgres_searches_the_history_in_full_text_through_its_gin_index(det, editor):
    if connection.vendor != "postgresql":
        pytest.skip("full-text search and its index are PostgreSQL's; SQLite uses contains (tested above)")
    generation.generate(prompt="Kites flying over the dunes", provider="det", user=editor,
                        overrides={"seed": 1, "width": 64, "height": 48})
    generation.generate(prompt="A harbour at dawn", provider="det", user=editor,
                        overrides={"seed": 2, "width": 64, "height": 48})
    # Stemmed: "kite" finds "Kites", "fly" finds "flying" — a contains search would not.
    assert [r.prompt_text for r in run_list(editor, RunFilters(q="kite fly"))] == ["Kites flying over the dunes"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'promptrun_search_idx'")
        assert "gin" in cursor.fetchone()[0].lower()
        query, params = search_prompts(PromptRun.objects.all(), "kite").query.sql_with_params()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + query, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "promptrun_search_idx" in plan, plan
