"""EduFlow settings: every value is read from the environment (or a local `.env`).

Embedded defaults make a fresh checkout run with nothing but Python; production mode
(`DJANGO_DEBUG` off, the default) fails closed: it refuses to start without `SECRET_KEY`
and `ALLOWED_HOSTS`. Every variable read here is listed in the README's configuration table.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_env_file = BASE_DIR / ".env"
if _env_file.is_file():
    env.read_env(str(_env_file), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. For development run `make run` (it writes a .env with a fresh "
        "key); in production set SECRET_KEY in the environment."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is required when DJANGO_DEBUG is off: set it to the comma-separated "
        "host names this server answers for (for example ALLOWED_HOSTS=lms.example.org)."
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "eduflow",
    "eduflow.core",
    "accounts",
    "courses",
    "media",
    "enrollments",
    "lessons",
    "progress",
]

MIDDLEWARE = [
    "eduflow.core.middleware.RequestIdMiddleware",
    # Outside everything that can answer early, so every request gets its access line.
    "eduflow.core.middleware.AccessLogMiddleware",
    # RateLimit-* headers from the throttles that counted the request (eduflow.core.throttling).
    "eduflow.core.throttling.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "eduflow.core.http_caching.DefaultCacheControlMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Anonymous catalog reads found in the cache are answered here (courses.catalog_cache).
    "courses.catalog_cache.CatalogCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the session user is known, inside everything else: replays are logged and get the
    # usual headers (request id, security, cache) like any answer.
    "eduflow.core.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "eduflow.urls"
WSGI_APPLICATION = "eduflow.wsgi.application"
ASGI_APPLICATION = "eduflow.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project overrides of packaged templates (the API docs pages without CDN links).
        "DIRS": [BASE_DIR / "eduflow" / "core" / "templates"],
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

# --- Database -------------------------------------------------------------------------------
# SQLite by default (WAL, IMMEDIATE transactions, busy timeout so concurrent writers queue
# instead of failing); PostgreSQL through DATABASE_URL. Connections persist across requests.
DATA_DIR = Path(env.str("EDUFLOW_DATA_DIR", default=str(BASE_DIR / "var")))
CONN_MAX_AGE = env.int("DB_CONN_MAX_AGE", default=60)

if env.str("DATABASE_URL", default=""):
    _db = env.db_url("DATABASE_URL")
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db["ENGINE"] = "django.db.backends.postgresql"
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "eduflow.sqlite3"),
    }
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _busy_seconds = env.int("SQLITE_BUSY_TIMEOUT", default=20)
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": _busy_seconds,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            f"PRAGMA busy_timeout={_busy_seconds * 1000};"
        ),
    }
_db["CONN_MAX_AGE"] = CONN_MAX_AGE
_db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="eduflow"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "eduflow",
        }
    }

# Public course list and detail answers are kept in the cache for this many seconds (0: off).
# Changes invalidate them at once (versioned keys); the expiry only bounds what an outage that
# swallowed an invalidation could leave behind.
CATALOG_CACHE_SECONDS = env.int("CATALOG_CACHE_SECONDS", default=300)
# `max-age` of anonymous catalog reads (Cache-Control: public). 0 makes browsers and proxies
# revalidate each time with If-None-Match, which costs the server a cache lookup and no body.
CATALOG_HTTP_MAX_AGE = env.int("CATALOG_HTTP_MAX_AGE", default=0)
if CATALOG_CACHE_SECONDS < 0 or CATALOG_HTTP_MAX_AGE < 0:
    raise ImproperlyConfigured("CATALOG_CACHE_SECONDS and CATALOG_HTTP_MAX_AGE must be >= 0.")

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/api-auth/login/"
# Where the browsable API's session login lands when no `next` is given.
LOGIN_REDIRECT_URL = "/api/v1/auth/me/"

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "eduflow.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_THROTTLE_CLASSES": [
        "eduflow.core.throttling.AnonRateThrottle",
        "eduflow.core.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="100/min"),
        "user": env.str("THROTTLE_USER", default="1000/min"),
        "auth_ip": env.str("THROTTLE_AUTH_IP", default="20/min"),
        "login_account": env.str("THROTTLE_LOGIN_ACCOUNT", default="10/min"),
    },
    "EXCEPTION_HANDLER": "eduflow.core.exceptions.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# --- Rate limits (eduflow.core.throttling) ---
# When the cache holding the throttle counters fails, requests pass unthrottled (fail open):
# a WARNING is logged at most once per THROTTLE_OUTAGE_LOG_SECONDS per process, and the
# throttles leave the cache alone for THROTTLE_CACHE_RETRY_SECONDS after a failure (0: try on
# every request), so a cache that hangs costs one timeout now and then, not one per request.
THROTTLE_OUTAGE_LOG_SECONDS = env.int("THROTTLE_OUTAGE_LOG_SECONDS", default=60)
THROTTLE_CACHE_RETRY_SECONDS = env.int("THROTTLE_CACHE_RETRY_SECONDS", default=5)
if THROTTLE_OUTAGE_LOG_SECONDS < 0 or THROTTLE_CACHE_RETRY_SECONDS < 0:
    raise ImproperlyConfigured(
        "THROTTLE_OUTAGE_LOG_SECONDS and THROTTLE_CACHE_RETRY_SECONDS must be >= 0."
    )

# Addresses (IPs or CIDR networks) of reverse proxies whose X-Forwarded-For is believed.
# Empty (the default) means the socket peer is the client: a forged header changes nothing.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES entry {_proxy!r} is not an IP address or network."
        ) from _exc

SPECTACULAR_SETTINGS = {
    "TITLE": "EduFlow API",
    "DESCRIPTION": (
        "REST API for courses, lessons, enrollments and learning progress. Authenticate with "
        "`POST /api/v1/auth/login/` and send `Authorization: Bearer <access>`. Errors are RFC 9457 "
        "problem details (`application/problem+json`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
}

# --- Idempotency (eduflow.core.idempotency) ---
# A POST under /api/ with an `Idempotency-Key` header runs once per (caller, key): its answer is
# kept in the shared cache for IDEMPOTENCY_TTL_SECONDS and replayed to repeats. A repeat arriving
# while the first still runs polls for its answer up to IDEMPOTENCY_WAIT_SECONDS, then gets 409
# `request_in_progress`. IDEMPOTENCY_LOCK_SECONDS bounds how long one run holds its key: longer
# than the slowest request (a large upload), short enough that a crashed holder frees it.
IDEMPOTENCY_TTL_SECONDS = env.int("IDEMPOTENCY_TTL_SECONDS", default=24 * 60 * 60)
IDEMPOTENCY_WAIT_SECONDS = env.float("IDEMPOTENCY_WAIT_SECONDS", default=5.0)
IDEMPOTENCY_LOCK_SECONDS = env.int("IDEMPOTENCY_LOCK_SECONDS", default=300)
if IDEMPOTENCY_TTL_SECONDS < 1 or IDEMPOTENCY_LOCK_SECONDS < 1:
    raise ImproperlyConfigured("IDEMPOTENCY_TTL_SECONDS and IDEMPOTENCY_LOCK_SECONDS must be >= 1.")
if not 0 <= IDEMPOTENCY_WAIT_SECONDS <= 60:
    raise ImproperlyConfigured("IDEMPOTENCY_WAIT_SECONDS must be from 0 to 60.")
# The OpenAPI schema documents the header on every POST that honours it.
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "eduflow.core.idempotency.openapi_idempotency_header",
]

# --- Internationalisation, static, media ---------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_URL = "media/"
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(DATA_DIR / "media"))

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
# Workers log through LOGGING below (JSON lines), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Queues by task name (Celery prefers routes to a task's own `queue` option): emails first
# (`*.send_*` also matches `enrollments.send_course_completed_email`), then media.
CELERY_TASK_ROUTES = {
    "*.send_*": {"queue": "email"},
    "media.*": {"queue": "media"},
}
# Task modules outside `<app>/tasks.py` (autodiscovery only finds those).
CELERY_IMPORTS = ("enrollments.email_tasks", "progress.reports")
# A message taken by a worker that then vanished (machine lost, SIGKILL of the whole worker) is
# handed to another worker after this many seconds. It must exceed the longest task's hard time
# limit (transcoding), or a slow task still running would be delivered a second time.
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=7200)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT,
    # Look for such messages every `interval * throttle` seconds.
    "unacked_restore_interval": env.int("CELERY_BROKER_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": 1,
}
# Transient failures (SMTP connection trouble, database OperationalError) are retried with
# exponential backoff from BACKOFF seconds up to BACKOFF_MAX, with full jitter.
CELERY_TASK_RETRY_BACKOFF = env.int("CELERY_TASK_RETRY_BACKOFF", default=5)
CELERY_TASK_RETRY_BACKOFF_MAX = env.int("CELERY_TASK_RETRY_BACKOFF_MAX", default=600)
CELERY_TASK_MAX_RETRIES = env.int("CELERY_TASK_MAX_RETRIES", default=6)

# --- Scheduled work (Celery beat) ---
# Each job runs under a lock on the shared cache, so two beat instances cannot run it twice.
# Daily activity report to the admins, at SCHEDULE_DAILY_REPORT_HOUR:00 UTC.
SCHEDULE_DAILY_REPORT_HOUR = env.int("SCHEDULE_DAILY_REPORT_HOUR", default=6)
# Media assets `uploaded`/`processing` for longer than this many minutes are re-queued, up to
# MEDIA_STUCK_MAX_REQUEUES times, then marked failed.
MEDIA_STUCK_AFTER_MINUTES = env.int("MEDIA_STUCK_AFTER_MINUTES", default=120)
MEDIA_STUCK_MAX_REQUEUES = env.int("MEDIA_STUCK_MAX_REQUEUES", default=2)
CELERY_BEAT_SCHEDULE = {
    "daily-activity-report": {
        "task": "progress.send_daily_report_email",
        "schedule": crontab(minute=0, hour=SCHEDULE_DAILY_REPORT_HOUR),
    },
    "media-clean-up": {
        "task": "media.clean_up_stuck_assets",
        "schedule": crontab(minute="*/15"),
    },
    "purge-expired-credentials": {
        "task": "accounts.purge_expired_credentials",
        "schedule": crontab(minute=30, hour="*/6"),
    },
}

# --- Progress store (progress app) ---
# SQL tables by default; MongoDB when MONGO_URL is set.
MONGO_URL = env.str("MONGO_URL", default="")
MONGO_DB_NAME = env.str("MONGO_DB_NAME", default="eduflow")
MONGO_PROGRESS_COLLECTION = env.str("MONGO_PROGRESS_COLLECTION", default="lesson_progress")
# Heartbeat rules: share of a video to watch to complete it; fastest playback rate believed
# (new seconds per wall-clock second) and the slack added to each heartbeat's allowance;
# positions under RESUME_MIN after real progress do not move the resume point; the final
# END_SECONDS of a video count towards completion and resume at the next lesson.


def _progress_number(name: str, default: float, *, low: float, high: float = float("inf")):
    raw = env.str(name, default=str(default))
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also refuses nan
        raise ImproperlyConfigured(f"{name} must be a number from {low} to {high}, not {raw!r}.")
    return value


PROGRESS_VIDEO_COMPLETION = _progress_number("PROGRESS_VIDEO_COMPLETION", 0.9, low=0.01, high=1)
PROGRESS_MAX_PLAYBACK_RATE = _progress_number("PROGRESS_MAX_PLAYBACK_RATE", 2.0, low=0.1, high=16)
PROGRESS_RATE_SLACK_SECONDS = _progress_number("PROGRESS_RATE_SLACK_SECONDS", 10.0, low=0)
PROGRESS_RESUME_MIN_SECONDS = _progress_number("PROGRESS_RESUME_MIN_SECONDS", 5.0, low=0)
PROGRESS_END_SECONDS = _progress_number("PROGRESS_END_SECONDS", 10.0, low=0)

# --- Media (media app) ---
# Uploads and storage.
# Largest upload accepted per kind, decided from the content (bytes): past it, 413
# `file_too_large`. A request whose Content-Length exceeds the largest of the three is refused
# before its body is read.
MEDIA_MAX_IMAGE_BYTES = env.int("MEDIA_MAX_IMAGE_BYTES", default=10 * 1024 * 1024)
MEDIA_MAX_DOCUMENT_BYTES = env.int("MEDIA_MAX_DOCUMENT_BYTES", default=100 * 1024 * 1024)
MEDIA_MAX_VIDEO_BYTES = env.int("MEDIA_MAX_VIDEO_BYTES", default=2 * 1024 * 1024 * 1024)
# Decompression-bomb guards: decoded image area (width x height), and for PPTX packages the
# number of zip entries, their total uncompressed size and the compression ratio of any entry.
MEDIA_MAX_IMAGE_PIXELS = env.int("MEDIA_MAX_IMAGE_PIXELS", default=40_000_000)
MEDIA_ZIP_MAX_ENTRIES = env.int("MEDIA_ZIP_MAX_ENTRIES", default=5000)
MEDIA_ZIP_MAX_UNCOMPRESSED_BYTES = env.int(
    "MEDIA_ZIP_MAX_UNCOMPRESSED_BYTES", default=512 * 1024 * 1024
)
MEDIA_ZIP_MAX_RATIO = env.int("MEDIA_ZIP_MAX_RATIO", default=100)
# Uploads bigger than this are spooled to a temporary file (FILE_UPLOAD_TEMP_DIR, default the
# system's) instead of being held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default="") or None

# S3-compatible storage (AWS S3, Cloudflare R2, MinIO ...) replaces the local files when a
# bucket is named. Objects stay private: clients get presigned URLs valid for
# AWS_QUERYSTRING_EXPIRE seconds.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="")
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="")
# `path` for most self-hosted servers (MinIO), `virtual` for AWS; empty lets boto3 choose.
AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default="") or None
AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=600)
if AWS_STORAGE_BUCKET_NAME:
    _missing_s3 = [
        name
        for name, value in (
            ("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_ACCESS_KEY),
        )
        if not value
    ]
    if _missing_s3:
        raise ImproperlyConfigured(
            f"AWS_STORAGE_BUCKET_NAME is set ({AWS_STORAGE_BUCKET_NAME!r}) but "
            + " and ".join(_missing_s3)
            + " missing: set the credentials of the bucket, or unset AWS_STORAGE_BUCKET_NAME "
            "to keep files on the local disk."
        )
    if AWS_QUERYSTRING_EXPIRE < 1:
        raise ImproperlyConfigured("AWS_QUERYSTRING_EXPIRE is in seconds and must be at least 1.")
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "region_name": AWS_S3_REGION_NAME,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "addressing_style": AWS_S3_ADDRESSING_STYLE,
            "signature_version": "s3v4",
            "querystring_auth": True,
            "querystring_expire": AWS_QUERYSTRING_EXPIRE,
            "file_overwrite": True,
            "default_acl": None,
        },
    }
# OpenAPI: assets and lessons both have a `kind`; their enums get distinct names.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "AssetKindEnum": "media.models.AssetKind",
        "LessonKindEnum": "lessons.models.LessonKind",
    }
)

# Transcoding, playback and Mux.
# ffmpeg/ffprobe executables (names on PATH or absolute paths). Missing binaries do not stop
# start-up: videos then fail with "ffmpeg not installed: apt-get install ffmpeg".
FFMPEG_BINARY = env.str("FFMPEG_BINARY", default="ffmpeg")
FFPROBE_BINARY = env.str("FFPROBE_BINARY", default="ffprobe")
# Longest one ffmpeg run may take; the task's Celery time limits and its claim on an asset
# are derived from it.
MEDIA_TRANSCODE_TIMEOUT = env.int("MEDIA_TRANSCODE_TIMEOUT", default=3600)
MEDIA_TRANSCODE_MAX_RETRIES = env.int("MEDIA_TRANSCODE_MAX_RETRIES", default=5)
MEDIA_X264_PRESET = env.str("MEDIA_X264_PRESET", default="veryfast")
# Lifetime of a local playback grant (signed token in every playlist, segment and key URL).
PLAYBACK_TOKEN_TTL = env.int("PLAYBACK_TOKEN_TTL", default=600)
# Behind nginx: internal location prefix for local files (e.g. /protected-media/); segments and
# downloads are then answered with X-Accel-Redirect instead of being streamed by Django.
MEDIA_X_ACCEL_REDIRECT = env.str("MEDIA_X_ACCEL_REDIRECT", default="")

# Mux: used when its credentials are set; all five secrets or none (fail closed).
MUX_TOKEN_ID = env.str("MUX_TOKEN_ID", default="")
MUX_TOKEN_SECRET = env.str("MUX_TOKEN_SECRET", default="")
MUX_SIGNING_KEY_ID = env.str("MUX_SIGNING_KEY_ID", default="")
MUX_SIGNING_PRIVATE_KEY = env.str("MUX_SIGNING_PRIVATE_KEY", default="")  # base64 of the PEM
MUX_WEBHOOK_SECRET = env.str("MUX_WEBHOOK_SECRET", default="")
MUX_API_BASE_URL = env.str("MUX_API_BASE_URL", default="https://api.mux.com")
MUX_PLAYBACK_TTL = env.int("MUX_PLAYBACK_TTL", default=10)  # minutes
MUX_CORS_ORIGIN = env.str("MUX_CORS_ORIGIN", default="*")
_mux_settings = {
    "MUX_TOKEN_ID": MUX_TOKEN_ID,
    "MUX_TOKEN_SECRET": MUX_TOKEN_SECRET,
    "MUX_SIGNING_KEY_ID": MUX_SIGNING_KEY_ID,
    "MUX_SIGNING_PRIVATE_KEY": MUX_SIGNING_PRIVATE_KEY,
    "MUX_WEBHOOK_SECRET": MUX_WEBHOOK_SECRET,
}
MUX_ENABLED = all(_mux_settings.values())
if any(_mux_settings.values()) and not MUX_ENABLED:
    raise ImproperlyConfigured(
        "Mux is partly configured: set all of "
        + ", ".join(_mux_settings)
        + " (missing: "
        + ", ".join(name for name, value in _mux_settings.items() if not value)
        + "), or none of them to use local transcoding only."
    )
if MUX_ENABLED:
    import base64
    import binascii

    try:
        _mux_pem = MUX_SIGNING_PRIVATE_KEY.strip()
        if not _mux_pem.startswith("-----BEGIN"):
            _mux_pem = base64.b64decode(_mux_pem, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as _exc:
        raise ImproperlyConfigured(
            "MUX_SIGNING_PRIVATE_KEY must be the base64-encoded PEM private key Mux gave you."
        ) from _exc
    if "PRIVATE KEY-----" not in _mux_pem:
        raise ImproperlyConfigured(
            "MUX_SIGNING_PRIVATE_KEY must be the base64-encoded PEM private key Mux gave you."
        )
    if MUX_PLAYBACK_TTL < 1:
        raise ImproperlyConfigured("MUX_PLAYBACK_TTL is in minutes and must be at least 1.")


# --- Email ----------------------------------------------------------------------------------------
# console:// by default; smtp://user:password@host:587/?tls=1 (smtp+tls://, smtp+ssl://) in
# production; query options such as ?timeout=10 become EMAIL_TIMEOUT etc.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
_email_options = EMAIL_CONFIG.pop("OPTIONS", {}) or {}
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="EduFlow <no-reply@localhost>")
# Absolute base of links in emails and certificates (verification URL, reset link).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Page of the front end that asks for the new password; the email links to `<it>?token=...`.
PASSWORD_RESET_URL = env.str("PASSWORD_RESET_URL", default=f"{PUBLIC_BASE_URL}/reset-password")
# Seconds a password-reset token stays valid (Django's own setting, 30 minutes here).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=30 * 60)
# Seconds an SMTP connection may hang before the send fails (and the task retries).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
for _option, _value in _email_options.items():
    vars()[f"EMAIL_{_option.upper()}"] = _value

# --- Certificates (enrollments app) ---
# Public verification link printed on certificates (text and QR code) and sent in emails.
# Empty (default): the API's own page, PUBLIC_BASE_URL + /api/v1/certificates/verify/<code>/.
# Set it to a front-end page with a `{code}` placeholder, e.g. https://lms.example.org/verify/{code}
CERTIFICATE_VERIFY_URL = env.str("CERTIFICATE_VERIFY_URL", default="")
if CERTIFICATE_VERIFY_URL and "{code}" not in CERTIFICATE_VERIFY_URL:
    raise ImproperlyConfigured(
        "CERTIFICATE_VERIFY_URL must contain the placeholder {code} (where the verification "
        "code goes), or be left empty to use the API's verification endpoint."
    )
# Public verification requests per client address (see TRUSTED_PROXIES).
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["certificate_verify"] = env.str(
    "THROTTLE_CERTIFICATE_VERIFY", default="30/min"
)
# OpenAPI: certificates and enrollments both have a `status`; their enums get distinct names.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {"CertificateStatusEnum": "enrollments.models.CertificateStatus"}
)

# --- Security -------------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Load balancers probe health over plain HTTP; never redirect them.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])
if not DEBUG and not SECURE_HSTS_PRELOAD:
    # Asking browsers to preload HSTS binds the whole domain and its subdomains to HTTPS for
    # months and is hard to undo, so it is the operator's explicit choice
    # (SECURE_HSTS_PRELOAD=1), not a default; the deploy check's reminder is silenced.
    SILENCED_SYSTEM_CHECKS.append("security.W021")

# --- Logging: one JSON object per line, with the request id ---
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "eduflow.core.logging.RequestContextFilter"}},
    "formatters": {"json": {"()": "eduflow.core.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "eduflow.access": {"level": env.str("ACCESS_LOG_LEVEL", default="INFO")},
    },
}
