"""The OpenAI-compatible endpoint: the real openai SDK against the live server, and every
kind of bad input through the test client, answered in OpenAI's error shape."""

import base64
import datetime as dt
import io
import json
import uuid

import openai
import pytest
import requests
from django.utils import timezone
from PIL import Image

from blogimages import tokens
from blogimages.api import openai as openai_api
from blogimages.exceptions import ContentRefused, ProviderServerError
from blogimages.models import ApiToken, ImageOutput
from blogimages.selectors import image_list
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/v1/images/generations"




@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"


@pytest.fixture
def user():
    return UserFactory(username="scripter")


@pytest.fixture
def token(user):
    return tokens.create_token(user, name="tests")


def call(client, body, raw_token, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json",
                       headers={"Authorization": f"Bearer {raw_token}"}, **extra)


def assert_error(response, status, *, param=None, code=None, type="invalid_request_error"):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error = body["error"]
    assert error["message"] and error["type"] == type, error
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


# -- the real SDK against the live server --------------------------------------------------------


def sdk(live_server, raw_token):
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=raw_token, max_retries=0)


@pytest.mark.django_db(transaction=True)
def test_sdk_b64_json_with_cards_is_stored_and_in_the_gallery(live_server, token):
    api_token, raw = token
    result = sdk(live_server, raw).images.generate(
        model="cards", prompt="A lighthouse at dusk", size="256x256", response_format="b64_json"
    )
    assert isinstance(result.created, int) and len(result.data) == 1
    data = base64.b64decode(result.data[0].b64_json)
    assert png_size(data) == (256, 256)
    assert result.data[0].revised_prompt is None  # cards draws the prompt as it was sent
    assert result.usage.total_tokens == 0
    output = ImageOutput.objects.get()
    assert output.api_token == api_token and output.created_by == api_token.user
    assert (output.provider, output.model, output.status, output.width) == ("cards", "cards", "succeeded", 256)
    with output.file.open("rb") as fh:
        assert fh.read() == data
    assert list(image_list()) == [output]
    assert result.model_extra["blogimages"]["images"][0]["id"] == output.pk


@pytest.mark.django_db(transaction=True)
def test_sdk_url_points_at_the_stored_file(live_server, token, settings):
    # DEBUG is off here, as in production: /media/ is not served, the signed links are.
    result = sdk(live_server, token[1]).images.generate(model="cards", prompt="Tide pools", size="256x256", n=2,
                                                        response_format="url")
    outputs = list(ImageOutput.objects.order_by("pk"))
    assert all(item.url.startswith(live_server.url + "/images/media/") for item in result.data)
    assert [item.url.rsplit("/", 1)[1] for item in result.data] == [o.file.name.rsplit("/", 1)[1] for o in outputs]
    for item, output in zip(result.data, outputs):
        fetched = requests.get(item.url, timeout=10)
        assert fetched.status_code == 200
        with output.file.open("rb") as fh:
            assert fetched.content == fh.read()
        assert png_size(fetched.content) == (256, 256)


@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_sdk_raises_the_right_exceptions(live_server, token, settings, recorder):
    client = sdk(live_server, token[1])
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(live_server, "bi_" + "x" * 40).images.generate(model="cards", prompt="x")
    assert caught.value.code == "invalid_api_key" and caught.value.status_code == 401

    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="cards", prompt="x", n=11)
    assert (caught.value.param, caught.value.code, caught.value.type) == (
        "n", "integer_above_max_value", "invalid_request_error"
    )

    with pytest.raises(openai.NotFoundError) as caught:
        client.images.generate(model="no-such-model", prompt="x")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"

    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.05"}
    with pytest.raises(openai.RateLimitError) as caught:  # 429 insufficient_quota, like OpenAI's
        client.images.generate(model="test", prompt="x", n=2, size="64x64")
    assert (caught.value.code, caught.value.type) == ("budget_exceeded", "insufficient_quota")
    assert "daily budget" in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert not ImageOutput.objects.exists()

    # Start the limit on a new token (requests refused as invalid above counted nothing).
    settings.BLOGIMAGES_BUDGETS, settings.BLOGIMAGES_RATE_LIMITS = {}, {"token_per_minute": 1}
    client = sdk(live_server, tokens.create_token(token[0].user)[1])
    client.images.generate(model="test", prompt="x", size="64x64")
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(model="test", prompt="x", size="64x64")
    assert caught.value.code == "rate_limit_exceeded" and caught.value.type == "requests"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60


