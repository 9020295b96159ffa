"""Every page works under the Content-Security-Policy: no violation reported in Chromium."""

import pytest

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

# Recorded in the page itself: Chromium fires this event for every blocked script, style or image.
WATCH = """window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + e.sourceFile));"""

PAGES = [
    "/images/", "/images/test/", "/images/compare/", "/images/prompts/", "/images/prompts/new/", "/images/tokens/",
    "/images/usage/", "/posts/", "/posts/a-weekend-on-the-coast/develop/", "/admin/",
    "/admin/blogimages/imageoutput/", "/admin/blogimages/imagesetting/add/", "/api/docs",
]


def test_no_page_violates_the_policy(page):
    page.add_init_script(WATCH)
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    log_in(page)
    # A generated image, so the gallery and detail pages show thumbnails.
    page.goto("/images/test/")
    page.fill("textarea[name=description]", "A lighthouse at dusk")
    page.click("form#tester-form button[type=submit]")
    page.wait_for_selector(".output-card img", timeout=30_000)
    seen = {}
    for path in PAGES:
        response = page.goto(path)
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        # The nonce is named only where a page uses one; never 'unsafe-inline' for scripts.
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        page.wait_for_load_state("networkidle")
        seen[path] = page.evaluate("window.__cspViolations")
    assert all(not violations for violations in seen.values()), seen
    assert not missing, missing
