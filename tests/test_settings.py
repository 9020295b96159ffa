"""config/settings.py is safe by default: read in a fresh interpreter with chosen environments."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STRONG_KEY = "k3y-" + "x7Qp9zLm2Rt5Vw8Yb1Nc4Fh6Jk0Sd3Gu" * 2
PRODUCTION = {
    "DJANGO_SECRET_KEY": STRONG_KEY,
    "DJANGO_ALLOWED_HOSTS": "blog.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_SESSION_COOKIE_SECURE": "true",
    "DJANGO_CSRF_COOKIE_SECURE": "true",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
}


def run(code: str, **environ) -> subprocess.CompletedProcess:
    # Only what the interpreter needs, plus the variables under test: nothing leaks in from
    # the test process (its own DJANGO_SECRET_KEY included).
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "DATABASE_URL": "sqlite:///:memory:",
           "DJANGO_SETTINGS_MODULE": "config.settings", **environ}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def settings_of(*names: str, **environ) -> dict:
    code = ("import json, config.settings as s; "
            f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}))")
    result = run(code, **environ)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_debug_is_off_unless_the_environment_turns_it_on():
    assert settings_of("DEBUG", DJANGO_SECRET_KEY=STRONG_KEY) == {"DEBUG": False}
    assert settings_of("DEBUG", DJANGO_DEBUG="true") == {"DEBUG": True}


@pytest.mark.parametrize("environ", [{}, {"DJANGO_DEBUG": "false"},
                                     {"DJANGO_SECRET_KEY": "dev-only-insecure-key-change-me-in-production"}],
                         ids=["nothing", "debug-off", "the-development-key"])
def test_without_a_real_secret_key_the_site_refuses_to_start(environ):
    result = run("import config.settings", **environ)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr
    assert "DJANGO_DEBUG=true" in result.stderr  # says how to develop locally


def test_development_uses_the_development_key_only_with_debug_on():
    values = settings_of("DEBUG", "SECRET_KEY", DJANGO_DEBUG="true")
    assert values == {"DEBUG": True, "SECRET_KEY": "dev-only-insecure-key-change-me-in-production"}


def test_https_settings_come_from_the_environment():
    values = settings_of("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
                         "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                         "SECURE_PROXY_SSL_HEADER", **PRODUCTION)
    assert values == {"SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31536000,
                      "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
                      "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
                      "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]}
    defaults = settings_of("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
                           "SECURE_PROXY_SSL_HEADER", DJANGO_SECRET_KEY=STRONG_KEY)
    assert defaults == {"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0, "SESSION_COOKIE_SECURE": False,
                        "SECURE_PROXY_SSL_HEADER": None}


def test_a_malformed_proxy_header_setting_is_refused():
    result = run("import config.settings", DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_SECURE_PROXY_SSL_HEADER="https")
    assert result.returncode != 0 and "DJANGO_SECURE_PROXY_SSL_HEADER must be 'HEADER,value'" in result.stderr


def test_check_deploy_is_clean_from_the_environment_alone():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT, timeout=120,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
             "DATABASE_URL": "sqlite:///:memory:", "DJANGO_SETTINGS_MODULE": "config.settings", **PRODUCTION},
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(("url", "max_age", "health"), [
    ("postgres://u@db:5432/blog", 600, True),
    ("postgres://u@db:5432/blog?conn_max_age=0", 0, True),
    ("postgres://u@db:5432/blog?conn_max_age=60&conn_health_checks=False", 60, False),
    ("postgres://u@db:5432/blog?conn_health_checks=false&conn_max_age=None", None, False),
    ("sqlite:////tmp/x.sqlite3", 600, True),
])
def test_database_connections_persist_by_default_and_the_url_overrides(url, max_age, health):
    found = settings_of("DATABASES", DJANGO_DEBUG="true", DATABASE_URL=url)["DATABASES"]["default"]
    assert found["CONN_MAX_AGE"] == max_age and found["CONN_HEALTH_CHECKS"] is health
    assert "conn_max_age" not in found.get("OPTIONS", {})  # never passed on to the driver


def test_comfyui_timeout_and_auth_come_from_the_environment():
    options = settings_of("BLOGIMAGES_PROVIDERS", DJANGO_DEBUG="true", COMFYUI_URL="http://127.0.0.1:8188",
                          COMFYUI_TIMEOUT="900", COMFYUI_AUTH="artist:pa55word")["BLOGIMAGES_PROVIDERS"]["comfyui"]
    assert options["OPTIONS"]["timeout"] == 900.0 and options["OPTIONS"]["auth"] == "artist:pa55word"
    defaults = settings_of("BLOGIMAGES_PROVIDERS", DJANGO_DEBUG="true",
                           COMFYUI_URL="http://127.0.0.1:8188")["BLOGIMAGES_PROVIDERS"]["comfyui"]["OPTIONS"]
    assert defaults["timeout"] == 120.0 and defaults["auth"] is None
