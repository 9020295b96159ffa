"""Forms for the admin's review pages and for the models edited in the admin."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from . import comfy_workflows, presets, storage
from .conf import blogimages_settings
from .derive import image_formats
from .exceptions import InvalidImage
from .imaging import resize, watermark
from .models import ComfyWorkflow, ImageSetting, WatermarkPreset
from .providers.base import MAX_SEED_64, RANDOM_SEED, given_seed
from .providers.comfyui import SIZE_LIMITS, Workflow, guess_node_map, validate_workflow

OUTPUT_FORMAT_CHOICES = [("", "Keep the original's format"), ("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WebP")]
POSITION_CHOICES = [(p, p.replace("-", " ").capitalize()) for p in watermark.POSITIONS]


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
        help_text="Shown on the image's review trail.",
    )


class PromptEditForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), max_length=4000)
    style = forms.CharField(required=False, max_length=500, widget=forms.TextInput(attrs={"size": 80}))
    format = forms.CharField(required=False, max_length=500, widget=forms.TextInput(attrs={"size": 80}))
    negative_prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


class AssignForm(forms.Form):
    section = forms.ChoiceField(help_text="The section whose image this becomes (replacing its current choice).")

    def __init__(self, *args, sections: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["section"].choices = sections


class UploadForm(forms.Form):
    image = forms.FileField(help_text="PNG, JPEG or WebP.")
    note = forms.CharField(required=False, max_length=2000, widget=forms.TextInput(attrs={"size": 80}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        limit = blogimages_settings.MAX_UPLOAD_BYTES
        self.fields["image"].help_text = (
            f"PNG, JPEG or WebP; at most {limit / (1024 * 1024):g} MB and "
            f"{blogimages_settings.MAX_IMAGE_PIXELS / 1e6:g} megapixels."
        )
        self.fields["image"].widget.attrs["accept"] = "image/png,image/jpeg,image/webp"


class WatermarkForm(forms.Form):
    """A preset, the default, or a watermark made up here (text or logo)."""

    preset = forms.ModelChoiceField(
        queryset=WatermarkPreset.objects.all(), required=False, empty_label="The default watermark",
        help_text="Or leave the default and write a text / upload a logo below.",
    )
    text = forms.CharField(required=False, max_length=200)
    logo = forms.FileField(required=False, help_text="A PNG with transparency works best.")
    position = forms.ChoiceField(choices=[("", "Preset's / default")] + POSITION_CHOICES, required=False)
    opacity = forms.FloatField(required=False, min_value=0.01, max_value=1.0, help_text="0 to 1.")
    scale = forms.FloatField(required=False, min_value=0.01, max_value=1.0,
                             help_text="Width as a fraction of the image's.")
    margin = forms.FloatField(required=False, min_value=0.0, max_value=0.25, help_text="Fraction of the shorter side.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        custom = bool(data.get("text", "").strip()) or bool(data.get("logo"))
        if data.get("preset") and custom:
            raise forms.ValidationError("Choose a preset or write a watermark, not both.")
        if data.get("text", "").strip() and data.get("logo"):
            raise forms.ValidationError("A watermark takes text or a logo, not both.")
        if data.get("logo"):
            logo = data["logo"]
            raw = logo.read()
            try:
                storage.inspect_image(raw)
            except InvalidImage as exc:
                raise forms.ValidationError(f"The logo: {exc}") from exc
            data["logo_bytes"] = raw
        return data

    def watermark_kwargs(self) -> dict[str, Any]:
        """Arguments for derive.watermark_output / resolve_watermark."""
        data = self.cleaned_data
        kwargs: dict[str, Any] = {}
        if data.get("preset"):
            kwargs["preset"] = data["preset"]
        elif data.get("text", "").strip() or data.get("logo_bytes"):
            base = dict(blogimages_settings.WATERMARK or {})
            base.pop("logo", None)
            base["text"] = data.get("text", "").strip()
            if data.get("logo_bytes"):
                base["text"], base["logo"] = "", data["logo_bytes"]
            kwargs["spec"] = watermark.WatermarkSpec.from_dict(base)
        for name in ("position", "opacity", "scale", "margin"):
            if data.get(name) not in (None, ""):
                kwargs[name] = data[name]
        return kwargs


def format_choices() -> list[tuple[str, str]]:
    return [(name, f"{name} ({w}×{h})") for name, (w, h) in image_formats().items()] + [("custom", "Custom size")]


class ResizeForm(forms.Form):
    format = forms.ChoiceField(choices=format_choices)
    width = forms.IntegerField(required=False, min_value=1, max_value=resize.MAX_SIDE)
    height = forms.IntegerField(required=False, min_value=1, max_value=resize.MAX_SIDE)
    mode = forms.ChoiceField(
        choices=[("cover", "Cover (crop to fill)"), ("contain", "Contain (fit, pad)"), ("stretch", "Stretch")],
        initial="cover",
    )
    output_format = forms.ChoiceField(choices=OUTPUT_FORMAT_CHOICES, required=False)
    quality = forms.IntegerField(required=False, min_value=1, max_value=100, help_text="JPEG and WebP, 1–100.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("format") == "custom" and not (data.get("width") or data.get("height")):
            raise forms.ValidationError("A custom size needs a width, a height or both.")
        return data

    def resize_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        kwargs: dict[str, Any] = {"mode": data["mode"], "output_format": data.get("output_format") or None,
                                  "quality": data.get("quality")}
        if data["format"] == "custom":
            kwargs.update(width=data.get("width"), height=data.get("height"))
        else:
            kwargs["format_name"] = data["format"]
        return kwargs


class ConvertForm(forms.Form):
    output_format = forms.ChoiceField(choices=OUTPUT_FORMAT_CHOICES[1:])
    quality = forms.IntegerField(required=False, min_value=1, max_value=100, help_text="JPEG and WebP, 1–100.")


class UpscaleForm(forms.Form):
    factor = forms.TypedChoiceField(choices=[("1.5", "1.5×"), ("2", "2×"), ("3", "3×"), ("4", "4×")], coerce=float,
                                    initial="2")


class VariationsForm(forms.Form):
    n = forms.IntegerField(min_value=1, initial=3, label="How many")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        limit = blogimages_settings.MAX_VARIATIONS
        self.fields["n"] = forms.IntegerField(min_value=1, max_value=limit, initial=min(3, limit), label="How many")


# -- model forms ------------------------------------------------------------------------


class WatermarkPresetForm(forms.ModelForm):
    """The preset's spec as fields; saved as `spec` (WatermarkSpec.to_dict() without the logo)."""

    text = forms.CharField(required=False, max_length=200, help_text="Text, or upload a logo instead.")
    position = forms.ChoiceField(choices=POSITION_CHOICES, initial="bottom-right")
    opacity = forms.FloatField(min_value=0.01, max_value=1.0, initial=0.6)
    scale = forms.FloatField(min_value=0.01, max_value=1.0, initial=0.22, help_text="Mark width / image width.")
    margin = forms.FloatField(min_value=0.0, max_value=0.25, initial=0.03, help_text="Fraction of the shorter side.")
    color = forms.CharField(max_length=30, initial="auto",
                            help_text="'auto' picks light or dark from the image under the mark; or a CSS colour.")
    font = forms.ChoiceField(choices=[("bold", "Bold"), ("regular", "Regular")], initial="bold")
    make_default = forms.BooleanField(required=False, label="Default watermark",
                                    help_text="Used when no preset is chosen (bulk watermark, the CLI).")

    SPEC_FIELDS = ("text", "position", "opacity", "scale", "margin", "color", "font")

    class Meta:
        model = WatermarkPreset
        # is_default is set through `make_default`, a plain form field: making this preset the
        # default takes the mark from the old default when saved (WatermarkPresetAdmin.save_model),
        # which is not an error here.
        fields = ("name", "text", "logo", "position", "opacity", "scale", "margin", "color", "font")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        spec = dict(self.instance.spec or {}) if self.instance.pk else {}
        for name in self.SPEC_FIELDS:
            if name in spec and spec[name] is not None:
                self.initial[name] = spec[name]
        self.initial["make_default"] = self.instance.is_default

    def clean_logo(self):
        logo = self.cleaned_data.get("logo")
        if logo and hasattr(logo, "read") and not getattr(logo, "_committed", False):
            logo.seek(0)
            raw = logo.read()
            logo.seek(0)
            try:
                storage.inspect_image(raw)
            except InvalidImage as exc:
                raise forms.ValidationError(str(exc)) from exc
        return logo

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        values = {name: data.get(name) for name in self.SPEC_FIELDS if data.get(name) not in (None, "")}
        logo = data.get("logo")
        if logo:
            if values.get("text", "").strip():
                raise forms.ValidationError("A watermark takes text or a logo, not both: clear one of them.")
            logo.seek(0)
            values["logo"] = logo.read()
            logo.seek(0)
            values["text"] = ""
        try:
            spec = watermark.WatermarkSpec.from_dict(values)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        data["spec"] = {k: v for k, v in spec.to_dict().items() if k != "logo"}
        return data

    def save(self, commit: bool = True):
        self.instance.spec = self.cleaned_data["spec"]
        self.instance.is_default = self.cleaned_data["make_default"]
        return super().save(commit=commit)


