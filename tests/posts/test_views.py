"""The post list and the develop screen: sections, prompts, Generate all with progress, choose, approve, retry."""

import pytest
from django.urls import reverse

from blogimages.exceptions import ProviderServerError
from blogimages.models import (
    GenerationBatch,
    ImageOutput,
    ImagePrompt,
    OutputStatus,
    ReviewAction,
    ReviewEvent,
    ReviewStatus,
)
from posts.models import Section
from tests.blogimages.views.helpers import HX
from tests.factories import ImageOutputFactory, ImageSettingFactory

SIZE_SETTING = {"name": "Tiny", "provider": "test", "width": 32, "height": 32}


def url(name: str, post, *args) -> str:
    return reverse(f"posts:{name}", args=[post.slug, *args])


def succeeded(post, key: str, **fields) -> ImageOutput:
    return ImageOutputFactory(post=post, section_key=key, status="succeeded", file=f"blogimages/posts/x/{key}.png",
                              thumbnail=f"blogimages/posts/x/{key}.thumb.webp", width=64, height=48, **fields)


@pytest.mark.django_db
def test_post_list(editor_client, post):
    succeeded(post, "intro")
    response = editor_client.get(reverse("posts:list"))
    html = response.content.decode()
    assert f'href="{post.get_absolute_url()}"' in html and "Coast" in html
    row = response.context["posts"][0]
    assert (row.section_count, row.image_count) == (2, 1)


@pytest.mark.django_db
def test_develop_shows_sections_prompts_candidates_and_the_chosen_one(editor_client, post, recorder):
    chosen = succeeded(post, "intro")
    other = succeeded(post, "intro", review_status="approved")
    failed = ImageOutputFactory(post=post, section_key="pools", status="failed", error="content refused")
    Section.objects.filter(post=post, key="intro").update(chosen_image=chosen)
    response = editor_client.get(url("develop", post))
    html = response.content.decode()
    rows = {row.key: row for row in response.context["rows"]}
    assert [c.pk for c in rows["intro"].candidates] == [other.pk, chosen.pk]
    assert rows["intro"].chosen == chosen and rows["pools"].latest_failed == failed
    assert rows["intro"].prompt.description == "Arriving: The harbour at dusk."
    assert 'id="section-intro"' in html and 'id="candidates-pools"' in html and 'id="prompt-intro"' in html
    assert f"Chosen: <a href=\"/images/{chosen.pk}/\">image #{chosen.pk}</a>" in html
    assert "The latest image failed:</strong> content refused" in html
    assert 'value="section:pools:body"' in html  # import-from-field choices
    assert "Generate all" in html and 'hx-trigger="batch-finished from:body"' in html


@pytest.mark.django_db
def test_develop_fetches_all_candidates_in_one_query(editor_client, post, recorder, django_assert_max_num_queries):
    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert editor_client.get(url("develop", post)).status_code == 200
        return len(ctx.captured_queries)

    succeeded(post, "intro")
    few = count()
    for _ in range(20):
        succeeded(post, "intro")
        succeeded(post, "pools")
    assert count() == few


@pytest.mark.django_db
def test_generate_all_shows_the_count_and_cost_first(editor_client, post, recorder):
    setting = ImageSettingFactory(quality="hd", **SIZE_SETTING)
    response = editor_client.get(url("generate_all", post), {"setting": setting.pk}, **HX)
    html = response.content.decode()
    assert "<html" not in html and 'id="batch-plan"' in html
    assert "This makes <strong>4 images</strong> with test" in html and "$0.32" in html, html
    assert "Arriving: The harbour at dusk</span>" in html and ">Start</button>" in html
    assert GenerationBatch.objects.count() == 0
    # Without JavaScript it is the develop page with the plan open.
    page = editor_client.get(url("generate_all", post)).content.decode()
    assert "<html" in page and 'id="batch-plan"' in page and 'id="section-intro"' in page


