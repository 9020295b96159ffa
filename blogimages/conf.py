"""Every `BLOGIMAGES_*` setting with its default, read in one place.

`blogimages_settings.MAX_IMAGE_PIXELS` reads `settings.BLOGIMAGES_MAX_IMAGE_PIXELS` at
call time, so `override_settings` and the pytest `settings` fixture just work.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The host blog's post model and its adapter (see integration.py).
    "POST_MODEL": "posts.Post",
    "POST_ADAPTER": None,
    # Providers: {"alias": {"BACKEND": "dotted.path", "OPTIONS": {...}}}, like CACHES.
    "PROVIDERS": {"cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}}},
    "DEFAULT_PROVIDER": "cards",
    # The storage alias in STORAGES that holds generated files.
    "STORAGE": "default",
    # Top folder of everything this app writes in that storage.
    "ROOT": "blogimages",
    # Safety limits for any image bytes the app accepts (provider answers, uploads).
    "MAX_IMAGE_PIXELS": 40_000_000,
    "MAX_IMAGE_BYTES": 50 * 1024 * 1024,
    "THUMBNAIL_SIZE": 384,
    "THUMBNAIL_QUALITY": 80,
    # Largest n a single request may ask for, whatever the provider allows.
    "MAX_N": 10,
}


class _Settings:
    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown blogimages setting: {name}")
        return getattr(settings, f"BLOGIMAGES_{name}", DEFAULTS[name])


blogimages_settings = _Settings()
