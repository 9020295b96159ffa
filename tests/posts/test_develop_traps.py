"""The develop screen's traps from issue 12, each shown gone (every test fails on the code before it)."""

import re

import pytest
from django.urls import reverse

from blogimages import review
from blogimages.exceptions import ProviderServerError
from blogimages.models import GenerationBatch, ImageOutput, ImagePrompt, OutputStatus
from posts.models import Post
from tests.blogimages.views.helpers import HX
from tests.factories import ImageOutputFactory, ImageSettingFactory

SIZE_SETTING = {"name": "Tiny", "provider": "test", "width": 32, "height": 32}


def url(name: str, post, *args) -> str:
    return reverse(f"posts:{name}", args=[post.slug, *args])


def succeeded(post, key: str, **fields) -> ImageOutput:
    return ImageOutputFactory(post=post, section_key=key, status="succeeded", file=f"blogimages/posts/x/{key}.png",
                              thumbnail=f"blogimages/posts/x/{key}.thumb.webp", width=64, height=48, **fields)


@pytest.mark.django_db(transaction=True)
def test_regenerate_uses_the_text_in_the_prompt_box(editor_client, post, recorder):
    html = editor_client.post(url("section_regenerate", post, "pools"),
                              {"description": "Crabs under a rock", "style": "watercolour", "format": "",
                               "negative_prompt": ""}, **HX).content.decode()
    new = ImageOutput.objects.get(section_key="pools")
    assert new.prompt_text == "Crabs under a rock. watercolour" and recorder.requests[-1].prompt == new.prompt_text
    saved = ImagePrompt.objects.get(post=post, section_key="pools")
    assert saved.description == "Crabs under a rock" and saved.source == "manual"
    assert "Prompt saved; new image requested." in html
    # The page can tell an edited box from the saved prompt.
    page = editor_client.get(url("develop", post)).content.decode()
    assert 'data-saved="Crabs under a rock"' in page and "data-dirty-hint" in page


@pytest.mark.django_db(transaction=True)
def test_retry_repeats_the_failed_request_exactly(editor_client, post, recorder, settings):
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"  # a retry must not drift to the default provider
    setting = ImageSettingFactory(name="Tiny wide", provider="test", width=48, height=27)
    from blogimages.providers import providers

    recorder = providers["test"]  # changing settings made a new provider instance
    recorder.script(ProviderServerError("down"))
    html = editor_client.post(url("section_regenerate", post, "pools"), {"setting": setting.pk}, **HX).content.decode()
    failed = ImageOutput.objects.get(section_key="pools")
    assert failed.status == OutputStatus.FAILED, html
    first = recorder.requests[-1]
    html = editor_client.post(url("section_retry", post, "pools"), {"output": failed.pk}, **HX).content.decode()
    failed.refresh_from_db()
    again = recorder.requests[-1]
    assert failed.status == OutputStatus.SUCCEEDED and failed.provider == "test"
    assert (again.width, again.height, again.seed, again.prompt) == (first.width, first.height, first.seed, first.prompt)
    assert ImageOutput.objects.filter(section_key="pools").count() == 1  # the same request, not a new image
    assert f"Retrying image #{failed.pk} exactly as before: test · Tiny wide, 48×27, seed {failed.seed}." in html


@pytest.mark.django_db(transaction=True)
def test_retry_n_failed_stays_until_none_are_left(editor_client, post, recorder):
    setting = ImageSettingFactory(**SIZE_SETTING)
    recorder.script(ProviderServerError("boom", status_code=503))
    editor_client.post(url("generate_all", post), {"setting": setting.pk}, **HX)
    # Regenerating another slot makes a newer batch; the failed one must still be offered.
    ok_key = ImageOutput.objects.filter(status="succeeded").first().section_key
    editor_client.post(url("section_regenerate", post, ok_key), {"setting": setting.pk}, **HX)
    page = editor_client.get(url("develop", post)).content.decode()
    assert "Retry 1 failed" in page
    batch = GenerationBatch.objects.order_by("-pk").first()
    html = editor_client.post(url("batch_retry", post, batch.pk), **HX).content.decode()
    assert "Retry 1 failed" not in html and not ImageOutput.objects.filter(status="failed").exists()


@pytest.mark.django_db(transaction=True)
def test_slots_get_their_own_size_and_format_words_pick_the_shape(editor_client, post, recorder):
    post.sections.filter(key="pools").update(body="Starfish.")
    editor_client.post(url("section_prompt", post, "pools"), {"description": "Starfish", "format": "square"}, **HX)
    page = editor_client.get(url("develop", post)).content.decode()
    assert re.search(r'id="size-pools"[^>]*>Next image: 1024×1024 \(“square” in Format\)', page)
    assert re.search(r'id="size-intro"[^>]*>Next image: 1536×864 \(this slot’s size\)', page)
    assert re.search(r'id="size-social"[^>]*>Next image: 1200×630', page)
    editor_client.post(url("generate_all", post), {"setting": ""}, **HX)
    sizes = {o.section_key: (o.width, o.height) for o in ImageOutput.objects.all()}
    assert sizes == {"featured": (1536, 864), "social": (1200, 630), "intro": (1536, 864), "pools": (1024, 1024)}


