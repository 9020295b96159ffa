"""The prompt tester: send a prompt, show the image(s) or the reason it failed; poll queued images."""

from __future__ import annotations

import string
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import batches, generation
from ..exceptions import BlogImagesError, ContentRefused, UnsupportedFeature
from ..forms import TesterForm
from ..integration import SectionInfo, get_post_adapter, get_post_model
from ..messages import AuthorMessage, author_message_for_exception
from ..models import PLACEHOLDERS, ImageOutput, ImagePrompt, ImagePromptExample, RunSource
from ..review import can_review
from ..selectors import recallable_runs
from .common import is_fragment

# Request fields a retry copies from the failed image's snapshot (the same request again).
RETRY_FIELDS = ("model", "width", "height", "seed", "steps", "guidance_scale", "quality", "style", "sampler",
                "output_format", "extra")


SECTION_PLACEHOLDERS = frozenset({"heading", "section_text"})


class PlaceholderError(ValueError):
    """Placeholders with nothing to fill them from; `field` is the form field to change."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def placeholders_used(*texts: str) -> list[str]:
    """The known placeholders ({title}, {heading}...) the texts use, in PLACEHOLDERS order."""
    found: set[str] = set()
    for text in texts:
        try:
            found.update(name for _, name, _, _ in string.Formatter().parse(text or "") if name)
        except ValueError:  # a stray brace: fill_placeholders keeps it as written
            continue
    return [name for name in PLACEHOLDERS if name in found]


def default_post():
    """The post placeholders are filled from when the author chose none: the newest (the demo post)."""
    return get_post_model()._default_manager.order_by("-pk").first()


@dataclass(frozen=True)
class PlaceholderSource:
    post: object | None
    section: SectionInfo | None
    used: list[str]

    @property
    def context(self) -> dict:
        """Values for {title}, {summary}, {tags} (and {heading}, {section_text} with a section)."""
        if self.post is None:
            return {}
        if self.section is not None:
            return batches.section_context(self.post, self.section)
        adapter = get_post_adapter()
        context = dict(adapter.context(self.post))
        context.setdefault("title", adapter.title(self.post))
        return context

    def describe(self) -> str:
        if self.post is None or not self.used:
            return ""
        names = ", ".join("{" + name + "}" for name in self.used)
        where = f"“{get_post_adapter().title(self.post)}”"
        if self.section is not None:
            where += f", section “{self.section.heading}”"
        return f"Placeholders {names} filled from {where}."


def placeholder_source(texts, post, section_key: str) -> PlaceholderSource:
    """Where the placeholders of `texts` are filled from: the chosen post and section, else the
    default post and its first section. Raises ValueError (naming the placeholders) when
    there is nothing to fill them from, so a literal "{heading}" is never drawn."""
    used = placeholders_used(*texts)
    if not used:
        section = batches.find_section(post, section_key) if post is not None and section_key else None
        return PlaceholderSource(post=post, section=section, used=[])
    post = post if post is not None else default_post()
    names = ", ".join("{" + name + "}" for name in used)
    if post is None:
        raise PlaceholderError(f"This prompt uses {names}, but there is no post to fill them from: add a post "
                               "or replace the placeholders with words.", field="description")
    section = None
    if section_key:
        section = batches.find_section(post, section_key)
    elif SECTION_PLACEHOLDERS & set(used):
        sections = get_post_adapter().sections(post)
        if not sections:
            raise PlaceholderError(f"This prompt uses {names}, but “{get_post_adapter().title(post)}” has no "
                                   "sections: choose another post or replace the placeholders.", field="post")
        section = sections[0]
    return PlaceholderSource(post=post, section=section, used=used)


def form_texts(data) -> list[str]:
    return [data.get(name) or "" for name in ("description", "style", "format", "negative_prompt")]


def run_test(form: TesterForm, user) -> tuple[list[ImageOutput], PlaceholderSource]:
    """Queue the test images (finished on return when there is no broker). Raises
    BlogImagesError (bad request, unknown provider, budget) or ValueError (unknown section,
    placeholders with nothing to fill them from)."""
    data = form.cleaned_data
    source = placeholder_source(form_texts(data), data["post"], data["section"])
    template = ImagePromptExample(
        description=data["description"], style=data["style"], format=data["format"],
        negative_prompt=data["negative_prompt"],
    )
    prompt = template.build_prompt(source.context, example=data["example"])
    overrides = {**recalled_parameters(data.get("recall"), user=user, provider=data["provider"],
                                       setting=data["setting"]), **form.overrides()}
    outputs = generation.submit(
        prompt=prompt, setting=data["setting"], provider=data["provider"] or None, overrides=overrides,
        n=data["n"], user=user, source=RunSource.TESTER,
    )
    return outputs, source


def recalled_parameters(run_id: int | None, *, user, provider: str, setting) -> dict:
    """"Use again": every parameter the run sent (model, steps, guidance, quality, style, sampler,
    format, extra...), while the provider is still the run's; the form's own fields win."""
    if not run_id:
        return {}
    run = recallable_runs(user).filter(pk=run_id).first()
    chosen = provider or (setting.provider if setting else "")
    if run is None or (chosen and chosen != run.provider):
        return {}
    sent = run.parameters or {}
    return {name: sent[name] for name in RETRY_FIELDS if name not in ("width", "height", "seed")
            and sent.get(name) not in (None, "", {})}


def recall_initial(request: HttpRequest) -> dict | None:
    """The tester's fields from a run of the user's history (`?recall=<id>`, with `prompt_only=1`
    just its prompt), or None."""
    value = request.GET.get("recall") or ""
    run = recallable_runs(request.user).filter(pk=int(value)).first() if value.isdigit() else None
    if run is None:
        return None
    initial = {"description": run.description or run.prompt_text, "style": run.style, "format": run.format,
               "negative_prompt": run.negative_prompt, "n": 1}
    if request.GET.get("prompt_only") != "1":
        initial.update(provider=run.provider, setting=run.setting_id, width=run.width, height=run.height,
                       seed=run.seed, n=run.n, recall=run.pk)
    return initial


def initial_for(example: ImagePromptExample | None) -> dict:
    """The tester form's first values; an example with placeholders shows which post fills them."""
    if example is None:
        return {"n": 1}
    initial = TesterForm.initial_for(example)
    used = placeholders_used(example.description, example.style, example.format, example.negative_prompt)
    post = default_post() if used else None
    if post is not None:
        initial["post"] = post.pk
        if SECTION_PLACEHOLDERS & set(used):
            sections = get_post_adapter().sections(post)
            if sections:
                initial["section"] = sections[0].key
    return initial