@pytest.mark.django_db(transaction=True)
def test_sdk_revoked_token_is_refused_and_use_is_recorded(live_server, token):
    api_token, raw = token
    client = sdk(live_server, raw)
    client.images.generate(model="cards", prompt="Before", size="64x64", response_format="b64_json")
    api_token.refresh_from_db()
    assert api_token.last_used_at is not None
    tokens.revoke_token(api_token)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.images.generate(model="cards", prompt="After", size="64x64", response_format="b64_json")
    assert caught.value.code == "invalid_api_key"
    assert ImageOutput.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_sdk_lists_models(live_server, token, recorder):
    ids = [model.id for model in sdk(live_server, token[1]).models.list()]
    # One entry per model: the alias is the default model, alias/model the others.
    assert ids[:2] == ["test", "test/recorder-xl"]
    assert {"cards", "cards/cards-gradient"} <= set(ids) and "cards/cards" not in ids
    assert len(ids) == len(set(ids))
    assert sdk(live_server, token[1]).models.retrieve("test/recorder-xl").owned_by == "test"


# -- requests through the test client ---------------------------------------------------------


def test_every_option_reaches_the_provider(client, token, recorder):
    api_token, raw = token
    response = call(client, {
        "model": "test/recorder-xl", "prompt": "A fox", "size": "64x48", "n": 2, "seed": 7, "steps": 20,
        "negative_prompt": "blur", "quality": "hd", "style": "vivid", "response_format": "b64_json",
        "user": "end-user-42",
    }, raw)
    assert response.status_code == 200, response.content
    (sent,) = recorder.requests
    assert (sent.model, sent.width, sent.height, sent.n, sent.seed, sent.steps) == ("recorder-xl", 64, 48, 2, 7, 20)
    assert (sent.negative_prompt, sent.quality, sent.style, sent.prompt) == ("blur", "hd", "vivid", "A fox")
    body = response.json()
    outputs = list(ImageOutput.objects.order_by("pk"))
    assert [o.seed for o in outputs] == [7, 8]
    assert all(o.api_token == api_token and o.created_by == api_token.user for o in outputs)
    for item, output in zip(body["data"], outputs):
        with output.file.open("rb") as fh:
            assert base64.b64decode(item["b64_json"]) == fh.read()
    assert body["size"] == "64x48" and body["output_format"] == "png"
    assert [i["id"] for i in body["blogimages"]["images"]] == [o.pk for o in outputs]
    assert [i["cost_estimate"] for i in body["blogimages"]["images"]] == ["0.0800", "0.0800"]
    assert response["x-request-id"].startswith("req_")
    assert response["x-ratelimit-remaining-requests"] == "29"


def test_defaults_the_default_provider_and_base64(client, token, recorder):
    response = call(client, {"prompt": "Plain"}, token[1])
    assert response.status_code == 200
    body = response.json()
    (item,) = body["data"]
    assert set(item) == {"b64_json"}  # no revised_prompt: the provider did not rewrite the prompt
    output = ImageOutput.objects.get()
    with output.file.open("rb") as fh:
        assert base64.b64decode(item["b64_json"]) == fh.read()
    assert (output.provider, output.model) == ("test", "recorder")
    assert body["quality"] == "auto"
    assert body["metadata"]["provider"] == "test" and body["metadata"]["model"] == "recorder"
    assert isinstance(body["metadata"]["duration"], int) and body["metadata"]["duration"] >= 0


@pytest.mark.parametrize("model, expected", [
    ("dall-e-3", "url"), ("dall-e-2", "url"), ("openai/dall-e-3", "url"),
    ("gpt-image-2", "b64_json"), ("cards", "b64_json"), ("", "b64_json"),
])
def test_the_default_response_format_follows_openai(model, expected):
    assert openai_api.default_response_format(model) == expected


def test_the_default_response_format_is_a_setting(client, token, recorder, settings):
    settings.BLOGIMAGES_V1_DEFAULT_RESPONSE_FORMAT = "url"
    (item,) = call(client, {"prompt": "Plain"}, token[1]).json()["data"]
    fetched = client.get(item["url"])
    assert fetched.status_code == 200 and fetched["Content-Type"] == "image/png"
    with ImageOutput.objects.get().file.open("rb") as fh:
        assert b"".join(fetched.streaming_content) == fh.read()


