"""Playwright (sync API) driving Debian's Chromium against pytest-django's live_server."""

import io
import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.conftest import require_service

# Playwright's sync API runs an event loop in the test thread; Django's ORM would refuse
# to be called from it (the live server's own threads are unaffected).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "browser-tests-only-pw"


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        require_service("Chromium", f"{CHROMIUM} is missing; apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(settings, transactional_db, live_server):
    """The demo data (seed_demo) and the offline cards provider, on the site's own URLs (pages
    link files through signed links; Django's live server also answers MEDIA_URL itself)."""
    settings.BLOGIMAGES_PROVIDERS = {"cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "cards"
    call_command("seed_demo", stdout=io.StringIO())
    user = get_user_model().objects.get(username="demo")
    user.set_password(PASSWORD)
    user.save()
    return live_server


@pytest.fixture
def page(chromium, site):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    context = chromium.new_context(viewport=DESKTOP, base_url=site.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # htmx reports its own problems (a selector that matches nothing...) on the console.
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield page
    context.close()
    assert not errors, f"JavaScript errors or console errors: {errors}"


def log_in(page) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    # LOGIN_REDIRECT_URL: the landing page (posts and the images they still need).
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))


def screenshot(page, name: str, *, phone: bool = True) -> None:
    """A full-page screenshot at desktop width, and one at phone width, for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if phone:
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
