"""The JSON API (django-ninja): prompt library, settings, images, generation, batches, review.

Mounted at /api/; its OpenAPI schema is /api/openapi.json and the interactive docs
/api/docs. Every endpoint needs a caller: a personal API token (`Authorization: Bearer
bi_...`, no CSRF token needed) or a logged-in session (unsafe methods then need Django's
CSRF token, as pages send it). The generating endpoints count against the rate limits and
are refused before any provider call when they would overspend a budget.

Views only translate: reads go through `selectors`, writes through `generation`,
`batches` and the models' own validation (`full_clean`; settings also through
`presets.validate_setting`, which asks their provider).
"""

# No `from __future__ import annotations`: ninja and pydantic read these annotations at
# import time, and PatchDict cannot rebuild schemas from string annotations.
import base64
import binascii
import datetime as dt
import math
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import MultipleObjectsReturned, ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Body, NinjaAPI, PatchDict, Path, Query, Router, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer, SessionAuth
from pydantic import AfterValidator, Field, StringConstraints

from .. import batches, boards, editing, generation, paging, presets, ratelimit, review, signed_media, tokens
from ..budgets import BudgetExceeded, PriceUnknown
from ..conf import blogimages_settings
from ..exceptions import BlogImagesError, InvalidProviderError, ProviderError, QueueUnavailable, UnsupportedFeature
from ..integration import get_post_adapter, get_post_model
from ..models import (
    GenerationBatch,
    ImageOutput,
    ImagePrompt,
    ImagePromptExample,
    ImageSetting,
    OutputStatus,
    ReviewStatus,
)
from ..providers import get_provider
from ..providers.base import MAX_SEED_64, given_seed
from ..selectors import ImageFilters, image_list
from .openai import seconds_until_budget_reset

# -- authentication ------------------------------------------------------------------------


class TokenAuth(HttpBearer):
    """A personal API token. Sets `request.api_token` so limits and images can name it."""

    def __call__(self, request: HttpRequest):
        # ninja's HttpBearer logs a header with another scheme in DEBUG; this never logs it.
        scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str):
        api_token = tokens.authenticate_token(token)
        if api_token is None:
            return None
        request.api_token = api_token
        request.user = api_token.user
        return api_token.user


class SessionOrNothing(SessionAuth):
    """Django's session, with CSRF checked only when the session is what authenticates.

    ninja's SessionAuth checks CSRF before it knows whether there is a session at all,
    so a POST with a wrong bearer token would be answered "CSRF check failed" instead of
    401. Without a logged-in session there is nothing for a forged request to ride on.
    """

    def _get_key(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)


api = NinjaAPI(
    title="blogimages API",
    version="1",
    description=(
        "Prompt library, settings, images, generation, post batches and review. Authenticate with a "
        "personal API token (`Authorization: Bearer bi_...`; `python manage.py create_api_token USER`) "
        "or a logged-in session. The OpenAI-compatible endpoint is `POST /v1/images/generations`."
    ),
    urls_namespace="blogimages_api",
    auth=[TokenAuth(), SessionOrNothing()],
)


def caller(request: HttpRequest):
    return request.auth


def require_perm(request: HttpRequest, perm: str) -> None:
    if not caller(request).has_perm(perm):
        raise PermissionDenied(f"You need the {perm!r} permission for this.")


# -- errors: one shape, {"detail": message, "code": ..., ...} --------------------------------


def _error(request: HttpRequest, status: int, detail: str, code: str, **extra: Any) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "code": code, **extra}, status=status)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(request, 401, "Authentication required: send `Authorization: Bearer <API token>` (a valid, "
                                    "unrevoked token) or log in.", "not_authenticated")
    response["WWW-Authenticate"] = 'Bearer realm="blogimages"'
    return response


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "You may not do this.", "permission_denied")


@api.exception_handler(ratelimit.RateLimited)
def _rate_limited(request: HttpRequest, exc: ratelimit.RateLimited) -> HttpResponse:
    response = _error(request, 429, str(exc), "rate_limit_exceeded", retry_after=exc.retry_after)
    for name, value in exc.headers().items():
        response[name] = value
    return response


@api.exception_handler(ratelimit.RateLimitUnavailable)
@api.exception_handler(QueueUnavailable)
def _service_down(request: HttpRequest, exc: BlogImagesError) -> HttpResponse:
    code = "queue_unavailable" if isinstance(exc, QueueUnavailable) else "rate_limit_unavailable"
    response = _error(request, 503, str(exc), code, retry_after=exc.retry_after)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(BudgetExceeded)
def _over_budget(request: HttpRequest, exc: BudgetExceeded) -> HttpResponse:
    if isinstance(exc, PriceUnknown):
        # No retry helps until the request is priced: no Retry-After.
        return _error(request, 400, str(exc), "price_unknown", scope=exc.scope, limit=str(exc.limit))
    seconds = seconds_until_budget_reset(exc.scope)
    response = _error(request, 429, str(exc), "budget_exceeded", scope=exc.scope, limit=str(exc.limit),
                      spent=str(exc.spent), cost=str(exc.cost))
    response["Retry-After"] = str(seconds)
    return response