def test_safety_identifier_is_accepted_as_the_end_user(client, token, recorder):
    response = call(client, {"prompt": "x", "safety_identifier": "user-123"}, token[1])
    assert response.status_code == 200
    assert len(recorder.requests) == 1


def test_style_words_for_a_model_without_styles_go_into_the_prompt(client, token):
    response = call(client, {"model": "cards", "prompt": "Harbour", "style": "noir", "size": "64x64",
                             "quality": "standard"}, token[1])
    assert response.status_code == 200, response.content
    output = ImageOutput.objects.select_related("prompt").get()
    assert output.prompt.style == "noir" and output.prompt_text == "Harbour. noir"


@pytest.mark.parametrize("name, alias, model", [
    ("", "test", ""),
    ("cards", "cards", ""),
    ("test/recorder-xl", "test", "recorder-xl"),
    ("recorder-xl", "test", "recorder-xl"),
    ("cards-gradient", "cards", "cards-gradient"),
])
def test_model_names(recorder, name, alias, model):
    target = openai_api.resolve_model(name)
    assert (target.alias, target.model) == (alias, model)


@pytest.mark.parametrize("name", ["dall-e-3", "test/nope", "nope/recorder", "test/", "sd/anything"])
def test_unknown_model_names(recorder, name):
    with pytest.raises(openai_api.OpenAIError) as caught:
        openai_api.resolve_model(name)
    assert caught.value.status == 404 and caught.value.code == "model_not_found"


BAD_BODIES = [
    # (body, status, param, code)
    ({}, 400, "prompt", "missing_required_parameter"),
    ({"prompt": None}, 400, "prompt", "missing_required_parameter"),
    ({"prompt": ""}, 400, "prompt", "empty_string"),
    ({"prompt": "   "}, 400, "prompt", "empty_string"),
    ({"prompt": 5}, 400, "prompt", "invalid_type"),
    ({"prompt": ["a"]}, 400, "prompt", "invalid_type"),
    ({"prompt": "x" * 100 * 1024}, 400, "prompt", "string_above_max_length"),
    ({"prompt": "x" * 4001, "model": "cards"}, 400, "prompt", "string_above_max_length"),
    ({"prompt": "a\x00b"}, 400, "prompt", "invalid_value"),
    ({"prompt": "x", "n": 0}, 400, "n", "integer_below_min_value"),
    ({"prompt": "x", "n": 11}, 400, "n", "integer_above_max_value"),
    ({"prompt": "x", "n": -3}, 400, "n", "integer_below_min_value"),
    ({"prompt": "x", "n": "3"}, 400, "n", "invalid_type"),
    ({"prompt": "x", "n": 2.5}, 400, "n", "invalid_type"),
    ({"prompt": "x", "n": True}, 400, "n", "invalid_type"),
    ({"prompt": "x", "model": "unknown-model"}, 404, "model", "model_not_found"),
    ({"prompt": "x", "model": 3}, 400, "model", "invalid_type"),
    ({"prompt": "x", "size": "big"}, 400, "size", "invalid_value"),
    ({"prompt": "x", "size": "1024"}, 400, "size", "invalid_value"),
    ({"prompt": "x", "size": "0x0"}, 400, "size", "invalid_value"),
    ({"prompt": "x", "size": "1024x"}, 400, "size", "invalid_value"),
    ({"prompt": "x", "size": 1024}, 400, "size", "invalid_type"),
    ({"prompt": "x", "size": "8x8"}, 400, "size", "invalid_value"),  # below the provider's minimum
    ({"prompt": "x", "response_format": "png"}, 400, "response_format", "invalid_value"),
    ({"prompt": "x", "quality": "ultra"}, 400, "quality", "invalid_value"),
    ({"prompt": "x", "style": "weird"}, 400, "style", "invalid_value"),
    ({"prompt": "x", "seed": -2}, 400, "seed", "integer_below_min_value"),  # −1 = random (A1111)
    ({"prompt": "x", "seed": 2**64}, 400, "seed", "integer_above_max_value"),
    ({"prompt": "x", "seed": "1"}, 400, "seed", "invalid_type"),
    ({"prompt": "x", "steps": 0}, 400, "steps", "integer_below_min_value"),
    ({"prompt": "x", "model": "cards", "steps": 20}, 400, "steps", "unsupported_parameter"),
    ({"prompt": "x", "user": 12}, 400, "user", "invalid_type"),
    ({"prompt": "x", "stream": "yes"}, 400, "stream", "invalid_type"),
    ({"prompt": "x", "background": "purple"}, 400, "background", "invalid_value"),
    ({"prompt": "x", "model": "cards", "background": "transparent"}, 400, "background", "unsupported_value"),
    ({"prompt": "x", "moderation": "high"}, 400, "moderation", "invalid_value"),
    ({"prompt": "x", "output_compression": 101}, 400, "output_compression", "integer_above_max_value"),
    ({"prompt": "x", "output_compression": "90"}, 400, "output_compression", "invalid_type"),
    ({"prompt": "x", "input_fidelity": "max"}, 400, "input_fidelity", "invalid_value"),
    ({"prompt": "x", "partial_images": 4}, 400, "partial_images", "integer_above_max_value"),
    ({"prompt": "x", "temperature": 1}, 400, "temperature", "unknown_parameter"),
]


