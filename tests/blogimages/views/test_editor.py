"""The editor page without a browser: the form, the painted mask as a data URL, refusals."""

import base64
import io

import pytest
from PIL import Image

from blogimages import generation
from blogimages.models import ImageOutput

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(settings, editor):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"
    [output] = generation.generate(prompt="Harbour", overrides={"width": 128, "height": 96}, user=editor)
    return output


def data_url(size, box=None) -> str:
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    if box:
        image.paste((0, 0, 0, 0), box)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_the_page_offers_only_providers_that_edit(editor_client, card):
    response = editor_client.get(f"/images/{card.pk}/edit/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'value="cards"' in body and 'value="test"' not in body
    assert "data-mask-canvas" in body and "editor.js" in body and "<script>" not in body


def test_a_painted_mask_makes_a_derived_image_and_a_result_card(editor_client, card, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(f"/images/{card.pk}/edit/", {
            "prompt": "Harbour at night", "strength": "1", "provider": "cards", "n": "1",
            "mask_data": data_url((128, 96), (0, 0, 64, 96))})
    assert response.status_code == 200, response.content
    edited = ImageOutput.objects.get(derived_from=card)
    assert edited.derivation == "edit" and edited.setting_snapshot["edit"]["mask"]
    assert f'id="edit-result-{edited.pk}"' in response.content.decode()
    fragment = editor_client.get(f"/images/{card.pk}/edit/?result={edited.pk}", headers={"HX-Request": "true"})
    assert b"data-before-after" in fragment.content


@pytest.mark.parametrize("data, words", [
    ({"mask_data": data_url((64, 64), (0, 0, 8, 8))}, "must match"),
    ({"mask_data": "data:image/png;base64,%%%"}, "could not be read"),
    ({"provider": "test"}, "Choose a provider that can edit"),
    ({"strength": "7"}, "between 0 and 1"),
])
def test_refusals_show_the_reason_and_store_nothing(editor_client, card, data, words):
    before = ImageOutput.objects.count()
    response = editor_client.post(f"/images/{card.pk}/edit/", {"prompt": "x", "provider": "cards", **data})
    assert response.status_code == 400
    assert words in response.content.decode()
    assert ImageOutput.objects.count() == before


def test_someone_who_may_not_derive_gets_403(viewer_client, card):
    assert viewer_client.get(f"/images/{card.pk}/edit/").status_code == 403