def culprit_fields(form: TesterForm, exc: BaseException) -> list[str]:
    """The form fields a refused request points at, found by trying again without them."""
    data = form.cleaned_data
    if isinstance(exc, PlaceholderError):
        return [exc.field]
    if isinstance(exc, ContentRefused):
        return ["description"]
    if not isinstance(exc, UnsupportedFeature):
        return []
    size = [name for name in ("width", "height") if data.get(name)]
    if not size:
        return ["setting"] if data.get("setting") else []
    try:
        generation.build_request(prompt_text="check", setting=data["setting"], provider=data["provider"] or None,
                                 n=data["n"])
    except (BlogImagesError, ValueError):
        return ["setting"] if data.get("setting") else ["provider"]
    return size  # the request passes without the size the author typed: the size is the problem


def form_error_message(form) -> AuthorMessage:
    return AuthorMessage("Check the form: " + form_errors_text(form), "", False)


def form_errors_text(form) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label or name.replace("_", " ").capitalize() if name in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return "; ".join(parts)


@login_required
@require_http_methods(["GET", "POST"])
def tester(request: HttpRequest) -> HttpResponse:
    outputs: list[ImageOutput] = []
    error: AuthorMessage | None = None
    error_fields: list[str] = []
    filled = ""
    if request.method == "POST":
        form = TesterForm(request.POST)
        if form.is_valid():
            try:
                outputs, source = run_test(form, request.user)
                filled = source.describe()
            # UnsupportedFeature, InvalidProviderError, BudgetExceeded... and an unknown section.
            except (BlogImagesError, ValueError) as exc:
                provider = form.cleaned_data["provider"] or (
                    form.cleaned_data["setting"].provider if form.cleaned_data["setting"] else "")
                error = author_message_for_exception(exc, provider=provider)
                error_fields = culprit_fields(form, exc)
                for name in error_fields:
                    form.add_error(name, "Change this: " + error.headline)
        else:
            error = form_error_message(form)
    else:
        example = None
        if (request.GET.get("example") or "").isdigit():
            example = ImagePromptExample.objects.filter(pk=request.GET["example"]).first()
        form = TesterForm(initial=recall_initial(request) or initial_for(example))
    context = {"form": form, "outputs": outputs, "error": error, "error_fields": " ".join(error_fields),
               "filled": filled, "nav": "prompts"}
    if is_fragment(request) and request.method == "POST":
        return render(request, "blogimages/tester.html#results", context)
    context.update(section_choices(form))
    return render(request, "blogimages/tester.html", context)


def section_choices(form: TesterForm) -> dict:
    """The chosen post's sections for the section <select> (htmx refreshes it on change)."""
    value = str(form["post"].value() or "")
    post = get_post_model()._default_manager.filter(pk=value).first() if value.isdigit() else None
    sections = get_post_adapter().sections(post) if post is not None else []
    return {"sections": sections, "section": str(form["section"].value() or "")}


@login_required
@require_GET
def output_status(request: HttpRequest, pk: int) -> HttpResponse:
    """One image's card; a queued or running card polls this every second until it is finished."""
    output = get_object_or_404(ImageOutput.objects.select_related("setting"), pk=pk)
    if not is_fragment(request):
        return redirect("blogimages:image_detail", pk=pk)
    return render(request, "blogimages/_output_card.html", {"output": output})


@login_required
@require_POST
def output_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a failed image's request again (same prompt, setting and seed); the new card replaces it."""
    output = get_object_or_404(ImageOutput.objects.select_related("prompt", "setting", "post"), pk=pk)
    if not (output.created_by_id == request.user.pk or can_review(request.user)):
        raise PermissionDenied("Only the image's creator or an editor may retry it.")
    snapshot = output.setting_snapshot or {}
    overrides = {name: snapshot[name] for name in RETRY_FIELDS if snapshot.get(name) not in (None, "", {})}
    prompt = output.prompt or ImagePrompt(description=output.prompt_text, negative_prompt=output.negative_prompt)
    error, new = "", None
    try:
        new = generation.submit(
            prompt=prompt, setting=output.setting, provider=output.provider, overrides=overrides, n=1,
            post=output.post, section_key=output.section_key, user=request.user,
        )[0]
    except (BlogImagesError, ValueError) as exc:
        error = str(exc)
    if not is_fragment(request):
        return redirect("blogimages:image_detail", pk=new.pk if new else pk)
    if new is None:
        return render(request, "blogimages/_output_card.html", {"output": output, "retry_error": error})
    return render(request, "blogimages/_output_card.html", {"output": new})
