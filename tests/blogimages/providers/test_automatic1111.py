"""The AUTOMATIC1111 backend against a loopback server speaking /sdapi/v1 (reference §2)."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import time
from decimal import Decimal

import pytest
from PIL import Image
from werkzeug import Request, Response

from blogimages.exceptions import (
    ContentRefused,
    InvalidProviderError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    UnsupportedFeature,
)
from blogimages.providers.automatic1111 import BUILTIN_SAMPLERS, Automatic1111Provider
from blogimages.providers.base import GenerationRequest

PASSWORD = "s3cret-Pa55word"
AUTH = f"alice:{PASSWORD}"
TITLE = "sd_xl_base_1.0.safetensors [31e35c80fc]"
SD_MODELS = [
    {"title": TITLE, "model_name": "sd_xl_base_1.0", "hash": "31e35c80fc", "sha256": "31e35c80fc4829d1",
     "filename": "/models/Stable-diffusion/sd_xl_base_1.0.safetensors", "config": None},
    {"title": "v1-5-pruned-emaonly.safetensors [6ce0161689]", "model_name": "v1-5-pruned-emaonly",
     "hash": "6ce0161689", "sha256": "6ce0161689b3853a", "filename": "/models/v1-5-pruned-emaonly.safetensors",
     "config": None},
]
SAMPLERS = [
    {"name": "DPM++ 2M", "aliases": ["k_dpmpp_2m"], "options": {}},
    {"name": "Euler a", "aliases": ["k_euler_a", "k_euler_ancestral"], "options": {"uses_ensd": "True"}},
    {"name": "Euler", "aliases": ["k_euler"], "options": {}},
]
SCHEDULERS = [
    {"name": "automatic", "label": "Automatic", "aliases": None, "default_rho": -1, "need_inner_model": False},
    {"name": "karras", "label": "Karras", "aliases": None, "default_rho": 7.0, "need_inner_model": False},
    {"name": "sgm_uniform", "label": "SGM Uniform", "aliases": ["SGMUniform"], "default_rho": -1,
     "need_inner_model": True},
]


def png(color: str = "red", size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def txt2img_answer(images: list[bytes], **info) -> dict:
    """A txt2img response as A1111 builds it: `info` is a JSON *string*."""
    info = {"prompt": "a lighthouse", "all_prompts": ["a lighthouse"] * len(images), "negative_prompt": "",
            "seed": 1234, "all_seeds": [1234 + i for i in range(len(images))], "subseed": 99,
            "width": 512, "height": 512, "sampler_name": "DPM++ 2M", "cfg_scale": 7.0, "steps": 20,
            "batch_size": len(images), "sd_model_name": "sd_xl_base_1.0", "sd_model_hash": "31e35c80fc",
            "index_of_first_image": 0, "infotexts": [f"a lighthouse\nSteps: 20, Seed: {1234 + i}" for i in
                                                      range(len(images))],
            "extra_generation_params": {"Schedule type": "Karras"}, "version": "v1.10.1", **info}
    return {"images": [b64(image) for image in images], "parameters": {"seed": -1}, "info": json.dumps(info)}


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def requests_to(httpserver, path: str) -> list[Request]:
    return [request for request, _ in httpserver.log if request.path == path]


@pytest.fixture
def sd_server(httpserver):
    """A WebUI started with --api --api-auth alice:...: the listings answer, txt2img is up to each test."""
    for path, listing in (("/sdapi/v1/sd-models", SD_MODELS), ("/sdapi/v1/samplers", SAMPLERS),
                          ("/sdapi/v1/schedulers", SCHEDULERS)):
        httpserver.expect_request(path, method="GET").respond_with_json(listing)
    return httpserver


@pytest.fixture
def make_provider(httpserver):
    made = []

    def make(**options) -> Automatic1111Provider:
        options = {"base_url": httpserver.url_for("/").rstrip("/"), "auth": AUTH, "timeout": 5, **options}
        provider = Automatic1111Provider(alias="sd", options=options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider) -> Automatic1111Provider:
    return make_provider()


def expect_txt2img(httpserver, **kwargs):
    return httpserver.expect_request("/sdapi/v1/txt2img", method="POST", **kwargs)


# -- success ---------------------------------------------------------------------------------


def test_txt2img_sends_the_documented_request_with_basic_auth(sd_server, provider):
    images = [png("red"), png("blue")]
    expect_txt2img(sd_server).respond_with_json(txt2img_answer(images), headers={"X-Process-Time": "1.25"})

    result = provider.run(GenerationRequest(
        prompt="a lighthouse", negative_prompt="blurry", model=TITLE, width=512, height=768, n=2,
        steps=30, guidance_scale=6.5, sampler="DPM++ 2M",
    ))

    (sent,) = requests_to(sd_server, "/sdapi/v1/txt2img")
    assert sent.method == "POST"
    assert sent.headers["Authorization"] == "Basic " + b64(AUTH.encode())
    assert sent.headers["Content-Type"] == "application/json"
    assert "Origin" not in sent.headers
    body = sent.get_json()
    assert body.pop("force_task_id").startswith("task(blogimages-")  # ours: progress and cancel by it
    assert body == {
        "prompt": "a lighthouse", "negative_prompt": "blurry", "seed": -1, "width": 512, "height": 768,
        "batch_size": 2, "n_iter": 1, "send_images": True, "save_images": False, "steps": 30,
        "cfg_scale": 6.5, "sampler_name": "DPM++ 2M",
        # The checkpoint for this request only, put back afterwards: never POST /sdapi/v1/options.
        "override_settings": {"sd_model_checkpoint": TITLE}, "override_settings_restore_afterwards": True,
    }
    assert requests_to(sd_server, "/sdapi/v1/options") == []
    assert [image.data for image in result.images] == images
    assert [image.mime_type for image in result.images] == ["image/png", "image/png"]
    assert result.model == TITLE
    assert result.provider_ms == 1250


def test_the_real_seeds_and_generation_details_come_from_info(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(txt2img_answer([png(), png("blue")], all_seeds=[777, 778]))

    result = provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512, n=2))

    assert [image.seed for image in result.images] == [777, 778]
    first = result.images[0].metadata
    assert first["infotext"].startswith("a lighthouse\nSteps: 20")
    assert first["sampler"] == "DPM++ 2M"
    assert first["scheduler"] == "Karras"
    assert first["cfg_scale"] == 7.0
    assert first["steps"] == 20
    assert first["model"] == "sd_xl_base_1.0"
    assert first["model_hash"] == "31e35c80fc"
    assert result.images[1].metadata["batch_index"] == 1
    assert result.model == "sd_xl_base_1.0"  # no model asked: the one the server used


def test_a_grid_first_and_extension_images_last_are_skipped(sd_server, provider):
    grid, first, second, detect_map = png("white", (16, 8)), png("red"), png("blue"), png("black")
    answer = txt2img_answer([grid, first, second, detect_map], index_of_first_image=1, all_seeds=[5, 6],
                            infotexts=["grid", "first image", "second image"])
    expect_txt2img(sd_server).respond_with_json(answer)

    result = provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512, n=2, seed=5))

    assert [image.data for image in result.images] == [first, second]
    assert [image.seed for image in result.images] == [5, 6]
    assert [image.metadata["infotext"] for image in result.images] == ["first image", "second image"]


def test_prompt_rewritten_by_styles_is_reported(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(txt2img_answer([png()], all_prompts=["a lighthouse, oil painting"]))

    result = provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))

    assert result.images[0].revised_prompt == "a lighthouse, oil painting"


def test_without_a_usable_info_the_seeds_come_from_the_request(sd_server, provider):
    answer = txt2img_answer([png(), png()])
    answer["info"] = "not json {"
    expect_txt2img(sd_server).respond_with_json(answer)

    result = provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512, n=2, seed=40))

    assert [image.seed for image in result.images] == [40, 41]


def test_a_model_name_is_sent_as_the_server_title(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(txt2img_answer([png()]))

    provider.run(GenerationRequest(prompt="a lighthouse", model="sd_xl_base_1.0", width=512, height=512))

    (sent,) = requests_to(sd_server, "/sdapi/v1/txt2img")
    assert sent.get_json()["override_settings"] == {"sd_model_checkpoint": TITLE}


def test_a_combined_sampler_name_is_split_into_sampler_and_scheduler(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(txt2img_answer([png()]))

    provider.run(GenerationRequest(prompt="a lighthouse", sampler="DPM++ 2M Karras", width=512, height=512))

    body = requests_to(sd_server, "/sdapi/v1/txt2img")[0].get_json()
    assert (body["sampler_name"], body["scheduler"]) == ("DPM++ 2M", "Karras")


def test_provider_defaults_fill_what_the_request_leaves_unset(sd_server, make_provider):
    provider = make_provider(defaults={"steps": 25, "sampler": "Euler a", "guidance_scale": 7, "clip_skip": 2})
    expect_txt2img(sd_server).respond_with_json(txt2img_answer([png()]))

    provider.run(GenerationRequest(prompt="a lighthouse", steps=12, width=512, height=512))

    body = requests_to(sd_server, "/sdapi/v1/txt2img")[0].get_json()
    assert (body["steps"], body["sampler_name"], body["cfg_scale"], body["clip_skip"]) == (12, "Euler a", 7, 2)


def test_extra_settings_are_merged_into_the_request(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(txt2img_answer([png()]))

    provider.run(GenerationRequest(
        prompt="a lighthouse", model=TITLE, width=512, height=512,
        extra={"enable_hr": True, "hr_scale": 1.5, "override_settings": {"CLIP_stop_at_last_layers": 2}},
    ))

    body = requests_to(sd_server, "/sdapi/v1/txt2img")[0].get_json()
    assert body["enable_hr"] is True and body["hr_scale"] == 1.5
    assert body["override_settings"] == {"CLIP_stop_at_last_layers": 2, "sd_model_checkpoint": TITLE}


def test_non_image_bytes_are_passed_on_for_the_generation_layer_to_reject(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(txt2img_answer([b"<html>not an image</html>"]))

    result = provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))

    assert result.images[0].data == b"<html>not an image</html>"
    assert result.images[0].mime_type == "application/octet-stream"


# -- failures --------------------------------------------------------------------------------


def test_wrong_credentials_are_an_auth_error(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(
        {"detail": "Incorrect username or password"}, status=401, headers={"WWW-Authenticate": "Basic"}
    )

    with pytest.raises(ProviderAuthError) as caught:
        provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))

    assert caught.value.status_code == 401
    assert "Incorrect username or password" in str(caught.value)
    assert not caught.value.retryable


def test_rate_limit_carries_retry_after(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json({"detail": "Too many requests"}, status=429,
                                                headers={"Retry-After": "7"})

    with pytest.raises(ProviderRateLimited) as caught:
        provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))

    assert caught.value.retry_after == 7
    assert caught.value.retryable


def test_a_crash_in_generation_is_a_server_error_with_the_servers_message(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(
        {"error": "OutOfMemoryError", "detail": "", "body": "",
         "errors": "CUDA out of memory. Tried to allocate 2.00 GiB"}, status=500,
    )

    with pytest.raises(ProviderServerError) as caught:
        provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))

    assert "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" in str(caught.value)
    assert caught.value.status_code == 500
    assert caught.value.retryable


def test_request_validation_422_lists_the_bad_fields(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json(
        {"detail": [{"loc": ["body", "steps"], "msg": "value is not a valid integer", "type": "type_error.integer"}]},
        status=422,
    )

    with pytest.raises(ProviderBadRequest) as caught:
        provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))

    assert "steps: value is not a valid integer" in str(caught.value)
    assert not caught.value.retryable


def test_an_unknown_sampler_answer_is_a_bad_request(httpserver, provider):
    # No listings: the server is asked and says no itself.
    expect_txt2img(httpserver).respond_with_json(
        {"error": "HTTPException", "detail": "Sampler not found", "body": "", "errors": ""}, status=400
    )

    with pytest.raises(ProviderBadRequest, match="Sampler not found"):
        provider.generate(GenerationRequest(prompt="a lighthouse", sampler="Nope", width=512, height=512))


@pytest.mark.parametrize(("status", "body"), [
    (400, {"error": "HTTPException", "detail": "NSFW content detected in the prompt", "body": "", "errors": ""}),
    (451, {"detail": "Unavailable for legal reasons"}),
    (500, {"error": "RuntimeError", "detail": "", "body": "", "errors": "Image blocked by the safety checker"}),
])
def test_a_refusal_is_content_refused(sd_server, provider, status, body):
    expect_txt2img(sd_server).respond_with_json(body, status=status)

    with pytest.raises(ContentRefused) as caught:
        provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))

    assert not caught.value.retryable


def test_malformed_json_is_a_server_error(sd_server, provider):
    expect_txt2img(sd_server).respond_with_data('{"images": ["iVBOR', content_type="application/json")

    with pytest.raises(ProviderServerError, match="malformed JSON"):
        provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))


def test_base64_that_does_not_decode_is_a_server_error(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json({"images": ["not base64!!"], "parameters": {}, "info": "{}"})

    with pytest.raises(ProviderServerError, match="not valid base64"):
        provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))


def test_an_answer_without_images_is_a_server_error(sd_server, provider):
    expect_txt2img(sd_server).respond_with_json({"images": [], "parameters": {}, "info": "{}"})

    with pytest.raises(ProviderServerError, match="without any image"):
        provider.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))


def test_a_slow_server_is_a_timeout(httpserver, make_provider):
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response(json.dumps(txt2img_answer([png()])), content_type="application/json")

    expect_txt2img(httpserver).respond_with_handler(slow)
    provider = make_provider(timeout=0.05)

    with pytest.raises(ProviderTimeout, match="no answer from the server within 0.05 s") as caught:
        provider.generate(GenerationRequest(prompt="a lighthouse", width=512, height=512))

    assert caught.value.retryable


def test_connection_refused_is_a_timeout_and_validation_still_passes():
    provider = Automatic1111Provider(alias="sd", options={
        "base_url": f"http://127.0.0.1:{unused_port()}", "auth": AUTH, "timeout": 2,
        "models": ["static-model.safetensors"],
    })
    try:
        # The listings fail, so the static ones stand in and a sampler is not refused on a guess.
        caps = provider.capabilities()
        assert caps.models == ("static-model.safetensors",)
        assert caps.samplers == BUILTIN_SAMPLERS
        with pytest.raises(ProviderTimeout, match="could not connect to http://127.0.0.1") as caught:
            provider.run(GenerationRequest(prompt="a lighthouse", sampler="My Custom Sampler", width=512, height=512))
        assert "Connection refused" in str(caught.value)
        assert caught.value.provider == "sd"
    finally:
        provider.close()


# -- capabilities ----------------------------------------------------------------------------


def test_capabilities_list_the_servers_models_and_samplers_once(sd_server, provider):
    caps = provider.capabilities()
    provider.capabilities()

    assert caps.models == (TITLE, "v1-5-pruned-emaonly.safetensors [6ce0161689]")
    assert caps.samplers == ("DPM++ 2M", "k_dpmpp_2m", "Euler a", "k_euler_a", "k_euler_ancestral", "Euler", "k_euler")
    assert (caps.supports_negative_prompt, caps.supports_seed, caps.supports_steps, caps.supports_guidance) == (
        True, True, True, True)
    assert caps.allows_size(512, 768) and not caps.allows_size(513, 768) and not caps.allows_size(4096, 512)
    assert len(requests_to(sd_server, "/sdapi/v1/sd-models")) == 1  # cached
    listing = requests_to(sd_server, "/sdapi/v1/sd-models")[0]
    assert listing.headers["Authorization"] == "Basic " + b64(AUTH.encode())


def test_an_unlisted_sampler_is_refused_before_any_generation(sd_server, provider):
    with pytest.raises(UnsupportedFeature, match="sampler 'Nope' is not allowed"):
        provider.run(GenerationRequest(prompt="a lighthouse", sampler="Nope", width=512, height=512))

    assert requests_to(sd_server, "/sdapi/v1/txt2img") == []


def test_prices_and_limits_come_from_configuration(sd_server, make_provider):
    caps = make_provider(prices={"*": "0.002"}, max_n=4).capabilities()

    assert caps.price_for(width=512, height=512) == Decimal("0.002")
    assert caps.max_n == 4


# -- secrets ---------------------------------------------------------------------------------


def test_the_password_never_shows_in_errors_logs_or_the_provider(httpserver, make_provider, caplog):
    caplog.set_level(logging.DEBUG)
    expect_txt2img(httpserver).respond_with_json({"detail": "Incorrect username or password"}, status=401)
    provider = make_provider()
    refused = Automatic1111Provider(alias="sd", options={
        "base_url": f"http://127.0.0.1:{unused_port()}", "auth": AUTH, "timeout": 2})

    errors = []
    for each in (provider, refused):
        with pytest.raises((ProviderAuthError, ProviderTimeout)) as caught:
            each.run(GenerationRequest(prompt="a lighthouse", width=512, height=512))
        errors.append(caught.value)
    refused.close()

    for error in errors:
        assert PASSWORD not in f"{error} {error.response} {error!r} {error.__cause__}"
    assert PASSWORD not in caplog.text
    assert b64(AUTH.encode()) not in caplog.text  # nor the Authorization header
    assert PASSWORD not in f"{provider!r} {provider.options}"


def test_auth_without_a_colon_is_a_configuration_error_that_does_not_echo_it():
    with pytest.raises(InvalidProviderError) as caught:
        Automatic1111Provider(alias="sd", options={"base_url": "http://127.0.0.1:7860", "auth": PASSWORD})

    assert PASSWORD not in str(caught.value)


def test_check_warns_about_auth_in_clear_text_to_a_remote_host():
    remote = Automatic1111Provider(alias="sd", options={"base_url": "http://gpu.example.net:7860", "auth": AUTH})
    local = Automatic1111Provider(alias="sd", options={"base_url": "http://127.0.0.1:7860", "auth": AUTH})

    assert remote.check() and "https" in remote.check()[0]
    assert local.check() == []


# -- seeds, progress, cancel, capabilities ------------------------------------------------------


def test_seeds_are_32_bit_and_minus_one_is_random(sd_server, provider):
    from blogimages.providers.base import MAX_SEED

    with pytest.raises(UnsupportedFeature, match=f"seed must be between 0 and {MAX_SEED}"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512, seed=MAX_SEED + 1))
    assert requests_to(sd_server, "/sdapi/v1/txt2img") == []
    assert provider.capabilities().max_seed == MAX_SEED


@pytest.fixture
def threaded_webui():
    """A WebUI that answers progress checks while txt2img still runs (werkzeug, threaded)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(threaded=True)
    server.start()
    for path, listing in (("/sdapi/v1/sd-models", SD_MODELS), ("/sdapi/v1/samplers", SAMPLERS),
                          ("/sdapi/v1/schedulers", SCHEDULERS),
                          ("/sdapi/v1/upscalers", [{"name": "None"}, {"name": "Latent"}, {"name": "R-ESRGAN 4x+"}])):
        server.expect_request(path, method="GET").respond_with_json(listing)
    yield server
    server.clear()
    server.stop()