@pytest.mark.parametrize("body, status, param, code", BAD_BODIES)
def test_bad_input_gets_the_right_status_and_error_object(client, token, recorder, body, status, param, code):
    response = call(client, body, token[1])
    assert_error(response, status, param=param, code=code)
    assert recorder.requests == [] and not ImageOutput.objects.exists()


@pytest.mark.parametrize("raw_body", [b"{not json", b"", b"[1, 2]", b'"a prompt"', b"NaN", b"\xff\xfe", b"null",
                                      b'{"prompt": NaN}'])
def test_malformed_and_non_object_json_is_400(client, token, recorder, raw_body):
    assert_error(call(client, raw_body, token[1]), 400)
    assert recorder.requests == []


def test_a_body_over_the_limit_is_413(client, token, recorder, settings):
    settings.BLOGIMAGES_API_MAX_BODY_BYTES = 10_000
    assert_error(call(client, {"prompt": "x" * 20_000}, token[1]), 413, code="request_too_large")
    assert recorder.requests == []


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bi_notbearer",
                                    "Bearer bi_" + "x" * 40])
def test_missing_or_wrong_keys_are_401(client, recorder, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.post(URL, data=json.dumps({"prompt": "x"}), content_type="application/json", headers=headers)
    assert_error(response, 401, code="invalid_api_key")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert recorder.requests == []


@pytest.mark.clock
def test_revoked_and_expired_tokens_are_401(client, user, recorder):
    revoked, raw_revoked = tokens.create_token(user)
    tokens.revoke_token(revoked)
    _, raw_expired = tokens.create_token(user, expires_at=timezone.now() - dt.timedelta(minutes=1))
    for raw in (raw_revoked, raw_expired):
        assert_error(call(client, {"prompt": "x"}, raw), 401, code="invalid_api_key")
    assert recorder.requests == []


@pytest.mark.clock
def test_budget_refusal_comes_before_any_provider_call(client, token, recorder, settings):
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.10"}
    error = assert_error(call(client, {"prompt": "x", "n": 3}, token[1]), 429, type="insufficient_quota",
                         code="budget_exceeded")
    assert "$0.12" in error["message"] and "daily budget" in error["message"]
    assert recorder.requests == [] and not ImageOutput.objects.exists()
    assert call(client, {"prompt": "x", "n": 2}, token[1]).status_code == 200  # $0.08 of $0.10
    response = call(client, {"prompt": "x"}, token[1])
    assert_error(response, 429, type="insufficient_quota", code="budget_exceeded")
    assert 0 < int(response["Retry-After"]) <= 86_400 and response["x-should-retry"] == "false"
    assert len(recorder.requests) == 1


@pytest.mark.clock
def test_global_budget_counts_everyone(client, token, recorder, settings):
    settings.BLOGIMAGES_BUDGETS = {"global_monthly": "0.05"}
    _, other = tokens.create_token(UserFactory())
    assert call(client, {"prompt": "x"}, other).status_code == 200
    error = assert_error(call(client, {"prompt": "x"}, token[1]), 429, type="insufficient_quota")
    assert "the site's monthly budget" in error["message"]


@pytest.mark.clock
def test_rate_limit_is_429_with_retry_after(client, token, recorder, settings):
    settings.BLOGIMAGES_RATE_LIMITS = {"token_per_minute": 2, "user_per_day": 100}
    for _ in range(2):
        assert call(client, {"prompt": "x"}, token[1]).status_code == 200
    response = call(client, {"prompt": "x"}, token[1])
    error = assert_error(response, 429, type="requests", code="rate_limit_exceeded")
    assert "2 request(s) per minute for this API token" in error["message"]
    assert 1 <= int(response["Retry-After"]) <= 60 and "x-should-retry" not in response
    assert len(recorder.requests) == 2
    # Another token of the same user has its own per-token allowance.
    _, second = tokens.create_token(token[0].user)
    assert call(client, {"prompt": "x"}, second).status_code == 200


@pytest.mark.clock
def test_a_day_long_wait_tells_the_sdk_not_to_retry(client, token, recorder, settings, clock):
    # Counted in this process's memory, whose windows follow the moved clock (Redis keeps its own
    # time): the day's window is the UTC day, at noon half a day is left, in the last seconds only those.
    settings.BLOGIMAGES_RATE_LIMIT_STORAGE_URI = "memory://"
    settings.BLOGIMAGES_RATE_LIMITS = {"user_per_day": 1}
    today = dt.datetime.now(dt.UTC).date()
    clock.move_to(dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC))
    call(client, {"prompt": "x"}, token[1])
    response = call(client, {"prompt": "x"}, token[1])
    assert_error(response, 429, type="requests", code="rate_limit_exceeded")
    assert response["Retry-After"] == str(12 * 3600) and response["x-should-retry"] == "false"

    clock.move_to(dt.datetime.combine(today, dt.time(23, 59, 30), tzinfo=dt.UTC))
    response = call(client, {"prompt": "x"}, token[1])
    assert_error(response, 429, type="requests", code="rate_limit_exceeded")
    assert response["Retry-After"] == "30" and "x-should-retry" not in response  # worth the SDK's retry


