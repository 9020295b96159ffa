"""`{% board_add_form output %}`: the small "Add to board" form on the image page, the develop
screen's candidates and the chat's images (one boards query per request)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template

from .. import boards

register = template.Library()


@register.inclusion_tag("blogimages/_board_add.html", takes_context=True)
def board_add_form(context, output, compact: bool = True):
    request = context.get("request")
    user = getattr(request, "user", None)
    mine = getattr(request, "_blogimages_own_boards", None)
    if mine is None and request is not None:
        mine = request._blogimages_own_boards = list(boards.own_boards(user))
    # In an htmx fragment the page to come back to is the browser's, not the fragment's URL.
    current = request.headers.get("HX-Current-URL", "") if request is not None else ""
    if current:
        parts = urlsplit(current)
        back = parts.path + (f"?{parts.query}" if parts.query else "")
    else:
        back = request.get_full_path() if request is not None else ""
    return {"output": output, "my_boards": mine or [], "board_next": back, "compact": compact,
            "csrf_token": context.get("csrf_token"), "show": bool(getattr(user, "is_authenticated", False))}
