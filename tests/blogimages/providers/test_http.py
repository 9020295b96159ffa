"""The HTTP plumbing shared by the AUTOMATIC1111 and ComfyUI backends."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from blogimages.exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
)
from blogimages.providers.base import GenerationRequest, apply_defaults
from blogimages.providers.http import (
    HttpProvider,
    describe_error_payload,
    error_for_response,
    parse_retry_after,
    redact_url,
    sniff_image_mime,
)


def response(status: int, body: object = "", headers: dict | None = None) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = (body if isinstance(body, str) else json.dumps(body)).encode()
    made.headers = CaseInsensitiveDict(headers or {})
    made.reason = "Reason"
    return made


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    assert parse_retry_after("30") == 30
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:45 GMT", now=now) == 45
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0  # already past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(("status", "body", "headers", "expected"), [
    (429, {"detail": "slow down"}, {"Retry-After": "3"}, ProviderRateLimited),
    (401, {"detail": "Not authenticated"}, {}, ProviderAuthError),
    (403, "403: Forbidden", {}, ProviderAuthError),
    (403, {"error": "blocked by content policy"}, {}, ContentRefused),
    (451, "", {}, ContentRefused),
    (400, {"detail": "NSFW prompt"}, {}, ContentRefused),
    (400, {"detail": "Sampler not found"}, {}, ProviderBadRequest),
    (404, {"detail": "Not Found"}, {}, ProviderBadRequest),
    (422, {"detail": [{"loc": ["body", "width"], "msg": "field required"}]}, {}, ProviderBadRequest),
    (500, {"error": "RuntimeError", "errors": "boom"}, {}, ProviderServerError),
    (503, "<html><body><h1>503 Service Unavailable</h1></body></html>", {"Retry-After": "20"}, ProviderServerError),
])
def test_status_codes_map_onto_the_error_hierarchy(status, body, headers, expected):
    error = error_for_response(response(status, body, headers), action="txt2img")

    assert type(error) is expected
    assert error.status_code == status


def test_retryable_errors_carry_retry_after_and_the_servers_words():
    error = error_for_response(response(503, "<h1>503 Service Unavailable</h1>", {"Retry-After": "20"}),
                               action="txt2img")

    assert error.retry_after == 20
    assert str(error) == "txt2img failed: 503 Service Unavailable (HTTP 503)"


@pytest.mark.parametrize(("payload", "expected"), [
    ({"error": "HTTPException", "detail": "Sampler not found", "body": "", "errors": ""},
     "HTTPException: Sampler not found"),
    ({"error": "OutOfMemoryError", "detail": "", "body": "", "errors": "CUDA out of memory"},
     "OutOfMemoryError: CUDA out of memory"),
    ({"detail": [{"loc": ["body", "steps"], "msg": "value is not a valid integer"},
                 {"loc": ["body", "width"], "msg": "field required"}]},
     "steps: value is not a valid integer; width: field required"),
    ({"detail": "Incorrect username or password"}, "Incorrect username or password"),
    ({"error": {"type": "invalid_prompt", "message": "Cannot execute because node X does not exist.",
                "details": "Node ID '#5'"}}, "Cannot execute because node X does not exist.: Node ID '#5'"),
    ("  502 Bad Gateway\n\n nginx ", "502 Bad Gateway nginx"),
])
def test_error_bodies_are_made_readable(payload, expected):
    assert describe_error_payload(payload) == expected


def test_redact_url_drops_credentials():
    assert redact_url("http://alice:pw@gpu.local:7860/x") == "http://gpu.local:7860/x"
    assert redact_url("http://gpu.local:7860") == "http://gpu.local:7860"


def test_sniff_image_mime():
    assert sniff_image_mime(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_image_mime(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_image_mime(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image_mime(b"<html>") == "application/octet-stream"


def test_defaults_fill_only_what_the_request_leaves_unset():
    request = GenerationRequest(prompt="p", steps=10, extra={"hr_scale": 2})

    filled = apply_defaults(request, {"steps": 25, "sampler": "Euler a", "guidance_scale": 7,
                                      "hr_scale": 1.5, "clip_skip": 2, "width": 64, "size": "64x64",
                                      "extra": {"x": 1}, "user": "blog"})

    assert (filled.steps, filled.sampler, filled.guidance_scale, filled.width) == (10, "Euler a", 7, 1024)
    assert filled.extra == {"hr_scale": 2, "clip_skip": 2}
    assert filled.user == "blog"
    assert apply_defaults(request, {}) is request


def test_base_url_must_be_http():
    with pytest.raises(InvalidProviderError, match="base_url"):
        HttpProvider(alias="x", options={"base_url": "gpu.local:7860"})


def test_listings_are_cached_and_failures_remembered_briefly(monkeypatch):
    provider = HttpProvider(alias="x", options={"base_url": "http://127.0.0.1:1"})
    clock = [1000.0]
    monkeypatch.setattr("blogimages.providers.http.time.monotonic", lambda: clock[0])
    calls = []

    def fetch():
        calls.append(1)
        if len(calls) == 1:
            raise ProviderServerError("down")
        return ["a"]

    assert provider.cached_listing("models", fetch) is None
    assert provider.cached_listing("models", fetch) is None  # the failure is remembered
    clock[0] += provider.listing_error_ttl + 1
    assert provider.cached_listing("models", fetch) == ["a"]
    clock[0] += provider.listing_ttl - 1
    assert provider.cached_listing("models", fetch) == ["a"]
    assert len(calls) == 2
    provider.close()


def test_errors_raised_by_call_name_the_provider(httpserver):
    httpserver.expect_request("/thing").respond_with_json({"detail": "nope"}, status=404)
    provider = HttpProvider(alias="gpu", options={"base_url": httpserver.url_for("/")})

    with pytest.raises(ProviderError) as caught:
        provider.call("GET", "/thing", action="getting the thing")

    assert str(caught.value) == "gpu: getting the thing failed: nope (HTTP 404)"
    provider.close()
