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
    # Text/vision models (llms/), configured the same way; `rules` is offline and deterministic.
    "LLMS": {"rules": {"BACKEND": "blogimages.llms.rules.RulesLLM", "OPTIONS": {}}},
    "DEFAULT_LLM": "rules",
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
    # Section prompts: the library example used when a post section has no prompt yet
    # (by name), else this built-in template; {section_text} is trimmed to a length.
    "DEFAULT_SECTION_EXAMPLE": "",
    "SECTION_TEMPLATE": {"description": "{heading}: {section_text}", "style": "", "format": "", "negative_prompt": ""},
    "SECTION_TEXT_CHARS": 300,
    # The CLI asks before a batch estimated above this many USD (unless --yes).
    "CONFIRM_COST_ABOVE": "1.00",
    # Generate missing section images when a post is published or its sections change.
    "AUTO_GENERATE": False,
    "AUTO_GENERATE_SETTING": "",
    # Celery tasks: retries of transient provider errors, exponential backoff in seconds.
    "TASK_MAX_RETRIES": 5,
    "RETRY_BACKOFF_BASE": 2.0,
    "RETRY_BACKOFF_MAX": 300.0,
    # A "running" image whose worker is silent this long (seconds) may be taken over by a
    # re-delivered task: the worker was killed. Keep it above the slowest provider call.
    "TASK_STALE_AFTER": 900,
    # A queued image whose task was handed to the broker this long ago (seconds) and has
    # not started has lost its task (a broker restarted without persistence): the
    # reconciler queues it again. A duplicate is harmless: the claim lets one run.
    "QUEUE_LOST_AFTER": 120,
    # What a rate-limited request gets when the cache cannot be reached: "deny" (503) or "allow".
    "RATE_LIMIT_ON_CACHE_ERROR": "deny",
    # Spending limits in USD (None = no limit): user_daily, user_monthly, global_daily, global_monthly.
    "BUDGETS": {},
    # Rate limits on every request that makes images (pages, JSON API, /v1, chat, batches),
    # per user and per API token, per minute and per day, sliding windows (ratelimit.py).
    # None (or a missing key) = no limit. Counted in the `limits` storage at the URI below
    # ("" = Redis from REDIS_URL, else "memory://", which counts per process), under the prefix.
    "RATE_LIMITS": {"user_per_minute": 30, "user_per_day": 1000, "token_per_minute": 30, "token_per_day": 1000},
    "RATE_LIMIT_STORAGE_URI": "",
    "RATE_LIMIT_KEY_PREFIX": "blogimages:ratelimit",
    # Largest request body the API accepts (bytes); bigger bodies get 413 before parsing.
    "API_MAX_BODY_BYTES": 1024 * 1024,
    # What /v1 answers when a request names no response_format: "b64_json" (what clients of
    # the GPT image models read), except for DALL·E model names, where OpenAI defaulted to "url".
    "V1_DEFAULT_RESPONSE_FORMAT": "b64_json",
    # Links to stored files handed to programs (signed_media.py): lifetime in seconds, the
    # site's public address ("https://blog.example.com"; empty = the request's host), and how
    # the web server sends local files (nginx internal location for X-Accel-Redirect, or X-Sendfile).
    "SIGNED_URL_SECONDS": 3600,
    "PUBLIC_BASE_URL": "",
    "MEDIA_ACCEL_REDIRECT": "",
    "MEDIA_SENDFILE": False,
    # Originals, sidecars and unpublished images only through signed, expiring links
    # (signed_media.py); published renditions stay public. None = on unless DEBUG.
    "PRIVATE_MEDIA": None,
    # A token's last_used_at is written at most this often (seconds): not one write per request.
    "TOKEN_LAST_USED_INTERVAL": 60,
    # When a provider is at its concurrency limit, a task steps aside for this long (s).
    "CONCURRENCY_RETRY_DELAY": 2.0,
    # The watermark used when no preset is named and no WatermarkPreset is the default:
    # imaging.watermark.WatermarkSpec fields (text or logo path, position, opacity, scale, margin...).
    "WATERMARK": {"text": "AI-generated", "position": "bottom-right", "opacity": 0.6, "scale": 0.22, "margin": 0.03},
    # The copy a post publishes (assigned to a section) keeps only the AI-generated marker,
    # not the prompt, seed and other generation parameters.
    "STRIP_PARAMETERS_ON_PUBLISH": False,
    # Largest upload accepted as a replacement image (bytes); refused before it is read.
    "MAX_UPLOAD_BYTES": 20 * 1024 * 1024,
    # Named sizes offered beside imaging.resize.FORMATS (social, header, square...): {"name": [w, h]}.
    "IMAGE_FORMATS": {},
    # Sizes post slots are made at, by slot key or kind: {"featured": [1536, 864], "social":
    # [1200, 630], "section": [1536, 864]}. Unset keys keep integration.DEFAULT_SLOT_SIZES.
    "SLOT_SIZES": {},
    # Widths (px) of the WebP renditions a page's srcset offers; never wider than the image.
    "RENDITION_WIDTHS": [480, 800, 1200, 1600],
    "RENDITION_QUALITY": 82,
    # Upscaled images are refused beyond this many pixels a side.
    "UPSCALE_MAX_SIDE": 4096,
    # Most "more like this" variations one request may ask for.
    "MAX_VARIATIONS": 4,
    # The gallery's "download as zip": most original bytes (and images) one archive holds.
    "ZIP_MAX_BYTES": 500 * 1024 * 1024,
    "ZIP_MAX_IMAGES": 500,
    # C2PA Content Credentials (content_credentials.py): a PEM certificate chain (leaf first)
    # and its PEM private key, or a dotted path to `sign(data: bytes) -> bytes` (a KMS or HSM
    # holds the key; C2PA_CERT is still its chain, C2PA_ALG its algorithm). Empty: nothing is signed.
    "C2PA_CERT": "",
    "C2PA_KEY": "",
    "C2PA_SIGNER": "",
    "C2PA_ALG": "es256",
    # An RFC 3161 time-stamp authority, so signatures outlive the certificate.
    "C2PA_TSA_URL": "",
    # A PEM file of CA certificates whose signers read back as "trusted" (else: "valid").
    "C2PA_TRUST_ANCHORS": "",
    # Editing: after a masked edit, every pixel outside the mask is pasted back from the
    # source (a GPT-image edit re-renders the whole picture); False keeps the provider's pixels.
    "EDIT_PASTE_BACK": True,
    # Most reference images one edit may carry beside its source (OpenAI takes 16 images in all).
    "EDIT_MAX_REFERENCES": 15,
    # A request identical to one already stored (same provider, model, every parameter and
    # seed) from a provider that is deterministic for a seed is answered from storage.
    "REUSE_IDENTICAL": True,
    # Freeze what a process made at startup out of the garbage collector's full passes
    # (heap.py): a 90-170 ms pause of every thread becomes a few ms.
    "GC_FREEZE": True,
}


class _Settings:
    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown blogimages setting: {name}")
        return getattr(settings, f"BLOGIMAGES_{name}", DEFAULTS[name])


blogimages_settings = _Settings()
