import os

import pytest

IN_CI = bool(os.environ.get("CI"))


def require_service(name: str, reason: str) -> None:
    """In CI a missing service is a failure; on a laptop the test is skipped with the reason."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test writes its files into its own temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from django.core.files.storage import storages

    # STORAGES instances cache their location; drop them so the new MEDIA_ROOT applies.
    storages._storages = {}
    yield settings.MEDIA_ROOT
    storages._storages = {}