def test_progress_comes_from_the_webuis_progress_for_our_task(threaded_webui, make_provider):
    import threading

    seen, tasks_asked = [], []
    reported = threading.Event()

    def internal_progress(request: Request) -> Response:
        tasks_asked.append(request.get_json()["id_task"])
        state = {"active": len(tasks_asked) > 1, "queued": len(tasks_asked) == 1, "completed": False,
                 "progress": 0.4, "eta": 2.0, "live_preview": None, "id_live_preview": -1,
                 "textinfo": "In queue: 1" if len(tasks_asked) == 1 else "Sampling"}
        return Response(json.dumps(state), content_type="application/json")

    def txt2img(request: Request) -> Response:
        assert reported.wait(10)
        return Response(json.dumps(txt2img_answer([png()])), content_type="application/json")

    threaded_webui.expect_request("/internal/progress", method="POST").respond_with_handler(internal_progress)
    threaded_webui.expect_request("/sdapi/v1/progress", method="GET").respond_with_json(
        {"progress": 0.4, "eta_relative": 2.0, "state": {"sampling_step": 8, "sampling_steps": 20, "job": "txt2img"},
         "current_image": None, "textinfo": None})
    threaded_webui.expect_request("/sdapi/v1/txt2img", method="POST").respond_with_handler(txt2img)
    provider = make_provider(base_url=threaded_webui.url_for("/").rstrip("/"), progress_interval=0.01)

    def report(value, maximum, queue_position=None, source=""):
        seen.append((value, maximum, queue_position, source))
        if maximum:
            reported.set()

    provider.run(GenerationRequest(prompt="x", width=512, height=512), progress=report)

    assert seen[0] == (0, 0, 1, "progress") and (8, 20, None, "progress") in seen
    sent = [r for r, _ in threaded_webui.log if r.path == "/sdapi/v1/txt2img"][0].get_json()
    assert set(tasks_asked) == {sent["force_task_id"]}


