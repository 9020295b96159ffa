"""ImageSetting presets checked against their provider before they are stored.

The model validates its own fields; whether its provider can take the preset (size, steps,
quality, model...) is a question for the generation service, asked here by the admin form
and the API that save presets — so the model never calls a service.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from . import generation
from .exceptions import BlogImagesError
from .models import ImageSetting


def validate_setting(setting: ImageSetting) -> None:
    """Raise ValidationError when a request built from the preset would be refused."""
    if not isinstance(setting.extra_settings, dict):
        return  # the model's own clean() reports it; a request cannot be built from it
    try:
        generation.build_request(prompt_text="validation", setting=setting)
    except BlogImagesError as exc:
        raise ValidationError(str(exc)) from exc