class ImageSettingForm(forms.ModelForm):
    """A preset: the model's own checks, then whether its provider takes it."""

    # −1 ("random", as AUTOMATIC1111 has it) is saved as a blank seed.
    seed = forms.IntegerField(required=False, min_value=RANDOM_SEED, max_value=MAX_SEED_64,
                              help_text=ImageSetting._meta.get_field("seed").help_text.replace(
                                  "Blank:", "Blank or −1:"))

    class Meta:
        model = ImageSetting
        fields = "__all__"

    def clean_seed(self):
        return given_seed(self.cleaned_data.get("seed"))

    def _post_clean(self) -> None:
        super()._post_clean()  # fills self.instance from the form and runs the model's full_clean()
        try:
            presets.validate_setting(self.instance)
        except forms.ValidationError as exc:
            self._update_errors(exc)


class ComfyWorkflowForm(forms.ModelForm):
    class Meta:
        model = ComfyWorkflow
        fields = ("name", "description", "workflow", "nodes", "options")
        widgets = {"workflow": forms.Textarea(attrs={"rows": 20, "cols": 100, "class": "monospace"}),
                   "nodes": forms.Textarea(attrs={"rows": 6, "cols": 100, "class": "monospace"}),
                   "options": forms.Textarea(attrs={"rows": 3, "cols": 100, "class": "monospace"})}

    def clean_workflow(self):
        graph = self.cleaned_data.get("workflow")
        if isinstance(graph, str):
            try:
                graph = json.loads(graph)
            except ValueError as exc:
                raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        return graph

    def clean_nodes(self):
        return self.cleaned_data.get("nodes") or {}

    def clean_options(self):
        options = self.cleaned_data.get("options") or {}
        if not isinstance(options, dict):
            raise forms.ValidationError('Must be a JSON object, e.g. {"min_size": 512, "max_size": 1536}.')
        for key, value in options.items():
            if key not in SIZE_LIMITS:
                raise forms.ValidationError(f"Unknown option {key!r}; known: {', '.join(SIZE_LIMITS)}.")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise forms.ValidationError(f"{key} must be a whole number of pixels.")
        return options

    def clean(self):
        cleaned = super().clean()
        graph, nodes = cleaned.get("workflow"), cleaned.get("nodes") or {}
        if graph is None or "workflow" in self.errors or "nodes" in self.errors:
            return cleaned
        if not nodes and not Workflow(name="", graph=graph if isinstance(graph, dict) else {}).placeholders:
            guessed = guess_node_map(graph) if isinstance(graph, dict) else {}
            if "prompt" in guessed:
                # An exported graph as it is: propose the map for the standard graph, to be
                # looked at and saved (the form shows it filled in).
                data = self.data.copy()
                data[self.add_prefix("nodes")] = json.dumps(guessed, indent=1)
                self.data = data
                self.add_error("nodes", "No placeholders and no node map: this map was guessed from the graph. "
                                        "Check which node takes each value, then save again.")
                return cleaned
        problems = validate_workflow(graph, nodes)
        if problems:
            self.add_error("workflow", forms.ValidationError(problems))
            return cleaned
        problems = comfy_workflows.server_problems(graph, nodes)
        if problems:
            self.add_error("workflow", forms.ValidationError(problems))
        return cleaned


class ApiTokenCreateForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True))
    name = forms.CharField(max_length=100, required=False, help_text="What the token is for, e.g. 'CI pipeline'.")
    expires_at = forms.DateTimeField(required=False, help_text="Optional, e.g. 2027-01-31 00:00. Blank: never expires.")

    def __init__(self, *args, requested_by=None, **kwargs):
        super().__init__(*args, **kwargs)
        # A token acts with all of its user's rights: only a superuser mints one for another.
        if requested_by is not None and not requested_by.is_superuser:
            self.fields["user"].queryset = self.fields["user"].queryset.filter(pk=requested_by.pk)
            self.fields["user"].initial = requested_by.pk

    def clean_expires_at(self):
        from django.utils import timezone

        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value
