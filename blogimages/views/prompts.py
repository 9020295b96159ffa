"""The prompt library: list, search, filter; create, edit, duplicate, delete; import from a post field."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import push_url, reswap, retarget

from ..forms import ImagePromptExampleForm, ImportFieldForm, TesterForm
from .. import selectors
from ..integration import get_post_adapter, get_post_model
from ..models import ImageOutput, ImagePromptExample, ImageSetting
from ..providers import providers
from .tester import initial_for as tester_initial_for
from .tester import section_choices
from .common import field_label, is_fragment, vary_on_htmx, with_thumb_sizes

PER_PAGE = 50


def example_queryset(params) -> tuple[QuerySet[ImagePromptExample], dict[str, str]]:
    current = {
        "q": (params.get("q") or "").strip()[:200],
        "tag": (params.get("tag") or "").strip()[:50],
        "provider": (params.get("provider") or "").strip()[:50],
    }
    return selectors.example_list(**current), current


@login_required
@require_GET
def example_list(request: HttpRequest) -> HttpResponse:
    examples, current = example_queryset(request.GET)
    page = Paginator(examples, PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "examples": page.object_list, "current": current, "nav": "prompts"}
    if is_fragment(request):
        response = render(request, "blogimages/prompt_list.html#results", context)
        query = urlencode({k: v for k, v in current.items() if v})
        return vary_on_htmx(push_url(response, request.path + (f"?{query}" if query else "")))
    all_tags = sorted({t for tags in ImagePromptExample.objects.values_list("tags", flat=True) for t in tags.split(", ")
                       if t})
    used = set(ImageSetting.objects.filter(examples__isnull=False).values_list("provider", flat=True))
    context.update(tags=all_tags, providers=sorted(used | set(providers.aliases())))
    return vary_on_htmx(render(request, "blogimages/prompt_list.html", context))


def _import_text(data) -> tuple[str | None, str]:
    """(the chosen post field's text, or None and what is missing)."""
    form = ImportFieldForm(data)
    if not form.is_valid():
        if form.errors.get("import_post"):
            return None, "Choose a post to import from."
        return None, "Choose one of the post's fields."
    post, name = form.cleaned_data["import_post"], form.cleaned_data["import_field"]
    fields = get_post_adapter().text_fields(post)
    if name not in fields:
        return None, "Choose one of the post's fields."
    return fields[name], ""


def _field_choices(post) -> list[tuple[str, str]]:
    if post is None:
        return []
    return [(name, field_label(name)) for name in get_post_adapter().text_fields(post)]


def _import_post(data):
    """The post named in the import form, if any (to list its fields without JavaScript)."""
    value = (data.get("import_post") or "").strip() if data else ""
    if not value.isdigit():
        return None
    return get_post_model()._default_manager.filter(pk=value).first()


def _example_form_page(request: HttpRequest, *, example: ImagePromptExample | None) -> HttpResponse:
    """Create and edit share one page; "Import" fills the description without saving."""
    import_error = ""
    import_post = None
    if request.method == "POST":
        data = request.POST.copy()
        import_post = _import_post(data)
        if "_import" in data:
            text, import_error = _import_text(data)
            if text is not None:
                data["description"] = text
            # Unbound with the submitted values: no "required" errors for a half-filled form.
            initial = {name: data.get(name, "") for name in ImagePromptExampleForm._meta.fields}
            form = ImagePromptExampleForm(instance=example, initial=initial)
        else:
            form = ImagePromptExampleForm(data, instance=example)
            if form.is_valid():
                saved = form.save(commit=False)
                if saved.author_id is None:
                    saved.author = request.user
                saved.save()
                messages.success(request, f"Saved “{saved.name}”.")
                return redirect("blogimages:example_detail", pk=saved.pk)
    else:
        form = ImagePromptExampleForm(instance=example)
    context = {
        "form": form, "example": example, "nav": "prompts",
        "posts": get_post_model()._default_manager.all(), "import_post": import_post,
        "import_fields": _field_choices(import_post), "import_error": import_error,
        "import_field": (request.POST.get("import_field") if request.method == "POST" else "") or "",
    }
    return render(request, "blogimages/example_form.html", context)


@login_required
@permission_required("blogimages.add_imagepromptexample", raise_exception=True)
@require_http_methods(["GET", "POST"])
def example_create(request: HttpRequest) -> HttpResponse:
    return _example_form_page(request, example=None)


@login_required
@permission_required("blogimages.change_imagepromptexample", raise_exception=True)
@require_http_methods(["GET", "POST"])
def example_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _example_form_page(request, example=get_object_or_404(ImagePromptExample, pk=pk))


@login_required
@require_GET
def example_detail(request: HttpRequest, pk: int) -> HttpResponse:
    example = get_object_or_404(ImagePromptExample.objects.select_related("setting", "author"), pk=pk)
    recent = with_thumb_sizes(
        ImageOutput.objects.filter(prompt__example=example).select_related("post").order_by("-created_at", "-id")[:8]
    )
    form = TesterForm(initial=tester_initial_for(example))
    context = {"example": example, "nav": "prompts", "recent": recent, "form": form, **section_choices(form)}
    return render(request, "blogimages/example_detail.html", context)


def copy_name(name: str) -> str:
    """"<name> (copy)", or "(copy 2)", "(copy 3)"... whichever is free, within the field's length."""
    limit = ImagePromptExample._meta.get_field("name").max_length
    for number in range(1, 1000):
        suffix = " (copy)" if number == 1 else f" (copy {number})"
        candidate = name[: limit - len(suffix)] + suffix
        if not ImagePromptExample.objects.filter(name=candidate).exists():
            return candidate
    raise ValueError("Too many copies of this example.")


@login_required
@permission_required("blogimages.add_imagepromptexample", raise_exception=True)
@require_POST
def example_duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    example = get_object_or_404(ImagePromptExample, pk=pk)
    original_name = example.name
    try:
        with transaction.atomic():
            example.pk = None
            example.name = copy_name(original_name)
            example.author = request.user
            example.save()
    except (IntegrityError, ValueError) as exc:
        messages.error(request, f"Could not duplicate “{original_name}”: {exc}")
        return redirect("blogimages:example_detail", pk=pk)
    messages.success(request, f"Duplicated “{original_name}” as “{example.name}”.")
    return redirect("blogimages:example_edit", pk=example.pk)


def _can_delete_example(user, example: ImagePromptExample) -> bool:
    return (example.author_id is not None and example.author_id == user.pk) or user.has_perm(
        "blogimages.delete_imagepromptexample"
    )


@login_required
@require_http_methods(["GET", "POST"])
def example_delete(request: HttpRequest, pk: int) -> HttpResponse:
    example = get_object_or_404(ImagePromptExample, pk=pk)
    if not _can_delete_example(request.user, example):
        raise PermissionDenied("Only the example's author or an editor may delete it.")
    if request.method == "POST":
        name = example.name
        example.delete()
        messages.success(request, f"Deleted “{name}”.")
        return redirect("blogimages:prompt_list")
    return render(request, "blogimages/example_confirm_delete.html", {"example": example, "nav": "prompts"})


@login_required
@require_GET
def post_fields(request: HttpRequest) -> HttpResponse:
    """The field <select> for the post chosen in an import form (htmx swaps it in)."""
    post = _import_post(request.GET)
    context = {"import_fields": _field_choices(post), "import_field": "", "import_post": post}
    return render(request, "blogimages/example_form.html#field-select", context)


@login_required
@require_GET
def post_sections(request: HttpRequest) -> HttpResponse:
    """The section <select> for the post chosen in the tester (placeholders {heading}, {section_text})."""
    value = (request.GET.get("post") or "").strip()
    post = get_post_model()._default_manager.filter(pk=value).first() if value.isdigit() else None
    sections = get_post_adapter().sections(post) if post is not None else []
    return render(request, "blogimages/_tester_form.html#section-select", {"sections": sections, "section": ""})


@login_required
@require_POST
def import_field(request: HttpRequest) -> HttpResponse:
    """htmx: the description textarea, filled with the chosen post field's text."""
    text, error = _import_text(request.POST)
    if text is None:
        response = render(request, "blogimages/example_form.html#import-status", {"import_error": error})
        return reswap(retarget(response, "#import-status"), "outerHTML")
    form = ImagePromptExampleForm(initial={"description": text})
    return render(request, "blogimages/example_form.html#description", {"form": form, "imported": True})
