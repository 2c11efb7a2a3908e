"""Kronvex settings: one module, every value from the environment.

With no environment at all this is the embedded default: PostgreSQL + pgvector in
KRONVEX_DATA_DIR, Celery tasks run in-process, the bundled local embedding model.
`.env.example` lists every variable read here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from kronvex.embedded_postgres import django_database

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


KRONVEX_DATA_DIR = Path(env_str("KRONVEX_DATA_DIR") or BASE_DIR / ".data").resolve()


# Production (KRONVEX_PRODUCTION=true): a public site served over TLS. It refuses to start
# without a real SECRET_KEY and ALLOWED_HOSTS, and turns on secure cookies, HSTS and the
# redirect to https; `manage.py check --deploy` then reports nothing.
KRONVEX_PRODUCTION = env_bool("KRONVEX_PRODUCTION", False)
# Django's own development keys start with this; `check --deploy` rejects them too.
_INSECURE_KEY_PREFIX = "django-insecure-"
_SECRET_KEY_MIN_LENGTH = 50


def _production_secret_key() -> str:
    key = env_str("SECRET_KEY")
    if not key:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when KRONVEX_PRODUCTION is true (the same on every "
            "machine); make one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if (
        len(key) < _SECRET_KEY_MIN_LENGTH
        or len(set(key)) < 5
        or key.startswith(_INSECURE_KEY_PREFIX)
    ):
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak for production: it needs at least "
            f"{_SECRET_KEY_MIN_LENGTH} random characters and must not start with "
            f"{_INSECURE_KEY_PREFIX!r}; make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return key


def _secret_key() -> str:
    if KRONVEX_PRODUCTION:
        return _production_secret_key()
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    # The embedded default keeps a generated key in the data folder so sessions
    # survive restarts; production sets SECRET_KEY.
    path = KRONVEX_DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        KRONVEX_DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
    except OSError as exc:
        raise ImproperlyConfigured(f"cannot read {path}: {exc}; set SECRET_KEY") from exc


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
if KRONVEX_PRODUCTION and not env_list("ALLOWED_HOSTS", []):
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must be set when KRONVEX_PRODUCTION is true: the host names this "
        "server answers to, comma-separated, e.g. ALLOWED_HOSTS=kronvex.example.com"
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "billing",
    "audit",
    "webhooks",
    "memories",
    "api",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "kronvex.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "kronvex.urls"
WSGI_APPLICATION = "kronvex.wsgi.application"

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

# Database: DATABASE_URL for an external PostgreSQL (it must have pgvector),
# otherwise the embedded server in KRONVEX_DATA_DIR.
DATABASE_URL = env_str("DATABASE_URL")
_conn_max_age = env_int("CONN_MAX_AGE", 60, minimum=0)
if DATABASE_URL:
    _database = dict(dj_database_url.parse(DATABASE_URL, conn_max_age=_conn_max_age))
    if _database.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_URL must point at PostgreSQL with pgvector (postgres://...); "
            f"got engine {_database.get('ENGINE')!r}"
        )
else:
    _database = django_database(KRONVEX_DATA_DIR)
    _database["CONN_MAX_AGE"] = _conn_max_age
_database["CONN_HEALTH_CHECKS"] = True
_database.setdefault("TEST", {})
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Accounts (django-allauth): email and password, the email confirmed before first login.
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# One address per user: a new one replaces the old once it is confirmed.
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_LOGIN_BY_CODE_ENABLED = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Kronvex] "
ACCOUNT_ADAPTER = "dashboard.adapters.AccountAdapter"
ACCOUNT_USER_DISPLAY = "dashboard.adapters.user_display"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env_str(
    "KRONVEX_URL_SCHEME", "https" if KRONVEX_PRODUCTION else "http"
)
# Throttles against guessing, counted in the cache shared by every web process.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/300s/key",
    "signup": "10/m/ip,50/h/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/180s/key",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
}

# Mail: SMTP when EMAIL_HOST is set; otherwise each message is written to the
# console, or to a file in KRONVEX_EMAIL_FILE_DIR when that is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Kronvex <noreply@localhost>")
KRONVEX_EMAIL_FILE_DIR = env_str("KRONVEX_EMAIL_FILE_DIR")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
elif KRONVEX_EMAIL_FILE_DIR:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = KRONVEX_EMAIL_FILE_DIR
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# The cache holds sign-in throttles: shared by the processes of one machine in a
# folder by default; KRONVEX_CACHE_URL=redis://... shares it across machines.
KRONVEX_CACHE_URL = env_str("KRONVEX_CACHE_URL")
if KRONVEX_CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    _cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": KRONVEX_CACHE_URL,
    }
elif KRONVEX_CACHE_URL.startswith("locmem://"):
    _cache = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
elif KRONVEX_CACHE_URL:
    raise ImproperlyConfigured(
        f"KRONVEX_CACHE_URL must be redis://..., rediss://..., unix://... or locmem://, "
        f"not {KRONVEX_CACHE_URL!r}"
    )
else:
    _cache = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(KRONVEX_DATA_DIR / "cache"),
    }
CACHES = {"default": _cache}

# Security headers and cookies. Always: cookies out of reach of scripts and of other
# sites' requests, no framing, no content sniffing, the Content-Security-Policy of
# kronvex/csp.py. In production also: cookies only over https, HSTS, the redirect to https.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # the dashboard's scripts read the token from the form
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = KRONVEX_PRODUCTION
CSRF_COOKIE_SECURE = KRONVEX_PRODUCTION
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True) and KRONVEX_PRODUCTION
# Load balancers probe the health check over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = (
    env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0) if KRONVEX_PRODUCTION else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# Behind a proxy that terminates TLS, the header by which it says the request came over
# https (e.g. X-Forwarded-Proto); only set it if the proxy always sets or overwrites it.
KRONVEX_PROXY_SSL_HEADER = env_str("KRONVEX_PROXY_SSL_HEADER")
if KRONVEX_PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + KRONVEX_PROXY_SSL_HEADER.upper().replace("-", "_"),
        "https",
    )
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or KRONVEX_DATA_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.authentication.HasApiKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema of the public API (api/schema.py) at /api/schema/, with Swagger UI
# and ReDoc served from this site's own static files, never from a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Kronvex API",
    "DESCRIPTION": (
        "Memory for AI agents: store memories with remember, find the right ones with "
        "recall or inject-context. Every error has one shape, the Error object. "
        "The reference with every limit and error code is at /docs/api/."
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PREPROCESSING_HOOKS": ["api.schema.public_api_endpoints"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.describe_request_fields",
        "api.schema.link_operations",
    ],
    "ENUM_NAME_OVERRIDES": {
        "MemoryTypeEnum": "api.fields.TYPE_CHOICES",
        "EmbeddingStatusEnum": "memories.models.EmbeddingStatus",
        "BatchItemStatusEnum": "api.schema.BATCH_ITEM_STATUSES",
    },
    "TAGS": [
        {"name": "agents", "description": "The agents of your account."},
        {"name": "memories", "description": "Remember, recall and manage an agent's memories."},
        {"name": "sessions", "description": "The sessions of an agent's memories."},
        {
            "name": "privacy",
            "description": "Export the account or one end user's session; erase a session.",
        },
    ],
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its pages are public: a key sent along (Swagger UI's "Authorize")
    # is not checked on them.
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: Swagger UI would send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "validatorUrl": None},
}

# Celery: without a broker, tasks run in-process before the response returns.
CELERY_TASK_ALWAYS_EAGER = not env_str("CELERY_BROKER_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request never waits on a broker that is down: a publish gives up within about a
# second (the memory is stored already; the sweeper below queues it later) instead of
# retrying for ever. The worker's own connection keeps retrying as usual.
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.2,
}
KRONVEX_PURGE_INTERVAL_SECONDS = env_int("KRONVEX_PURGE_INTERVAL_SECONDS", 600, minimum=10)
# The sweeper (memories/services.py memories_sweep) queues again the memories left pending
# this long, and the failed ones whose failure may pass, backing off from this delay,
# doubled each time up to KRONVEX_SWEEP_MAX_DELAY_SECONDS, KRONVEX_SWEEP_MAX_ATTEMPTS times.
KRONVEX_SWEEP_INTERVAL_SECONDS = env_int("KRONVEX_SWEEP_INTERVAL_SECONDS", 60, minimum=1)
KRONVEX_SWEEP_PENDING_AFTER_SECONDS = env_int("KRONVEX_SWEEP_PENDING_AFTER_SECONDS", 120, minimum=1)
KRONVEX_SWEEP_MAX_DELAY_SECONDS = env_int("KRONVEX_SWEEP_MAX_DELAY_SECONDS", 3600, minimum=1)
KRONVEX_SWEEP_MAX_ATTEMPTS = env_int("KRONVEX_SWEEP_MAX_ATTEMPTS", 5, minimum=0)
CELERY_BEAT_SCHEDULE = {
    "purge-expired-memories": {
        "task": "memories.tasks.purge_expired_memories",
        "schedule": KRONVEX_PURGE_INTERVAL_SECONDS,
    },
    "sweep-memories": {
        "task": "memories.tasks.sweep_memories",
        "schedule": KRONVEX_SWEEP_INTERVAL_SECONDS,
    },
    # Episodic memories past their agent's retention_days (memories_retention_purge).
    "purge-retention": {
        "task": "memories.tasks.purge_retention",
        "schedule": KRONVEX_PURGE_INTERVAL_SECONDS,
    },
    # Webhook deliveries whose task was lost (webhooks/services.py webhooks_sweep).
    "sweep-webhooks": {
        "task": "webhooks.tasks.sweep_webhooks",
        "schedule": KRONVEX_SWEEP_INTERVAL_SECONDS,
    },
    # Stored answers of Idempotency-Key requests live 24 hours (api/idempotency.py).
    "purge-idempotency-keys": {
        "task": "api.tasks.purge_idempotency_keys",
        "schedule": 3600,
    },
}

# Webhooks to customers' endpoints (webhooks/). Sent only to public addresses unless
# KRONVEX_WEBHOOK_ALLOW_PRIVATE (server-side request forgery); each failed try is retried
# after the next of KRONVEX_WEBHOOK_RETRY_DELAYS seconds, then the delivery is failed.
KRONVEX_WEBHOOK_ALLOW_PRIVATE = env_bool("KRONVEX_WEBHOOK_ALLOW_PRIVATE", False)
KRONVEX_WEBHOOK_REQUIRE_HTTPS = env_bool("KRONVEX_WEBHOOK_REQUIRE_HTTPS", KRONVEX_PRODUCTION)
KRONVEX_WEBHOOK_TIMEOUT_SECONDS = env_float("KRONVEX_WEBHOOK_TIMEOUT_SECONDS", 10.0)
_webhook_delays = env_list(
    "KRONVEX_WEBHOOK_RETRY_DELAYS", ["10", "30", "120", "600", "1800", "3600", "3600"]
)
try:
    KRONVEX_WEBHOOK_RETRY_DELAYS = [int(delay) for delay in _webhook_delays]
except ValueError:
    raise ImproperlyConfigured(
        f"KRONVEX_WEBHOOK_RETRY_DELAYS must be whole numbers of seconds, comma-separated, "
        f"not {','.join(_webhook_delays)!r}"
    ) from None
if any(delay < 0 for delay in KRONVEX_WEBHOOK_RETRY_DELAYS):
    raise ImproperlyConfigured("KRONVEX_WEBHOOK_RETRY_DELAYS must not be negative")
# Without a broker, `manage.py serve` sends the due deliveries this often.
KRONVEX_WEBHOOK_POLL_SECONDS = env_float("KRONVEX_WEBHOOK_POLL_SECONDS", 2.0)
if KRONVEX_WEBHOOK_POLL_SECONDS <= 0 or KRONVEX_WEBHOOK_TIMEOUT_SECONDS <= 0:
    raise ImproperlyConfigured(
        "KRONVEX_WEBHOOK_POLL_SECONDS and KRONVEX_WEBHOOK_TIMEOUT_SECONDS must be above 0"
    )
KRONVEX_WEBHOOK_LOG_DAYS = env_int("KRONVEX_WEBHOOK_LOG_DAYS", 30, minimum=1)

# Embeddings (memories/embedding.py).
KRONVEX_EMBEDDER = env_str("KRONVEX_EMBEDDER", "local")
KRONVEX_MODEL_DIR = Path(env_str("KRONVEX_MODEL_DIR") or KRONVEX_DATA_DIR / "models")
# Threads per embedding call: two halve a single query's time on a 2-core machine.
KRONVEX_ONNX_THREADS = env_int("KRONVEX_ONNX_THREADS", min(os.cpu_count() or 1, 4), minimum=1)
KRONVEX_EMBEDDING_BATCH_SIZE = env_int("KRONVEX_EMBEDDING_BATCH_SIZE", 64, minimum=1)
KRONVEX_EMBEDDING_MODEL = env_str("KRONVEX_EMBEDDING_MODEL", "text-embedding-3-small")
KRONVEX_EMBEDDING_DIMENSIONS = env_int("KRONVEX_EMBEDDING_DIMENSIONS", 1536, minimum=1)
KRONVEX_EMBEDDING_BASE_URL = env_str("KRONVEX_EMBEDDING_BASE_URL") or None
KRONVEX_EMBEDDING_TIMEOUT = env_float("KRONVEX_EMBEDDING_TIMEOUT", 30.0)
KRONVEX_EMBEDDING_MAX_RETRIES = env_int("KRONVEX_EMBEDDING_MAX_RETRIES", 2, minimum=0)
KRONVEX_QUERY_EMBEDDING_TIMEOUT = env_float("KRONVEX_QUERY_EMBEDDING_TIMEOUT", 5.0)
OPENAI_API_KEY = env_str("OPENAI_API_KEY")

# Ranking (memories/ranking.py): similarity = (1 - lexical) x vector + lexical x BM25 share,
# confidence = weights . (similarity, recency, frequency). Defaults tuned on the tune split
# of bench/evalset (bench/retrieval_quality.py --tune).
KRONVEX_WEIGHT_LEXICAL = env_float("KRONVEX_WEIGHT_LEXICAL", 0.05)
KRONVEX_WEIGHT_SIMILARITY = env_float("KRONVEX_WEIGHT_SIMILARITY", 0.9)
KRONVEX_WEIGHT_RECENCY = env_float("KRONVEX_WEIGHT_RECENCY", 0.05)
KRONVEX_WEIGHT_FREQUENCY = env_float("KRONVEX_WEIGHT_FREQUENCY", 0.05)
KRONVEX_RECENCY_MIDPOINT_DAYS = env_float("KRONVEX_RECENCY_MIDPOINT_DAYS", 30.0)
KRONVEX_RECENCY_SCALE_DAYS = env_float("KRONVEX_RECENCY_SCALE_DAYS", 10.0)
KRONVEX_FREQUENCY_SATURATION = env_int("KRONVEX_FREQUENCY_SATURATION", 50, minimum=1)
KRONVEX_RELEVANCE_RATIO = env_float("KRONVEX_RELEVANCE_RATIO", 0.6)
# Time in the query (memories/periods.py): the share of similarity given to being made
# inside the period a query names, and to being newer when it asks about the present.
KRONVEX_WEIGHT_PERIOD = env_float("KRONVEX_WEIGHT_PERIOD", 0.3)
KRONVEX_WEIGHT_NEWNESS = env_float("KRONVEX_WEIGHT_NEWNESS", 0.2)
# A candidate that resembles its nearest fellow candidates more than they resemble theirs
# loses this share of that excess from its similarity (the hubness correction).
KRONVEX_WEIGHT_CROWDING = env_float("KRONVEX_WEIGHT_CROWDING", 0.5)
KRONVEX_CROWDING_NEIGHBOURS = env_int("KRONVEX_CROWDING_NEIGHBOURS", 5, minimum=1)
# Per process: recall searches recently used agents' vectors in memory, exactly
# (memories/vector_cache.py); 0 turns it off and every recall scans in PostgreSQL.
KRONVEX_VECTOR_CACHE_MB = env_int("KRONVEX_VECTOR_CACHE_MB", 256, minimum=0)

# Limits of the public API.
KRONVEX_MAX_CONTENT_CHARS = env_int("KRONVEX_MAX_CONTENT_CHARS", 8000, minimum=1)
KRONVEX_MAX_QUERY_CHARS = env_int("KRONVEX_MAX_QUERY_CHARS", 4000, minimum=1)
KRONVEX_MAX_METADATA_BYTES = env_int("KRONVEX_MAX_METADATA_BYTES", 16384, minimum=2)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("KRONVEX_MAX_BODY_BYTES", 1_048_576, minimum=1024)

# Rate limits of the public API (api/ratelimit.py), from each account's plan: counted in
# Redis when KRONVEX_REDIS_URL names one (a Redis CELERY_BROKER_URL serves when it is
# unset), otherwise in PostgreSQL.
KRONVEX_REDIS_URL = env_str("KRONVEX_REDIS_URL")
if not KRONVEX_REDIS_URL and env_str("CELERY_BROKER_URL").startswith(("redis://", "rediss://")):
    KRONVEX_REDIS_URL = env_str("CELERY_BROKER_URL")
if KRONVEX_REDIS_URL and not KRONVEX_REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        f"KRONVEX_REDIS_URL must be redis://..., rediss://... or unix://..., "
        f"not {KRONVEX_REDIS_URL!r}"
    )

# The embedded launcher (`python manage.py serve`).
PORT = env_int("PORT", 8000, minimum=1)
KRONVEX_HOST = env_str("KRONVEX_HOST", "127.0.0.1")
KRONVEX_WEB_WORKERS = env_int("KRONVEX_WEB_WORKERS", 2, minimum=1)
KRONVEX_WEB_THREADS = env_int("KRONVEX_WEB_THREADS", 4, minimum=1)

# Usage counters (billing/usage.py) are written at most this often per process.
KRONVEX_USAGE_FLUSH_SECONDS = env_float("KRONVEX_USAGE_FLUSH_SECONDS", 5.0)

# Stripe (billing/stripe_api.py): billing is on when STRIPE_SECRET_KEY is set; a plan is
# sold when its price id is set. Without it, operators set plans (`manage.py setplan`).
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_PRICE_BUILDER = env_str("STRIPE_PRICE_BUILDER")
STRIPE_PRICE_STARTUP = env_str("STRIPE_PRICE_STARTUP")
STRIPE_PRICE_BUSINESS = env_str("STRIPE_PRICE_BUSINESS")
# Another base URL for Stripe's API (tests point it at a loopback server).
KRONVEX_STRIPE_API_BASE = env_str("KRONVEX_STRIPE_API_BASE")
if STRIPE_SECRET_KEY and not STRIPE_WEBHOOK_SECRET:
    # Without webhooks, customers would pay and never get their plan.
    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: set the signing secret "
        "of the webhook endpoint /billing/stripe/webhook"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
