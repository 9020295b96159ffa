"""Work that follows a response on the same worker, once the client has it.

A WSGI server calls the response's `close()` after it has sent the last byte (gunicorn,
runserver and Django's test client alike); the work runs there, before Django's own
`request_finished` handlers, so it still has the request's database connection and the
worker thread is not handed the next request until it is done.

    return after_response(JsonResponse(body), later.run)    # a view that holds its response

Code deep below a view (a signal, an on_commit hook) has no response to hold: it calls

    if not defer(work):
        work()          # not in a request (a command, a worker): now

and `AfterResponseMiddleware` runs what the request deferred after its response, in order.
Publishing without a broker makes a post's renditions this way: the editor gets the page at once.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable

from django.http import HttpResponseBase

logger = logging.getLogger("blogimages.after_response")

_deferred: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "blogimages_after_response", default=None)


def after_response(response: HttpResponseBase, work: Callable[[], None]) -> HttpResponseBase:
    """`response`, with `work()` run when the server closes it (an error in it is logged)."""
    close = response.close

    def close_after_work() -> None:
        try:
            work()
        except Exception:
            logger.exception("work after the response failed")
        finally:
            close()

    response.close = close_after_work  # type: ignore[method-assign]
    return response


def defer(work: Callable[[], None]) -> bool:
    """Run `work()` after the current request's response (True), or say there is no request
    to wait for (False: the caller runs it now)."""
    pending = _deferred.get()
    if pending is None:
        return False
    pending.append(work)
    return True


def _run_all(works: list[Callable[[], None]]) -> None:
    for work in works:
        try:
            work()
        except Exception:  # one failing piece must not cost the others
            logger.exception("work after the response failed")


class AfterResponseMiddleware:
    """Collects what the request `defer`s and runs it once the response has been sent."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        pending: list[Callable[[], None]] = []
        token = _deferred.set(pending)
        try:
            response = self.get_response(request)
        finally:
            _deferred.reset(token)
        if pending:
            return after_response(response, lambda: _run_all(pending))
        return response
