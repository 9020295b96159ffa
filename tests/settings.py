"""The site's own settings as the tests run them, with a throwaway secret key.

DEBUG stays off (the site's default, and what Django's test runner uses), so the settings
refuse to load without DJANGO_SECRET_KEY; a random one is set here for this process and
the subprocesses it starts (workers, the CLI as a program).
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", f"tests-only-{secrets.token_urlsafe(32)}")

from config.settings import *  # noqa: E402, F403

# The tests render pages without running collectstatic first: the source folders, unhashed.
# (tests/test_production.py and .ci/production-smoke run the production storage, collected.)
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405

# Hashing a password with the production hasher (PBKDF2, a million rounds) costs ~0.3 s of CPU
# per user a fixture makes or logs in; the tests check who may do what, not the hasher's
# strength. Production keeps Django's default hashers (config/settings.py sets none).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# After each transactional test the tables are emptied with DELETE rather than TRUNCATE
# (tests/db_backends/postgresql/base.py says why); otherwise the stock PostgreSQL backend.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.db_backends.postgresql"  # noqa: F405
