"""presets.py: ImageSetting presets are checked against their provider where they are saved
(the admin form here; the API in tests/blogimages/api/test_json.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from blogimages.forms_admin import ImageSettingForm
from blogimages.models import ImageSetting
from blogimages.presets import validate_setting
from tests.factories import ImageSettingFactory

pytestmark = pytest.mark.django_db

FORM = {"name": "small", "provider": "test", "model": "", "width": 64, "height": 48, "quality": "", "style": "",
        "sampler": "", "extra_settings": "{}", "notes": ""}


def test_validate_setting_asks_the_provider(recorder):
    validate_setting(ImageSettingFactory.build(width=64, height=64))
    with pytest.raises(ValidationError, match="quality 'ultra' is not allowed"):
        validate_setting(ImageSettingFactory.build(quality="ultra"))
    with pytest.raises(ValidationError, match="'nowhere' is not configured"):
        validate_setting(ImageSettingFactory.build(provider="nowhere"))
    # A malformed extra is the model's to report; no request is built from it.
    validate_setting(ImageSettingFactory.build(extra_settings=["x"]))


def test_the_admin_form_refuses_what_the_provider_refuses(recorder):
    assert ImageSettingForm(data=FORM).is_valid()
    refused = ImageSettingForm(data={**FORM, "quality": "ultra"})
    assert not refused.is_valid()
    assert "quality 'ultra' is not allowed" in " ".join(refused.non_field_errors())
    # A malformed extra is reported by the model, on its field.
    malformed = ImageSettingForm(data={**FORM, "extra_settings": "[1]"})
    assert not malformed.is_valid()
    assert "Must be a JSON object." in malformed.errors["extra_settings"]


def test_the_admin_saves_only_presets_the_provider_takes(recorder, client):
    client.force_login(get_user_model().objects.create(username="root", is_staff=True, is_superuser=True))
    url = reverse("admin:blogimages_imagesetting_add")

    refused = client.post(url, {**FORM, "quality": "ultra"})
    assert refused.status_code == 200
    assert "quality &#x27;ultra&#x27; is not allowed" in refused.content.decode()
    assert not ImageSetting.objects.exists()

    saved = client.post(url, FORM)
    assert saved.status_code == 302
    assert ImageSetting.objects.get().name == "small"
