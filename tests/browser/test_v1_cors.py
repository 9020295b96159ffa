"""A browser page on another origin calls /v1 when the operator allows that origin (CORS)."""

import pytest
from werkzeug import Response

from blogimages import tokens
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html lang="en"><head><title>other origin</title></head><body>
<img id="out" alt="">
<p id="status">waiting</p>
<script>
// The issue's example as written, with only the token added.
fetch(%(url)r, {method: 'POST',
                headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer %(token)s'},
                body: JSON.stringify({prompt: 'A lighthouse at dusk', model: 'cards', size: '1024x1024', n: 1})})
  .then(r => r.json())
  .then(data => {
    const img = document.getElementById('out');
    img.onload = () => { document.getElementById('status').textContent = 'loaded ' + img.naturalWidth; };
    img.src = 'data:image/png;base64,' + data.data[0].b64_json;
  })
  .catch(e => { document.getElementById('status').textContent = 'failed: ' + e; });
</script></body></html>"""


@pytest.fixture
def other_origin(httpserver, site):
    user = UserFactory(username="scripter")
    _, raw = tokens.create_token(user)
    html = PAGE % {"url": site.url + "/v1/images/generations", "token": raw}
    httpserver.expect_request("/").respond_with_handler(lambda request: Response(html, content_type="text/html"))
    return httpserver.url_for("/").rstrip("/")


def test_an_allowed_origin_gets_an_image(chromium, other_origin, settings):
    settings.CORS_ALLOWED_ORIGINS = [other_origin]
    context = chromium.new_context()
    page = context.new_page()
    page.goto(other_origin + "/")
    page.wait_for_function("document.getElementById('status').textContent !== 'waiting'", timeout=30_000)
    assert page.text_content("#status") == "loaded 1024"
    context.close()


def test_without_an_allowed_origin_the_browser_refuses(chromium, other_origin, settings):
    settings.CORS_ALLOWED_ORIGINS = []
    context = chromium.new_context()
    page = context.new_page()
    page.goto(other_origin + "/")
    page.wait_for_function("document.getElementById('status').textContent !== 'waiting'", timeout=30_000)
    assert page.text_content("#status").startswith("failed: TypeError")
    context.close()
