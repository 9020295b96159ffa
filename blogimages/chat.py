"""Image chat: a conversation whose turns become generations (the only writer of threads).

Each user message is turned into the next prompt and parameters, either by the offline
`rules` interpreter (every message is a generation) or by an LLM that decides through tool
calls whether to answer or to call `generate_image`. Images go through generation.submit,
like every other image, and are linked to the assistant message that made them. Every turn
records the exact prompt and parameters it sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import generation
from .batches import find_slot, section_prompt
from .exceptions import BlogImagesError
from .integration import get_post_adapter, slot_size
from .llm_calls import llm_complete, llm_stream
from .llms import CompletionRequest, Message, Tool, get_llm
from .llms.rules import PromptState, interpret
from .models import ChatMessage, ChatThread, ImageOutput, ImagePrompt, ImagePromptExample, OutputStatus

logger = logging.getLogger("blogimages.chat")

TITLE_CHARS = 80
HISTORY_MESSAGES = 20
# An answer claimed this long ago and still unfinished lost its process (a worker restart):
# the page stops waiting and says so.
ANSWER_STALE_SECONDS = 300
INTERRUPTED = "The answer was interrupted before it finished; send the message again."

GENERATE_TOOL = Tool(
    name="generate_image",
    description=("Generate one image. Give the complete prompt for it (not only the change): what to draw, "
                 "the style, and what must not appear. Keep earlier parts the user did not ask to change."),
    parameters={
        "type": "object",
        "properties": {
            "description": {"type": "string", "description": "What the image shows."},
            "style": {"type": "string", "description": "Medium, palette, light, mood."},
            "negative_prompt": {"type": "string", "description": "What must not appear, comma-separated."},
            "width": {"type": "integer", "description": "Width in pixels (64-2048)."},
            "height": {"type": "integer", "description": "Height in pixels (64-2048)."},
            "new_seed": {"type": "boolean", "description": "True for another take of the same prompt."},
        },
        "required": ["description"],
    },
)
SYSTEM = ("You help a blog author make one image by conversation. When the user asks for an image or a change "
          "to it, call generate_image with the full prompt. When they ask a question, answer briefly without "
          "generating. The current prompt and size are: {state}")


@dataclass(frozen=True)
class Working:
    """What the answer is busy with now (yielded between text pieces), for the page to show."""

    note: str


def state_of(thread: ChatThread) -> PromptState:
    known = {f.name for f in fields(PromptState)}
    data = {k: (tuple(v) if isinstance(v, list) else v) for k, v in (thread.state or {}).items() if k in known}
    return PromptState(**data)


def _state_json(state: PromptState) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(state).items()}


def prompt_record(state: PromptState, provider: str) -> dict[str, Any]:
    """What a turn shows: the prompt parts and parameters exactly as sent."""
    prompt = ImagePrompt(description=state.description_text, style=state.style_text, format=state.format,
                         negative_prompt=state.negative_prompt)
    return {"text": prompt.text(), "description": prompt.description, "style": prompt.style, "format": prompt.format,
            "negative_prompt": prompt.negative_prompt, "width": state.width, "height": state.height,
            "seed": state.seed, "provider": provider}


# -- threads ------------------------------------------------------------------------------


def thread_create(*, user, title: str = "", post=None, slot_key: str = "") -> ChatThread:
    width, height = 1024, 1024
    state = PromptState(width=width, height=height)
    if post is not None and slot_key:
        slot = find_slot(post, slot_key)  # ValueError naming the slots
        width, height = slot_size(slot)
        current = section_prompt(post, slot)
        state = PromptState(description=current.description, style=current.style, format=current.format,
                            negative_prompt=current.negative_prompt, width=width, height=height)
        title = title or f"{get_post_adapter().title(post)} — {slot.label}"
    return ChatThread.objects.create(user=user, title=title[:200], post=post, slot_key=slot_key,
                                     state=_state_json(state))


def thread_for_slot(*, user, post, slot_key: str) -> ChatThread:
    """The user's thread for a post slot, started from the slot's current prompt if new."""
    existing = ChatThread.objects.filter(user=user, post=post, slot_key=slot_key).order_by("-updated_at").first()
    return existing or thread_create(user=user, post=post, slot_key=slot_key)


def thread_rename(thread: ChatThread, *, title: str) -> ChatThread:
    title = " ".join(title.split())
    if not title:
        raise ValueError("A thread needs a title.")
    thread.title = title[:200]
    thread.save(update_fields=["title", "updated_at"])
    return thread


def thread_delete(thread: ChatThread) -> None:
    """The conversation goes; the images it made stay in the gallery."""
    thread.delete()


def threads_for(user, *, query: str = ""):
    threads = ChatThread.objects.filter(user=user)
    if query:
        threads = threads.filter(Q(title__icontains=query) | Q(messages__text__icontains=query)).distinct()
    return threads


def thread_images(thread: ChatThread) -> list[ImageOutput]:
    """The thread's images in the order they were made: #1, #2, ..."""
    return list(ImageOutput.objects.filter(chat_messages__thread=thread).order_by("created_at", "pk").distinct())


