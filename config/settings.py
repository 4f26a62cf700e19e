"""Curhat settings, read from the environment.

https://docs.djangoproject.com/en/5.2/topics/settings/
Environment: DATABASE_URL, REDIS_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS, CC_ORIGINS,
PORT (used by the launcher). ``make run`` / ``make test`` fill DATABASE_URL and
REDIS_URL with embedded services when they are unset (``ops/embedded_services.py``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Use `make run` / `make test`, which start embedded "
            f"PostgreSQL and Redis when it is missing, or export {name}."
        )
    return value


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "curhat-insecure-development-key"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "localhost,127.0.0.1")
# control-center origins: CORS on /internal/, CSRF trust, allowed websocket Origins
CC_ORIGINS = env_list("CC_ORIGINS", "http://localhost:8000,http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",  # must come before staticfiles (https://channels.readthedocs.io/en/latest/installation.html)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "corsheaders",
    "channels",
    "django_celery_beat",
    "fcm_django",
    "accounts",
    "live_settings",
    "idempotency",
    "payments",
    "pairing",
    "chat",
    "extensions",
    "failed_pairings",
    "safety",
    "privacy",
    "realtime",
    "control_center",
]

MIDDLEWARE = [
    # first: every later middleware's log lines and answers carry the request id
    "config.request_id.RequestIdMiddleware",
    # names the resolved URL route for the request metrics, counted around the whole
    # ASGI app (metrics/http.py)
    "metrics.http.route_label_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # before anything that uses the database: while PostgreSQL is unreachable, 503 at
    # once (config/db_outage.py); static files and CORS headers still work
    "config.db_outage.DatabaseOutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "control_center.middleware.OperatorTimeZoneMiddleware",
    "control_center.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None  # served inside daphne by config/wsgi_bridge.py

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


# --- PostgreSQL ---------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/databases/#connection-pool
# Under ASGI persistent connections leak (one per dead request thread), so the
# psycopg pool with CONN_MAX_AGE=0.
def database_from_url(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=0)
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgresql:// URL (PostgreSQL is the only engine)")
    # dj-database-url ignores ?host=/socket/dir (the embedded server's unix socket)
    host = parse_qs(urlsplit(url).query).get("host")
    if host:
        config["HOST"] = host[0]
    if not config.get("USER"):
        config["USER"] = "postgres"
    config["OPTIONS"] = {
        "pool": {
            "min_size": int(os.environ.get("DB_POOL_MIN_SIZE", "1")),
            "max_size": int(os.environ.get("DB_POOL_MAX_SIZE", "24")),
            # seconds a request waits for a connection. A web process runs fewer request
            # threads than the pool holds, so the wait is only long while PostgreSQL is
            # unreachable, and then the client gets a 503 within this time (make faults F3)
            "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "3")),
        },
    }
    config["CONN_MAX_AGE"] = 0
    return config


DATABASES = {"default": database_from_url(required_env("DATABASE_URL"))}
# threads per web process that run Django's request handling (config/wsgi_bridge.py);
# keep it below DB_POOL_MAX_SIZE so that no request waits for a database connection.
# Few: each database round trip of a request must win the GIL back from the others, so
# more threads made a contended request slower (make bench P3, 50 simultaneous accepts:
# p99 about 140-160 ms with 4, 220-330 ms with 8, p50 255 ms with 16)
WEB_THREADS = int(os.environ.get("WEB_THREADS", "4"))
# connections per web process for the fast paths that query from the event loop
# (config/async_db.py: sending a message), and how long one waits for a free connection
WEB_ASYNC_DB_POOL_SIZE = int(os.environ.get("WEB_ASYNC_DB_POOL_SIZE", "8"))
WEB_ASYNC_DB_TIMEOUT = float(os.environ.get("WEB_ASYNC_DB_TIMEOUT", "2"))
# while PostgreSQL is unreachable a process answers 503 at once, letting one request per
# this many seconds try the database (config/db_outage.py)
DB_OUTAGE_PROBE_SECONDS = float(os.environ.get("DB_OUTAGE_PROBE_SECONDS", "1"))
# seconds a thread may hold the GIL before the event loop gets a turn (config/asgi.py)
WEB_GIL_SWITCH_INTERVAL = float(os.environ.get("WEB_GIL_SWITCH_INTERVAL", "0.001"))
# the web processes' garbage-collector thresholds (config/asgi.py; Python's are 700,10,10)
WEB_GC_THRESHOLDS = tuple(int(x) for x in os.environ.get("WEB_GC_THRESHOLDS", "50000,20,100").split(","))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Redis: cache, channel layer, Celery broker, settings invalidation ---------
REDIS_URL = required_env("REDIS_URL")
REDIS_PREFIX = os.environ.get("CURHAT_REDIS_PREFIX", "curhat")

# Every Redis pool is sized here. The sync pools block (wait for a free connection) when
# full; the asyncio ones (channel layer, presence, availability) bound the commands in
# flight per process with a semaphore below the pool size instead, since redis-py's
# asyncio pools raise "Too many connections" at once when full (realtime/channel_layer.py).
# Size them × processes below Redis' maxclients (10,000).
REDIS_CACHE_MAX_CONNECTIONS = int(os.environ.get("REDIS_CACHE_MAX_CONNECTIONS", "50"))
REDIS_CLIENT_MAX_CONNECTIONS = int(os.environ.get("REDIS_CLIENT_MAX_CONNECTIONS", "50"))
REDIS_CHANNEL_MAX_CONNECTIONS = int(os.environ.get("REDIS_CHANNEL_MAX_CONNECTIONS", "100"))
REDIS_CHANNEL_COMMAND_CONCURRENCY = int(os.environ.get("REDIS_CHANNEL_COMMAND_CONCURRENCY", "64"))
REDIS_ASYNC_MAX_CONNECTIONS = int(os.environ.get("REDIS_ASYNC_MAX_CONNECTIONS", "100"))
REDIS_ASYNC_COMMAND_CONCURRENCY = int(os.environ.get("REDIS_ASYNC_COMMAND_CONCURRENCY", "64"))
REDIS_POOL_TIMEOUT = float(os.environ.get("REDIS_POOL_TIMEOUT", "10"))  # seconds to wait for a connection

CACHES = {
    "default": {
        # https://docs.djangoproject.com/en/5.2/topics/cache/#redis
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_PREFIX,
        "OPTIONS": {
            "pool_class": "redis.BlockingConnectionPool",
            "max_connections": REDIS_CACHE_MAX_CONNECTIONS,
            "timeout": REDIS_POOL_TIMEOUT,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
    }
}

CHANNEL_LAYERS = {
    "default": {
        # https://github.com/django/channels_redis#configuration; realtime/channel_layer.py
        # bounds the commands in flight, receives and sends in batches
        "BACKEND": "realtime.channel_layer.CurhatChannelLayer",
        "CONFIG": {
            # redis-py 8 defaults socket_timeout to 5 s, the same as channels-redis' blocking
            # BZPOPMIN: every idle socket would die with TimeoutError every 5 s
            # (https://github.com/django/channels_redis/issues/422). Keep it above that.
            "hosts": [{
                "address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5,
                "max_connections": REDIS_CHANNEL_MAX_CONNECTIONS,
            }],
            # commands in flight per process; the pool above keeps room for the receive loop
            "command_concurrency": REDIS_CHANNEL_COMMAND_CONCURRENCY,
            "prefix": f"{REDIS_PREFIX}:asgi",
            # per socket: events buffered in its process for a socket that reads slowly
            "capacity": 1500,
            # every socket of one web process shares one Redis key ("specific.<process>!"):
            # a push to thousands of sockets of one process must fit in it
            "channel_capacity": {"specific.*": int(os.environ.get("REALTIME_PROCESS_CAPACITY", "100000"))},
            "expiry": 30,
            # a socket that died without disconnect leaves its groups after this
            "group_expiry": 3600,
        },
    }
}

# websocket fan-out (realtime/delivery.py): recipients per batch (two Redis round trips
# each), batches in flight at once (1: one user's events never overtake each other across
# batches), retries of a failed batch and the first backoff
REALTIME_FANOUT_BATCH_SIZE = int(os.environ.get("REALTIME_FANOUT_BATCH_SIZE", "250"))
REALTIME_FANOUT_CONCURRENCY = int(os.environ.get("REALTIME_FANOUT_CONCURRENCY", "1"))
REALTIME_FANOUT_RETRIES = int(os.environ.get("REALTIME_FANOUT_RETRIES", "3"))
REALTIME_FANOUT_RETRY_DELAY = float(os.environ.get("REALTIME_FANOUT_RETRY_DELAY", "0.1"))

# https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
CELERY_BROKER_URL = REDIS_URL
# kombu's Redis transport with a fix that lets the worker reconnect after losing Redis
CELERY_BROKER_TRANSPORT = "config.celery_broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = False  # never eager, tests included: a real worker runs tasks
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_PREFIX}-tasks"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-pool-limit
CELERY_BROKER_POOL_LIMIT = int(os.environ.get("CELERY_BROKER_POOL_LIMIT", "20"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{REDIS_PREFIX}:",
    # kombu's Redis transport pool (https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html)
    "max_connections": int(os.environ.get("CELERY_REDIS_MAX_CONNECTIONS", "50")),
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# ETA tasks fire within ~0.1 s of their time instead of Celery's default 1 s slack
CELERY_WORKER_TIMER_PRECISION = 0.1
# beat wakes every second (django-celery-beat's default is 5 s), so the backstop below
# runs on time: https://docs.celeryq.dev/en/stable/userguide/configuration.html#beat-max-loop-interval
CELERY_BEAT_MAX_LOOP_INTERVAL = 1
CELERY_BEAT_SCHEDULE = {
    # backstop for deadlines a dead or restarted worker missed (and a restarted worker
    # fires them at once, config/celery.py)
    "fire-due-timers": {"task": "pairing.tasks.fire_due_timers", "schedule": 2.0},
    "sweep-payments": {"task": "payments.tasks.sweep_payments", "schedule": 60.0},
    # forget Idempotency-Keys past their retention (idempotency/services.py)
    "prune-idempotency-keys": {"task": "idempotency.tasks.prune_idempotency_keys", "schedule": 60.0},
    # the suspended accounts' shared set, in case Redis lost it (accounts/suspended.py)
    "publish-suspended-users": {"task": "accounts.tasks.publish_suspended_users", "schedule": 30.0},
    # SPEC §13: message texts past message_retention_days, daily at 03:00 WIB (20:00 UTC)
    "purge-messages": {"task": "chat.tasks.purge_messages", "schedule": crontab(hour=20, minute=0)},
}

# GET /health (config/liveness.py): the worker notes that its event loop runs every
# HEARTBEAT seconds and is "stale" after WORKER_MAX_AGE; beat is "stale" when it has not
# sent the deadline backstop (every 2 s above) for BEAT_MAX_AGE
HEALTH_WORKER_HEARTBEAT_SECONDS = float(os.environ.get("HEALTH_WORKER_HEARTBEAT_SECONDS", "2"))
HEALTH_WORKER_MAX_AGE_SECONDS = float(os.environ.get("HEALTH_WORKER_MAX_AGE_SECONDS", "60"))
HEALTH_BEAT_MAX_AGE_SECONDS = float(os.environ.get("HEALTH_BEAT_MAX_AGE_SECONDS", "30"))


# --- Auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.auth_backends.PhoneOrEmailBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# failed logins per login identifier before 429, and the window they count in
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "900"))

# https://django-rest-framework-simplejwt.readthedocs.io/en/latest/settings.html
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "30"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(os.environ.get("JWT_REFRESH_DAYS", "30"))),
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
    # a refresh token works once: the refresh answer carries a new one, the used one is
    # blacklisted (accounts.services.token_refresh)
    # https://django-rest-framework-simplejwt.readthedocs.io/en/latest/blacklist_app.html
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

# https://www.django-rest-framework.org/api-guide/settings/
# request bodies (API.md: 413 payload_too_large above it; the web tier refuses larger
# bodies before reading them, config/wsgi_bridge.py) and JSON nesting (400 invalid_json)
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MAX_BODY_BYTES", str(1024 * 1024)))
API_MAX_JSON_DEPTH = int(os.environ.get("API_MAX_JSON_DEPTH", "32"))

# Rate limits (config/throttling.py): "<count>/<s|min|hour|day>", comma-separated windows;
# each scope overridable by RATE_LIMIT_<SCOPE>, e.g. RATE_LIMIT_MESSAGES="5/s,120/min"
_DEFAULT_RATE_LIMITS = {
    "login_address": "20/min,200/hour",  # POST /api/auth/token per client address
    "login_all": "3000/min",  # … all addresses together
    "token_refresh": "30/min",  # POST /api/auth/token/refresh per client address
    "register": "5/min,20/hour",  # POST /api/auth/register per client address
    "messages": "5/s,120/min",  # POST /api/chat/{id}/messages per user
    "payment_sessions": "10/min,60/hour",  # POST /api/client/payment-sessions per user
    "devices": "10/min,50/day",  # POST /api/devices per user
}
RATE_LIMITS = {
    scope: os.environ.get(f"RATE_LIMIT_{scope.upper()}", rate) for scope, rate in _DEFAULT_RATE_LIMITS.items()
}
# behind a proxy: the header it sets with the client's address (its last entry counts),
# e.g. X-Forwarded-For; empty: REMOTE_ADDR (a client-written header is never trusted)
CLIENT_IP_HEADER = os.environ.get("CLIENT_IP_HEADER", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # first: its WWW-Authenticate header makes unauthenticated requests 401, not 403
        "accounts.authentication.ActiveAccountJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.openapi.CurhatAutoSchema",
    "EXCEPTION_HANDLER": "config.exception_handler.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "Curhat API",
    "DESCRIPTION": "Mobile (customer and mitra) and operator APIs of the Curhat peer-support chat service.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/(api|internal)/",
    "COMPONENT_SPLIT_REQUEST": True,
}

# https://github.com/adamchainz/django-cors-headers#configuration
CORS_URLS_REGEX = r"^/internal/.*$"
CORS_ALLOWED_ORIGINS = CC_ORIGINS
CORS_ALLOW_METHODS = ("DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT")
CORS_ALLOW_CREDENTIALS = True
CSRF_TRUSTED_ORIGINS = CC_ORIGINS

# https://fcm-django.readthedocs.io/en/latest/#configuration
FCM_DJANGO_SETTINGS = {
    "ONE_DEVICE_PER_USER": False,
    "DELETE_INACTIVE_DEVICES": True,
}

# mobile push: the recording outbox unless FCM credentials are configured
# (fcm-django reads GOOGLE_APPLICATION_CREDENTIALS through firebase-admin)
PUSH_BACKEND = os.environ.get(
    "PUSH_BACKEND",
    "realtime.push.FcmPushBackend" if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") else "realtime.push.OutboxPushBackend",
)
# payments (SPEC §11): `instant` (confirms at once: development, tests, demos) or
# `midtrans` (Snap); a dotted path names any other class of payments/providers.py's shape
PAYMENT_PROVIDERS = {"instant": "payments.providers.InstantProvider", "midtrans": "payments.providers.MidtransProvider"}
PAYMENT_PROVIDER = PAYMENT_PROVIDERS.get(os.environ.get("PAYMENT_PROVIDER", "instant"), os.environ.get("PAYMENT_PROVIDER", ""))
ALLOW_INSTANT_PAYMENTS = env_bool("ALLOW_INSTANT_PAYMENTS")
if not DEBUG and PAYMENT_PROVIDER == PAYMENT_PROVIDERS["instant"] and not ALLOW_INSTANT_PAYMENTS:
    raise ImproperlyConfigured(
        "PAYMENT_PROVIDER is the instant provider, which marks every payment paid when the app says so. "
        "Set PAYMENT_PROVIDER=midtrans (with MIDTRANS_SERVER_KEY) for real money, or ALLOW_INSTANT_PAYMENTS=1 "
        "for a demo deployment."
    )
MIDTRANS_SERVER_KEY = os.environ.get("MIDTRANS_SERVER_KEY", "")
MIDTRANS_IS_PRODUCTION = env_bool("MIDTRANS_IS_PRODUCTION")
MIDTRANS_API_BASE_URL = os.environ.get(
    "MIDTRANS_API_BASE_URL", "https://api.midtrans.com/v2" if MIDTRANS_IS_PRODUCTION else "https://api.sandbox.midtrans.com/v2"
).rstrip("/")
MIDTRANS_SNAP_BASE_URL = os.environ.get(
    "MIDTRANS_SNAP_BASE_URL", "https://app.midtrans.com" if MIDTRANS_IS_PRODUCTION else "https://app.sandbox.midtrans.com"
).rstrip("/")
# one HTTP call to the gateway, and how often a failed one is tried again (bounded)
MIDTRANS_TIMEOUT_SECONDS = float(os.environ.get("MIDTRANS_TIMEOUT_SECONDS", "5"))
MIDTRANS_RETRIES = int(os.environ.get("MIDTRANS_RETRIES", "2"))
# how long creating a payment session may try to open the gateway's payment page before
# it answers 502 payment_provider_unavailable (SPEC §11: 10 s)
PAYMENT_PROVIDER_WAIT_SECONDS = float(os.environ.get("PAYMENT_PROVIDER_WAIT_SECONDS", "10"))
if PAYMENT_PROVIDER == PAYMENT_PROVIDERS["midtrans"] and not MIDTRANS_SERVER_KEY:
    raise ImproperlyConfigured("PAYMENT_PROVIDER=midtrans needs MIDTRANS_SERVER_KEY.")

# the availability poll's fast path keeps the shared answer this long in each process
# (pairing/api/fast_paths.py); SPEC §3 wants a change seen within 5 s
AVAILABILITY_PROCESS_CACHE_SECONDS = float(os.environ.get("AVAILABILITY_PROCESS_CACHE_SECONDS", "1"))
# how long a process keeps the shared set of suspended accounts (accounts/suspended.py)
SUSPENDED_USERS_PROCESS_CACHE_SECONDS = float(os.environ.get("SUSPENDED_USERS_PROCESS_CACHE_SECONDS", "1"))

# /metrics (metrics/views.py): a bearer token a Prometheus server may scrape with, besides
# an operator's control-center session; empty: operators only. Compared in constant time.
# https://prometheus.io/docs/prometheus/latest/configuration/configuration/#scrape_config
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# `make bench` only: route P1's baseline view (ops/bench/baseline.py)
BENCH_BASELINE_VIEW = env_bool("CURHAT_BENCH")

# runtime settings store (SPEC §2): the TTL backstop of the per-process cache
LIVE_SETTINGS_TTL_SECONDS = float(os.environ.get("LIVE_SETTINGS_TTL_SECONDS", "10"))
LIVE_SETTINGS_CHANNEL = "config:invalidate"

# the control center shows and filters times in the operators' zone; the APIs stay UTC
CONTROL_CENTER_TIME_ZONE = os.environ.get("CONTROL_CENTER_TIME_ZONE", "Asia/Jakarta")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # https://whitenoise.readthedocs.io/en/stable/django.html
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage",
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# HTTPS behind a TLS-terminating proxy (BEHIND_TLS_PROXY=1): trust its X-Forwarded-Proto,
# secure cookies, redirect plain HTTP (but /health: the load balancer's probe), HSTS.
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/ — `manage.py check
# --deploy` reports nothing with these (config/tests/test_deploy_check.py).
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SESSION_COOKIE_SECURE = BEHIND_TLS_PROXY
CSRF_COOKIE_SECURE = BEHIND_TLS_PROXY
SECURE_SSL_REDIRECT = BEHIND_TLS_PROXY
SECURE_REDIRECT_EXEMPT = [r"^health$"]
SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", "31536000")) if BEHIND_TLS_PROXY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", default=True)
# preloading is a promise to browsers that is slow to undo: only on request
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD")
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "SECURE_HSTS_PRELOAD is not True": a choice
# the control center's pages (control_center/middleware.py)
CONTROL_CENTER_CSP = os.environ.get(
    "CONTROL_CENTER_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)

# Logs: one JSON object per line in production (python-json-logger,
# https://nhairs.github.io/python-json-logger/), plain text for a person at a terminal
# (``make run``, ``make test``). Every record carries the request id (config/request_id.py).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain" if DEBUG else "json").strip().lower()
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.request_id.RequestIdFilter"},
        # no personal data in any line, whoever logs it (SPEC §13; config/log_redaction.py)
        "redact": {"()": "config.log_redaction.RedactPersonalData"},
    },
    "formatters": {
        "plain": {
            "()": "logging.Formatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            "defaults": {"request_id": "-"},
        },
        "json": {
            "()": "config.log_format.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id", "redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler (DEBUG only) would print django.* lines a second
        # time, unformatted: they go to the root's handler only
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
    },
}
