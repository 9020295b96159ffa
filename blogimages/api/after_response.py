"""Work that follows a response on the same worker, once the client has it.

A WSGI server calls the response's `close()` after it has sent the last byte (gunicorn,
runserver and Django's test client alike); the work runs there, before Django's own
`request_finished` handlers, so it still has the request's database connection and the
worker thread is not handed the next request until it is done.

    return after_response(JsonResponse(body), later.run)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpResponseBase

logger = logging.getLogger("blogimages.api")


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
