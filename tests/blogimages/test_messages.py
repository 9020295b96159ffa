"""Provider failures phrased for authors: real failures through real clients, then the one function."""

import pytest
from django.test import Client

from blogimages import generation
from blogimages.messages import author_message, error_field
from blogimages.models import ImageOutput, OutputStatus
from tests.blogimages.providers.openai_server import API_KEY, GENERATIONS, error_body, unused_port
from tests.blogimages.views.helpers import HX, make_editor

pytestmark = pytest.mark.django_db(transaction=True)


def configure(settings, alias: str, backend: str, **options) -> None:
    settings.BLOGIMAGES_PROVIDERS = {alias: {"BACKEND": backend, "OPTIONS": {"timeout": 5, **options}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = alias


def failed_output(provider: str) -> ImageOutput:
    (output,) = generation.submit(prompt="a lighthouse at dusk", provider=provider, overrides={"width": 1024,
                                                                                               "height": 1024})
    output.refresh_from_db()
    assert output.status == OutputStatus.FAILED
    return output


def test_a_stopped_stable_diffusion_is_not_reachable(settings):
    port = unused_port()
    configure(settings, "sd", "blogimages.providers.automatic1111.Automatic1111Provider",
              base_url=f"http://127.0.0.1:{port}")
    output = failed_output("sd")
    assert output.provider_metadata["error"]["type"] == "ProviderUnreachable"
    headline, detail, retryable = author_message(output)
    assert headline == f"Stable Diffusion WebUI at 127.0.0.1:{port} is not reachable — is it running?"
    assert retryable and output.error in detail


def test_an_openai_refusal_keeps_its_words_and_offers_no_retry(settings, httpserver):
    configure(settings, "openai", "blogimages.providers.openai.OpenAIProvider", api_key=API_KEY,
              base_url=httpserver.url_for("/v1"))
    message = "Your request was rejected as a result of our safety system."
    httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_json(
        error_body(message, type="image_generation_user_error", code="content_policy_violation"), status=400,
        headers={"x-request-id": "req_123"})
    output = failed_output("openai")
    headline, detail, retryable = author_message(output)
    assert headline.startswith("OpenAI refused the prompt: ") and message in headline
    assert not retryable and error_field(output) == "description"
    assert "req_123" in detail and "HTTP 400" in detail and API_KEY not in detail + headline

    # The tester's card: the headline, the detail folded away, no Retry, the field named.
    client = Client()
    client.force_login(make_editor())
    html = client.get(f"/images/{output.pk}/status/", **HX).content.decode()
    assert "OpenAI refused the prompt" in html and "<summary>Technical detail</summary>" in html
    assert ">Retry</button>" not in html and 'data-error-field="description"' in html
    assert "Prompt sent to openai:" in html and "a lighthouse at dusk" in html


def test_a_rate_limit_says_when_to_retry(settings, httpserver):
    configure(settings, "openai", "blogimages.providers.openai.OpenAIProvider", api_key=API_KEY,
              base_url=httpserver.url_for("/v1"), max_retries=0)
    for _ in range(3):  # the SDK may retry on its own; every answer is the same 429
        httpserver.expect_oneshot_request(GENERATIONS, method="POST").respond_with_json(
            error_body("Rate limit reached for images.", type="requests", code="rate_limit_exceeded"), status=429,
            headers={"retry-after": "20"})
    output = failed_output("openai")
    headline, _detail, retryable = author_message(output)
    assert headline == "The provider is rate limited; retry in 20 s."
    assert retryable

    client = Client()
    client.force_login(make_editor())
    html = client.get(f"/images/{output.pk}/status/", **HX).content.decode()
    assert ">Retry</button>" in html and "retry in 20 s" in html


def test_a_failure_with_no_recorded_kind_says_what_is_known(recorder):
    output = ImageOutput.objects.create(prompt_text="x", provider="test", status=OutputStatus.FAILED,
                                        error="Gave up after 5 retries: the worker was lost.")
    headline, detail, retryable = author_message(output)
    assert (headline, detail, retryable) == ("Gave up after 5 retries: the worker was lost.", "", True)
