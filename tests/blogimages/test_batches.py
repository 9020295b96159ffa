"""Batch planning and bookkeeping, with tasks inline (the embedded default)."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from blogimages import batches
from blogimages.exceptions import ContentRefused, ProviderServerError
from blogimages.models import GenerationBatch, ImageOutput, ImagePrompt
from tests.blogimages.views.helpers import make_editor
from tests.factories import ImagePromptExampleFactory, ImageSettingFactory, PostFactory, SectionFactory, UserFactory

pytestmark = pytest.mark.django_db

SIZE = {"width": 32, "height": 32}


@pytest.fixture
def post():
    post = PostFactory(title="Coast", slug="coast", summary="A weekend by the sea", tags="travel")
    SectionFactory(post=post, key="intro", heading="Arriving", body="word " * 200)
    SectionFactory(post=post, key="pools", heading="Tide pools", body="Starfish and crabs.")
    SectionFactory(post=post, key="home", heading="Home", body="The drive back.")
    return post


def test_default_template_uses_heading_and_trimmed_section_text(recorder, post):
    plan = batches.plan_post_batch(post=post, overrides=SIZE)
    assert [s.section.key for s in plan.sections] == ["featured", "social", "intro", "pools", "home"]
    # The post's own slots are prompted from its title and summary.
    assert plan.sections[0].prompt.description == "Coast: A weekend by the sea"
    intro = plan.sections[2].prompt
    assert intro.description.startswith("Arriving: word word")
    assert intro.description.endswith("…") and len(intro.description) <= len("Arriving: ") + 300 + 1
    assert plan.sections[3].prompt.description == "Tide pools: Starfish and crabs."
    assert ImagePrompt.objects.count() == 0  # planning stores nothing


def test_example_template_fills_every_placeholder(recorder, post):
    example = ImagePromptExampleFactory(
        description="{heading} in {title}", style="{tags}", format="about {summary}", negative_prompt="no {heading}"
    )
    plan = batches.plan_post_batch(post=post, example=example, sections=["pools"], overrides=SIZE)
    prompt = plan.sections[0].prompt
    assert prompt.text() == "Tide pools in Coast. travel. about A weekend by the sea"
    assert prompt.negative_prompt == "no Tide pools" and prompt.example == example


def test_the_authors_prompt_wins_and_import_from_post_field(recorder, post):
    batches.save_section_prompt(post, "pools", description="Hand-written prompt", style="noir")
    assert batches.plan_post_batch(post=post, sections=["pools"], overrides=SIZE).sections[0].prompt.text() == (
        "Hand-written prompt. noir"
    )
    prompt = batches.import_post_field(post, "pools", "summary")
    assert (prompt.description, prompt.style, prompt.source, prompt.source_field) == (
        "A weekend by the sea", "noir", "post_field", "summary"
    )
    assert ImagePrompt.objects.filter(post=post, section_key="pools").count() == 1
    with pytest.raises(ValueError, match="no importable field 'password'"):
        batches.import_post_field(post, "pools", "password")
    with pytest.raises(ValueError, match="no image slot 'nope'"):
        batches.save_section_prompt(post, "nope", description="x")


def test_cost_estimate_before_commitment(recorder, post):
    setting = ImageSettingFactory(quality="hd")
    plan = batches.plan_post_batch(post=post, setting=setting, n_per_section=2)
    assert plan.image_count == 10 and plan.cost_estimate == Decimal("0.80")
    assert GenerationBatch.objects.count() == 0 and recorder.requests == []


def test_unknown_sections_and_bad_n_are_refused(recorder, post):
    with pytest.raises(ValueError, match="Unknown slot\\(s\\): nope; the post has: featured, social, intro, pools, home"):
        batches.plan_post_batch(post=post, sections=["nope"])
    with pytest.raises(ValueError, match="between 1 and 10"):
        batches.plan_post_batch(post=post, n_per_section=0)


@pytest.mark.django_db(transaction=True)
def test_inline_batch_generates_into_the_post_folder(recorder, post):
    started = batches.start_post_batch(post=post, overrides=SIZE, n_per_section=2)
    batch = started.batch
    batch.refresh_from_db()
    assert started.created and batch.status == "succeeded"
    assert (batch.total, batch.succeeded_count, batch.failed_count) == (10, 10, 0)
    assert batch.cost_estimate == Decimal("0.40")
    for output in batch.outputs.all():
        assert output.file.name.startswith(f"blogimages/posts/coast/{output.section_key}-")
    assert len(recorder.requests) == 10 and {r.n for r in recorder.requests} == {1}
    # Slot prompts were saved so the author can edit them.
    assert ImagePrompt.objects.filter(post=post).count() == 5


@pytest.mark.django_db(transaction=True)
def test_partial_failure_and_retry_failed(recorder, post):
    recorder.script(None, ContentRefused("refused by the safety system", status_code=400), None)
    batch = batches.start_post_batch(post=post, overrides=SIZE).batch
    batch.refresh_from_db()
    assert (batch.status, batch.succeeded_count, batch.failed_count) == ("partially_failed", 4, 1)
    failed = batch.outputs.get(status="failed")
    assert "safety system" in failed.error

    assert batches.retry_failed(batch) == 1
    batch.refresh_from_db()
    assert (batch.status, batch.succeeded_count, batch.failed_count) == ("succeeded", 5, 0)
    failed.refresh_from_db()
    assert failed.status == "succeeded" and failed.attempts == 2
    assert recorder.requests[-1].seed == recorder.requests[1].seed  # the same image asked again


@pytest.mark.django_db(transaction=True)
def test_all_failed_batch(recorder, post):
    recorder.script(*[ProviderServerError("down", status_code=503)] * 5)
    batch = batches.start_post_batch(post=post, overrides=SIZE).batch
    batch.refresh_from_db()
    assert batch.status == "failed" and batch.failed_count == 5


def test_sections_in_progress_are_not_started_twice(recorder, post, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = batches.start_post_batch(post=post, overrides=SIZE, sections=["intro", "pools"])
        second = batches.start_post_batch(post=post, overrides=SIZE)
    assert second.created and second.skipped == ["intro", "pools"]
    assert sorted(second.batch.outputs.values_list("section_key", flat=True)) == ["featured", "home", "social"]
    with django_capture_on_commit_callbacks(execute=False):
        third = batches.start_post_batch(post=post, overrides=SIZE, sections=["intro"])
    assert not third.created and third.batch == first.batch
    assert ImageOutput.objects.count() == 5


def test_tasks_are_queued_only_after_commit(recorder, post, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch = batches.start_post_batch(post=post, overrides=SIZE).batch
    assert len(callbacks) == 1 and recorder.requests == []
    assert set(batch.outputs.values_list("status", flat=True)) == {"queued"}


def test_automation_on_publish_only_for_sections_without_approved_image(recorder, post, settings,
                                                                          django_capture_on_commit_callbacks):
    settings.BLOGIMAGES_AUTO_GENERATE = True
    settings.BLOGIMAGES_AUTO_GENERATE_SETTING = ImageSettingFactory(name="auto").name
    ImageOutput.objects.create(post=post, section_key="intro", prompt_text="x", provider="test",
                               status="succeeded", file="x.png", review_status="approved")
    with django_capture_on_commit_callbacks(execute=True):
        post.save()  # still a draft: nothing happens
    assert GenerationBatch.objects.count() == 0

    post.status = "published"
    with django_capture_on_commit_callbacks(execute=True):
        post.save()
    batch = GenerationBatch.objects.get()
    assert sorted(batch.outputs.values_list("section_key", flat=True)) == ["featured", "home", "pools", "social"]

    # Saving again changes nothing: the pending images of the same prompts are still there.
    with django_capture_on_commit_callbacks(execute=True):
        post.save()
    assert GenerationBatch.objects.count() == 1

    # A section whose text changed gets a new image: its template prompt follows the text.
    section = post.sections.get(key="pools")
    section.heading = "Rock pools"
    with django_capture_on_commit_callbacks(execute=True):
        section.save()
    newest = GenerationBatch.objects.order_by("-pk").first()
    assert GenerationBatch.objects.count() == 2
    assert list(newest.outputs.values_list("section_key", "prompt_text")) == [
        ("pools", "Rock pools: Starfish and crabs")
    ]
    # A prompt the author wrote is kept as written, whatever the section says.
    batches.save_section_prompt(post, "home", description="My own words")
    section = post.sections.get(key="home")
    section.heading = "Homeward"
    with django_capture_on_commit_callbacks(execute=True):
        section.save()
    assert GenerationBatch.objects.order_by("-pk").first().outputs.get().prompt_text == "My own words"


def test_automation_is_off_by_default(recorder, post, django_capture_on_commit_callbacks):
    post.status = "published"
    with django_capture_on_commit_callbacks(execute=True):
        post.save()
    assert GenerationBatch.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_cli_waits_with_a_progress_bar_and_summarizes(recorder, post, capsys):
    call_command("generate_post_images", "coast", "--wait", "--sections", "intro,pools")
    out = capsys.readouterr().out
    assert "2 image(s) for 2 slot(s) with test, estimated $0.08." in out
    assert "[##############################] 2/2 done" in out
    assert "succeeded: 2 succeeded, 0 failed of 2." in out and "ok     intro:" in out


@pytest.mark.django_db(transaction=True)
def test_cli_reports_failures_with_reasons(recorder, post, capsys):
    recorder.script(ProviderServerError("upstream down", status_code=502))
    with pytest.raises(CommandError, match="1 image\\(s\\) failed"):
        call_command("generate_post_images", "coast", "--wait", "--sections", "intro")
    assert "FAILED intro: test: upstream down (HTTP 502)" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_cli_asks_before_an_expensive_batch(recorder, post, settings, monkeypatch):
    settings.BLOGIMAGES_CONFIRM_COST_ABOVE = "0.05"
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(CommandError, match="estimated at \\$0.20 \\(over \\$0.05\\); add --yes"):
        call_command("generate_post_images", "coast")
    assert GenerationBatch.objects.count() == 0
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(CommandError, match="Cancelled"):
        call_command("generate_post_images", "coast")
    assert GenerationBatch.objects.count() == 0
    call_command("generate_post_images", "coast", "--yes")
    assert GenerationBatch.objects.count() == 1


def test_cli_user_starts_the_batch_as_that_user_with_their_rights_and_budget(recorder, post, settings):
    editor = make_editor()
    UserFactory(username="viewer")  # no permission to review images
    call_command("generate_post_images", "coast", "--slots", "intro", "--user", "editor")
    batch = GenerationBatch.objects.get()
    assert batch.created_by == editor and ImageOutput.objects.get().created_by == editor
    with pytest.raises(CommandError, match="--user: no user 'nobody'"):
        call_command("generate_post_images", "coast", "--user", "nobody")
    with pytest.raises(CommandError, match="--user viewer: .*permission to review images"):
        call_command("generate_post_images", "coast", "--slots", "pools", "--user", "viewer")
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.05"}  # $0.04 of it is the first batch's
    with pytest.raises(CommandError, match="--user editor: .*over your daily budget"):
        call_command("generate_post_images", "coast", "--slots", "pools", "--user", "editor")
    assert GenerationBatch.objects.count() == 1 and ImageOutput.objects.count() == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "No post with slug 'nope'"),
        (["coast", "--setting", "missing"], "No image setting named 'missing'"),
        (["coast", "--sections", "x,y"], "Unknown slot\\(s\\): x, y"),
    ],
)
def test_cli_bad_input(recorder, post, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_post_images", *args)


@pytest.mark.django_db(transaction=True)
def test_cli_slots_and_the_older_sections_flag(recorder, post, capsys):
    call_command("generate_post_images", "coast", "--slots", "featured,social", "--wait")
    out = capsys.readouterr().out
    assert "2 image(s) for 2 slot(s)" in out and "ok     featured:" in out and "ok     social:" in out
    sizes = dict((o.section_key, (o.width, o.height)) for o in ImageOutput.objects.all())
    assert sizes == {"featured": (1536, 864), "social": (1200, 630)}
    call_command("generate_post_images", "coast", "--sections", "pools")
    assert ImageOutput.objects.filter(section_key="pools").count() == 1
    # --only-missing: every slot except those with an approved chosen image.
    call_command("generate_post_images", "coast", "--only-missing")
    assert ImageOutput.objects.count() == 3 + 5
