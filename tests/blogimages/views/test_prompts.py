"""The prompt library: list, search, filters, create, edit, duplicate, delete, import from a post field."""

import pytest
from django.urls import reverse

from blogimages.models import ImagePromptExample
from tests.factories import ImagePromptExampleFactory, ImageSettingFactory

from .helpers import HX, hx

pytestmark = pytest.mark.django_db

LIST = reverse("blogimages:prompt_list")


@pytest.fixture
def library():
    cards = ImageSettingFactory(name="Cards wide", provider="cards", width=640, height=360)
    test = ImageSettingFactory(name="Recorder", provider="test")
    return {
        "cover": ImagePromptExampleFactory(name="Section cover", description="{heading}", tags="cover, section",
                                           setting=cards),
        "social": ImagePromptExampleFactory(name="Social card", description="{title} by the sea", tags="social",
                                            setting=test),
        "moody": ImagePromptExampleFactory(name="Moody", description="A storm", tags="social-ish, dark"),
    }


def names(response) -> list[str]:
    return [e.name for e in response.context["examples"]]


def test_list_shows_every_example_with_tags_and_provider(editor_client, library):
    response = editor_client.get(LIST)
    assert names(response) == ["Moody", "Section cover", "Social card"]
    html = response.content.decode()
    assert 'href="?tag=cover"' in html and "Cards wide (cards)" in html
    assert response.context["tags"] == ["cover", "dark", "section", "social", "social-ish"]
    assert "cards" in response.context["providers"] and "test" in response.context["providers"]


def test_search_matches_name_and_description(editor_client, library):
    assert names(editor_client.get(LIST, {"q": "cover"})) == ["Section cover"]
    assert names(editor_client.get(LIST, {"q": "sea"})) == ["Social card"]
    assert names(editor_client.get(LIST, {"q": "nothing-like-this"})) == []


def test_tag_filter_matches_whole_tags_only(editor_client, library):
    assert names(editor_client.get(LIST, {"tag": "social"})) == ["Social card"]
    assert names(editor_client.get(LIST, {"tag": "SECTION"})) == ["Section cover"]
    assert names(editor_client.get(LIST, {"tag": "soc"})) == []
    # Regex characters in a tag are literal.
    assert names(editor_client.get(LIST, {"tag": ".*"})) == []


def test_provider_filter_uses_the_examples_setting(editor_client, library):
    assert names(editor_client.get(LIST, {"provider": "cards"})) == ["Section cover"]
    assert names(editor_client.get(LIST, {"provider": "test", "tag": "social"})) == ["Social card"]


def test_htmx_search_returns_the_results_fragment(editor_client, library):
    response = editor_client.get(LIST, {"q": "moody", "tag": ""}, **hx("example-results"))
    html = response.content.decode()
    assert "<html" not in html and "Moody" in html and "Social card" not in html
    assert "HX-Request" in response["Vary"] and response["HX-Push-Url"] == "/images/prompts/?q=moody"


def test_create_an_example(editor_client, editor):
    setting = ImageSettingFactory(name="Square", provider="cards")
    response = editor_client.post(reverse("blogimages:example_create"), {
        "name": "Harbour", "description": "A harbour at {heading}", "style": "watercolor", "format": "square",
        "negative_prompt": "text", "setting": setting.pk, "tags": "Sea, Harbour, sea", "notes": "", "rating": 4,
    })
    example = ImagePromptExample.objects.get(name="Harbour")
    assert response.status_code == 302 and response["Location"] == reverse("blogimages:example_detail",
                                                                           args=[example.pk])
    assert (example.description, example.style, example.format, example.negative_prompt) == (
        "A harbour at {heading}", "watercolor", "square", "text")
    assert example.setting == setting and example.tags == "sea, harbour" and example.author == editor


def test_create_shows_errors_inline(editor_client):
    response = editor_client.post(reverse("blogimages:example_create"), {"name": "", "description": "", "rating": 9})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() >= {"name", "description", "rating"}
    assert b'aria-invalid="true"' in response.content


def test_edit_an_example(editor_client, library):
    cover = library["cover"]
    url = reverse("blogimages:example_edit", args=[cover.pk])
    assert editor_client.get(url).context["form"].initial["name"] == "Section cover"
    response = editor_client.post(url, {"name": "Section cover", "description": "{heading} at dusk",
                                        "tags": "cover", "setting": ""})
    assert response.status_code == 302
    cover.refresh_from_db()
    assert cover.description == "{heading} at dusk" and cover.setting is None and cover.tags == "cover"


