"""Template tags a host blog uses to publish images: `{% load blogimages %}`.

    {% blog_image image sizes="(min-width: 60rem) 60rem, 100vw" %}
        a <figure> with a <picture>: WebP renditions at several widths, the original's
        format as the fallback, width/height, alt text, lazy loading, caption and AI label
    {% ai_label image %}
        the visible "AI-generated" label of a realistic depiction (EU AI Act Art. 50(4))

Renditions are made on first use and reused; a view that shows many images calls
`renditions.prepare_renditions(images)` first so the page reads them in one query.
"""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import renditions
from ..imaging.renditions import format_of

register = template.Library()


def alt_for(image) -> str:
    """What the page's alt attribute says: empty for a decorative image, else the alt text
    (or, for an image stored before alt text existed, the offline suggestion)."""
    if image.decorative:
        return ""
    if image.alt_text:
        return image.alt_text
    from ..generation import suggested_alt_text

    return suggested_alt_text(image)


@register.simple_tag
def ai_label(image) -> SafeString:
    if image is None or not getattr(image, "realistic", False):
        return SafeString("")
    return format_html(
        '<span class="ai-label" title="{}">AI-generated</span>',
        "This realistic image was made with artificial intelligence.",
    )


@register.simple_tag
def blog_image(image, sizes: str = "100vw", loading: str = "lazy", caption: bool = True,
               css_class: str = "") -> SafeString:
    if image is None or not image.file or not image.width:
        return SafeString("")
    webp = renditions.srcset(image, "webp")
    fallback_format = format_of(image.mime_type)
    fallback = renditions.srcset(image, fallback_format) if fallback_format != "webp" else []
    largest = (fallback or webp)[-1] if (fallback or webp) else None
    context = {
        "image": image, "sizes": sizes, "loading": loading if loading in ("lazy", "eager") else "lazy",
        "webp": webp if fallback else [], "fallback": fallback or webp,
        "src": largest.url if largest else image.file.url,
        "width": image.width, "height": image.height,
        "alt": alt_for(image), "caption": image.caption if caption else "", "label": ai_label(image),
        "css_class": css_class,
    }
    return SafeString(render_to_string("blogimages/_picture.html", context))