@pytest.mark.django_db(transaction=True)
def test_the_last_setting_used_for_a_post_is_remembered(editor_client, post, recorder):
    setting = ImageSettingFactory(**SIZE_SETTING)
    editor_client.post(url("generate_all", post), {"setting": setting.pk}, **HX)
    page = editor_client.get(url("develop", post)).content.decode()
    assert f'<option value="{setting.pk}" selected>' in page
    plan = editor_client.get(url("generate_all", post), **HX).content.decode()
    assert f'<option value="{setting.pk}" selected>' in plan


@pytest.mark.django_db(transaction=True)
def test_generate_all_makes_only_slots_without_an_approved_image_unless_asked(editor_client, post, recorder, editor):
    setting = ImageSettingFactory(**SIZE_SETTING)
    approved = succeeded(post, "intro")
    review.approve(approved, user=editor)
    review.assign_to_section(approved, "intro", user=editor)
    plan = editor_client.get(url("generate_all", post), {"setting": setting.pk}, **HX).content.decode()
    assert "This makes <strong>3 images</strong>" in plan and 'name="regenerate_all"' in plan
    editor_client.post(url("generate_all", post), {"setting": setting.pk}, **HX)
    assert not ImageOutput.objects.filter(section_key="intro").exclude(pk=approved.pk).exists()
    everything = editor_client.get(url("generate_all", post), {"setting": setting.pk, "regenerate_all": "on"},
                                   **HX).content.decode()
    assert "This makes <strong>4 images</strong>" in everything


@pytest.mark.django_db
def test_rejection_reason_shows_and_a_rejected_image_cannot_be_chosen(editor_client, post, editor):
    output = succeeded(post, "intro")
    review.reject(output, user=editor, reason="The boat is upside down")
    html = editor_client.get(url("section_candidates", post, "intro"), **HX).content.decode()
    assert "Rejected: The boat is upside down" in html
    assert "Un-reject: approve &amp; choose" in html and ">Choose</button>" not in html
    refused = editor_client.post(url("section_choose", post, "intro"), {"output": output.pk}, **HX).content.decode()
    assert "was rejected" in refused and post.sections.get(key="intro").chosen_image is None
    page = editor_client.get(url("develop", post)).content.decode()
    assert 'id="choose-approve-help"' in page and 'id="lightbox"' in page


@pytest.mark.django_db
def test_bad_input_offers_no_retry_but_marks_the_field(editor_client, post):
    ImageOutputFactory(post=post, section_key="intro", status="failed", error="test: invalid size (HTTP 400)",
                       provider_metadata={"error": {"type": "ProviderBadRequest", "retryable": False}})
    html = editor_client.get(url("section_candidates", post, "intro"), **HX).content.decode()
    assert "The latest image failed:</strong> test: invalid size" in html
    assert ">Retry</button>" not in html and "change the prompt or the setting" in html
    failed = ImageOutput.objects.get()
    answer = editor_client.post(url("section_retry", post, "intro"), {"output": failed.pk}, **HX).content.decode()
    assert "would fail the same way" in answer
    empty = editor_client.post(url("section_regenerate", post, "intro"), {"description": " "}, **HX).content.decode()
    assert 'aria-invalid="true"' in empty and "The description is required." in empty


@pytest.mark.django_db(transaction=True)
def test_featured_and_social_are_slots_of_the_develop_screen(editor_client, post, recorder, editor):
    page = editor_client.get(url("develop", post)).content.decode()
    assert 'id="section-featured"' in page and 'id="section-social"' in page and "Social card" in page
    output = succeeded(post, "social")
    editor_client.post(url("section_approve", post, "social"), {"output": output.pk}, **HX)
    assert Post.objects.get(pk=post.pk).social_image == output


@pytest.mark.django_db
def test_approve_all_then_publish_leads_to_the_public_page(editor_client, post, editor):
    older = succeeded(post, "intro")
    newest = {key: succeeded(post, key) for key in ("featured", "social", "intro", "pools")}
    rejected = newest.pop("pools")
    review.reject(rejected, user=editor, reason="Blurry")
    response = editor_client.post(url("approve_all", post))
    assert response.status_code == 302
    fresh = Post.objects.get(pk=post.pk)
    assert fresh.featured_image == newest["featured"] and fresh.social_image == newest["social"]
    assert fresh.sections.get(key="intro").chosen_image == newest["intro"] != older
    assert fresh.sections.get(key="pools").chosen_image is None  # a rejected image is never chosen
    assert all(ImageOutput.objects.get(pk=o.pk).review_status == "approved" for o in newest.values())
    page = editor_client.get(url("develop", post)).content.decode()
    assert f'id="alt-form-{newest["intro"].pk}"' in page  # the chosen image's alt text, editable here
    published = editor_client.post(url("publish", post))
    assert published["Location"] == "/posts/coast/" and Post.objects.get(pk=post.pk).status == "published"
    assert Post.objects.get(pk=post.pk).published_at is not None


@pytest.mark.django_db
def test_a_section_cannot_take_the_posts_own_slot_keys(post):
    from django.core.exceptions import ValidationError

    from posts.models import Section

    with pytest.raises(ValidationError, match="names the post's own featured image"):
        Section(post=post, key="featured", heading="x").full_clean()