# -- a turn -------------------------------------------------------------------------------


def library_styles() -> dict[str, str]:
    return dict(ImagePromptExample.objects.exclude(style="").values_list("name", "style"))


def _image_states(thread: ChatThread) -> list[PromptState]:
    states = []
    for message in thread.messages.filter(role=ChatMessage.Role.ASSISTANT).prefetch_related("outputs"):
        saved = (message.prompt or {}).get("state")
        for _ in message.outputs.all():
            states.append(PromptState(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
                          if saved else state_of(thread))
    return states


def send_message(thread: ChatThread, *, text: str, user) -> ChatMessage:
    """Store the user's message and answer it; returns the assistant's message.

    A failure of the LLM or of the image request is the assistant's answer (with the
    reason); the user's words are kept either way."""
    _, pending = post_message(thread, text=text)
    return answer(pending, user=user)


def post_message(thread: ChatThread, *, text: str) -> tuple[ChatMessage, ChatMessage]:
    """Store the user's message and an unanswered assistant message, so a page shows both at once.

    `answer` or `answer_stream` fills the second in."""
    text = text.strip()
    if not text:
        raise ValueError("Write a message first.")
    with transaction.atomic():
        said = ChatMessage.objects.create(thread=thread, role=ChatMessage.Role.USER, text=text)
        pending = ChatMessage.objects.create(thread=thread, role=ChatMessage.Role.ASSISTANT,
                                             status=ChatMessage.Status.PENDING)
        if not thread.title:
            thread.title = text[:TITLE_CHARS]
        thread.save()
    return said, pending


def streams(thread: ChatThread) -> bool:
    """Whether the thread's assistant writes its answers as a stream (then pages use SSE)."""
    caps = get_llm(thread.llm or None).capabilities()
    return caps.tools and caps.streaming


def answer(message: ChatMessage, *, user) -> ChatMessage:
    """Answer a pending assistant message in one go (no streaming); the message as it now is."""
    for _ in answer_stream(message, user=user, stream=False):
        pass
    message.refresh_from_db()
    return message


def answer_stream(message: ChatMessage, *, user, stream: bool = True) -> Iterator[str | Working]:
    """Answer a pending assistant message, yielding the LLM's text as it is written
    (and a `Working` note when it goes on to make the image).

    Only the caller that claims the message (pending -> answering) answers it; any other
    gets nothing and the message is left to its claimant. Every outcome, failures too,
    leaves the message done."""
    claimed = ChatMessage.objects.filter(pk=message.pk, status=ChatMessage.Status.PENDING).update(
        status=ChatMessage.Status.ANSWERING)
    if not claimed:
        return
    thread = message.thread
    question = thread.messages.filter(role=ChatMessage.Role.USER, pk__lt=message.pk).order_by("-pk").first()
    text = question.text if question else ""
    llm = get_llm(thread.llm or None)
    state = state_of(thread)
    try:
        if llm.capabilities().tools:
            yield from _llm_turn(message, llm.alias, state, user, stream=stream)
            return
        first = not thread.messages.filter(role=ChatMessage.Role.ASSISTANT, status=ChatMessage.Status.DONE).exists()
        refinement = interpret(text, state, presets=library_styles(), images=_image_states(thread), first_turn=first)
        notes = list(refinement.understood)
        _generate_turn(message, refinement.state, user, reply=f"{llm.label}: " + "; ".join(notes), notes=notes)
    except (BlogImagesError, ValueError) as exc:
        _finish(message, text="That did not work.", error=str(exc))
    except GeneratorExit:
        # The page that was reading the stream went away mid-answer.
        _finish(message, text="That did not work.", error=INTERRUPTED)
        raise
    except Exception:
        # A bug, not bad input: logged with its traceback; the page stops waiting either way.
        logger.exception("chat message %s: the answer failed", message.pk)
        _finish(message, text="That did not work.", error="Something went wrong while answering; it is logged.")


def _finish(message: ChatMessage, **fields_) -> ChatMessage:
    for name, value in fields_.items():
        setattr(message, name, value)
    message.status = ChatMessage.Status.DONE
    message.save(update_fields=[*fields_, "status"])
    message.thread.save()  # the thread's updated_at: the list shows the latest first
    return message


def give_up_if_stale(message: ChatMessage) -> ChatMessage:
    """A message claimed long ago and never finished is answered with the interruption."""
    if message.status == ChatMessage.Status.DONE:
        return message
    age = (timezone.now() - message.created_at).total_seconds()
    if age > ANSWER_STALE_SECONDS and ChatMessage.objects.filter(
            pk=message.pk, status=message.status).update(status=ChatMessage.Status.DONE, error=INTERRUPTED,
                                                         text="That did not work."):
        message.refresh_from_db()
    return message


def _generate_turn(message: ChatMessage, state: PromptState, user, *, reply: str, notes: list[str],
                   llm_call=None) -> ChatMessage:
    thread = message.thread
    prompt = ImagePrompt(description=state.description_text, style=state.style_text, format=state.format,
                         negative_prompt=state.negative_prompt)
    overrides: dict[str, Any] = {"width": state.width, "height": state.height}
    if state.seed is not None:
        overrides["seed"] = state.seed
    with transaction.atomic():
        outputs = generation.submit(prompt=prompt, provider=thread.provider or None, overrides=overrides, n=1,
                                    post=thread.post, section_key=thread.slot_key, user=user)
        message.outputs.set(outputs)
        seed = state.seed if state.seed is not None else outputs[0].seed
        state = replace(state, seed=seed)
        sent = outputs[0]
        # What was sent, which includes the style guide's part for a post's image.
        prompt_sent = {**prompt_record(state, sent.provider), "text": sent.prompt_text,
                       "negative_prompt": sent.negative_prompt,
                       "style_guide": (sent.setting_snapshot or {}).get("style_guide") or {},
                       "state": _state_json(state)}
        thread.state = _state_json(state)
        _finish(message, text=reply, notes=notes, llm_call=llm_call, prompt=prompt_sent)
    return message


def _history(thread: ChatThread) -> list[Message]:
    recent = list(thread.messages.order_by("-created_at", "-pk")[:HISTORY_MESSAGES])[::-1]
    history = []
    for item in recent:
        content = item.text
        if item.role == ChatMessage.Role.ASSISTANT and item.prompt:
            content = f"{content}\n(generated with prompt: {item.prompt.get('text')}, " \
                      f"{item.prompt.get('width')}x{item.prompt.get('height')})"
        if content:
            history.append(Message(role=item.role, content=content))
    return history


def _llm_turn(message: ChatMessage, alias: str, state: PromptState, user, *, stream: bool) -> Iterator[str | Working]:
    thread = message.thread
    shown = prompt_record(state, thread.provider or "")
    system = SYSTEM.format(state=json.dumps({k: shown[k] for k in (
        "description", "style", "negative_prompt", "width", "height")}))
    request = CompletionRequest(messages=[Message(role="system", content=system), *_history(thread)],
                                tools=[GENERATE_TOOL])
    pieces = (llm_stream(request, alias=alias, user=user, purpose="chat") if stream
              else [llm_complete(request, alias=alias, user=user, purpose="chat")])
    for piece in pieces:
        if isinstance(piece, str):
            yield piece
        else:
            completion, call = piece
    generate = next((c for c in completion.tool_calls if c.name == GENERATE_TOOL.name), None)
    if generate is None:
        _finish(message, text=completion.text or "(no answer)", llm_call=call)
        return
    args = dict(generate.arguments)
    new = PromptState(
        description=str(args.get("description") or state.description_text),
        style=str(args.get("style", state.style_text) or ""), format=state.format,
        negative_prompt=str(args.get("negative_prompt", state.negative_prompt) or ""),
        width=_int(args.get("width"), state.width), height=_int(args.get("height"), state.height),
        seed=state.seed,
    )
    if args.get("new_seed"):
        new = replace(new, seed=None)
    notes = [f"{alias} called generate_image({json.dumps(args, sort_keys=True)})"]
    yield Working(f"Making the image ({new.width}×{new.height})…")
    _generate_turn(message, new, user, reply=completion.text or "Here it is.", notes=notes, llm_call=call)


def _int(value, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def finished(message: ChatMessage) -> bool:
    return all(o.status in (OutputStatus.SUCCEEDED, OutputStatus.FAILED) for o in message.outputs.all())
