"""Pricelab settings: the one module, every deployment value from the environment.

With nothing set, Pricelab runs on its embedded defaults (SQLite, local-memory cache,
in-memory channel layer, Celery tasks run eagerly in the calling process). With
``DATABASE_URL`` and ``REDIS_URL`` it runs on PostgreSQL and Redis, as in production.
Every variable read here is listed, with its default, in the README.
"""

from datetime import timedelta
from pathlib import Path

from django.utils.csp import CSP

from config.env import env

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core ---------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)

# The default key exists only so that a newcomer's `make run` (DEBUG on) and tools such
# as makemigrations work without setup. With DEBUG off, the servers and Celery refuse to
# start on it (config/startup.py), and `check --deploy` reports it.
INSECURE_DEFAULT_SECRET_KEY = "pricelab-insecure-development-key-do-not-deploy"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
# Rotating SECRET_KEY: the previous key(s) still verify what they signed (sessions, password
# reset links, browser tokens for the live feed) until removed; new signatures use SECRET_KEY.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin, with a site that asks staff for a second factor (config/admin.py).
    "config.apps.AdminConfig",
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
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "channels",
    "tenants",
    "pricing",
    "experiments",
    "billing",
    "audit",
]

MIDDLEWARE = [
    # First, so that every response and every log line of a request carries its id.
    "config.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    # Early: the request's id, address and agent are known to everything after it (audit log).
    "audit.context.RequestContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.limits.RequestSizeLimitMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Everything above applies to every request; the quote by API key skips what is below.
    "pricing.middleware.QuoteShortcutMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed a second factor.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.views.FriendlyMethodNotAllowed",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "billing.ratelimit.ApiRateLimitMiddleware",
    # Last, so that it sees the answer of a login that axes refused and replaces it.
    "axes.middleware.AxesMiddleware",
]

# The largest request body accepted, API and pages alike (config.limits answers 413 over it).
# Django's own default: a full batch of 1,000 events with every field at its longest fits.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("REQUEST_BODY_MAX_BYTES", default=2_621_440)
# A CSRF failure under /api/ answers in the API's error shape.
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

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
# Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator()) breaks: it
# lives in one server session, and the pooler may send the next FETCH to another one.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DB_DISABLE_SERVER_SIDE_CURSORS", default=False
)
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

AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out username and address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

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
# Scripts never read the session cookie. Lax, not Strict: a link from an email or from
# Stripe's checkout back to Pricelab must arrive logged in; cross-site POSTs carry no cookie.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Login, signup and password reset: at most this many attempts a minute from one IP address.
AUTH_RATE_LIMIT = env.str("AUTH_RATE_LIMIT", default="5/m")
RATELIMIT_VIEW = "tenants.views.rate_limited"
# Behind a proxy every request comes from the proxy's address: name the header the proxy
# sets to the client's address (e.g. HTTP_X_REAL_IP), or all clients share one limit.
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="") or None
# Lockout (django-axes): after this many failed logins for one email from one address, that
# pair is refused for the cool-off. Per pair, not per account: someone guessing from
# elsewhere cannot lock the real person out, while the per-address rate limit above and
# the cool-off make guessing one account slow (5 tries per 15 minutes is ~500 a day).
LOGIN_LOCKOUT_FAILURES = env.int("LOGIN_LOCKOUT_FAILURES", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
AXES_FAILURE_LIMIT = LOGIN_LOCKOUT_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The login forms post the email as "username"; the callable folds case and spaces, so
# "Ada@x.com " and "ada@x.com" count as one.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "tenants.lockout.username_of"
# The same client address the rate limits use (RATELIMIT_IP_META_KEY behind a proxy).
AXES_CLIENT_IP_CALLABLE = "tenants.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "tenants.lockout.locked_out"
AXES_RESET_ON_SUCCESS = True
# A fixed cool-off that the page can announce: tries during the lockout do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Never write the typed email or the address into axes' log lines.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address"]

# Two-factor for staff (django-otp). The issuer names Pricelab in authenticator apps.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Pricelab")
# Admin pages never show a device's secret or QR code, nor backup codes: one staff member
# must not be able to read another's second factor.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Off by default: with self-enrolment on, whoever holds a new staff member's password (before
# they have an authenticator) could enrol their own phone and reach the admin with it. An
# operator sets staff up (manage.py staff_two_factor); on, staff may do it after re-entering
# their password.
STAFF_TWO_FACTOR_SELF_ENROL = env.bool("STAFF_TWO_FACTOR_SELF_ENROL", default=False)

# API calls without a valid key or session, per IP address a minute (the Free plan's rate).
API_ANONYMOUS_RATE_PER_MINUTE = env.int("API_ANONYMOUS_RATE_PER_MINUTE", default=60)
if not REDIS_URL:
    # The local-memory cache is per process: fine for one embedded process, which is the
    # only place it is used.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- Security headers -------------------------------------------------------------------

# HSTS: browsers use HTTPS only, for a year, on this host and its subdomains. Django sends
# it on HTTPS responses only. Off under DEBUG so that a laptop's localhost is not pinned.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading is hard to undo (months): only on purpose.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Stricter than strict-origin-when-cross-origin: other sites learn nothing, not even our
# origin (page paths carry object ids).
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content Security Policy (Django's own middleware, with the page's WebSocket origin added
# to connect-src by config.csp). No inline scripts or style attributes anywhere: pages
# describe behaviour with data- attributes and static/js does the rest.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    # Swagger UI and Chart.js draw some icons from data: URIs.
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    # Checkout and the billing portal are a form post answered by a redirect to Stripe, and
    # browsers hold redirects after a form post to form-action.
    "form-action": [CSP.SELF, "https://checkout.stripe.com", "https://billing.stripe.com"],
    "frame-ancestors": [CSP.NONE],
}

# --- API ----------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.HasTenantScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
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

# Origins allowed for every tenant (rarely needed: each tenant lists its own in its
# settings, see tenants/cors.py).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
# Browsers may only quote and send events (publishable keys): GET and POST are enough.
CORS_ALLOW_METHODS = ("GET", "POST", "OPTIONS")
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type")
# So that a storefront's script can back off when rate limited.
CORS_EXPOSE_HEADERS = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
# Chrome caps a cached preflight at two hours; an hour keeps a removed origin's reach short.
CORS_PREFLIGHT_MAX_AGE = 3600
# API calls across origins never carry the session cookie.
CORS_ALLOW_CREDENTIALS = False

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
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    # On the handler, so they apply to records from every logger: the request (or task)
    # id on each line, and secrets replaced before anything is written.
    "filters": {
        "request_id": {"()": "config.observability.RequestIdFilter"},
        "scrub": {"()": "config.observability.ScrubFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "scrub"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own default config adds a console handler under DEBUG; one is enough.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "INFO"},
        # axes logs every successful login at INFO; failures and lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}
if CELERY_TASK_ALWAYS_EAGER:
    # The embedded mode runs its periodic jobs in-process every few seconds: a "task
    # succeeded" line for each would bury the server's own log. Failures still show.
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}

# --- Sentry -------------------------------------------------------------------------

SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    # Errors from web, Celery and Channels, tagged with tenant and request id, secrets
    # scrubbed (config/sentry.py, config/observability.py).
    from config.sentry import init_sentry

    init_sentry(
        SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        release=env.str("SENTRY_RELEASE", default="") or None,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
