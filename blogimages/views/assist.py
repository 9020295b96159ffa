"""Prompt assistance on the tester and the library form: a proposal beside the form, never saved.

"Draft from the post" (where the form names a post, and a section or else the featured slot)
and "Improve" answer with the proposal and its difference from what the form holds now;
"Use this proposal" copies it into the form (static/blogimages/assist.js), and only the
form's own button (Test, Save) does anything with it.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from .. import assist
from ..batches import PROMPT_PARTS
from ..exceptions import BlogImagesError
from ..integration import get_post_model
from .common import is_fragment

#: The forms a proposal may be copied into, and what their own button is called.
TARGETS = {"tester-form": "Test", "example-form": "Save"}
DEFAULT_SLOT = "featured"


def _post(request: HttpRequest):
    pk = request.POST.get("post") or request.POST.get("import_post") or ""
    if not pk:
        return None
    try:
        return get_post_model()._default_manager.get(pk=int(pk))
    except (ValueError, get_post_model().DoesNotExist):
        raise ValueError("That post does not exist (any more); choose another.") from None


@login_required
@require_POST
def assist_proposal(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("assist", "")
    target = request.POST.get("assist_target", "")
    shown = {name: request.POST.get(name, "").strip() for name in PROMPT_PARTS}
    error, proposal, changes, post, slot_key = "", None, [], None, ""
    try:
        if action not in ("draft", "improve") or target not in TARGETS:
            raise ValueError("Choose “Draft from the post” or “Improve” on a prompt form.")
        if action == "draft":
            post = _post(request)
            if post is None:
                raise ValueError("Choose a post first: the draft is written from its title, summary and slot text.")
            slot_key = request.POST.get("section", "").strip() or DEFAULT_SLOT
            proposal = assist.draft_for_slot(post, slot_key, user=request.user)
        else:
            if not shown["description"]:
                raise ValueError("Write a description first: “Improve” rewrites the prompt you have.")
            proposal = assist.improve(shown, user=request.user)
        changes = assist.differences(shown, proposal)
    except (BlogImagesError, ValueError) as exc:
        error = str(exc)
    context = {"proposal": proposal, "changes": changes, "error": error, "current": shown, "action": action,
               "target": target, "apply_label": TARGETS.get(target, "Save"), "post": post, "slot_key": slot_key,
               "nav": "prompts"}
    template = "blogimages/_assist_proposal.html" if is_fragment(request) else "blogimages/assist.html"
    # An htmx swap shows a refusal like an answer (the fragment carries the reason).
    status = 200 if proposal or is_fragment(request) else 400
    return render(request, template, context, status=status)
