"""Site settings, read from the environment and an optional `.env` file.

Nothing here needs a service: without DATABASE_URL the site uses SQLite, without
REDIS_URL Celery runs tasks inline, and the offline `cards` provider is always there.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Off unless the environment turns it on: a site started with the defaults must never show
# Django's debug page (settings, environment, credentials in URLs) to a visitor.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me-in-production"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or (DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not DEBUG and SECRET_KEY in ("", DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG off the site needs a real secret key "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'); "
        "for local development set DJANGO_DEBUG=true instead."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS, from the environment (README: "Production"), so `manage.py check --deploy` is clean
# without editing a file. Off by default: they break a site served over plain HTTP.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
# "HTTP_X_FORWARDED_PROTO,https": trust the proxy's header saying the request came over HTTPS.
_proxy_ssl_header = env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured("DJANGO_SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. "
                                   "'HTTP_X_FORWARDED_PROTO,https'.")
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "corsheaders",
    "csp",
    "blogimages.apps.BinaryDatabaseFilesConfig",
    "blogimages",
    "posts",
]

MIDDLEWARE = [
    # First: every log line of the request, and its traceback, carry the request's id.
    "blogimages.request_id.RequestIdMiddleware",
    # What a request defers (a post's renditions without a broker) runs after its response is sent.
    "blogimages.after_response.AfterResponseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Before anything that may answer in HTML: /v1 answers in OpenAI's error shape.
    "blogimages.api.middleware.OpenAIShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from gunicorn itself, compressed and cached for good (whitenoise's place).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): scripts only from this site or carrying the page's
# nonce (`<script nonce="{{ request.csp_nonce }}">`), no plugins, no framing. Styles may be
# inline (htmx adds its indicator style; pages use style attributes). Images may also come from
# the media store (S3 or its custom domain) and DJANGO_CSP_IMG_SRC.
_media_origins = env.list("DJANGO_CSP_IMG_SRC", default=[])
if env.str("AWS_S3_CUSTOM_DOMAIN", default=""):
    _media_origins.append("https://" + env.str("AWS_S3_CUSTOM_DOMAIN"))
elif env.str("AWS_S3_ENDPOINT_URL", default=""):
    _media_origins.append(env.str("AWS_S3_ENDPOINT_URL").rstrip("/"))
elif env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    _media_origins.append("https://*.amazonaws.com")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:", *_media_origins],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# CORS, off unless DJANGO_CORS_ALLOWED_ORIGINS names origins (e.g. "https://app.example.com"):
# then a page there may call /v1 and /api with a bearer token. Never with cookies: a token
# route must not be callable with a visitor's session from another site.
CORS_ALLOWED_ORIGINS = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(v1|api)/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ["x-request-id", "retry-after", "x-blogimages-ignored-parameters",
                       "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: a request or a task reuses its thread's connection for up to
# CONN_MAX_AGE seconds instead of opening one each time (a PostgreSQL connect costs more
# than a whole keyset page), and Django checks it is alive before reusing it. The URL may
# say otherwise: DATABASE_URL=postgres://...?conn_max_age=0&conn_health_checks=False.
DATABASES["default"].setdefault("CONN_MAX_AGE", 600)
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
for _name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
    # django-environ keeps a lowercase "false"/"none" as a (truthy) string.
    if isinstance(DATABASES["default"][_name], str):
        _value = DATABASES["default"][_name].strip().lower()
        DATABASES["default"][_name] = {"true": True, "false": False, "none": None}.get(
            _value, int(_value) if _value.isdigit() else _value)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take the lock when their transaction starts: no "database is locked" upgrades
    # midway, and check-then-insert sections (batch start) are serialized.
    DATABASES["default"].setdefault("OPTIONS", {}).update(transaction_mode="IMMEDIATE", timeout=20)
    # Write-ahead log: readers never wait for the writer, and a commit appends to the log
    # instead of creating, syncing and deleting a rollback journal (synchronous=NORMAL: no
    # fsync per commit; a power cut may lose the last commits, never consistency). The /v1
    # bench on the embedded default: 3x the requests per second, a quarter less CPU each
    # (bench/api.py). `?init_command=...` in DATABASE_URL replaces it.
    DATABASES["default"]["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is locked out for AXES_COOLOFF_MINUTES; every attempt is in the
# admin ("Access attempts"). Only password logins go through it: API bearer tokens do not.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lock lasts the cool-off from when it began; tries during it do not prolong it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# Files go through Django's storage API, so S3 works by configuration alone.
STORAGES = {
    # Local files whose .url is a signed link when BLOGIMAGES_PRIVATE_MEDIA is on.
    "default": {"BACKEND": "blogimages.media_storage.MediaStorage"},
    # Production (DEBUG off): `collectstatic` writes hashed, gzip/brotli-compressed copies that
    # whitenoise serves with far-future cache headers. Development serves the source folders.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    STORAGES["default"] = {
        # django-storages' S3Storage whose presigned links stay the same for a window (blogimages/s3_storage.py).
        "BACKEND": "blogimages.s3_storage.S3MediaStorage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "custom_domain": env.str("AWS_S3_CUSTOM_DOMAIN", default=None),
            "querystring_auth": env.bool("AWS_QUERYSTRING_AUTH", default=True),
            # SigV4 signed URLs: stores such as Cloudflare R2 refuse the older SigV2 ones.
            "signature_version": env.str("AWS_S3_SIGNATURE_VERSION", default="s3v4"),
            "file_overwrite": False,
        },
    }
    STORAGES["s3"] = STORAGES["default"]
# Every storage generated files can live in, by alias; BLOGIMAGES_STORAGE picks one (and it is
# then the default too, so FileFields read from it). `manage.py move_images --to ALIAS` moves files.
STORAGES["filesystem"] = {"BACKEND": "blogimages.media_storage.MediaStorage"}
# Bytes in PostgreSQL (bytea) through django-binary-database-files; nothing under MEDIA_ROOT.
STORAGES["database"] = {"BACKEND": "blogimages.dbstorage.DatabaseStorage"}
DB_FILES_AUTO_EXPORT_DB_TO_FS = False
_storage_alias = env.str("BLOGIMAGES_STORAGE", default="")
if _storage_alias:
    if _storage_alias not in STORAGES or _storage_alias == "staticfiles":
        raise ImproperlyConfigured(
            f"BLOGIMAGES_STORAGE={_storage_alias!r} names no file storage; use database, filesystem"
            + (" or s3" if "s3" in STORAGES else " (s3 needs AWS_STORAGE_BUCKET_NAME)") + ".")
    BLOGIMAGES_STORAGE = _storage_alias
    STORAGES["default"] = STORAGES[_storage_alias]

# Celery: Redis when REDIS_URL is set; otherwise tasks run inline in the caller.
REDIS_URL = env.str("REDIS_URL", default="")
# The broker may be RabbitMQ (amqp://…: durable queues, publisher confirms) while Redis
# keeps the cache, the provider leases and the results.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not (REDIS_URL or env.str("CELERY_BROKER_URL", default=""))
# A broker that is down fails a start in a few seconds, not after kombu's default retries.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"max_retries": 2, "interval_start": 0,
                                                            "interval_step": 0.5, "interval_max": 1}}
# The reconciler keeps the queue honest (`celery -A config beat`, or `worker --beat`).
CELERY_BEAT_SCHEDULE = {
    "blogimages-reconcile": {"task": "blogimages.tasks.reconcile_images", "schedule": 60.0,
                             "options": {"expires": 55, "ignore_result": True}},
}
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
# Unless this is set, Celery's Django fixup closes the thread's database connection before and
# after every task, whatever CONN_MAX_AGE says: each task opened a new PostgreSQL connection.
# blogimages.tasks instead closes old or broken ones around each task, as Django does around a
# request (CONN_MAX_AGE and CONN_HEALTH_CHECKS hold; conn_max_age=0 still closes after each).
CELERY_DB_REUSE_MAX = 10**9
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Must exceed the longest task (slow providers take minutes) or Redis re-delivers it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # RabbitMQ: the publish returns only once the broker has the message.
    **({"confirm_publish": True} if CELERY_BROKER_URL.startswith(("amqp", "pyamqp"))
       else {"socket_connect_timeout": 2, "socket_timeout": 5}),
}

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# blogimages ---------------------------------------------------------------

BLOGIMAGES_POST_MODEL = "posts.Post"
BLOGIMAGES_POST_ADAPTER = "posts.adapter.PostAdapter"


def _providers_from_env() -> dict:
    """One entry per provider whose keys are present; a provider without keys is not offered."""
    providers: dict = {"cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}}}
    if env.str("OPENAI_API_KEY", default=""):
        providers["openai"] = {
            "BACKEND": "blogimages.providers.openai.OpenAIProvider",
            "OPTIONS": {
                "api_key": env.str("OPENAI_API_KEY"),
                "base_url": env.str("OPENAI_BASE_URL", default="") or None,
                "organization": env.str("OPENAI_ORG_ID", default="") or None,
                "max_concurrency": env.int("OPENAI_MAX_CONCURRENCY", default=4),
            },
        }
    if env.str("OPENAI_COMPATIBLE_BASE_URL", default=""):
        providers["openai_compatible"] = {
            "BACKEND": "blogimages.providers.openai_compatible.OpenAICompatibleProvider",
            "OPTIONS": {
                "base_url": env.str("OPENAI_COMPATIBLE_BASE_URL"),
                "api_key": env.str("OPENAI_COMPATIBLE_API_KEY", default=""),
                "models": env.list("OPENAI_COMPATIBLE_MODELS", default=[]),
                "max_concurrency": env.int("OPENAI_COMPATIBLE_MAX_CONCURRENCY", default=4),
            },
        }
    if env.str("GEMINI_API_KEY", default=""):
        providers["gemini"] = {
            "BACKEND": "blogimages.providers.gemini.GeminiProvider",
            "OPTIONS": {
                "api_key": env.str("GEMINI_API_KEY"),
                "base_url": env.str("GEMINI_BASE_URL", default="") or None,
                "max_concurrency": env.int("GEMINI_MAX_CONCURRENCY", default=4),
            },
        }
    if env.str("SD_WEBUI_URL", default=""):
        providers["sd"] = {
            "BACKEND": "blogimages.providers.automatic1111.Automatic1111Provider",
            "OPTIONS": {
                "base_url": env.str("SD_WEBUI_URL"),
                "auth": env.str("SD_WEBUI_AUTH", default="") or None,
                # The WebUI runs one generation at a time; more in flight only queue there.
                "max_concurrency": env.int("SD_WEBUI_MAX_CONCURRENCY", default=1),
            },
        }
    if env.str("COMFYUI_URL", default=""):
        providers["comfyui"] = {
            "BACKEND": "blogimages.providers.comfyui.ComfyUIProvider",
            "OPTIONS": {
                "base_url": env.str("COMFYUI_URL"),
                "workflow": env.str("COMFYUI_WORKFLOW", default="") or None,
                "checkpoint": env.str("COMFYUI_CHECKPOINT", default="") or None,
                "max_concurrency": env.int("COMFYUI_MAX_CONCURRENCY", default=2),
                # Seconds from queueing a workflow to its last image (a big model on a busy GPU needs more).
                "timeout": env.float("COMFYUI_TIMEOUT", default=120.0),
                # A ComfyUI behind a proxy: "user:password" (HTTP Basic) or a bearer token.
                "auth": env.str("COMFYUI_AUTH", default="") or None,
            },
        }
    if env.str("DIFFUSERS_MODEL_PATH", default=""):
        providers["diffusers"] = {
            # Optional extra: pip install -r requirements-diffusers.txt
            "BACKEND": "blogimages.providers.local_diffusers.DiffusersProvider",
            "OPTIONS": {
                "model_path": env.str("DIFFUSERS_MODEL_PATH"),
                "config_path": env.str("DIFFUSERS_CONFIG_PATH", default=""),
                "device": env.str("DIFFUSERS_DEVICE", default="auto"),
                "dtype": env.str("DIFFUSERS_DTYPE", default="auto"),
                # Each worker holds its own pipeline; one call per device runs at a time (a
                # host lock), so this global cap is off unless set.
                "max_concurrency": env.int("DIFFUSERS_MAX_CONCURRENCY", default=0) or None,
                "timeout": env.float("DIFFUSERS_TIMEOUT", default=600.0),
            },
        }
    return providers


BLOGIMAGES_PROVIDERS = _providers_from_env()


def _llms_from_env() -> dict:
    """`rules` always; `openai` with a key and a model; `openai_compatible` with a base URL."""
    llms: dict = {"rules": {"BACKEND": "blogimages.llms.rules.RulesLLM", "OPTIONS": {}}}
    if env.str("OPENAI_API_KEY", default="") and env.str("OPENAI_LLM_MODEL", default=""):
        llms["openai"] = {
            "BACKEND": "blogimages.llms.openai.OpenAILLM",
            "OPTIONS": {
                "api_key": env.str("OPENAI_API_KEY"),
                "base_url": env.str("OPENAI_BASE_URL", default="") or None,
                "model": env.str("OPENAI_LLM_MODEL"),
                "vision_model": env.str("OPENAI_LLM_VISION_MODEL", default=""),
            },
        }
    if env.str("LLM_BASE_URL", default=""):
        llms["openai_compatible"] = {
            "BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
            "OPTIONS": {
                "base_url": env.str("LLM_BASE_URL"),
                "api_key": env.str("LLM_API_KEY", default=""),
                "model": env.str("LLM_MODEL", default=""),
                "vision_model": env.str("LLM_VISION_MODEL", default=""),
            },
        }
    return llms


BLOGIMAGES_LLMS = _llms_from_env()
BLOGIMAGES_DEFAULT_LLM = env.str("BLOGIMAGES_DEFAULT_LLM", default="rules")
BLOGIMAGES_DEFAULT_PROVIDER = env.str("BLOGIMAGES_DEFAULT_PROVIDER", default="cards")
BLOGIMAGES_BUDGETS = {
    scope: env.str(f"BLOGIMAGES_BUDGET_{scope.upper()}", default="") or None
    for scope in ("user_daily", "user_monthly", "global_daily", "global_monthly")
}
BLOGIMAGES_AUTO_GENERATE = env.bool("BLOGIMAGES_AUTO_GENERATE", default=False)
BLOGIMAGES_AUTO_GENERATE_SETTING = env.str("BLOGIMAGES_AUTO_GENERATE_SETTING", default="")
BLOGIMAGES_CONFIRM_COST_ABOVE = env.str("BLOGIMAGES_CONFIRM_COST_ABOVE", default="1.00")
BLOGIMAGES_STRIP_PARAMETERS_ON_PUBLISH = env.bool("BLOGIMAGES_STRIP_PARAMETERS_ON_PUBLISH", default=False)
BLOGIMAGES_MAX_UPLOAD_BYTES = env.int("BLOGIMAGES_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
BLOGIMAGES_EDIT_PASTE_BACK = env.bool("BLOGIMAGES_EDIT_PASTE_BACK", default=True)
BLOGIMAGES_EDIT_MAX_REFERENCES = env.int("BLOGIMAGES_EDIT_MAX_REFERENCES", default=15)
BLOGIMAGES_ZIP_MAX_BYTES = env.int("BLOGIMAGES_ZIP_MAX_BYTES", default=500 * 1024 * 1024)
BLOGIMAGES_ZIP_MAX_IMAGES = env.int("BLOGIMAGES_ZIP_MAX_IMAGES", default=500)
# A request identical to a stored one (deterministic provider, same seed) is answered from storage.
BLOGIMAGES_REUSE_IDENTICAL = env.bool("BLOGIMAGES_REUSE_IDENTICAL", default=True)
# Startup's objects out of the garbage collector's full passes (blogimages/heap.py).
BLOGIMAGES_GC_FREEZE = env.bool("BLOGIMAGES_GC_FREEZE", default=True)


def _slot_sizes_from_env() -> dict[str, list[int]]:
    """BLOGIMAGES_SLOT_SIZES="featured=1536x864,social=1200x630,section=1536x864" (slot keys or kinds)."""
    sizes: dict[str, list[int]] = {}
    for item in env.list("BLOGIMAGES_SLOT_SIZES", default=[]):
        name, _, size = item.partition("=")
        width, _, height = size.lower().partition("x")
        if not (name.strip() and width.strip().isdigit() and height.strip().isdigit()):
            raise ImproperlyConfigured(
                f"BLOGIMAGES_SLOT_SIZES: {item!r} is not name=WIDTHxHEIGHT (e.g. featured=1536x864)."
            )
        sizes[name.strip()] = [int(width), int(height)]
    return sizes


BLOGIMAGES_SLOT_SIZES = _slot_sizes_from_env()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "blogimages.request_id.RequestIdFilter"}},
    "formatters": {"with_request_id": {"format": "%(levelname)s %(name)s [%(request_id)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"],
                             "formatter": "with_request_id"}},
    "loggers": {
        "blogimages": {"handlers": ["console"], "level": env.str("BLOGIMAGES_LOG_LEVEL", default="INFO")},
        # Django logs unhandled errors (with their traceback) to the console only with DEBUG on;
        # in production they must reach stderr too.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# blogimages API (issue 7) ---------------------------------------------------
# Rate limits of the generating API endpoints, per user and per API token (empty = the
# default in blogimages/conf.py; 0 refuses everything; "none" = no limit).


def _rate_limit(name: str, default: int) -> int | None:
    value = env.str(f"BLOGIMAGES_RATE_LIMIT_{name.upper()}", default="").strip().lower()
    if not value:
        return default
    return None if value in ("none", "off", "unlimited") else int(value)


BLOGIMAGES_RATE_LIMITS = {
    "user_per_minute": _rate_limit("user_per_minute", 30),
    "user_per_day": _rate_limit("user_per_day", 1000),
    "token_per_minute": _rate_limit("token_per_minute", 30),
    "token_per_day": _rate_limit("token_per_day", 1000),
}
# Where the limits are counted (a `limits` storage URI); empty = Redis from REDIS_URL, else
# memory:// (per process: `manage.py check` warns when several processes may serve).
BLOGIMAGES_RATE_LIMIT_STORAGE_URI = env.str("BLOGIMAGES_RATE_LIMIT_STORAGE_URI", default="")
BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = env.str("BLOGIMAGES_RATE_LIMIT_KEY_PREFIX", default="blogimages:ratelimit")
BLOGIMAGES_RATE_LIMIT_ON_CACHE_ERROR = env.str("BLOGIMAGES_RATE_LIMIT_ON_CACHE_ERROR", default="deny")
BLOGIMAGES_API_MAX_BODY_BYTES = env.int("BLOGIMAGES_API_MAX_BODY_BYTES", default=1024 * 1024)
BLOGIMAGES_V1_DEFAULT_RESPONSE_FORMAT = env.str("BLOGIMAGES_V1_DEFAULT_RESPONSE_FORMAT", default="b64_json")
BLOGIMAGES_PUBLIC_BASE_URL = env.str("BLOGIMAGES_PUBLIC_BASE_URL", default="")
BLOGIMAGES_SIGNED_URL_SECONDS = env.int("BLOGIMAGES_SIGNED_URL_SECONDS", default=3600)
BLOGIMAGES_MEDIA_ACCEL_REDIRECT = env.str("BLOGIMAGES_MEDIA_ACCEL_REDIRECT", default="")
BLOGIMAGES_MEDIA_SENDFILE = env.bool("BLOGIMAGES_MEDIA_SENDFILE", default=False)
# C2PA Content Credentials: paths to PEM files (never the keys themselves), or a signer callback.
BLOGIMAGES_C2PA_CERT = env.str("BLOGIMAGES_C2PA_CERT", default="")
BLOGIMAGES_C2PA_KEY = env.str("BLOGIMAGES_C2PA_KEY", default="")
BLOGIMAGES_C2PA_SIGNER = env.str("BLOGIMAGES_C2PA_SIGNER", default="")
BLOGIMAGES_C2PA_ALG = env.str("BLOGIMAGES_C2PA_ALG", default="es256")
BLOGIMAGES_C2PA_TSA_URL = env.str("BLOGIMAGES_C2PA_TSA_URL", default="")
BLOGIMAGES_C2PA_TRUST_ANCHORS = env.str("BLOGIMAGES_C2PA_TRUST_ANCHORS", default="")
# On in production: files that are not published renditions get signed, expiring URLs.
BLOGIMAGES_PRIVATE_MEDIA = env.bool("BLOGIMAGES_PRIVATE_MEDIA", default=not DEBUG)
if BLOGIMAGES_V1_DEFAULT_RESPONSE_FORMAT not in ("url", "b64_json"):
    raise ImproperlyConfigured("BLOGIMAGES_V1_DEFAULT_RESPONSE_FORMAT must be 'url' or 'b64_json'.")
# ninja in INSTALLED_APPS: /api/docs serves its bundled Swagger UI (no CDN).
INSTALLED_APPS += ["ninja"]