def test_a_timeout_interrupts_and_skips_our_running_task(threaded_webui, make_provider):
    import threading

    release = threading.Event()

    def txt2img(request: Request) -> Response:
        release.wait(10)
        return Response(json.dumps(txt2img_answer([png()])), content_type="application/json")

    def stop(request: Request) -> Response:
        release.set()
        return Response("", status=200)

    threaded_webui.expect_request("/sdapi/v1/txt2img", method="POST").respond_with_handler(txt2img)
    threaded_webui.expect_request("/internal/progress", method="POST").respond_with_json(
        {"active": True, "queued": False, "completed": False, "progress": 0.5, "eta": 1, "id_live_preview": -1})
    threaded_webui.expect_request("/sdapi/v1/skip", method="POST").respond_with_handler(stop)
    threaded_webui.expect_request("/sdapi/v1/interrupt", method="POST").respond_with_handler(stop)
    provider = make_provider(base_url=threaded_webui.url_for("/").rstrip("/"), timeout=0.3)

    with pytest.raises(ProviderTimeout, match="it was interrupted on the server"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512))

    paths = [r.path for r, _ in threaded_webui.log]
    assert "/sdapi/v1/skip" in paths and "/sdapi/v1/interrupt" in paths


def test_capabilities_are_probed_from_the_servers_listings(threaded_webui, make_provider):
    provider = make_provider(base_url=threaded_webui.url_for("/").rstrip("/"))

    probed = provider.probe()

    assert probed["models"] == tuple(item["title"] for item in SD_MODELS)
    assert probed["upscalers"] == ("None", "Latent", "R-ESRGAN 4x+")
    with pytest.raises(UnsupportedFeature, match="upscaler 'SwinIR' is not on the server; choose one of: None"):
        provider.run(GenerationRequest(prompt="x", width=512, height=512,
                                       extra={"enable_hr": True, "hr_upscaler": "SwinIR"}))


