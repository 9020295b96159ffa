"""Image chat pages: the user's threads, one conversation, its messages, use-in-slot."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import chat, publishing
from ..exceptions import BlogImagesError
from ..integration import get_post_adapter
from ..llms import get_llm
from ..models import ChatThread, ImageOutput
from .common import is_fragment


def _thread(request: HttpRequest, pk: int) -> ChatThread:
    # Someone else's thread does not exist for you: 404, not 403, so ids reveal nothing.
    return get_object_or_404(ChatThread.objects.select_related("post"), pk=pk, user=request.user)


@login_required
@require_http_methods(["GET", "POST"])
def chat_list(request: HttpRequest) -> HttpResponse:
    """The user's threads (searchable); a POST starts a new thread and opens it."""
    if request.method == "POST":
        thread = chat.thread_create(user=request.user, title=request.POST.get("title", "").strip())
        return redirect("blogimages:chat_thread", pk=thread.pk)
    query = request.GET.get("q", "").strip()
    threads = chat.threads_for(request.user, query=query)
    return render(request, "blogimages/chat_list.html", {"threads": threads, "query": query, "nav": "chat"})


def _context(request: HttpRequest, thread: ChatThread, **extra) -> dict:
    llm = get_llm(thread.llm or None)
    slot_label = ""
    if thread.post is not None and thread.slot_key:
        slot_label = next((s.label for s in get_post_adapter().slots(thread.post) if s.key == thread.slot_key),
                          thread.slot_key)
    return {
        "thread": thread, "chat_messages": thread.messages.prefetch_related("outputs"), "llm": llm,
        "offline": llm.capabilities().offline, "slot_label": slot_label, "state": chat.prompt_record(
            chat.state_of(thread), thread.provider or ""), "nav": "chat",
        "can_use": request.user.has_perm("blogimages.change_imageoutput"), **extra,
    }


@login_required
def chat_thread(request: HttpRequest, pk: int) -> HttpResponse:
    thread = _thread(request, pk)
    return render(request, "blogimages/chat_thread.html", _context(request, thread))


@login_required
@require_POST
def chat_messages(request: HttpRequest, pk: int) -> HttpResponse:
    """Post a message (field `message`); htmx gets the two new messages, others the page."""
    thread = _thread(request, pk)
    text = request.POST.get("message", "")
    try:
        reply = chat.send_message(thread, text=text, user=request.user)
    except ValueError as exc:
        if is_fragment(request):
            return HttpResponse(f'<p class="error-box" role="alert">{exc}</p>', status=422)
        messages.error(request, str(exc))
        return redirect("blogimages:chat_thread", pk=thread.pk)
    if is_fragment(request):
        turn = list(thread.messages.filter(pk__lte=reply.pk).order_by("-created_at", "-pk")[:2])[::-1]
        return render(request, "blogimages/chat_thread.html#turn",
                      _context(request, thread, chat_messages=turn))
    return redirect("blogimages:chat_thread", pk=thread.pk)


@login_required
@require_POST
def chat_rename(request: HttpRequest, pk: int) -> HttpResponse:
    thread = _thread(request, pk)
    try:
        chat.thread_rename(thread, title=request.POST.get("title", ""))
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("blogimages:chat_thread", pk=thread.pk)


@login_required
@require_POST
def chat_delete(request: HttpRequest, pk: int) -> HttpResponse:
    thread = _thread(request, pk)
    chat.thread_delete(thread)
    messages.success(request, "Thread deleted; its images stay in the gallery.")
    return redirect("blogimages:chat_list")


@login_required
@require_POST
def chat_use(request: HttpRequest, pk: int, output_id: int) -> HttpResponse:
    """Put one of the thread's images in the thread's post slot: one click."""
    thread = _thread(request, pk)
    if thread.post is None or not thread.slot_key:
        raise Http404("This thread belongs to no post slot; use “Use in post…” on the image.")
    output = get_object_or_404(ImageOutput, pk=output_id, chat_messages__thread=thread)
    try:
        publishing.use_in_post(output, post=thread.post, slot_key=thread.slot_key, user=request.user)
    except PermissionDenied:
        raise
    except (BlogImagesError, ValueError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Image #{output.pk} is now the image of this slot.")
    return redirect("blogimages:chat_thread", pk=thread.pk)
