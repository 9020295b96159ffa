"""Image chat pages: the user's threads, one conversation, its messages, use-in-slot."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import chat, publishing
from ..exceptions import BlogImagesError
from ..integration import get_post_adapter
from ..llms import get_llm
from ..models import ChatMessage, ChatThread, ImageOutput
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
        "can_use": request.user.has_perm("blogimages.change_imageoutput"), "streams": chat.streams(thread),
        **extra,
    }


@login_required
def chat_thread(request: HttpRequest, pk: int) -> HttpResponse:
    thread = _thread(request, pk)
    return render(request, "blogimages/chat_thread.html", _context(request, thread))


@login_required
@require_POST
def chat_messages(request: HttpRequest, pk: int) -> HttpResponse:
    """Post a message (field `message`).

    htmx gets the user's message and the assistant's, still unanswered, at once: the
    assistant's streams its answer in (SSE) or fetches it, so the page never waits on the
    model. Without JavaScript the answer is made here and the page reloaded."""
    thread = _thread(request, pk)
    text = request.POST.get("message", "")
    try:
        if not is_fragment(request):
            chat.send_message(thread, text=text, user=request.user)
            return redirect("blogimages:chat_thread", pk=thread.pk)
        turn = chat.post_message(thread, text=text)
    except ValueError as exc:
        if is_fragment(request):
            return HttpResponse(f'<p class="error-box" role="alert">{exc}</p>', status=422)
        messages.error(request, str(exc))
        return redirect("blogimages:chat_thread", pk=thread.pk)
    return render(request, "blogimages/chat_thread.html#turn", _context(request, thread, chat_messages=list(turn)))


def _assistant_message(thread: ChatThread, message_id: int) -> ChatMessage:
    return get_object_or_404(ChatMessage, pk=message_id, thread=thread, role=ChatMessage.Role.ASSISTANT)


@login_required
@require_GET
def chat_message(request: HttpRequest, pk: int, message_id: int) -> HttpResponse:
    """One assistant message: answered here if nobody has started on it; polled while another request writes it."""
    thread = _thread(request, pk)
    message = _assistant_message(thread, message_id)
    if message.status == ChatMessage.Status.PENDING:
        message = chat.answer(message, user=request.user)
    else:
        message = chat.give_up_if_stale(message)
    return render(request, "blogimages/chat_thread.html#message", _context(request, thread, message=message))


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


@login_required
@require_GET
def chat_stream(request: HttpRequest, pk: int, message_id: int) -> StreamingHttpResponse:
    """Server-sent events of one answer: `text` pieces as the model writes them, `status` when it
    goes on to make the image, then `done`
    with the finished message's HTML, or `wait` when another request is answering it (poll)."""
    thread = _thread(request, pk)
    message = _assistant_message(thread, message_id)

    def events():
        # A first byte at once: the browser knows the stream is open before the model answers.
        yield ": answering\n\n"
        for piece in chat.answer_stream(message, user=request.user):
            if isinstance(piece, chat.Working):
                yield _event("status", {"text": piece.note})
            else:
                yield _event("text", {"text": piece})
        message.refresh_from_db()
        if not message.is_answered:
            yield _event("wait", {})
            return
        html = render_to_string("blogimages/chat_thread.html#message",
                                _context(request, thread, message=message), request=request)
        yield _event("done", {"html": html})

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # Proxies (nginx) would otherwise hold the pieces back until the answer is complete.
    response["X-Accel-Buffering"] = "no"
    return response


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
