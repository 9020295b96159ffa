"""The prompt tester: send a prompt, show the image(s) or the reason it failed; poll queued images."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import batches, generation
from ..exceptions import BlogImagesError
from ..forms import TesterForm
from ..integration import get_post_adapter, get_post_model
from ..models import ImageOutput, ImagePrompt, ImagePromptExample
from ..review import can_review
from .common import is_fragment

# Request fields a retry copies from the failed image's snapshot (the same request again).
RETRY_FIELDS = ("model", "width", "height", "seed", "steps", "guidance_scale", "quality", "style", "sampler",
                "output_format", "extra")


def placeholder_context(post, section_key: str) -> dict:
    """Values for {title}, {summary}, {tags} (and {heading}, {section_text} with a section)."""
    if post is None:
        return {}
    if section_key:
        return batches.section_context(post, batches.find_section(post, section_key))
    adapter = get_post_adapter()
    context = dict(adapter.context(post))
    context.setdefault("title", adapter.title(post))
    return context


def run_test(form: TesterForm, user) -> list[ImageOutput]:
    """Queue the test images (finished on return when there is no broker). Raises
    BlogImagesError (bad request, unknown provider, budget) or ValueError (unknown section)."""
    data = form.cleaned_data
    template = ImagePromptExample(
        description=data["description"], style=data["style"], format=data["format"],
        negative_prompt=data["negative_prompt"],
    )
    prompt = template.build_prompt(placeholder_context(data["post"], data["section"]), example=data["example"])
    return generation.submit(
        prompt=prompt, setting=data["setting"], provider=data["provider"] or None, overrides=form.overrides(),
        n=data["n"], user=user,
    )


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
    error = ""
    if request.method == "POST":
        form = TesterForm(request.POST)
        if form.is_valid():
            try:
                outputs = run_test(form, request.user)
            # UnsupportedFeature, InvalidProviderError, BudgetExceeded... and an unknown section.
            except (BlogImagesError, ValueError) as exc:
                error = str(exc)
        else:
            error = "Check the form: " + form_errors_text(form)
    else:
        example = None
        if (request.GET.get("example") or "").isdigit():
            example = ImagePromptExample.objects.filter(pk=request.GET["example"]).first()
        form = TesterForm(initial=TesterForm.initial_for(example) if example else {"n": 1})
    context = {"form": form, "outputs": outputs, "error": error, "nav": "prompts"}
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
