"""The hand-off from services to background work: who runs queued ImageOutputs.

Services write queued ImageOutput rows and pass their ids to `enqueue_outputs` once the
transaction commits. The function that really queues them (Celery, in `tasks`) is
registered when the app is ready (`apps.py`), so services never import the task layer and
the arrow keeps pointing one way: tasks → services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.exceptions import ImproperlyConfigured

Runner = Callable[[list[int]], None]

_runner: Runner | None = None


def set_runner(runner: Runner) -> None:
    """Make `runner(output_ids)` the way queued images reach a worker (called once, at app ready)."""
    global _runner
    _runner = runner


def enqueue_outputs(output_ids: Iterable[int]) -> None:
    """Hand queued images to the registered runner; nothing to hand over is a no-op."""
    ids = list(output_ids)
    if not ids:
        return
    if _runner is None:
        raise ImproperlyConfigured("No runner for queued images: is 'blogimages' in INSTALLED_APPS (apps.ready)?")
    _runner(ids)


PostRenditionsRunner = Callable[[int], bool]

_post_renditions_runner: PostRenditionsRunner | None = None


def set_post_renditions_runner(runner: PostRenditionsRunner) -> None:
    """Make `runner(post_pk)` the way a published post's renditions get made: True when they are
    made later (a worker has them, or, without a broker, they follow the request's response),
    False when it made them before returning (no broker and no request: a command, a shell)."""
    global _post_renditions_runner
    _post_renditions_runner = runner


def enqueue_post_renditions(post_pk) -> bool:
    if _post_renditions_runner is None:
        raise ImproperlyConfigured("No runner for post renditions: is 'blogimages' in INSTALLED_APPS (apps.ready)?")
    return _post_renditions_runner(post_pk)
