"""`{% load blogimages_messages %}`: failures phrased for authors (see blogimages/messages.py)."""

from django import template

from .. import messages

register = template.Library()


@register.filter
def author_message(output) -> messages.AuthorMessage:
    """`{% with message=output|author_message %}{{ message.headline }}…{% endwith %}`"""
    return messages.author_message(output)


@register.filter
def error_field(output) -> str:
    return messages.error_field(output)


@register.inclusion_tag("blogimages/_failure.html")
def failure_box(output, retry: bool = True):
    """A failed image's message, its folded technical detail and (when it may help) Retry."""
    message = messages.author_message(output)
    return {"output": output, "message": message, "field": messages.error_field(output),
            "retry": retry and message.retryable}
