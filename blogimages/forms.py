"""Forms of the author's pages: the prompt library, the tester, compare, the gallery filters."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from .exceptions import BlogImagesError
from .integration import get_post_model
from .models import MAX_SIDE, ImagePromptExample, ImageSetting, ReviewStatus
from .providers import providers
from .providers.base import MAX_SEED_64, RANDOM_SEED, given_seed

MAX_TEST_IMAGES = 4
COMPARE_MIN, COMPARE_MAX = 2, 4


def provider_choices(blank: str | None = "Default (from the setting)") -> list[tuple[str, str]]:
    """The configured provider aliases, with their display names."""
    choices = [("", blank)] if blank is not None else []
    for alias in providers.aliases():
        try:
            name = providers[alias].display_name
        except (BlogImagesError, ImproperlyConfigured):  # reported by `manage.py check`, not here
            name = alias
        choices.append((alias, f"{alias} · {name}" if name and name != alias else alias))
    return choices


class PostChoiceField(forms.ModelChoiceField):
    """A post of the host's post model, by primary key (blogimages never imports the host)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "— no post —")
        super().__init__(queryset=get_post_model()._default_manager.all(), **kwargs)


PROMPT_WIDGETS = {
    "description": forms.Textarea(attrs={"rows": 3}),
    "negative_prompt": forms.Textarea(attrs={"rows": 2}),
}


class ImagePromptExampleForm(forms.ModelForm):
    class Meta:
        model = ImagePromptExample
        fields = ["name", "description", "style", "format", "negative_prompt", "setting", "tags", "notes", "rating"]
        widgets = {
            **PROMPT_WIDGETS,
            "notes": forms.Textarea(attrs={"rows": 2}),
            "rating": forms.NumberInput(attrs={"min": 1, "max": 5}),
        }
        help_texts = {
            "description": "What to draw. May use {title}, {summary}, {heading}, {section_text}, {tags}.",
            "style": "e.g. watercolor, noir, warm sunset gradient.",
            "format": "e.g. wide blog header, square thumbnail.",
            "tags": "Comma-separated, e.g. cover, social.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["setting"].empty_label = "— the default provider's defaults —"
        self.fields["setting"].label_from_instance = setting_label


def setting_label(setting: ImageSetting) -> str:
    label = f"{setting.name} ({setting.provider}, {setting.width}×{setting.height})"
    return f"{label} — {status}" if (status := model_status(setting.provider, setting.model)) else label


def model_status(alias: str, model: str) -> str:
    """What `manage.py check` says of a retired or soon-retired model, for the pages; "" if fine."""
    try:
        provider = providers[alias]
    except BlogImagesError:
        return ""
    lifecycle = provider.lifecycle(model or provider.default_model())
    if lifecycle is None or not (lifecycle.retired or lifecycle.soon()):
        return ""
    return lifecycle.message()


class ImportFieldForm(forms.Form):
    """Choose a post and one of its text fields (the adapter's `text_fields`)."""

    import_post = PostChoiceField(label="Post", required=True, empty_label="— choose a post —")
    import_field = forms.CharField(label="Field", max_length=200)


class PromptPartsForm(forms.Form):
    """The three prompt parts and the negative prompt (a section's prompt on the develop screen)."""

    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    style = forms.CharField(required=False, max_length=500)
    format = forms.CharField(required=False, max_length=500)
    negative_prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 1}))


class _GenerationOptionsMixin(forms.Form):
    width = forms.IntegerField(required=False, min_value=1, max_value=MAX_SIDE, help_text="Blank: from the setting.")
    height = forms.IntegerField(required=False, min_value=1, max_value=MAX_SIDE)

    def overrides(self) -> dict:
        return {k: self.cleaned_data.get(k) for k in ("width", "height") if self.cleaned_data.get(k)}