@api.exception_handler(BlogImagesError)
@api.exception_handler(UnsupportedFeature)
@api.exception_handler(InvalidProviderError)
def _bad_request(request: HttpRequest, exc: BlogImagesError) -> HttpResponse:
    return _error(request, 400, str(exc), "invalid_request")


@api.exception_handler(ProviderError)
def _provider_error(request: HttpRequest, exc: ProviderError) -> HttpResponse:
    response = _error(request, 503 if exc.retryable else 502, f"The image provider is not available: {exc}",
                      "provider_unavailable")
    if exc.retryable:
        response["Retry-After"] = str(math.ceil(getattr(exc, "retry_after", None) or 1))
    return response


def _validation_failed(exc: DjangoValidationError) -> HttpError:
    """A model's full_clean() refusal as a 400 that names the fields."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    error = HttpError(400, " ".join(f"{'' if f == '__all__' else f + ': '}{m}" for f, ms in errors.items()
                                     for m in ms))
    error.errors = errors
    return error


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    extra = {"errors": exc.errors} if getattr(exc, "errors", None) else {}
    codes = {400: "invalid_request", 404: "not_found", 409: "conflict"}
    return _error(request, exc.status_code, str(exc), codes.get(exc.status_code, "error"), **extra)


# -- shared types ------------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    # PostgreSQL cannot store NUL, and lone surrogates cannot be encoded at all.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    value.encode("utf-8")  # UnicodeEncodeError is a ValueError: reported as invalid
    return value


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        _clean_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _clean_text(key)
            _clean_json(item)
    elif isinstance(value, list):
        for item in value:
            _clean_json(item)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    return value


def Text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_clean_text)]


def RequiredText(max_length: int) -> Any:
    return Annotated[
        str, StringConstraints(min_length=1, max_length=max_length, strip_whitespace=False),
        AfterValidator(_clean_text), AfterValidator(_not_blank),
    ]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]
PositiveId = Annotated[int, Field(ge=1, le=2**63 - 1)]
# Path ids, with an example the docs show (and schemathesis tries first).
ExampleId = Annotated[int, Path(example=1, description="The prompt example's id.")]
SettingId = Annotated[int, Path(example=1, description="The setting's id.")]
ImageId = Annotated[int, Path(example=1, description="The image's id.")]
BatchId = Annotated[int, Path(example=1, description="The batch's id.")]
PostSlug = Annotated[str, Path(example="hello-world", description="The post's slug.")]
Size = Annotated[int, Field(ge=1, le=8192)]
# 0 … 2^64−1 (ComfyUI); each provider narrows it (AUTOMATIC1111: 2^32−1); −1 = random, as in A1111.
Seed = Annotated[int, Field(ge=-1, le=MAX_SEED_64)]
Steps = Annotated[int, Field(ge=1, le=10_000)]
Guidance = Annotated[float, Field(ge=-1000, le=1000, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1, le=10)]


class ErrorOut(Schema):
    detail: Any = Field(description="What went wrong, in words (a list of problems for 422).")
    code: str | None = None


class PageParams(Schema):
    limit: int = Field(20, ge=1, le=100, description="Items per page (at most 100).")
    offset: int = Field(0, ge=0, le=10**9, description="Items to skip (prefer `cursor`: as cheap at any depth).")
    cursor: Text(500) = Field("", description="A page's `older` or `newer` cursor, as handed out (opaque).")


class Page(Schema):
    count: int = Field(description="How many items match, exact up to 10,000 (see count_is_exact).")
    count_is_exact: bool = Field(description="False when there are more than `count` items (not counted further).")
    limit: int
    offset: int | None = Field(description="The offset asked for; null for a cursor page.")
    next: str | None = Field(description="The next (older) page's URL, with its cursor.")
    previous: str | None = Field(description="The previous (newer) page's URL, with its cursor.")
    older: str | None = Field(description="Opaque cursor of the next page: send it as `cursor`.")
    newer: str | None = Field(description="Opaque cursor of the previous page: send it as `cursor`.")


def paginate(request: HttpRequest, queryset, page: PageParams, serialize) -> dict[str, Any]:
    """A page by cursor (keyset: the same cost at any depth) or, for `offset`, ids first;
    a count that stops at paging.COUNT_LIMIT. Three queries with the token lookup whatever
    the page size (four for a deep offset: the ids, then the rows)."""
    limit = page.limit
    count, exact = paging.bounded_count(queryset)
    offset: int | None = None
    if page.cursor:
        try:
            found = paging.keyset_page(queryset, cursor=page.cursor, size=limit)
        except paging.InvalidCursor as exc:
            raise HttpError(400, str(exc)) from exc
        rows, older, newer = found.items, found.older, found.newer
    else:
        offset = page.offset
        if offset:
            ids = list(queryset.values_list("pk", flat=True)[offset:offset + limit + 1])
            by_pk = queryset.filter(pk__in=ids[:limit]).in_bulk()
            rows = [by_pk[pk] for pk in ids[:limit] if pk in by_pk]
            more = len(ids) > limit
        else:
            rows = list(queryset[:limit + 1])
            more, rows = len(rows) > limit, rows[:limit]
        ordering = paging.ordering_of(queryset)
        older = paging.cursor_after(rows[-1], ordering) if rows and more else None
        newer = paging.cursor_before(rows[0], ordering) if rows and offset else None

    def url(cursor: str | None) -> str | None:
        if cursor is None:
            return None
        params = request.GET.copy()
        params.pop("offset", None)
        params["limit"], params["cursor"] = str(limit), cursor
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    return {
        "count": count, "count_is_exact": exact, "limit": limit, "offset": offset,
        "items": [serialize(item) for item in rows],
        "next": url(older), "previous": url(newer), "older": older, "newer": newer,
    }


def _absolute(request: HttpRequest, field_file) -> str | None:
    # Signed and expiring, served by the app (or presigned by S3): works with DEBUG off.
    return signed_media.url_for(field_file.name, request=request) if field_file else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.4f}"


# -- prompt examples (the prompt library) --------------------------------------------------------

examples = Router(tags=["prompt examples"])


class ExampleIn(Schema):
    name: RequiredText(120)
    description: RequiredText(20_000) = Field(
        description="What to draw; may use {title}, {summary}, {heading}, {section_text}, {tags}."
    )
    style: Text(500) = ""
    format: Text(500) = ""
    negative_prompt: Text(20_000) = ""
    setting: PositiveId | None = Field(None, description="Id of an ImageSetting.")
    tags: Text(300) = Field("", description="Comma-separated.")
    notes: Text(20_000) = ""
    rating: int | None = Field(None, ge=1, le=5)


class ExampleOut(Schema):
    id: int
    name: str
    description: str
    style: str
    format: str
    negative_prompt: str
    setting: int | None
    tags: list[str]
    notes: str
    rating: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ExamplePage(Page):
    items: list[ExampleOut]


def example_out(example: ImagePromptExample) -> dict[str, Any]:
    return {
        "id": example.pk, "name": example.name, "description": example.description, "style": example.style,
        "format": example.format, "negative_prompt": example.negative_prompt, "setting": example.setting_id,
        "tags": example.tag_list, "notes": example.notes, "rating": example.rating,
        "created_at": example.created_at, "updated_at": example.updated_at,
    }


def _setting_or_400(setting_id: int | None) -> ImageSetting | None:
    if setting_id is None:
        return None
    setting = ImageSetting.objects.filter(pk=setting_id).first()
    if setting is None:
        error = HttpError(400, f"setting: no setting with id {setting_id}.")
        error.errors = {"setting": [f"No setting with id {setting_id}."]}
        raise error
    return setting


def _save(instance, *, validate=None) -> None:
    """Validate with the model's own rules (and `validate`, a service's), then save; a name
    taken meanwhile is a 409."""
    errors: dict[str, list] = {}
    try:
        instance.full_clean()
    except DjangoValidationError as exc:
        errors = exc.update_error_dict(errors)
    if validate is not None:
        try:
            validate(instance)
        except DjangoValidationError as exc:
            errors = exc.update_error_dict(errors)
    if errors:
        raise _validation_failed(DjangoValidationError(errors))
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise HttpError(409, f"Could not save: {exc}") from exc


def _no_nulls(data: dict[str, Any], nullable: set[str]) -> None:
    """PATCH bodies make every field optional, not every field nullable."""
    nulls = sorted(name for name, value in data.items() if value is None and name not in nullable)
    if nulls:
        error = HttpError(400, f"{', '.join(nulls)}: may not be null.")
        error.errors = {name: ["May not be null."] for name in nulls}
        raise error


def _apply_example(example: ImagePromptExample, data: dict[str, Any]) -> None:
    _no_nulls(data, {"setting", "rating"})
    for name, value in data.items():
        if name == "setting":
            example.setting = _setting_or_400(value)
        else:
            setattr(example, name, value)


def _example_or_404(example_id: int) -> ImagePromptExample:
    example = ImagePromptExample.objects.filter(pk=example_id).first()
    if example is None:
        raise HttpError(404, f"No prompt example with id {example_id}.")
    return example


@examples.get("", response=ExamplePage, summary="List prompt examples")
def list_examples(
    request: HttpRequest, page: Query[PageParams], q: Text(200) = "", tag: Text(100) = "",
) -> dict[str, Any]:
    """By name; `q` searches name, description and notes, `tag` one tag."""
    found = ImagePromptExample.objects.order_by("name", "pk")
    for word in q.split()[:8]:
        found = found.filter(Q(name__icontains=word) | Q(description__icontains=word) | Q(notes__icontains=word))
    if tag.strip():
        found = found.filter(tags__icontains=tag.strip().lower())
    return paginate(request, found, page, example_out)


@examples.post("", response={201: ExampleOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut},
               summary="Create a prompt example")
def create_example(request: HttpRequest, payload: ExampleIn):
    require_perm(request, "blogimages.add_imagepromptexample")
    example = ImagePromptExample(author=caller(request))
    _apply_example(example, payload.dict())
    _save(example)
    return Status(201, example_out(example))


@examples.get("/{int:example_id}", response={200: ExampleOut, 404: ErrorOut}, summary="Get a prompt example")
def get_example(request: HttpRequest, example_id: ExampleId):
    return example_out(_example_or_404(example_id))


@examples.put("/{int:example_id}", response={200: ExampleOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
              summary="Replace a prompt example")
def replace_example(request: HttpRequest, example_id: ExampleId, payload: ExampleIn):
    require_perm(request, "blogimages.change_imagepromptexample")
    example = _example_or_404(example_id)
    _apply_example(example, payload.dict())
    _save(example)
    return example_out(example)


@examples.patch("/{int:example_id}", response={200: ExampleOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
                summary="Change some fields of a prompt example")
def update_example(request: HttpRequest, example_id: ExampleId, payload: PatchDict[ExampleIn]):
    require_perm(request, "blogimages.change_imagepromptexample")
    example = _example_or_404(example_id)
    _apply_example(example, payload)
    _save(example)
    return example_out(example)


@examples.delete("/{int:example_id}", response={204: None, 403: ErrorOut, 404: ErrorOut},
                 summary="Delete a prompt example")
def delete_example(request: HttpRequest, example_id: ExampleId):
    require_perm(request, "blogimages.delete_imagepromptexample")
    _example_or_404(example_id).delete()
    return Status(204, None)


# -- settings (parameter presets) -------------------------------------------------------------------

settings_router = Router(tags=["settings"])


class SettingIn(Schema):
    name: RequiredText(100)
    provider: Text(50) = Field("", description="A provider alias; blank: the default provider.")
    model: Text(200) = Field("", description="Blank: the provider's default model.")
    width: Size = 1024
    height: Size = 1024
    steps: Steps | None = None
    guidance_scale: Guidance | None = None
    seed: Seed | None = Field(None, description="Blank: a new random seed for every image.")
    quality: Text(30) = ""
    style: Text(30) = ""
    sampler: Text(100) = ""
    extra_settings: JsonObject = Field(default_factory=dict, description="Anything else the provider takes.")
    fallbacks: list[Text(50)] = Field(default_factory=list, max_length=10,
                                      description="Provider aliases tried in order when this one fails or is down.")
    notes: Text(20_000) = ""


class SettingOut(Schema):
    id: int
    name: str
    provider: str
    model: str
    width: int
    height: int
    steps: int | None
    guidance_scale: float | None
    seed: int | None
    quality: str
    style: str
    sampler: str
    extra_settings: dict[str, Any]
    fallbacks: list[str]
    notes: str
    created_at: dt.datetime
    updated_at: dt.datetime


class SettingPage(Page):
    items: list[SettingOut]


SETTING_FIELDS = ("name", "provider", "model", "width", "height", "steps", "guidance_scale", "seed", "quality",
                  "style", "sampler", "extra_settings", "fallbacks", "notes")


def setting_out(setting: ImageSetting) -> dict[str, Any]:
    out = {name: getattr(setting, name) for name in SETTING_FIELDS}
    return {"id": setting.pk, **out, "created_at": setting.created_at, "updated_at": setting.updated_at}


def _apply_setting(setting: ImageSetting, data: dict[str, Any]) -> None:
    _no_nulls(data, {"steps", "guidance_scale", "seed"})
    for name, value in data.items():
        if name == "provider" and not value:
            value = blogimages_settings.DEFAULT_PROVIDER
        if name == "seed" and value == -1:
            value = None  # −1 = a new random seed for every image, as a blank seed
        setattr(setting, name, value)


def _setting_or_404(setting_id: int) -> ImageSetting:
    setting = ImageSetting.objects.filter(pk=setting_id).first()
    if setting is None:
        raise HttpError(404, f"No setting with id {setting_id}.")
    return setting


@settings_router.get("", response=SettingPage, summary="List settings")
def list_settings(request: HttpRequest, page: Query[PageParams], provider: Text(50) = "") -> dict[str, Any]:
    found = ImageSetting.objects.order_by("name", "pk")
    if provider:
        found = found.filter(provider=provider)
    return paginate(request, found, page, setting_out)


@settings_router.post("", response={201: SettingOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut},
                      summary="Create a setting")
def create_setting(request: HttpRequest, payload: SettingIn):
    """Validated against the provider's capabilities (sizes, steps, quality, ...)."""
    require_perm(request, "blogimages.add_imagesetting")
    setting = ImageSetting()
    _apply_setting(setting, payload.dict())
    _save(setting, validate=presets.validate_setting)
    return Status(201, setting_out(setting))