@pytest.mark.django_db(transaction=True)
def test_generate_all_starts_a_batch_and_reports_progress(editor_client, post, recorder, editor):
    setting = ImageSettingFactory(**SIZE_SETTING)
    response = editor_client.post(url("generate_all", post), {"setting": setting.pk}, **HX)
    batch = GenerationBatch.objects.get()
    assert batch.created_by == editor and batch.setting == setting and batch.is_finished
    html = response.content.decode()
    assert 'id="batch-progress" data-status="succeeded"' in html
    assert '<progress value="4" max="4"' in html and "<strong>4 of 4</strong> done" in html
    assert 'hx-trigger="every 1s"' not in html
    assert response["HX-Trigger"] == f'{{"batch-finished": {{"batch": {batch.pk}, "target": "body"}}}}'
    assert ImageOutput.objects.filter(post=post, status=OutputStatus.SUCCEEDED).count() == 4
    # The sections' candidates then reload.
    html = editor_client.get(url("section_candidates", post, "intro"), **HX).content.decode()
    assert html.strip().startswith('<div id="candidates-intro"') and html.count('class="thumb"') == 1


@pytest.mark.django_db
def test_progress_polls_while_the_batch_runs(editor_client, post, recorder, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        html = editor_client.post(url("generate_all", post), **HX).content.decode()
    batch = GenerationBatch.objects.get()
    progress = url("batch_progress", post, batch.pk)
    assert f'hx-get="{progress}" hx-trigger="every 1s"' in html and "<strong>0 of 4</strong> done" in html
    candidates = editor_client.get(url("section_candidates", post, "intro"), **HX).content.decode()
    assert 'hx-trigger="every 1s, batch-finished from:body"' in candidates  # queued images poll too
    response = editor_client.get(progress, **HX)
    assert "HX-Trigger" not in response and b'hx-trigger="every 1s"' in response.content
    for callback in callbacks:
        callback()
    response = editor_client.get(progress, **HX)
    assert b'data-status="succeeded"' in response.content and b'hx-trigger="every 1s"' not in response.content
    assert "batch-finished" in response["HX-Trigger"]
    assert editor_client.get(progress)["Location"].endswith("/develop/#batch-panel")


@pytest.mark.django_db(transaction=True)
def test_failures_show_their_reason_and_retry(editor_client, post, recorder):
    recorder.script(ProviderServerError("boom"))
    html = editor_client.post(url("generate_all", post), **HX).content.decode()
    batch = GenerationBatch.objects.get()
    assert batch.failed_count == 1 and batch.succeeded_count == 3
    assert '<span class="badge failed">1 failed</span>' in html and "Retry 1 failed" in html
    failed = ImageOutput.objects.get(status=OutputStatus.FAILED)
    section = editor_client.get(url("section_candidates", post, failed.section_key), **HX).content.decode()
    assert "The latest image failed:</strong> test: boom" in section
    assert f'hx-post="{url("section_retry", post, failed.section_key)}"' in section

    html = editor_client.post(url("batch_retry", post, batch.pk), **HX).content.decode()
    batch.refresh_from_db()
    assert batch.failed_count == 0 and batch.succeeded_count == 4 and "<strong>4 of 4</strong> done" in html


@pytest.mark.django_db(transaction=True)
def test_regenerate_a_section(editor_client, post, recorder):
    first = succeeded(post, "pools")
    html = editor_client.post(url("section_regenerate", post, "pools"), **HX).content.decode()
    new = ImageOutput.objects.exclude(pk=first.pk).get()
    assert new.section_key == "pools" and new.status == OutputStatus.SUCCEEDED and new.batch is not None
    assert html.strip().startswith('<div id="candidates-pools"') and f'data-output="{new.pk}"' in html
    assert "New image requested." in html


@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_regenerate_errors_are_shown_in_the_section(editor_client, post, recorder, settings):
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.01"}
    html = editor_client.post(url("section_regenerate", post, "pools"), **HX).content.decode()
    assert "over your daily budget" in html and ImageOutput.objects.count() == 0


@pytest.mark.django_db
def test_choose_assigns_the_image_and_records_it(editor_client, post, editor, recorder):
    output = succeeded(post, "intro")
    html = editor_client.post(url("section_choose", post, "intro"), {"output": output.pk}, **HX).content.decode()
    assert Section.objects.get(post=post, key="intro").chosen_image == output
    event = ReviewEvent.objects.get(output=output)
    assert (event.action, event.actor, event.data["section"]) == (ReviewAction.ASSIGN, editor, "intro")
    assert 'class="thumb is-chosen"' in html and '<span class="badge chosen">Chosen</span>' in html
    # Choosing it again records nothing new.
    editor_client.post(url("section_choose", post, "intro"), {"output": output.pk}, **HX)
    assert ReviewEvent.objects.count() == 1


@pytest.mark.django_db
def test_approve_approves_and_chooses(editor_client, post, editor, recorder):
    output = succeeded(post, "pools")
    editor_client.post(url("section_approve", post, "pools"), {"output": output.pk}, **HX)
    output.refresh_from_db()
    assert output.review_status == ReviewStatus.APPROVED
    assert Section.objects.get(post=post, key="pools").chosen_image == output
    assert sorted(ReviewEvent.objects.values_list("action", flat=True)) == ["approve", "assign"]


@pytest.mark.django_db
def test_only_finished_images_of_that_section_can_be_chosen(editor_client, post, recorder):
    queued = ImageOutputFactory(post=post, section_key="intro", status="queued")
    html = editor_client.post(url("section_choose", post, "intro"), {"output": queued.pk}, **HX).content.decode()
    assert "Only a finished image can be chosen." in html
    other = succeeded(post, "pools")
    assert editor_client.post(url("section_choose", post, "intro"), {"output": other.pk}, **HX).status_code == 404
    assert editor_client.post(url("section_choose", post, "intro"), {"output": "x"}, **HX).status_code == 404
    assert editor_client.post(url("section_approve", post, "nope"), {"output": other.pk}, **HX).status_code == 404


@pytest.mark.django_db
def test_edit_a_sections_prompt(editor_client, post, editor, recorder):
    html = editor_client.post(url("section_prompt", post, "intro"), {
        "description": "A harbour at dusk", "style": "noir", "format": "wide", "negative_prompt": "text",
    }, **HX).content.decode()
    prompt = ImagePrompt.objects.get(post=post, section_key="intro")
    assert (prompt.description, prompt.style, prompt.format, prompt.negative_prompt, prompt.source) == (
        "A harbour at dusk", "noir", "wide", "text", "manual")
    assert prompt.author == editor
    assert html.strip().startswith('<div id="prompt-intro"') and "Prompt saved." in html and "Your own prompt." in html
    html = editor_client.post(url("section_prompt", post, "intro"), {"description": ""}, **HX).content.decode()
    assert "The description is required." in html


@pytest.mark.django_db
def test_import_a_sections_prompt_from_a_post_field(editor_client, post, recorder):
    html = editor_client.post(url("section_import", post, "pools"), {"field": "summary"}, **HX).content.decode()
    prompt = ImagePrompt.objects.get(post=post, section_key="pools")
    assert (prompt.description, prompt.source, prompt.source_field) == ("A weekend by the sea", "post_field",
                                                                        "summary")
    assert "A weekend by the sea</textarea>" in html and "Imported from the post's summary." in html
    html = editor_client.post(url("section_import", post, "pools"), {"field": "password"}, **HX).content.decode()
    assert "no importable field" in html


@pytest.mark.django_db(transaction=True)
def test_without_javascript_actions_redirect_back_with_a_message(editor_client, post, recorder):
    output = succeeded(post, "intro")
    response = editor_client.post(url("section_choose", post, "intro"), {"output": output.pk}, follow=True)
    assert response.redirect_chain[-1][0] == url("develop", post) + "#section-intro"
    assert f"Image #{output.pk} chosen.".encode() in response.content
    response = editor_client.post(url("generate_all", post), follow=True)
    assert b"Batch #" in response.content and b"started" in response.content


@pytest.mark.django_db
def test_viewers_see_the_screen_but_cannot_act(viewer_client, post, recorder):
    output = succeeded(post, "intro")
    html = viewer_client.get(url("develop", post)).content.decode()
    assert "Generate all" not in html and ">Choose</button>" not in html and "Save prompt" not in html
    assert '<p class="prompt-text">Arriving: The harbour at dusk</p>' in html
    for name, data in [("section_choose", {"output": output.pk}), ("section_approve", {"output": output.pk}),
                       ("section_regenerate", {}), ("section_prompt", {"description": "x"}),
                       ("section_import", {"field": "title"})]:
        assert viewer_client.post(url(name, post, "intro"), data, **HX).status_code == 403, name
    assert viewer_client.post(url("generate_all", post), **HX).status_code == 403
    assert viewer_client.get(url("generate_all", post), **HX).status_code == 403
    assert Section.objects.get(post=post, key="intro").chosen_image is None


@pytest.mark.django_db
def test_unknown_post_or_section_is_404(editor_client, post):
    assert editor_client.get(reverse("posts:develop", args=["nope"])).status_code == 404
    assert editor_client.get(url("section_candidates", post, "nope"), **HX).status_code == 404
