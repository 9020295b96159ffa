"""/v1's name for blogimages.after_response (the mechanism is the whole site's now)."""

from ..after_response import after_response

__all__ = ["after_response"]
