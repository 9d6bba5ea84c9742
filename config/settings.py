"""Pricelab settings: the one module, every deployment value from the environment.

With nothing set, Pricelab runs on its embedded defaults (SQLite, local-memory cache,
in-memory channel layer, Celery tasks run eagerly in the calling process). With
``DATABASE_URL`` and ``REDIS_URL`` it runs on PostgreSQL and Redis, as in production.
Every variable read here is listed, with its default, in the README.
"""

from pathlib import Path

from config.env import env

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core ---------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)

# The default key exists only so that a newcomer's `make run` (DEBUG on) and tools such
# as makemigrations work without setup. With DEBUG off, the servers and Celery refuse to
# start on it (config/startup.py), and `check --deploy` reports it.
INSECURE_DEFAULT_SECRET_KEY = "pricelab-insecure-development-key-do-not-deploy"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_ratelimit",
    "django_htmx",
    "channels",
    "tenants",
    "pricing",
    "experiments",
    "billing",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # First: the request id, address and agent are known to everything after it (audit log).
    "audit.context.RequestContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.views.FriendlyMethodNotAllowed",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "billing.ratelimit.ApiRateLimitMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "tenants.context_processors.active_tenant",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Persistent connections save a connect per request under the WSGI server; health checks
# drop a connection PostgreSQL closed while it sat idle.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
USING_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker --------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, sharing one redis-py client instead of building one per command.
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pricelab",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # The pub/sub layer: FACTS.md saw RedisChannelLayer's group bookkeeping fail
            # under connect/disconnect bursts, and the pub/sub layer not.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "pricelab-asgi"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# The Redis list where quotes buffer exposures until they are flushed into the database.
EXPOSURE_BUFFER_KEY = "pricelab:exposures"

# --- Celery -------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# Without a broker there is no worker to run tasks, so they run in the calling process.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only once it has finished, and a worker that dies mid-task hands
# it back to the queue: every task is written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# No task should run for minutes; the soft limit lets a task clean up, the hard one
# frees the worker.
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# Webhook URLs on private or loopback addresses are refused unless DEBUG or this is on
# (for a deployment whose receivers really live on a private network).
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)

# --- Billing ---------------------------------------------------------------------------

# The address people reach the web UI at: links in emails and Stripe's return URLs use it.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")

# Where metered usage is counted in Redis until it is flushed into the database.
USAGE_KEY_PREFIX = "pricelab:usage"

# Stripe Price ids of the paid plans (test-mode ids in development; never live keys in the repo).
STRIPE_PRICE_IDS = {
    "starter": env.str("STRIPE_PRICE_STARTER", default=""),
    "pro": env.str("STRIPE_PRICE_PRO", default=""),
}
# Test-mode secret key (sk_test_...) and webhook signing secret (whsec_...). Without a key,
# checkout and the portal answer "billing is not configured" and the sync does nothing.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Where stripe-python sends requests: Stripe itself unless a test or a local mock says otherwise.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# The Billing Meter (event_name) that Pro overage units are reported to.
STRIPE_METER_EVENT_NAME = env.str("STRIPE_METER_EVENT_NAME", default="pricelab_units")
# A past_due subscription keeps its paid tier this many days, then the tenant drops to Free.
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)

# --- Auth ---------------------------------------------------------------------------

AUTH_USER_MODEL = "tenants.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Secure cookies need HTTPS; they are on whenever DEBUG is off unless turned off for a
# plain-HTTP trial deployment.
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Login, signup and password reset: at most this many attempts a minute from one IP address.
AUTH_RATE_LIMIT = env.str("AUTH_RATE_LIMIT", default="5/m")
RATELIMIT_VIEW = "tenants.views.rate_limited"
# Behind a proxy every request comes from the proxy's address: name the header the proxy
# sets to the client's address (e.g. HTTP_X_REAL_IP), or all clients share one limit.
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="") or None
# API calls without a valid key or session, per IP address a minute (the Free plan's rate).
API_ANONYMOUS_RATE_PER_MINUTE = env.int("API_ANONYMOUS_RATE_PER_MINUTE", default=60)
if not REDIS_URL:
    # The local-memory cache is per process: fine for one embedded process, which is the
    # only place it is used.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- API ----------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.HasTenantScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "config.api.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Pricelab API",
    "DESCRIPTION": (
        "Price experimentation and real-time pricing. Authenticate with "
        "`Authorization: Bearer <api key>`. Every error answers "
        '`{"code": ..., "message": ..., "details": ...}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the sidecar package: the docs page loads nothing from outside.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"

# --- Static files ---------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Under DEBUG, files are served from the app folders, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG

# --- Email --------------------------------------------------------------------------

# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587, or consolemail:// (prints
# messages to the log). Django 6.1 configures mail through MAILERS.
_email = env.email_url("EMAIL_URL", default="consolemail://")
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
    "timeout": 10,
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": (
            {k: v for k, v in _smtp_options.items() if v not in (None, "")}
            if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Pricelab <no-reply@pricelab.local>")

# --- Internationalisation -----------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging ------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own default config adds a console handler under DEBUG; one is enough.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "INFO"},
    },
}

# --- Sentry -------------------------------------------------------------------------

SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        release=env.str("SENTRY_RELEASE", default="") or None,
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        # Request bodies, cookies and headers may carry API keys and customer data.
        send_default_pii=False,
    )
