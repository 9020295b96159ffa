"""Stored settings that name a retired OpenAI model now name its replacement.

dall-e-2/3 and the gpt-image-1 family were shut down (2026-05-12 to 2026-12-01): a setting
still naming one fails every request. Each such setting is rewritten by
`openai_models.upgrade` (model -> replacement; quality hd -> high, standard -> medium;
size -> the nearest the replacement makes, same shape; dall-e-3's style vivid/natural ->
words in the style part of the examples that use the setting; response_format and other
parameters the replacement does not take dropped). What changed is written into the
setting's and each example's notes, which the admin shows. Not reversible: the old
models no longer answer.
"""

from django.conf import settings
from django.db import migrations

OPENAI_BACKEND = "blogimages.providers.openai.OpenAIProvider"


def openai_aliases() -> list[str]:
    configured = getattr(settings, "BLOGIMAGES_PROVIDERS", {}) or {}
    aliases = {alias for alias, config in configured.items() if config.get("BACKEND") == OPENAI_BACKEND}
    # "openai" is the alias config/settings.py gives it; a setting may outlive the key.
    if "openai" not in configured:
        aliases.add("openai")
    return sorted(aliases)


def note(existing: str, line: str) -> str:
    return f"{existing.rstrip()}\n{line}".strip()


def forwards(apps, schema_editor):
    from blogimages.providers.openai_models import upgrade

    ImageSetting = apps.get_model("blogimages", "ImageSetting")
    ImagePromptExample = apps.get_model("blogimages", "ImagePromptExample")
    for setting in ImageSetting.objects.filter(provider__in=openai_aliases()).exclude(model=""):
        params = {"model": setting.model, "width": setting.width, "height": setting.height,
                  "quality": setting.quality, "style": setting.style, "extra": setting.extra_settings or {}}
        new, changes, style_words = upgrade(params)
        if not changes:
            continue
        setting.model, setting.width, setting.height = new["model"], new["width"], new["height"]
        setting.quality, setting.style, setting.extra_settings = new["quality"], new["style"], new["extra"]
        setting.notes = note(setting.notes, "Retired model upgraded automatically: " + "; ".join(changes) + ".")
        setting.save(update_fields=["model", "width", "height", "quality", "style", "extra_settings", "notes"])
        if style_words:
            for example in ImagePromptExample.objects.filter(setting=setting):
                example.style = ", ".join(part for part in (example.style.strip(), style_words) if part)
                example.notes = note(example.notes, f"Setting {setting.name!r} lost its provider style "
                                                    f"{params['style']!r} (retired with {params['model']}); "
                                                    f"added \"{style_words}\" to the style.")
                example.save(update_fields=["style", "notes"])


class Migration(migrations.Migration):
    dependencies = [("blogimages", "0004_models_cost")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