@settings_router.get("/{int:setting_id}", response={200: SettingOut, 404: ErrorOut}, summary="Get a setting")
def get_setting(request: HttpRequest, setting_id: SettingId):
    return setting_out(_setting_or_404(setting_id))


@settings_router.put("/{int:setting_id}", response={200: SettingOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
                     summary="Replace a setting")
def replace_setting(request: HttpRequest, setting_id: SettingId, payload: SettingIn):
    require_perm(request, "blogimages.change_imagesetting")
    setting = _setting_or_404(setting_id)
    _apply_setting(setting, payload.dict())
    _save(setting, validate=presets.validate_setting)
    return setting_out(setting)


@settings_router.patch("/{int:setting_id}", response={200: SettingOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
                       summary="Change some fields of a setting")
def update_setting(request: HttpRequest, setting_id: SettingId, payload: PatchDict[SettingIn]):
    require_perm(request, "blogimages.change_imagesetting")
    setting = _setting_or_404(setting_id)
    _apply_setting(setting, payload)
    _save(setting, validate=presets.validate_setting)
    return setting_out(setting)


@settings_router.delete("/{int:setting_id}", response={204: None, 403: ErrorOut, 404: ErrorOut},
                        summary="Delete a setting")
def delete_setting(request: HttpRequest, setting_id: SettingId):
    require_perm(request, "blogimages.delete_imagesetting")
    _setting_or_404(setting_id).delete()
    return Status(204, None)


# -- images -----------------------------------------------------------------------------------------

images = Router(tags=["images"])


class ImageOut(Schema):
    id: int
    uid: str
    status: str = Field(description="queued, running, succeeded or failed.")
    error: str
    review_status: str = Field(description="pending, approved or rejected.")
    provider: str
    model: str
    prompt: str
    negative_prompt: str
    revised_prompt: str
    seed: int | None
    width: int | None
    height: int | None
    mime_type: str
    bytes: int | None
    url: str | None
    thumbnail_url: str | None
    post: str | None = Field(description="The post's slug, for post images.")
    section_key: str
    batch: int | None
    derived_from: int | None
    reused_from: int | None = Field(description="For an identical request answered from storage: the id of the "
                                                "image it reuses (same bytes, no provider call); else null.")
    phash: str | None = Field(description="Perceptual hash (pHash, 64 bits as 16 hex digits) for near-duplicates; "
                                          "null when none was computed (e.g. not yet made).")
    created_by: str | None
    cost_estimate: str | None = Field(description="Estimated USD, as a decimal string.")
    alt_text: str = Field(description="Alt text for pages (empty for a decorative image).")
    alt_status: str = Field(description="suggested (made offline from the prompt) or approved (by a person).")
    caption: str
    decorative: bool
    realistic: bool = Field(description="A realistic depiction: pages show a visible AI-generated label.")
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ImagePage(Page):
    items: list[ImageOut]


def image_out(request: HttpRequest, output: ImageOutput) -> dict[str, Any]:
    return {
        "id": output.pk, "uid": str(output.uid), "status": output.status, "error": output.error,
        "review_status": output.review_status, "provider": output.provider, "model": output.model,
        "prompt": output.prompt_text, "negative_prompt": output.negative_prompt,
        "revised_prompt": output.revised_prompt, "seed": output.seed, "width": output.width,
        "height": output.height, "mime_type": output.mime_type, "bytes": output.bytes,
        "url": _absolute(request, output.file), "thumbnail_url": _absolute(request, output.thumbnail),
        "post": get_post_adapter().slug(output.post) if output.post_id else None,
        "section_key": output.section_key, "batch": output.batch_id, "derived_from": output.derived_from_id,
        "reused_from": output.reused_from_id, "phash": output.phash or None,
        "created_by": output.created_by.get_username() if output.created_by_id else None,
        "cost_estimate": _money(output.cost_estimate), "alt_text": "" if output.decorative else output.alt_text,
        "alt_status": output.alt_status, "caption": output.caption, "decorative": output.decorative,
        "realistic": output.realistic, "created_at": output.created_at, "finished_at": output.finished_at,
    }


def _valid_date(value: dt.date | None) -> dt.date | None:
    # The gallery's date filter adds a day to date_to: keep clear of datetime's limits.
    if value is not None and not 1900 <= value.year <= 9998:
        raise ValueError("year must be between 1900 and 9998")
    return value


FilterDate = Annotated[dt.date, AfterValidator(_valid_date)]


class ImageFilterParams(Schema):
    """The gallery's filters (`selectors.ImageFilters`)."""

    q: Text(200) = Field("", description="Words in the prompt.")
    post: PositiveId | None = Field(None, description="The post's id.")
    section: Text(100) = ""
    provider: Text(50) = ""
    model: Text(200) = ""
    review_status: ReviewStatus | None = None
    status: OutputStatus | None = None
    batch: PositiveId | None = None
    date_from: FilterDate | None = None
    date_to: FilterDate | None = None
    originals_only: bool = False
    board: PositiveId | None = Field(None, description="Only the images on this board (one you own, or, for staff, "
                                                       "one shared with staff or by link); any other id is a 404.")


def _image_or_404(image_id: int) -> ImageOutput:
    output = ImageOutput.objects.select_related("post", "prompt", "created_by").filter(pk=image_id).first()
    if output is None:
        raise HttpError(404, f"No image with id {image_id}.")
    return output


@images.get("", response={200: ImagePage, 404: ErrorOut}, summary="List images (the gallery)")
def list_images(request: HttpRequest, filters: Query[ImageFilterParams], page: Query[PageParams]) -> dict[str, Any]:
    """Newest first, with the gallery's filters; two queries whatever the page size. A `board`
    the caller may not see is answered like one that does not exist: 404, never an empty list
    (which would look like an empty board)."""
    if filters.board is not None and not boards.visible_boards(caller(request)).filter(pk=filters.board).exists():
        raise HttpError(404, f"No board with id {filters.board}.")
    params = {name: ("1" if value is True else str(value)) for name, value in filters.dict().items()
              if value not in (None, "", False)}
    found = image_list(ImageFilters.from_params(params))
    return paginate(request, found, page, lambda output: image_out(request, output))


@images.get("/{int:image_id}", response={200: ImageOut, 404: ErrorOut}, summary="Get an image")
def get_image(request: HttpRequest, image_id: ImageId):
    return image_out(request, _image_or_404(image_id))


class GenerateIn(Schema):
    prompt: RequiredText(32_000) = Field(description="What to draw (the prompt's description).")
    style: Text(500) = Field("", description="The prompt's style words (\"watercolor\"), or a provider style "
                                             "such as DALL·E 3's vivid/natural, which is sent as that option.")
    format: Text(500) = Field("", description="The prompt's format words (\"square cover\").")
    negative_prompt: Text(32_000) = ""
    provider: Text(50) | None = Field(None, description="A provider alias; default: the setting's or the site's.")
    model: Text(200) | None = None
    setting: PositiveId | None = Field(None, description="Id of an ImageSetting to start from.")
    n: Count = 1
    width: Size | None = None
    height: Size | None = None
    seed: Seed | None = None
    steps: Steps | None = None
    guidance_scale: Guidance | None = None
    quality: Text(30) | None = None


class GenerateOut(Schema):
    images: list[ImageOut] = Field(description="Every image made; a provider failure is an image whose status "
                                               "is failed, with the reason in error.")
    cost_estimate: str | None


@images.post("/generate", response={201: GenerateOut, 400: ErrorOut, 429: ErrorOut, 502: ErrorOut, 503: ErrorOut},
             summary="Generate images (inline)")
def generate_images(request: HttpRequest, payload: GenerateIn):
    """The same path as the tester and /v1: rate limit, budget check, provider call, stored images."""
    setting = _setting_or_400(payload.setting)
    alias = payload.provider or (setting.provider if setting else None)
    style, overrides = payload.style, {
        "model": payload.model, "seed": given_seed(payload.seed), "steps": payload.steps,
        "guidance_scale": payload.guidance_scale, "quality": payload.quality,
        "width": payload.width, "height": payload.height,
    }
    if style and style in get_provider(alias).capabilities(payload.model or "").styles:
        overrides["style"], style = style, ""
    prompt = ImagePrompt(description=payload.prompt, style=style, format=payload.format,
                         negative_prompt=payload.negative_prompt)
    outputs = generation.generate(prompt=prompt, setting=setting, provider=alias, overrides=overrides, n=payload.n,
                                  user=caller(request), api_token=getattr(request, "api_token", None), source="api")
    costs = [o.cost_estimate for o in outputs]
    total = None if any(c is None for c in costs) else sum(costs, Decimal(0))
    return Status(201, {"images": [image_out(request, o) for o in outputs], "cost_estimate": _money(total)})


class EditIn(Schema):
    prompt: RequiredText(32_000) = Field(description="What to change.")
    mask: str | None = Field(None, max_length=30_000_000,
                             description="Base64 PNG (or data: URL) the image's size; transparent pixels mark "
                                         "the area to change.")
    references: list[PositiveId | Annotated[str, Field(max_length=30_000_000)]] = Field(
        default_factory=list, max_length=16,
        description="Reference images: ids of stored images or base64 PNG/JPEG/WebP (data: URLs too).")
    strength: float | None = Field(None, ge=0, le=1, description="How far to move from the source (0-1).")
    input_fidelity: Literal["", "high", "low"] = ""
    provider: Text(50) | None = Field(None, description="A provider that can edit; default: the image's own.")
    model: Text(200) | None = None
    n: Count = 1


def _decoded(value: str, what: str) -> bytes:
    text = value.partition(",")[2] if value.startswith("data:") else value
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HttpError(400, f"{what} is not valid base64.") from exc


@images.post("/{int:image_id}/edit",
             response={201: GenerateOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut, 502: ErrorOut,
                       503: ErrorOut},
             summary="Edit an image (img2img, inpainting with a mask, references)")
def edit_image(request: HttpRequest, image_id: ImageId, payload: EditIn):
    """The one edit path, as the editor page and /v1/images/edits: rate limit, budget, every input
    checked before any provider call (nothing stored on refusal), derived images linked to the source."""
    source = _image_or_404(image_id)
    references: list[Any] = []
    for index, ref in enumerate(payload.references, start=1):
        if isinstance(ref, int):
            references.append(_image_or_404(ref))
        else:
            references.append(_decoded(ref, f"Reference {index}"))
    mask = _decoded(payload.mask, "The mask") if payload.mask else None
    try:
        outputs = editing.edit(source=source, prompt=payload.prompt, mask=mask, references=references,
                               strength=payload.strength, input_fidelity=payload.input_fidelity,
                               provider=payload.provider, overrides={"model": payload.model}, n=payload.n,
                               user=caller(request), api_token=getattr(request, "api_token", None))
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from exc
    for output in outputs:
        output.refresh_from_db()
    costs = [o.cost_estimate for o in outputs]
    total = None if any(c is None for c in costs) else sum(costs, Decimal(0))
    return Status(201, {"images": [image_out(request, o) for o in outputs], "cost_estimate": _money(total)})


class ApproveIn(Schema):
    note: Text(5000) = Field("", description="Shown in the image's review trail.")


class RejectIn(Schema):
    reason: RequiredText(5000) = Field(description="Why; shown in the image's review trail.")


def _reviewed(request: HttpRequest, image_id: int, act) -> dict[str, Any]:
    """Run a review service (it checks the permission and records the ReviewEvent)."""
    output = _image_or_404(image_id)
    try:
        act(output)
    except ValueError as exc:  # e.g. the image is not a finished one
        raise HttpError(409, str(exc)) from exc
    output.refresh_from_db(fields=["review_status"])
    return image_out(request, output)


@images.post("/{int:image_id}/approve", response={200: ImageOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             summary="Approve an image")
def approve_image(request: HttpRequest, image_id: ImageId, payload: Annotated[ApproveIn | None, Body()] = None):
    """Staff with the blogimages.change_imageoutput permission; recorded in the review trail."""
    note = payload.note if payload else ""
    return _reviewed(request, image_id, lambda output: review.approve(output, user=caller(request), note=note))


@images.post("/{int:image_id}/reject", response={200: ImageOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             summary="Reject an image")
def reject_image(request: HttpRequest, image_id: ImageId, payload: RejectIn):
    """Staff with the blogimages.change_imageoutput permission; the reason goes in the review
    trail, and the image is taken off any section it was chosen for."""
    return _reviewed(request, image_id,
                     lambda output: review.reject(output, user=caller(request), reason=payload.reason))


class DeletedOut(Schema):
    deleted: int
    replaced: dict[str, int] = Field(description="Slots that showed the image: {slot key: id of the image each "
                                                 "now shows} (the newest other approved image made for it).")
    detail: str


@images.delete("/{int:image_id}", response={200: DeletedOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
               summary="Delete an image")
def delete_image(request: HttpRequest, image_id: ImageId):
    """The image's creator or staff with blogimages.delete_imageoutput; an approved image, or one
    a post slot shows, only staff who also review. A slot it shows gets the newest other approved
    image made for that slot; 409 when a slot has none (nothing is deleted)."""
    output = _image_or_404(image_id)
    try:
        replaced = review.delete(output, user=caller(request))
    except ValueError as exc:
        raise HttpError(409, str(exc)) from exc
    return {"deleted": image_id, "replaced": replaced, "detail": review.describe_deletion(image_id, replaced)}


class UseIn(Schema):
    post: Text(200) = Field(description="The post's slug (or id).")
    slot: Text(100) = Field(description="The slot key: featured, social or a section key.")


@images.post("/{int:image_id}/use", response={201: ImageOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             summary="Use an image in a post's slot")
def use_image(request: HttpRequest, image_id: ImageId, payload: UseIn):
    """Any finished, not rejected image: fitted to the slot's size (cover crop around its focal
    point) as a derived image, assigned to the slot, recorded in the review trail. Answers
    with the image the slot now shows."""
    from .. import publishing

    output = _image_or_404(image_id)
    post = _post_by_slug_or_id(payload.post)
    try:
        shown = publishing.use_in_post(output, post=post, slot_key=payload.slot, user=caller(request))
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from exc
    except ValueError as exc:
        raise HttpError(409 if "rejected" in str(exc) or "finished" in str(exc) else 400, str(exc)) from exc
    return Status(201, image_out(request, shown))


def _post_by_slug_or_id(value: str):
    if value.isdigit():
        found = get_post_model()._default_manager.filter(pk=value).first()
        if found is not None:
            return found
    return _post_or_404(value)


# -- post batches ---------------------------------------------------------------------------------

posts = Router(tags=["posts and batches"])


class BatchIn(Schema):
    setting: PositiveId | None = Field(None, description="Id of an ImageSetting; default: the example's or none.")
    example: PositiveId | None = Field(None, description="Id of a prompt example to build the section prompts from.")
    provider: Text(50) | None = None
    slots: list[Text(100)] | None = Field(
        None, max_length=200, description="Slot keys (featured, social, section keys); default: every slot."
    )
    sections: list[Text(100)] | None = Field(None, max_length=200, description="Older name of `slots`.")
    only_missing: bool = Field(False, description="Only the slots without an approved image (when no slots are named).")
    n_per_section: Count = 1


class BatchStartOut(Schema):
    batch: int
    created: bool = Field(description="False when the images were already being made by a running batch.")
    status: str
    image_count: int
    cost_estimate: str | None
    skipped: list[str] = Field(description="Sections left out because their images were already in progress.")
    progress_url: str


class BatchImageOut(Schema):
    id: int
    section_key: str
    status: str
    error: str
    review_status: str
    url: str | None
    thumbnail_url: str | None


class BatchOut(Schema):
    id: int
    post: str
    status: str
    finished: bool
    total: int
    succeeded: int
    failed: int
    done: int
    cost_estimate: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    images: list[BatchImageOut]


def _post_or_404(slug: str):
    try:
        if len(slug) > 200:
            raise ValueError("too long for a slug")
        _clean_text(slug)
        return get_post_adapter().get_post(slug)
    except (ValueError, LookupError, ObjectDoesNotExist, MultipleObjectsReturned) as exc:
        raise HttpError(404, f"No post {slug[:200]!r}.") from exc


@posts.post("/posts/{slug}/generate_images",
            response={200: BatchStartOut, 202: BatchStartOut, 400: ErrorOut, 404: ErrorOut, 429: ErrorOut, 503: ErrorOut},
            summary="Generate images for a post's sections (a batch)")
def start_batch(request: HttpRequest, slug: PostSlug, payload: Annotated[BatchIn | None, Body()] = None):
    """Plans every section, checks the budget, then queues one image per section (202). If
    every section already has images in progress, answers 200 with that batch (created false)."""
    payload = payload or BatchIn()
    post = _post_or_404(slug)
    example = None
    if payload.example is not None:
        example = ImagePromptExample.objects.filter(pk=payload.example).first()
        if example is None:
            raise HttpError(400, f"example: no prompt example with id {payload.example}.")
    try:
        started = batches.start_post_batch(
            post=post, setting=_setting_or_400(payload.setting), provider=payload.provider,
            sections=payload.slots or payload.sections, n_per_section=payload.n_per_section, example=example,
            user=caller(request), api_token=getattr(request, "api_token", None), only_missing=payload.only_missing,
        )
    except BlogImagesError:
        raise  # budget, provider and capability refusals have their own answers
    except ValueError as exc:  # unknown sections, a post without sections, ...
        raise HttpError(400, str(exc)) from exc
    batch = started.batch
    batch.refresh_from_db()
    body = {
        "batch": batch.pk, "created": started.created, "status": batch.status, "image_count": batch.total,
        "cost_estimate": _money(batch.cost_estimate), "skipped": started.skipped,
        "progress_url": request.build_absolute_uri(reverse("blogimages_api:get_batch", args=[batch.pk])),
    }
    return Status(202 if started.created else 200, body)


@posts.get("/batches/{int:batch_id}", response={200: BatchOut, 404: ErrorOut}, summary="A batch's progress",
           url_name="get_batch")
def get_batch(request: HttpRequest, batch_id: BatchId):
    batch = GenerationBatch.objects.select_related("post").filter(pk=batch_id).first()
    if batch is None:
        raise HttpError(404, f"No batch with id {batch_id}.")
    outputs = batch.outputs.order_by("section_key", "pk")
    return {
        "id": batch.pk, "post": get_post_adapter().slug(batch.post), "status": batch.status,
        "finished": batch.is_finished, "total": batch.total, "succeeded": batch.succeeded_count,
        "failed": batch.failed_count, "done": batch.done_count, "cost_estimate": _money(batch.cost_estimate),
        "created_at": batch.created_at, "started_at": batch.started_at, "finished_at": batch.finished_at,
        "images": [
            {"id": o.pk, "section_key": o.section_key, "status": o.status, "error": o.error,
             "review_status": o.review_status, "url": _absolute(request, o.file),
             "thumbnail_url": _absolute(request, o.thumbnail)}
            for o in outputs
        ],
    }


api.add_router("/examples", examples)
api.add_router("/settings", settings_router)
api.add_router("/images", images)
api.add_router("", posts)