def test_content_refusal_is_400_content_policy_violation(client, token, recorder):
    recorder.script(ContentRefused("refused by the provider's safety system: no", status_code=400))
    error = assert_error(call(client, {"prompt": "x"}, token[1]), 400, code="content_policy_violation")
    assert "safety system" in error["message"]
    assert ImageOutput.objects.get().status == "failed"  # recorded, with its reason


def test_provider_failure_is_502_server_error(client, token, recorder):
    recorder.script(ProviderServerError("it broke", status_code=500))
    error = assert_error(call(client, {"prompt": "x"}, token[1]), 502, type="server_error", code="provider_error")
    assert "it broke" in error["message"]


def test_busy_provider_is_503_with_retry_after(client, token, recorder, monkeypatch):
    from blogimages import generation
    from blogimages.concurrency import ProviderBusy

    def busy(**kwargs):
        raise ProviderBusy("all 1 slot(s) are busy", provider="test", retry_after=2.5)

    monkeypatch.setattr(generation, "generate", busy)
    response = call(client, {"prompt": "x"}, token[1])
    assert_error(response, 503, type="server_error", code="provider_unavailable")
    assert response["Retry-After"] == "3"


def test_models_endpoints(client, token, recorder):
    auth = {"Authorization": f"Bearer {token[1]}"}
    body = client.get("/v1/models", headers=auth).json()
    assert body["object"] == "list"
    assert body["data"][0] == {"id": "test", "object": "model", "created": openai_api.STARTED, "owned_by": "test"}
    assert client.get("/v1/models/cards/cards-geometric", headers=auth).json()["owned_by"] == "cards"
    assert_error(client.get("/v1/models/nope", headers=auth), 404, param="model", code="model_not_found")
    assert_error(client.get("/v1/models"), 401, code="invalid_api_key")


def test_wrong_method_and_unknown_urls_answer_in_openais_shape(client, token):
    response = client.get(URL, headers={"Authorization": f"Bearer {token[1]}"})
    assert_error(response, 405)
    assert response["Allow"] == "POST"
    # /v1/images/edits exists now (api/openai_edits.py); an endpoint this server lacks is a 404.
    error = assert_error(client.post("/v1/audio/speech"), 404)
    assert error["message"] == "Invalid URL (POST /v1/audio/speech)"


