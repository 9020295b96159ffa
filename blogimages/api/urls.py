"""URLs of the APIs and the usage page; the site mounts them with
`path("", include("blogimages.api.urls"))`.

    /api/...                     the JSON API (django-ninja); /api/docs, /api/openapi.json
    /v1/images/generations       OpenAI-compatible image generation
    /v1/images/edits, /variations  OpenAI-compatible edits and variations (multipart)
    /v1/models, /v1/models/<id>  the models /v1 offers
    /images/usage/               spend by user, provider and day, and the budgets (staff)

Every answer under /v1 is OpenAI's shape, errors included (middleware.OpenAIShapeMiddleware).
"""

from django.urls import path, re_path

from .. import usage
from . import boards, openai, openai_edits  # noqa: F401 (boards registers its router on `api`)
from .json import api

urlpatterns = [
    path("api/", api.urls),
    path("v1/images/generations", openai.images_generations, name="openai-images-generations"),
    path("v1/images/edits", openai_edits.images_edits, name="openai-images-edits"),
    path("v1/images/variations", openai_edits.images_variations, name="openai-images-variations"),
    path("v1/models", openai.models_list, name="openai-models"),
    path("v1/models/<path:model>", openai.model_detail, name="openai-model"),
    re_path(r"^v1/(?P<path>.*)$", openai.not_found),
    # A client whose base URL lacks /v1 is told so in OpenAI's shape, not with an HTML 404.
    re_path(r"^(?:images/(?:generations|edits|variations)|models)/?$", openai.missing_prefix),
    path("images/usage/", usage.usage_page, name="blogimages-usage"),
]
