"""ImageSetting presets checked against their provider before they are stored.

The model validates its own fields; whether its provider can take the preset (size, steps,
quality, model...) is a question for the generation service, asked here by the admin form
and the API that save presets — so the model never calls a service.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from . import generation
from .exceptions import BlogImagesError
from .models import ImagePromptExample, ImageSetting


def validate_setting(setting: ImageSetting) -> None:
    """Raise ValidationError when a request built from the preset would be refused."""
    if not isinstance(setting.extra_settings, dict):
        return  # the model's own clean() reports it; a request cannot be built from it
    try:
        generation.build_request(prompt_text="validation", setting=setting)
    except BlogImagesError as exc:
        raise ValidationError(str(exc)) from exc


# -- presets that ship with the app (avatar, icon, logo mark) ----------------------------------
# Settings for the offline `cards` provider, which makes transparency (PNG/WebP): copy one to
# another provider in the admin. The prompts name a plain background for providers that
# cannot make a transparent one, so the result is usable either way.

SHIPPED_SETTINGS = (
    {"name": "Avatar 1024 (transparent PNG)", "provider": "cards", "width": 1024, "height": 1024,
     "extra_settings": {"layout": "avatar", "background": "transparent"},
     "notes": "Square, one centred subject, transparent background."},
    {"name": "Icon 512 (transparent PNG)", "provider": "cards", "width": 512, "height": 512,
     "extra_settings": {"layout": "icon", "background": "transparent"},
     "notes": "Flat icon, transparent background."},
    {"name": "Icon 1024 (transparent PNG)", "provider": "cards", "width": 1024, "height": 1024,
     "extra_settings": {"layout": "icon", "background": "transparent"},
     "notes": "Flat icon, transparent background."},
    {"name": "Logo mark 1024 (transparent PNG)", "provider": "cards", "width": 1024, "height": 1024,
     "extra_settings": {"layout": "mark", "background": "transparent"},
     "notes": "A symbol without a wordmark, transparent background."},
)
PLAIN_BACKGROUND = "plain off-white (#f4efe6) background"
SHIPPED_EXAMPLES = (
    {"name": "Avatar", "description": "{title}", "setting": "Avatar 1024 (transparent PNG)",
     "style": f"flat illustration, one centred subject, transparent background (else a {PLAIN_BACKGROUND})",
     "format": "square avatar, head and shoulders, centred", "negative_prompt": "text, busy background, frame",
     "tags": "avatar, shipped", "notes": "Ships with blogimages: an avatar for an author or a character."},
    {"name": "Icon", "description": "{heading}", "setting": "Icon 512 (transparent PNG)",
     "style": f"flat icon, simple geometric shapes, two colours, no gradients, transparent background "
              f"(else a {PLAIN_BACKGROUND})",
     "format": "square icon, centred with padding, readable at 32 px",
     "negative_prompt": "text, photo, shadow, 3d, fine detail",
     "tags": "icon, shipped", "notes": "Ships with blogimages: 512² (or the 1024² setting), transparent PNG."},
    {"name": "Logo mark", "description": "{title}", "setting": "Logo mark 1024 (transparent PNG)",
     "style": f"minimal logo mark, flat vector shapes, one initial letter, transparent background "
              f"(else a {PLAIN_BACKGROUND})",
     "format": "square, one centred symbol, no wordmark", "negative_prompt": "photo, gradient, busy detail, slogan",
     "tags": "logo, shipped", "notes": "Ships with blogimages: a logo mark (symbol only)."},
)


def install_shipped_presets() -> tuple[int, int]:
    """Create the shipped settings and examples that are missing; (settings, examples) created.

    An existing row of the same name is left as it is: an editor may have changed it."""
    made_settings = made_examples = 0
    by_name = {}
    for data in SHIPPED_SETTINGS:
        data = dict(data)
        setting, created = ImageSetting.objects.get_or_create(name=data.pop("name"), defaults=data)
        by_name[setting.name] = setting
        made_settings += created
    for data in SHIPPED_EXAMPLES:
        data = dict(data)
        data["setting"] = by_name[data["setting"]]
        _, created = ImagePromptExample.objects.get_or_create(name=data.pop("name"), defaults=data)
        made_examples += created
    return made_settings, made_examples
