"""The JSON API (django-ninja): auth, CRUD, gallery filters and pagination, generation,
post batches and review."""

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Max
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from blogimages import generation, tokens
from blogimages.models import (
    GenerationBatch,
    ImageOutput,
    ImagePromptExample,
    ImageSetting,
    ReviewEvent,
)
from tests.factories import (
    ImageOutputFactory,
    ImagePromptExampleFactory,
    ImageSettingFactory,
    PostFactory,
    SectionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

EDITOR_PERMS = [
    "add_imagepromptexample", "change_imagepromptexample", "delete_imagepromptexample",
    "add_imagesetting", "change_imagesetting", "delete_imagesetting", "change_imageoutput",
]


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"


@pytest.fixture
def editor():
    user = UserFactory(username="editor", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="blogimages",
                                                        codename__in=EDITOR_PERMS))
    return user


@pytest.fixture
def reader():
    return UserFactory(username="reader")


class Api:
    """The test client with a bearer token on every request."""

    def __init__(self, client: Client, raw_token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {raw_token}"}

    def get(self, path, params=None):
        return self.client.get("/api" + path, params or {}, headers=self.headers)

    def send(self, method, path, body=None):
        kwargs = {"content_type": "application/json", "headers": self.headers}
        if body is not None:
            kwargs["data"] = body
        return getattr(self.client, method)("/api" + path, **kwargs)

    def post(self, path, body=None):
        return self.send("post", path, body)

    def put(self, path, body):
        return self.send("put", path, body)

    def patch(self, path, body):
        return self.send("patch", path, body)

    def delete(self, path):
        return self.send("delete", path)


@pytest.fixture
def api(client, editor):
    return Api(client, tokens.create_token(editor)[1])


def requests_get(api: Api, url: str) -> dict:
    """Follow a `next`/`previous` URL the API handed out, as a client would."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return api.client.get(f"{parts.path}?{parts.query}", headers=api.headers).json()


@pytest.fixture
def reader_api(reader):
    return Api(Client(), tokens.create_token(reader)[1])


# -- authentication --------------------------------------------------------------------------------


def test_anonymous_callers_get_401_and_nothing_generates(client, recorder):
    for method, path in [("get", "/api/images"), ("post", "/api/images/generate"), ("get", "/api/examples")]:
        response = getattr(client, method)(path, content_type="application/json", data={"prompt": "x"})
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated" and "Bearer" in response.json()["detail"]
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert recorder.requests == [] and not ImageOutput.objects.exists()


def test_a_wrong_or_revoked_token_is_401_not_a_csrf_failure(editor, recorder):
    client = Client(enforce_csrf_checks=True)
    token, raw = tokens.create_token(editor)
    tokens.revoke_token(token)
    for value in ("Bearer bi_wrong", f"Bearer {raw}"):
        response = client.post("/api/images/generate", data={"prompt": "x"}, content_type="application/json",
                               headers={"Authorization": value})
        assert response.status_code == 401
    assert recorder.requests == []


def test_token_callers_need_no_csrf_token(editor):
    api = Api(Client(enforce_csrf_checks=True), tokens.create_token(editor)[1])
    assert api.post("/examples", {"name": "t", "description": "d"}).status_code == 201


def test_session_callers_need_the_csrf_token_for_unsafe_methods(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    assert client.get("/api/examples").status_code == 200
    refused = client.post("/api/examples", data={"name": "s", "description": "d"}, content_type="application/json")
    assert refused.status_code == 403
    client.get("/accounts/login/")  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post("/api/examples", data={"name": "s", "description": "d"}, content_type="application/json",
                           headers={"X-CSRFToken": csrf})
    assert response.status_code == 201
    assert ImagePromptExample.objects.get().author == editor


# -- prompt examples ------------------------------------------------------------------------------


def test_example_crud(api, editor):
    setting = ImageSettingFactory()
    created = api.post("/examples", {"name": "Cover", "description": "{title} at dusk", "style": "noir",
                                     "tags": "Travel, SEA, travel", "rating": 4, "setting": setting.pk})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["tags"] == ["travel", "sea"] and body["setting"] == setting.pk and body["rating"] == 4
    example = ImagePromptExample.objects.get(pk=body["id"])
    assert example.author == editor

    assert api.get(f"/examples/{example.pk}").json()["name"] == "Cover"
    patched = api.patch(f"/examples/{example.pk}", {"rating": 5, "setting": None})
    assert patched.status_code == 200 and patched.json()["rating"] == 5 and patched.json()["setting"] is None
    assert patched.json()["style"] == "noir"  # untouched
    replaced = api.put(f"/examples/{example.pk}", {"name": "Cover 2", "description": "Plain"})
    assert replaced.json()["style"] == "" and replaced.json()["name"] == "Cover 2"
    assert api.delete(f"/examples/{example.pk}").status_code == 204
    assert api.get(f"/examples/{example.pk}").status_code == 404
    assert api.delete(f"/examples/{example.pk}").status_code == 404


def test_example_validation(api):
    ImagePromptExampleFactory(name="Taken")
    duplicate = api.post("/examples", {"name": "Taken", "description": "d"})
    assert duplicate.status_code == 400 and "name" in duplicate.json()["errors"]
    missing = (ImageSetting.objects.aggregate(top=Max("pk"))["top"] or 0) + 1000
    missing_setting = api.post("/examples", {"name": "n", "description": "d", "setting": missing})
    assert missing_setting.status_code == 400 and missing_setting.json()["errors"] == {
        "setting": [f"No setting with id {missing}."]
    }
    for body in ({"name": "n"}, {"name": "n", "description": "d", "rating": 6}, {"name": "", "description": "d"},
                 {"name": "n", "description": "a\x00b"}, {"name": 5, "description": "d"}):
        assert api.post("/examples", body).status_code == 422, body
    assert ImagePromptExample.objects.count() == 1


def test_example_list_search_and_pagination(api):
    for name in ("alpha", "beta", "gamma"):
        ImagePromptExampleFactory(name=name, tags="sea" if name != "beta" else "city")
    page = api.get("/examples", {"limit": 2}).json()
    assert page["count"] == 3 and [i["name"] for i in page["items"]] == ["alpha", "beta"]
    assert page["next"].endswith(f"/api/examples?limit=2&cursor={page['older']}") and page["previous"] is None
    assert page["count_is_exact"] is True and page["newer"] is None
    second = requests_get(api, page["next"])
    assert [i["name"] for i in second["items"]] == ["gamma"] and second["next"] is None
    assert [i["name"] for i in requests_get(api, second["previous"])["items"]] == ["alpha", "beta"]
    by_offset = api.get("/examples", {"limit": 2, "offset": 2}).json()
    assert [i["name"] for i in by_offset["items"]] == ["gamma"] and by_offset["next"] is None
    assert by_offset["newer"] is not None and by_offset["offset"] == 2
    assert api.get("/examples", {"cursor": "forged"}).status_code == 400
    assert [i["name"] for i in api.get("/examples", {"tag": "sea"}).json()["items"]] == ["alpha", "gamma"]
    assert [i["name"] for i in api.get("/examples", {"q": "bet"}).json()["items"]] == ["beta"]
    assert api.get("/examples", {"limit": 0}).status_code == 422
    assert api.get("/examples", {"limit": 101}).status_code == 422


def test_writes_need_model_permissions(reader_api):
    example = ImagePromptExampleFactory()
    assert reader_api.get("/examples").status_code == 200
    assert reader_api.get(f"/examples/{example.pk}").status_code == 200
    for response in (
        reader_api.post("/examples", {"name": "n", "description": "d"}),
        reader_api.patch(f"/examples/{example.pk}", {"rating": 2}),
        reader_api.delete(f"/examples/{example.pk}"),
        reader_api.post("/settings", {"name": "n"}),
    ):
        assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert ImagePromptExample.objects.count() == 1 and not ImageSetting.objects.exists()


# -- settings ----------------------------------------------------------------------------------------


def test_setting_crud_is_validated_against_the_provider(api, recorder):
    created = api.post("/settings", {"name": "Small", "provider": "test", "width": 64, "height": 48, "steps": 20,
                                     "quality": "hd", "extra_settings": {"tone": "warm"}})
    assert created.status_code == 201, created.content
    setting = ImageSetting.objects.get(pk=created.json()["id"])
    assert (setting.width, setting.steps, setting.extra_settings) == (64, 20, {"tone": "warm"})

    refused = api.patch(f"/settings/{setting.pk}", {"quality": "ultra"})
    assert refused.status_code == 400 and "quality 'ultra' is not allowed" in refused.json()["detail"]
    setting.refresh_from_db()
    assert setting.quality == "hd"

    cards = api.post("/settings", {"name": "Huge", "provider": "cards", "width": 4096, "height": 4096})
    assert cards.status_code == 400 and "size 4096x4096 is not allowed" in cards.json()["detail"]
    unknown = api.post("/settings", {"name": "Nowhere", "provider": "nope"})
    assert unknown.status_code == 400 and "'nope' is not configured" in unknown.json()["detail"]
    default = api.post("/settings", {"name": "Default", "width": 64, "height": 64})
    assert default.json()["provider"] == "test"
    assert api.post("/settings", {"name": "Nul", "extra_settings": {"a": "\x00"}}).status_code == 422
    assert api.post("/settings", {"name": "Neg", "seed": -2}).status_code == 422
    random_seed = api.post("/settings", {"name": "Random", "seed": -1, "width": 64, "height": 64})
    assert random_seed.status_code == 201 and random_seed.json()["seed"] is None  # −1 = random, as in A1111
    wide = api.post("/settings", {"name": "Wide", "seed": 2**64 - 1, "width": 64, "height": 64})
    assert wide.status_code == 400 and "seed must be between 0 and 4294967295" in wide.json()["detail"]
    assert api.post("/settings", {"name": "Wider", "seed": 2**64}).status_code == 422
    chained = api.post("/settings", {"name": "Chain", "width": 64, "height": 64, "fallbacks": ["cards"]})
    assert chained.status_code == 201 and chained.json()["fallbacks"] == ["cards"]
    assert ImageSetting.objects.get(name="Chain").fallbacks == ["cards"]
    nowhere = api.post("/settings", {"name": "Chain2", "width": 64, "height": 64, "fallbacks": ["nope"]})
    assert nowhere.status_code == 400 and "'nope' is not configured" in nowhere.json()["detail"]

    assert api.get("/settings", {"provider": "test"}).json()["count"] == 4
    assert api.put(f"/settings/{setting.pk}", {"name": "Small", "provider": "test", "width": 32,
                                               "height": 32}).json()["steps"] is None
    assert api.delete(f"/settings/{setting.pk}").status_code == 204
    assert api.get(f"/settings/{setting.pk}").status_code == 404


# -- images ------------------------------------------------------------------------------------------


@pytest.mark.clock
def test_image_list_filters(api):
    post = PostFactory(slug="coast")
    old = ImageOutputFactory(provider="cards", model="cards", prompt_text="an old lighthouse", status="succeeded",
                             file="x.png", review_status="approved")
    ImageOutput.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    on_post = ImageOutputFactory(post=post, section_key="intro", prompt_text="waves")
    failed = ImageOutputFactory(status="failed", error="boom", prompt_text="a failed lighthouse")

    def ids(**params):
        response = api.get("/images", params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [failed.pk, on_post.pk, old.pk]
    assert ids(q="lighthouse") == [failed.pk, old.pk]
    assert ids(provider="cards") == [old.pk]
    assert ids(status="failed") == [failed.pk]
    assert ids(review_status="approved") == [old.pk]
    assert ids(post=post.pk, section="intro") == [on_post.pk]
    assert ids(date_to=(timezone.localdate() - dt.timedelta(days=5)).isoformat()) == [old.pk]
    assert ids(date_from=timezone.localdate().isoformat()) == [failed.pk, on_post.pk]
    item = api.get(f"/images/{on_post.pk}").json()
    assert item["post"] == "coast" and item["section_key"] == "intro" and item["url"] is None
    for params in ({"status": "bogus"}, {"post": "abc"}, {"date_to": "9999-12-31"}, {"q": "a\x00"}):
        assert api.get("/images", params).status_code == 422, params
    assert api.get("/images/999999").status_code == 404


# Frozen clock: the pages' signed file links carry their expiry, so two reads of the same
# page a second apart would differ.
@pytest.mark.clock
def test_image_list_pages_in_constant_queries(api, editor):
    post = PostFactory()
    for index in range(25):
        ImageOutputFactory(post=post if index % 2 else None, created_by=editor, status="succeeded",
                           file=f"f{index}.png", thumbnail=f"f{index}.webp")
    api.get("/images", {"limit": 1})  # records the token's use: no write in the next minute
    counts = []
    for limit in (2, 20):
        with CaptureQueriesContext(connection) as queries:
            page = api.get("/images", {"limit": limit}).json()
        assert len(page["items"]) == limit
        counts.append(len(queries))
    assert counts == [3, 3]  # token lookup, count, page
    first = api.get("/images", {"limit": 20}).json()
    with CaptureQueriesContext(connection) as queries:
        last = requests_get(api, first["next"])
    assert len(queries) == 3  # a cursor page costs what the first page costs
    assert len(last["items"]) == 5 and last["next"] is None and last["offset"] is None
    assert {i["id"] for i in first["items"]} | {i["id"] for i in last["items"]} == set(
        ImageOutput.objects.values_list("pk", flat=True))
    assert requests_get(api, last["previous"])["items"] == first["items"]
    by_offset = api.get("/images", {"limit": 20, "offset": 20}).json()
    assert [i["id"] for i in by_offset["items"]] == [i["id"] for i in last["items"]]


def test_generate_makes_stored_images(api, editor, recorder):
    setting = ImageSettingFactory(width=64, height=48)
    response = api.post("/images/generate", {"prompt": "A fox", "style": "vivid", "setting": setting.pk, "n": 2,
                                             "seed": 5, "negative_prompt": "blur"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["cost_estimate"] == "0.0800"
    assert [image["status"] for image in body["images"]] == ["succeeded", "succeeded"]
    (sent,) = recorder.requests
    assert (sent.style, sent.width, sent.height, sent.n, sent.seed, sent.negative_prompt) == (
        "vivid", 64, 48, 2, 5, "blur"
    )
    outputs = ImageOutput.objects.all()
    assert all(o.created_by == editor and o.api_token is not None and o.setting == setting for o in outputs)
    assert body["images"][0]["url"].startswith("http://testserver/")


def test_generate_style_words_go_into_the_prompt(api, recorder):
    api.post("/images/generate", {"prompt": "A fox", "style": "watercolor", "format": "square", "width": 32,
                                  "height": 32})
    assert recorder.requests[0].prompt == "A fox. watercolor. square" and recorder.requests[0].style == ""


def test_generate_by_session_records_no_token(client, editor, recorder):
    client.force_login(editor)
    response = client.post("/api/images/generate", {"prompt": "x", "width": 32, "height": 32},
                           content_type="application/json")
    assert response.status_code == 201
    output = ImageOutput.objects.get()
    assert output.created_by == editor and output.api_token is None


@pytest.mark.clock
def test_generate_refusals(api, recorder, settings):
    bad_size = api.post("/images/generate", {"prompt": "x", "provider": "cards", "width": 8, "height": 8})
    assert bad_size.status_code == 400 and "size 8x8 is not allowed" in bad_size.json()["detail"]
    unknown = api.post("/images/generate", {"prompt": "x", "provider": "nope"})
    assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_request"
    assert api.post("/images/generate", {"prompt": ""}).status_code == 422
    assert api.post("/images/generate", {"prompt": "x", "n": 11}).status_code == 422
    assert api.post("/images/generate", {"prompt": "x", "setting": 424242}).status_code == 400

    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.05"}
    over = api.post("/images/generate", {"prompt": "x", "n": 2, "width": 32, "height": 32})
    assert over.status_code == 429 and over.json()["code"] == "budget_exceeded"
    assert over.json()["scope"] == "user_daily" and "daily budget" in over.json()["detail"]
    assert int(over["Retry-After"]) > 0
    assert recorder.requests == [] and not ImageOutput.objects.exists()

    # Every generate request so far counted; start the rate-limit part with fresh counters.
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"
    settings.BLOGIMAGES_BUDGETS = {}
    settings.BLOGIMAGES_RATE_LIMITS = {"user_per_minute": 1}
    assert api.post("/images/generate", {"prompt": "x", "width": 32, "height": 32}).status_code == 201
    limited = api.post("/images/generate", {"prompt": "x", "width": 32, "height": 32})
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert len(recorder.requests) == 1


# -- post batches -----------------------------------------------------------------------------------


@pytest.fixture
def post():
    post = PostFactory(title="Coast", slug="coast")
    SectionFactory(post=post, key="intro", heading="Arriving")
    SectionFactory(post=post, key="pools", heading="Tide pools")
    return post


def test_batch_start_and_progress(api, post, recorder, django_capture_on_commit_callbacks):
    setting = ImageSettingFactory(width=32, height=32)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/posts/coast/generate_images", {"setting": setting.pk})
    assert response.status_code == 202, response.content
    body = response.json()
    batch = GenerationBatch.objects.get()
    # Every slot: the post's featured and social images and one per section.
    assert body["batch"] == batch.pk and body["created"] is True and body["image_count"] == 4
    assert body["cost_estimate"] == "0.1600" and body["skipped"] == []
    assert body["progress_url"] == f"http://testserver/api/batches/{batch.pk}"
    assert len(recorder.requests) == 4

    progress = api.get(f"/batches/{batch.pk}").json()
    assert progress["status"] == "succeeded" and progress["finished"] is True
    assert (progress["total"], progress["succeeded"], progress["failed"], progress["done"]) == (4, 4, 0, 4)
    assert [(i["section_key"], i["status"]) for i in progress["images"]] == [
        ("featured", "succeeded"), ("intro", "succeeded"), ("pools", "succeeded"), ("social", "succeeded")]
    assert all(i["url"] for i in progress["images"])
    assert api.get("/batches/999999").status_code == 404


def test_batch_start_without_a_body_and_for_some_sections(api, post, recorder, django_capture_on_commit_callbacks):
    recorder_size = {"width": 32, "height": 32}
    setting = ImageSettingFactory(**recorder_size)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/posts/coast/generate_images", {"sections": ["pools"], "setting": setting.pk})
    assert response.status_code == 202 and response.json()["image_count"] == 1
    assert ImageOutput.objects.get().section_key == "pools"


def test_batch_joins_a_running_one(api, post, recorder):
    running = GenerationBatch.objects.create(post=post, status="running", total=4)
    for key in ("featured", "social", "intro", "pools"):
        ImageOutputFactory(post=post, section_key=key, batch=running, status="running")
    response = api.post("/posts/coast/generate_images")
    assert response.status_code == 200, response.content
    assert response.json()["created"] is False and response.json()["batch"] == running.pk
    assert response.json()["skipped"] == ["featured", "intro", "pools", "social"]
    assert recorder.requests == []


@pytest.mark.clock
def test_batch_refusals(api, post, recorder, settings):
    assert api.post("/posts/nope/generate_images").status_code == 404
    unknown = api.post("/posts/coast/generate_images", {"sections": ["nope"]})
    assert unknown.status_code == 400 and "Unknown slot(s): nope" in unknown.json()["detail"]
    PostFactory(slug="empty")
    assert api.post("/posts/empty/generate_images", {"slots": ["intro"]}).status_code == 400
    assert api.post("/posts/coast/generate_images", {"example": 4242}).status_code == 400
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.01"}
    over = api.post("/posts/coast/generate_images")
    assert over.status_code == 429 and over.json()["code"] == "budget_exceeded"
    assert not GenerationBatch.objects.exists() and recorder.requests == []


# -- review ------------------------------------------------------------------------------------------


def test_approve_and_reject_are_recorded(api, editor):
    image = ImageOutputFactory(status="succeeded", file="a.png")
    approved = api.post(f"/images/{image.pk}/approve", {"note": "Lovely"})
    assert approved.status_code == 200 and approved.json()["review_status"] == "approved"
    assert api.post(f"/images/{image.pk}/approve").status_code == 200  # again: nothing new recorded
    rejected = api.post(f"/images/{image.pk}/reject", {"reason": "Off-brand colours"})
    assert rejected.status_code == 200 and rejected.json()["review_status"] == "rejected"
    image.refresh_from_db()
    assert image.review_status == "rejected"
    events = list(ReviewEvent.objects.order_by("pk").values_list("action", "actor", "note"))
    assert events == [("approve", editor.pk, "Lovely"), ("reject", editor.pk, "Off-brand colours")]


def test_review_needs_a_reviewer_a_reason_and_a_finished_image(api, reader_api, editor):
    image = ImageOutputFactory(status="succeeded", file="a.png")
    denied = reader_api.post(f"/images/{image.pk}/approve")
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    assert reader_api.post(f"/images/{image.pk}/reject", {"reason": "no"}).status_code == 403
    for body in (None, {}, {"reason": ""}, {"reason": "   "}):
        assert api.post(f"/images/{image.pk}/reject", body).status_code == 422, body
    queued = ImageOutputFactory(status="queued")
    conflict = api.post(f"/images/{queued.pk}/approve")
    assert conflict.status_code == 409 and "only finished images" in conflict.json()["detail"]
    assert api.post("/images/999999/reject", {"reason": "x"}).status_code == 404
    editor.is_staff = False  # the permission alone is not enough: reviewers are staff
    editor.save()
    assert api.post(f"/images/{image.pk}/approve").status_code == 403
    assert not ReviewEvent.objects.exists()
    image.refresh_from_db()
    assert image.review_status == "pending"


# -- documentation ------------------------------------------------------------------------------------


def test_openapi_schema_and_docs(client):
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "blogimages API"
    for path in ("/api/examples", "/api/settings/{setting_id}", "/api/images", "/api/images/generate",
                 "/api/posts/{slug}/generate_images", "/api/batches/{batch_id}", "/api/images/{image_id}/approve"):
        assert path in schema["paths"], path
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # bundled assets, no CDN


def test_costs_are_decimal_strings(api):
    image = ImageOutputFactory(status="succeeded", file="a.png", cost_estimate=Decimal("0.04"))
    assert api.get(f"/images/{image.pk}").json()["cost_estimate"] == "0.0400"


def test_a_user_without_review_rights_cannot_start_a_batch_through_any_face(reader_api, reader, post, recorder):
    """Security hole 1: the JSON API used to start batches for anyone with a token."""
    from django.core.exceptions import PermissionDenied

    from blogimages import batches

    response = reader_api.post("/posts/coast/generate_images")
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        batches.start_post_batch(post=post, user=reader)
    assert not GenerationBatch.objects.exists() and not ImageOutput.objects.exists()


def test_an_example_run_never_overwrites_an_editors_own_prompt(api, editor, post, recorder):
    """Security hole 2: a batch with `example` replaced the section prompt an editor wrote."""
    from blogimages import batches
    from blogimages.models import ImagePrompt
    from tests.factories import ImagePromptExampleFactory

    batches.save_section_prompt(post, "intro", description="My own words about the harbour", user=editor)
    example = ImagePromptExampleFactory(description="{heading} in watercolour")
    response = api.post("/posts/coast/generate_images", {"example": example.pk, "slots": ["intro"]})
    assert response.status_code == 202, response.content
    saved = ImagePrompt.objects.get(post=post, section_key="intro")
    assert saved.description == "My own words about the harbour" and saved.source == "manual"
    made = ImageOutput.objects.get(section_key="intro")
    assert made.prompt_text.startswith("Arriving in watercolour") and made.prompt_id != saved.pk


# -- edits -----------------------------------------------------------------------------------------


def _edit_png(size, *, mask_box=None) -> str:
    import base64 as b64

    if mask_box is None:
        image = Image.new("RGB", size, (10, 120, 200))
    else:
        image = Image.new("RGBA", size, (0, 0, 0, 255))
        image.paste((0, 0, 0, 0), mask_box)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return b64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture
def card(settings, editor):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "test": {"BACKEND": "blogimages.providers.testing.RecordingProvider", "OPTIONS": {}},
    }
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"
    [output] = generation.generate(prompt="Harbour", overrides={"width": 128, "height": 96}, user=editor)
    return output


def test_edit_makes_derived_images_with_mask_and_references(api, card):
    other = generation.generate(prompt="Gull", overrides={"width": 64, "height": 64})[0]
    response = api.post(f"/images/{card.pk}/edit", {
        "prompt": "Harbour at night", "mask": "data:image/png;base64," + _edit_png((128, 96), mask_box=(0, 0, 64, 96)),
        "n": 2, "strength": 0.9, "references": [], "provider": "cards"})
    assert response.status_code == 201, response.content
    images = response.json()["images"]
    assert [i["status"] for i in images] == ["succeeded", "succeeded"]
    assert {i["derived_from"] for i in images} == {card.pk}
    # references are ids or base64; cards takes none, so either is refused with nothing stored
    before = ImageOutput.objects.count()
    for refs in ([other.pk], [_edit_png((32, 32))]):
        response = api.post(f"/images/{card.pk}/edit", {"prompt": "x", "references": refs})
        assert response.status_code == 400 and "takes none" in response.json()["detail"]
    assert ImageOutput.objects.count() == before


@pytest.mark.parametrize("body, status, words", [
    ({"prompt": "x", "mask": _edit_png((64, 64), mask_box=(0, 0, 8, 8))}, 400, "must match"),
    ({"prompt": "x", "mask": _edit_png((128, 96))}, 400, "no transparency"),
    ({"prompt": "x", "mask": "%%%"}, 400, "not valid base64"),
    ({"prompt": "x", "provider": "test"}, 400, "cannot edit images"),
    ({"prompt": "x", "strength": 3}, 422, ""),
    ({"prompt": "x", "references": [1] * 17}, 422, ""),
])
def test_edit_refusals_store_nothing(api, card, body, status, words):
    before = ImageOutput.objects.count()
    response = api.post(f"/images/{card.pk}/edit", body)
    assert response.status_code == status, response.content
    assert words in str(response.json())
    assert ImageOutput.objects.count() == before


def test_edit_of_an_unknown_image_is_404(api, card):
    assert api.post("/images/999999/edit", {"prompt": "x"}).status_code == 404