class TesterForm(PromptPartsForm, _GenerationOptionsMixin):
    """Send one prompt to one provider; placeholders filled from a post (and section) if chosen."""

    example = forms.ModelChoiceField(queryset=ImagePromptExample.objects.all(), required=False,
                                     widget=forms.HiddenInput)
    setting = forms.ModelChoiceField(queryset=ImageSetting.objects.all(), required=False,
                                     empty_label="— none —")
    provider = forms.ChoiceField(required=False)
    n = forms.IntegerField(label="Images", min_value=1, max_value=MAX_TEST_IMAGES, initial=1)
    post = PostChoiceField(label="Fill placeholders from post")
    section = forms.CharField(required=False, max_length=100, label="Section")
    seed = forms.IntegerField(required=False, min_value=RANDOM_SEED, max_value=MAX_SEED_64, label="Seed",
                              help_text="Blank or −1: a new random seed. The same seed and settings make the same "
                                        "image with a seedable provider (0 to 2^64−1 for ComfyUI, to 2^32−1 for "
                                        "AUTOMATIC1111).")
    # "Use again" from the prompt history: the run whose every other parameter is sent again.
    recall = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    field_order = ["description", "style", "format", "negative_prompt", "setting", "provider", "width", "height",
                   "n", "seed", "post", "section", "example", "recall"]

    def overrides(self) -> dict:
        overrides = super().overrides()
        if given_seed(self.cleaned_data.get("seed")) is not None:
            overrides["seed"] = self.cleaned_data["seed"]
        return overrides

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = provider_choices()
        self.fields["setting"].label_from_instance = setting_label
        # Choosing a post refreshes the section list (htmx); without JavaScript, submit once.
        self.fields["post"].widget.attrs.update({
            "hx-get": reverse("blogimages:post_sections"), "hx-target": "#id_section", "hx-swap": "outerHTML",
        })

    @classmethod
    def initial_for(cls, example: ImagePromptExample) -> dict:
        return {
            "example": example.pk, "description": example.description, "style": example.style,
            "format": example.format, "negative_prompt": example.negative_prompt,
            "setting": example.setting_id, "n": 1,
        }


def _split_target(value: str) -> tuple[str, str]:
    kind, _, ident = value.partition(":")
    return kind, ident


class CompareForm(PromptPartsForm, _GenerationOptionsMixin):
    """One prompt, 2 to 4 providers or settings side by side."""

    targets = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, label="Compare",
        help_text=f"Choose {COMPARE_MIN} to {COMPARE_MAX} providers or settings.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.settings_by_pk = {str(s.pk): s for s in ImageSetting.objects.all()}
        choices = [(f"provider:{alias}", f"Provider {label}") for alias, label in provider_choices(blank=None)]
        choices += [(f"setting:{pk}", f"Setting {setting_label(s)}") for pk, s in self.settings_by_pk.items()]
        self.fields["targets"].choices = choices

    def clean_targets(self) -> list[str]:
        targets = self.cleaned_data["targets"]
        if not COMPARE_MIN <= len(targets) <= COMPARE_MAX:
            raise forms.ValidationError(f"Choose between {COMPARE_MIN} and {COMPARE_MAX} providers or settings.")
        return targets

    def choices_to_run(self) -> list[dict]:
        """[{"label", "provider", "setting"}] per chosen target, in the order offered."""
        labels = dict(self.fields["targets"].choices)
        out = []
        for value in self.cleaned_data["targets"]:
            kind, ident = _split_target(value)
            setting = self.settings_by_pk.get(ident) if kind == "setting" else None
            out.append({"label": labels[value], "provider": ident if kind == "provider" else None,
                        "setting": setting})
        return out


class GalleryFilterForm(forms.Form):
    """Only for showing the filters; parsing is ImageFilters.from_params (selectors)."""

    q = forms.CharField(required=False, label="Prompt text",
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Words in the prompt"}))
    post = PostChoiceField(label="Post", empty_label="All posts")
    provider = forms.ChoiceField(required=False)
    model = forms.ChoiceField(required=False)
    review_status = forms.ChoiceField(required=False, label="Review",
                                      choices=[("", "Any review status"), *ReviewStatus.choices])
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    board = forms.ChoiceField(required=False, label="Board")

    def __init__(self, *args, choices: dict[str, list[str]], boards=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["board"].choices = [("", "Any board"), *((str(b.pk), b.name) for b in boards)]
        self.fields["provider"].choices = [("", "All providers"), *((p, p) for p in choices["providers"])]
        self.fields["model"].choices = [("", "All models"), *((m, m) for m in choices["models"])]