def test_no_csrf_token_is_needed(token, recorder):
    from django.test import Client

    response = call(Client(enforce_csrf_checks=True), {"prompt": "x"}, token[1])
    assert response.status_code == 200


def test_api_images_are_in_the_json_gallery(client, token, recorder):
    call(client, {"prompt": "Gallery check"}, token[1])
    listed = client.get("/api/images", {"q": "gallery"}, headers={"Authorization": f"Bearer {token[1]}"}).json()
    assert listed["count"] == 1 and listed["items"][0]["created_by"] == "scripter"
    assert ApiToken.objects.get().outputs.count() == 1


def test_an_unexpected_error_still_answers_in_openais_shape(client, token, recorder, monkeypatch):
    from blogimages import generation

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(generation, "generate", broken)
    response = call(client, {"prompt": "x"}, token[1])
    error = assert_error(response, 500, type="server_error")
    assert response["x-request-id"] in error["message"] and "a bug" not in error["message"]


def test_models_are_listed_the_same_by_every_process(client, token, recorder):
    import importlib

    auth = {"Authorization": f"Bearer {token[1]}"}
    before = client.get("/v1/models", headers=auth).json()
    importlib.reload(openai_api)  # what a second worker process would compute
    assert client.get("/v1/models", headers=auth).json() == before
    assert {m["created"] for m in before["data"]} == {1_796_083_200}


@pytest.mark.parametrize("path", ["/v1/models", "/v1/images/generations", "/v1/nope", "/v1/images/generations/"])
def test_every_v1_answer_has_a_request_id(client, token, path):
    response = client.post(path, headers={"Authorization": f"Bearer {token[1]}"})
    assert response["x-request-id"].startswith("req_") and response["Content-Type"] == "application/json"


def test_a_trailing_slash_is_a_404_that_says_so(client, token):
    error = assert_error(client.post("/v1/images/generations/", headers={"Authorization": f"Bearer {token[1]}"}),
                         404)
    assert "did you mean /v1/images/generations (without the trailing slash)?" in error["message"]


@pytest.mark.parametrize("path", ["/images/generations", "/models", "/images/edits"])
def test_a_missing_v1_prefix_is_answered_in_openais_shape(client, path):
    response = client.post(path)
    error = assert_error(response, 404)
    assert "the API is under /v1" in error["message"] and "base_url='http://testserver/v1'" in error["message"]
    assert response["x-request-id"].startswith("req_")


def test_a_host_not_allowed_gets_json_naming_the_setting(client, token):
    response = client.post(URL, data="{}", content_type="application/json", HTTP_HOST="host.docker.internal",
                           headers={"Authorization": f"Bearer {token[1]}"})
    error = assert_error(response, 400, code="disallowed_host")
    assert "DJANGO_ALLOWED_HOSTS" in error["message"] and "host.docker.internal" in error["message"]
    assert response["x-request-id"].startswith("req_")
    # Pages keep Django's own answer.
    assert client.get("/images/", HTTP_HOST="host.docker.internal").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_sdk_shows_the_disallowed_host_message(live_server, token):
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=token[1],
                           max_retries=0, default_headers={"Host": "host.docker.internal"})
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="cards", prompt="x")
    assert caught.value.code == "disallowed_host" and "DJANGO_ALLOWED_HOSTS" in caught.value.message


def test_an_exception_outside_the_view_is_json_too(client, token, settings):
    settings.ROOT_URLCONF = "tests.blogimages.api.broken_urls"
    response = client.get("/v1/models", headers={"Authorization": f"Bearer {token[1]}"})
    error = assert_error(response, 500, type="server_error")
    assert response["x-request-id"] in error["message"]


def test_cors_is_off_by_default_and_never_allows_credentials(client, token, settings):
    preflight = {"HTTP_ORIGIN": "https://app.example.com", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
                 "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization,content-type"}
    assert "access-control-allow-origin" not in client.options(URL, **preflight)
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    response = client.options(URL, **preflight)
    assert response.status_code == 200
    assert response["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in response["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in response
    answer = call(client, {"prompt": "x", "model": "cards", "size": "64x64"}, token[1],
                  HTTP_ORIGIN="https://app.example.com")
    assert answer["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in answer["access-control-expose-headers"]
    # Pages are never opened to other origins.
    assert "access-control-allow-origin" not in client.get("/images/", HTTP_ORIGIN="https://app.example.com")
