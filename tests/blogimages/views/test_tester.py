"""The prompt tester and compare: submit, show the image or the reason, poll queued images, retry."""

import pytest
from django.urls import reverse

from blogimages.exceptions import ProviderServerError
from blogimages.models import ImageOutput, ImagePrompt, OutputStatus
from tests.factories import ImageOutputFactory, ImagePromptExampleFactory, ImageSettingFactory

from .helpers import HX

TESTER = reverse("blogimages:tester")
COMPARE = reverse("blogimages:compare")


def form(**overrides) -> dict:
    data = {"description": "A lighthouse at dusk", "style": "warm", "format": "", "negative_prompt": "", "n": 1,
            "width": 64, "height": 48}
    data.update(overrides)
    return data


# A file's URL is a signed link whose token holds its expiry: the page and the assertion share one frozen instant.
@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_test_shows_the_image_and_its_metadata(recorder, editor_client, editor):
    response = editor_client.post(TESTER, form(n=2), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    outputs = list(ImageOutput.objects.order_by("pk"))
    assert len(outputs) == 2 and all(o.status == OutputStatus.SUCCEEDED for o in outputs)
    assert "<html" not in html
    for output in outputs:
        assert f'id="output-{output.pk}"' in html and output.file.url in html
        assert f"<dd>{output.seed}</dd>" in html
    assert "<dd>test</dd>" in html and "<dd>recorder</dd>" in html and "<dd>64×48</dd>" in html
    assert "$0.040" in html and " ms" in html
    assert 'hx-trigger="every 1s"' not in html  # finished: nothing to poll
    assert outputs[0].created_by == editor and outputs[0].post is None
    assert recorder.requests[0].prompt == "A lighthouse at dusk. warm"


@pytest.mark.django_db(transaction=True)
def test_revised_prompt_is_shown(recorder, editor_client):
    editor_client.post(TESTER, form(), **HX)
    output = ImageOutput.objects.get()
    output.revised_prompt = "A tall lighthouse at dusk, revised"
    output.save()
    html = editor_client.get(reverse("blogimages:output_status", args=[output.pk]), **HX).content.decode()
    assert "Revised prompt" in html and "A tall lighthouse at dusk, revised" in html


@pytest.mark.django_db
def test_with_a_worker_the_page_polls_until_the_image_is_finished(recorder, editor_client,
                                                                  django_capture_on_commit_callbacks):
    # In the test transaction nothing commits: the task waits, as it would for a busy worker.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = editor_client.post(TESTER, form(), **HX)
    output = ImageOutput.objects.get()
    html = response.content.decode()
    assert output.status == OutputStatus.QUEUED
    assert f'hx-get="/images/{output.pk}/status/" hx-trigger="every 1s" hx-swap="outerHTML"' in html
    assert "Waiting for a worker" in html and "data-since=" in html
    status_url = reverse("blogimages:output_status", args=[output.pk])
    assert 'hx-trigger="every 1s"' in editor_client.get(status_url, **HX).content.decode()

    for callback in callbacks:
        callback()  # the worker runs the task
    html = editor_client.get(status_url, **HX).content.decode()
    assert 'hx-trigger="every 1s"' not in html and 'data-status="succeeded"' in html
    # Without htmx the status URL is the image's page.
    assert editor_client.get(status_url)["Location"] == reverse("blogimages:image_detail", args=[output.pk])


@pytest.mark.django_db(transaction=True)
def test_a_provider_failure_shows_the_reason_and_a_retry_button(recorder, editor_client):
    recorder.script(ProviderServerError("boom"))
    html = editor_client.post(TESTER, form(), **HX).content.decode()
    failed = ImageOutput.objects.get()
    assert failed.status == OutputStatus.FAILED
    assert "boom" in html and 'role="alert"' in html
    retry_url = reverse("blogimages:output_retry", args=[failed.pk])
    assert f'hx-post="{retry_url}"' in html and ">Retry</button>" in html

    response = editor_client.post(retry_url, **HX)
    new = ImageOutput.objects.exclude(pk=failed.pk).get()
    assert new.status == OutputStatus.SUCCEEDED and new.prompt_id == failed.prompt_id
    assert (new.seed, new.width, new.height) == (failed.seed, 64, 48)
    assert f'id="output-{new.pk}"' in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_invalid_size_shows_the_providers_message(recorder, editor_client):
    html = editor_client.post(TESTER, form(provider="cards", width=10, height=10), **HX).content.decode()
    assert "size 10x10 is not allowed; allowed: 64 to 2048 px a side" in html
    # Bad input: the same request would fail again, so no Retry; the size fields are named.
    assert ">Retry</button>" not in html
    assert 'data-error-field="width height"' in html
    assert ImageOutput.objects.count() == 0 and ImagePrompt.objects.count() == 0


@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_over_budget_and_unknown_providers_are_shown_inline(recorder, editor_client, settings):
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.01"}
    html = editor_client.post(TESTER, form(), **HX).content.decode()
    assert "over your daily budget" in html
    settings.BLOGIMAGES_BUDGETS = {}
    gone = ImageSettingFactory(name="Gone", provider="gone")
    html = editor_client.post(TESTER, form(setting=gone.pk), **HX).content.decode()
    assert "Provider &#x27;gone&#x27; is not configured" in html
    assert ImageOutput.objects.count() == 0


@pytest.mark.django_db
def test_an_invalid_form_is_reported_inline(recorder, editor_client):
    html = editor_client.post(TESTER, form(description="", n=9), **HX).content.decode()
    assert "Check the form" in html and "Description" in html and "Images" in html


@pytest.mark.django_db(transaction=True)
def test_placeholders_are_filled_from_a_post_and_section(recorder, editor_client, post):
    example = ImagePromptExampleFactory(description="{heading} in {title}", style="{tags}")
    editor_client.post(TESTER, form(description=example.description, style=example.style, example=example.pk,
                                    post=post.pk, section="pools"), **HX)
    editor_client.post(TESTER, form(description="{title}: {summary}", style="", post=post.pk), **HX)
    # No post chosen: the newest post and its first section fill them, never a literal "{heading}".
    html = editor_client.post(TESTER, form(description="{heading} is filled", style=""), **HX).content.decode()
    sent = [r.prompt for r in recorder.requests]
    assert sent == ["Tide pools in Coast. travel", "Coast: A weekend by the sea", "Arriving is filled"]
    assert "Placeholders {heading} filled from “Coast”, section “Arriving”." in html
    assert ImageOutput.objects.filter(prompt__example=example).count() == 1


@pytest.mark.django_db
def test_unknown_section_is_reported(recorder, editor_client, post):
    html = editor_client.post(TESTER, form(post=post.pk, section="nope"), **HX).content.decode()
    assert "The post has no image slot &#x27;nope&#x27;." in html


# A file's URL is a signed link whose token holds its expiry: the page and the assertion share one frozen instant.
@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_without_javascript_the_tester_renders_the_whole_page(recorder, editor_client):
    response = editor_client.post(TESTER, form())
    html = response.content.decode()
    assert "<html" in html and 'id="tester-form"' in html and ImageOutput.objects.get().file.url in html


@pytest.mark.django_db
def test_tester_page_prefills_from_an_example(editor_client, recorder):
    example = ImagePromptExampleFactory(description="A {heading}", style="noir")
    response = editor_client.get(TESTER, {"example": example.pk})
    assert response.context["form"].initial["style"] == "noir"
    assert b'name="example" value="%d"' % example.pk in response.content


@pytest.mark.django_db
def test_post_sections_fragment(editor_client, post):
    html = editor_client.get(reverse("blogimages:post_sections"), {"post": post.pk}, **HX).content.decode()
    assert html.strip().startswith('<select name="section" id="id_section">')
    assert '<option value="intro">Arriving</option>' in html and '<option value="pools">Tide pools</option>' in html


@pytest.mark.django_db
def test_only_the_creator_or_an_editor_may_retry(recorder, viewer_client, editor):
    output = ImageOutputFactory(status="failed", error="boom", created_by=editor)
    assert viewer_client.post(reverse("blogimages:output_retry", args=[output.pk]), **HX).status_code == 403
    assert viewer_client.get(reverse("blogimages:output_retry", args=[output.pk])).status_code == 405


# -- compare -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_compare_runs_one_prompt_per_choice_side_by_side(recorder, editor_client):
    setting = ImageSettingFactory(name="Recorder HD", provider="test", quality="hd", width=32, height=32)
    response = editor_client.post(COMPARE, {
        "description": "A harbour", "targets": ["provider:test", "provider:cards", f"setting:{setting.pk}"],
        "width": "", "height": "",
    }, **HX)
    html = response.content.decode()
    outputs = list(ImageOutput.objects.order_by("pk"))
    assert [o.provider for o in outputs] == ["test", "cards", "test"]
    assert all(o.status == OutputStatus.SUCCEEDED for o in outputs)
    assert outputs[2].setting == setting and (outputs[2].width, outputs[2].height) == (32, 32)
    assert html.count('class="compare-cell"') == 3 and 'class="results-grid"' in html
    assert "Provider test" in html and "Setting Recorder HD (test, 32×32)" in html
    assert len({o.prompt_id for o in outputs}) == 3


@pytest.mark.django_db(transaction=True)
def test_compare_shows_each_cells_error_beside_the_others(recorder, editor_client):
    small = ImageSettingFactory(name="Tiny cards", provider="cards", width=10, height=10)
    html = editor_client.post(COMPARE, {"description": "A harbour", "targets": ["provider:test", f"setting:{small.pk}"]},
                              **HX).content.decode()
    assert "cards: size 10x10 is not allowed" in html
    assert ImageOutput.objects.get().provider == "test"


@pytest.mark.django_db
def test_compare_needs_two_to_four_choices(recorder, editor_client):
    html = editor_client.post(COMPARE, {"description": "x", "targets": ["provider:test"]}, **HX).content.decode()
    assert "Choose between 2 and 4 providers or settings." in html
    page = editor_client.get(COMPARE).content.decode()
    assert 'value="provider:test"' in page and 'value="provider:cards"' in page