def test_duplicate_makes_a_unique_copy(editor_client, library):
    cover = library["cover"]
    url = reverse("blogimages:example_duplicate", args=[cover.pk])
    assert editor_client.get(url).status_code == 405
    first = editor_client.post(url)
    second = editor_client.post(url)
    copy1 = ImagePromptExample.objects.get(name="Section cover (copy)")
    copy2 = ImagePromptExample.objects.get(name="Section cover (copy 2)")
    assert first["Location"] == reverse("blogimages:example_edit", args=[copy1.pk])
    assert second["Location"] == reverse("blogimages:example_edit", args=[copy2.pk])
    assert (copy1.description, copy1.tags, copy1.setting) == (cover.description, cover.tags, cover.setting)
    cover.refresh_from_db()
    assert cover.name == "Section cover"


def test_duplicate_of_a_long_name_stays_within_the_field(editor_client):
    example = ImagePromptExampleFactory(name="x" * 120)
    editor_client.post(reverse("blogimages:example_duplicate", args=[example.pk]))
    assert ImagePromptExample.objects.filter(name="x" * 113 + " (copy)").exists()


def test_delete_asks_first_then_deletes(editor_client, library):
    url = reverse("blogimages:example_delete", args=[library["moody"].pk])
    response = editor_client.get(url)
    assert response.status_code == 200 and b"Delete example" in response.content
    assert ImagePromptExample.objects.filter(name="Moody").exists()
    response = editor_client.post(url)
    assert response["Location"] == LIST and not ImagePromptExample.objects.filter(name="Moody").exists()


def test_users_without_permission_cannot_change_the_library(viewer_client, viewer, library):
    assert viewer_client.get(LIST).status_code == 200
    assert b"New example" not in viewer_client.get(LIST).content
    assert viewer_client.get(reverse("blogimages:example_create")).status_code == 403
    assert viewer_client.post(reverse("blogimages:example_edit", args=[library["cover"].pk])).status_code == 403
    assert viewer_client.post(reverse("blogimages:example_duplicate", args=[library["cover"].pk])).status_code == 403
    assert viewer_client.post(reverse("blogimages:example_delete", args=[library["cover"].pk])).status_code == 403
    # ... except deleting their own.
    own = ImagePromptExampleFactory(name="Mine", author=viewer)
    assert viewer_client.post(reverse("blogimages:example_delete", args=[own.pk])).status_code == 302


def test_post_fields_fragment_lists_the_adapters_text_fields(editor_client, post):
    response = editor_client.get(reverse("blogimages:post_fields"), {"import_post": post.pk}, **HX)
    html = response.content.decode()
    assert html.strip().startswith('<select name="import_field" id="import-field"')
    for value in ("title", "summary", "body", "tags", "section:intro:heading", "section:pools:body"):
        assert f'value="{value}"' in html
    assert "Section intro: heading" in html
    assert "choose a post first" in editor_client.get(reverse("blogimages:post_fields")).content.decode()


def test_import_from_a_post_field_with_htmx_fills_the_description(editor_client, post):
    response = editor_client.post(reverse("blogimages:import_field"),
                                  {"import_post": post.pk, "import_field": "summary"}, **HX)
    html = response.content.decode()
    assert html.startswith("<textarea") and 'id="id_description"' in html and "A weekend by the sea" in html


def test_import_without_a_field_says_so(editor_client, post):
    response = editor_client.post(reverse("blogimages:import_field"), {"import_post": post.pk, "import_field": "x"},
                                  **HX)
    assert response["HX-Retarget"] == "#import-status" and b"Choose one of the post" in response.content
    response = editor_client.post(reverse("blogimages:import_field"), {}, **HX)
    assert b"Choose a post" in response.content


def test_import_without_javascript_refills_the_form_without_saving(editor_client, post, library):
    url = reverse("blogimages:example_edit", args=[library["cover"].pk])
    response = editor_client.post(url, {"_import": "1", "import_post": post.pk, "import_field": "section:pools:body",
                                        "name": "Section cover", "description": "old", "style": "noir"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["description"] == "Starfish and crabs." and form.initial["style"] == "noir"
    assert not form.is_bound
    library["cover"].refresh_from_db()
    assert library["cover"].description == "{heading}"
    # The chosen post's fields are listed for the next step.
    assert 'value="section:pools:body" selected' in response.content.decode()


def test_example_page_has_a_tester_prefilled_from_the_example(editor_client, library):
    response = editor_client.get(reverse("blogimages:example_detail", args=[library["cover"].pk]))
    html = response.content.decode()
    assert 'id="tester-form"' in html and 'hx-post="/images/test/"' in html
    assert response.context["form"].initial["description"] == "{heading}"
    assert response.context["form"].initial["setting"] == library["cover"].setting_id
    assert 'id="tester-indicator"' in html and 'hx-disabled-elt="find button[type=submit]"' in html