def test_our_task_id_is_reported_before_txt2img_is_sent(threaded_webui, make_provider):
    recorded: list[dict] = []

    def txt2img(request: Request) -> Response:
        # The record is there before the WebUI sees the request.
        assert recorded == [{"task_id": request.get_json()["force_task_id"]}]
        return Response(json.dumps(txt2img_answer([png()])), content_type="application/json")

    threaded_webui.expect_request("/sdapi/v1/txt2img", method="POST").respond_with_handler(txt2img)
    threaded_webui.expect_request("/internal/progress", method="POST").respond_with_json(
        {"active": False, "queued": False, "completed": True, "progress": 1, "eta": 0, "id_live_preview": -1})
    provider = make_provider(base_url=threaded_webui.url_for("/").rstrip("/"))

    def progress(value, maximum, queue_position=None, source=""):
        pass

    progress.submitted = recorded.append
    provider.run(GenerationRequest(prompt="x", width=512, height=512), progress=progress)

    assert len(recorded) == 1 and recorded[0]["task_id"].startswith("task(blogimages-")


def test_cancel_job_interrupts_the_webui_only_when_our_task_is_the_running_one(threaded_webui, make_provider):
    def internal_progress(request: Request) -> Response:
        ours_runs = request.get_json()["id_task"] == "task(blogimages-ours)"
        state = {"active": ours_runs, "queued": False, "completed": not ours_runs, "progress": 0.5, "eta": 1,
                 "id_live_preview": -1}
        return Response(json.dumps(state), content_type="application/json")

    threaded_webui.expect_request("/internal/progress", method="POST").respond_with_handler(internal_progress)
    threaded_webui.expect_request("/sdapi/v1/skip", method="POST").respond_with_data("")
    threaded_webui.expect_request("/sdapi/v1/interrupt", method="POST").respond_with_data("")
    provider = make_provider(base_url=threaded_webui.url_for("/").rstrip("/"))

    # A finished task of ours, while someone else's runs: /interrupt would stop theirs.
    assert provider.cancel_job({"task_id": "task(blogimages-done)"}) is False
    assert [r.path for r, _ in threaded_webui.log if r.path.startswith("/sdapi/v1/")] == []

    assert provider.cancel_job({"task_id": "task(blogimages-ours)"}) is True
    assert [r.path for r, _ in threaded_webui.log if r.path.startswith("/sdapi/v1/")] == [
        "/sdapi/v1/skip", "/sdapi/v1/interrupt"]
