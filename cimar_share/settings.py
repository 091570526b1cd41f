"""Cimar Share settings: one file, read from the environment, with embedded defaults.

With no environment set it runs the embedded demo: SQLite, local media, Celery eager,
email written to a local outbox. `.env.example` lists every variable.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_bool(name: str, default: bool) -> bool:
    """A yes/no variable: unset or empty gives `default`; 1/true/yes/on and 0/false/no/off (any
    case, spaces around ignored) give True and False. Anything else stops the start with a
    message naming the variable, rather than quietly reading "ture" or "enabled" as off."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not understood: use 1, true, yes or on to switch it on, "
        "0, false, no or off to switch it off, or leave it empty for the default."
    )


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def site_url_from_address(host: str, port: str) -> str:
    """The base of absolute links when SITE_URL is not set: the address `make run` serves on
    (HOST and PORT, as for runserver). A wildcard address is reached here as 127.0.0.1, which
    is also the host the development ALLOWED_HOSTS accept; anyone reaching the site by another
    name sets SITE_URL."""
    host = host.strip() or "127.0.0.1"
    if host in {"0.0.0.0", "::", "[::]"}:  # noqa: S104 (a listening address, not a bind)
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{port.strip() or '8000'}"


DEBUG = env_bool("DJANGO_DEBUG", True)

DEVELOPMENT_SECRET_KEY = "insecure-development-key-do-not-use-in-production-0123456789"
# Keys written in this repository (the development default, and the placeholder that older
# Makefiles gave collectstatic): anyone can read them, so they sign nothing in production.
PUBLISHED_SECRET_KEYS = frozenset(
    {DEVELOPMENT_SECRET_KEY, "collectstatic-only-not-a-secret-0123456789"}
)


def secret_key_weakness(key: str) -> str:
    """Why `key` must not sign sessions, guest-link tokens and invitations ("" when it may).

    The thresholds are Django's own (check security.W009): 50 characters or more, at least 5
    different ones, and not a `django-insecure-` key from `startproject`.
    """
    if not key:
        return "is not set"
    if key in PUBLISHED_SECRET_KEYS:
        return "is a key published in the Cimar Share sources"
    if key.startswith("django-insecure-"):
        return "is a django-insecure- key made by startproject"
    if len(key) < 50 or len(set(key)) < 5:
        return "is too weak (it needs 50 or more characters, at least 5 of them different)"
    return ""


SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if DEBUG:
    SECRET_KEY = SECRET_KEY or DEVELOPMENT_SECRET_KEY
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
else:
    if weakness := secret_key_weakness(SECRET_KEY):
        raise ImproperlyConfigured(
            f"SECRET_KEY {weakness}; with DJANGO_DEBUG=0 it must be a random secret of 50+ "
            "characters, e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_DEBUG=0.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")


# The one base of every absolute link (emails, SMS, the guest-link panel): notifications.links.
SITE_URL = (
    os.environ.get("SITE_URL")
    or site_url_from_address(os.environ.get("HOST", ""), os.environ.get("PORT", ""))
).rstrip("/")

INSTALLED_APPS = [
    "cimar_share.apps.AdminConfig",  # django.contrib.admin, with the login throttle
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "phonenumber_field",
    "csp",
    "audit",
    "accounts",
    "worklists",
    "studies",
    "dicomweb",
    "links",
    "sharing",
    "guestlinks",
    "uploadlinks",
    "demo",
    "dicomnet",
    "notifications",
]

MIDDLEWARE = [
    "cimar_share.health.HealthCheckMiddleware",  # /healthz, before host checks and redirects
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # one Content-Security-Policy for every page (below)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cimar_share.compression.TextGZipMiddleware",
    "cimar_share.headers.NoStoreByDefaultMiddleware",  # below WhiteNoise: static files cache
    "dicomweb.cors.DicomwebCorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.tokens.BearerTokenMiddleware",
    "accounts.middleware.ClinicianSessionMiddleware",  # idle timeout and absolute lifetime
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.OrganisationTimezoneMiddleware",
]

ROOT_URLCONF = "cimar_share.urls"
WSGI_APPLICATION = "cimar_share.wsgi.application"

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

# Database: SQLite (WAL, immediate transactions) unless DATABASE_URL is set.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # so `manage.py migrate` works on a fresh clone
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "CONN_MAX_AGE": 600,  # reuse the connection (and its PRAGMAs) across requests
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "accounts.backends.UserBackend",  # ModelBackend, with the organisation in the user's query
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_ANONYMOUS_USER_NAME = None  # no anonymous guardian user: guests have their own sessions
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
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
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "worklists:home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"  # default display zone; each organisation sets its own
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never routed: files are only read through views that check access
# S3-compatible object storage (STORAGE_BACKEND=storages.backends.s3.S3Storage, pip extra
# "s3"): the bucket, and the endpoint for anything but AWS itself (MinIO, Ceph, ...). The keys
# come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the machine's role), read by boto3.
AWS_STORAGE_BUCKET_NAME = os.environ.get("S3_BUCKET", "")
AWS_S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = os.environ.get("S3_REGION") or None
AWS_DEFAULT_ACL = None  # private objects: every read goes through the views' access checks
AWS_QUERYSTRING_AUTH = True
AWS_S3_FILE_OVERWRITE = False
STORAGES = {
    "default": {
        "BACKEND": os.environ.get("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Uploads: large DICOM files stream to disk instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = int(os.environ.get("DATA_UPLOAD_MAX_NUMBER_FILES", "2000"))
DICOM_MAX_FILE_SIZE = int(os.environ.get("DICOM_MAX_FILE_SIZE", str(512 * 1024 * 1024)))
DICOM_MAX_ARCHIVE_SIZE = int(os.environ.get("DICOM_MAX_ARCHIVE_SIZE", str(20 * 1024**3)))
# Zip archives: members per archive (counted from the central directory before it is read),
# and how many times its packed size one member may unpack to (members under 1 MiB exempt).
DICOM_MAX_ARCHIVE_MEMBERS = int(os.environ.get("DICOM_MAX_ARCHIVE_MEMBERS", "10000"))
DICOM_MAX_ARCHIVE_RATIO = int(os.environ.get("DICOM_MAX_ARCHIVE_RATIO", "200"))

# Other software: API tokens (Authorization: Bearer) count on these paths only; CORS for the
# web viewers (e.g. OHIF) allowed to call /dicomweb/ from their own origin.
API_TOKEN_PATHS = ["/dicomweb/"]
DICOMWEB_CORS_ORIGINS = env_list("DICOMWEB_CORS_ORIGINS")

# DICOM networking (dicomnet): the Storage SCP of `manage.py dicom_scp`, and our own AE title
# when sending. TLS when a certificate is set; a CA as well requires client certificates.
DICOM_AE_TITLE = os.environ.get("DICOM_AE_TITLE", "CIMARSHARE")
DICOM_SCP_BIND = os.environ.get("DICOM_SCP_BIND", "0.0.0.0")  # noqa: S104 (PACS must reach it)
DICOM_SCP_PORT = int(os.environ.get("DICOM_SCP_PORT", "11112"))
DICOM_SCP_MAX_ASSOCIATIONS = int(os.environ.get("DICOM_SCP_MAX_ASSOCIATIONS", "10"))
# The largest PDU a sender may send (advertised as our Maximum Length Received, PS3.8 D.1); a
# longer one aborts the association before it is read. 1 MiB: large enough that the per-PDU
# overhead is lost in the noise, small enough that 10 associations buffer ~10 MiB at most.
DICOM_SCP_MAX_PDU = int(os.environ.get("DICOM_SCP_MAX_PDU", str(1024 * 1024)))
# Seconds a sender may stay silent: idle between messages (pynetdicom's network timeout) or
# stalled in the middle of a PDU (transport.py); then the association is aborted, so that silent
# peers cannot hold all DICOM_SCP_MAX_ASSOCIATIONS.
DICOM_SCP_NETWORK_TIMEOUT = float(os.environ.get("DICOM_SCP_NETWORK_TIMEOUT", "60"))
DICOM_SCP_TLS_CERTIFICATE = os.environ.get("DICOM_SCP_TLS_CERTIFICATE", "")
DICOM_SCP_TLS_KEY = os.environ.get("DICOM_SCP_TLS_KEY", "")
DICOM_SCP_TLS_CA = os.environ.get("DICOM_SCP_TLS_CA", "")
# Sending to a remote node: seconds to wait on the network; delays between the attempts.
DICOM_SEND_TIMEOUT = int(os.environ.get("DICOM_SEND_TIMEOUT", "30"))
DICOM_SEND_RETRY_DELAYS = [int(s) for s in env_list("DICOM_SEND_RETRY_DELAYS", "60,300")]
# Seconds to open the connection (and the TLS handshake) to a node: an unreachable node fails
# with a reason after this, rather than holding a worker for DICOM_SEND_TIMEOUT or longer.
DICOM_SEND_CONNECT_TIMEOUT = int(os.environ.get("DICOM_SEND_CONNECT_TIMEOUT", "10"))
# Nodes marked TLS: the CA bundle their certificates must chain to (empty: the system's), and
# our client certificate and key for nodes that ask for one (empty: none is presented).
DICOM_SEND_TLS_CA = os.environ.get("DICOM_SEND_TLS_CA", "")
DICOM_SEND_TLS_CERTIFICATE = os.environ.get("DICOM_SEND_TLS_CERTIFICATE", "")
DICOM_SEND_TLS_KEY = os.environ.get("DICOM_SEND_TLS_KEY", "")

# Sessions and security headers.
SESSION_ENGINE = "accounts.sessions"  # the database store, with a leaner read and a user column
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Secure cookies whenever the site is served over HTTPS (as SITE_URL says); a production site
# on https gets them without a setting, a loopback benchmark on http still can log in.
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", SITE_URL.startswith("https://"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Over https the cookies carry the __Host- prefix: the browser then accepts them only when they
# are Secure, for the whole site (Path=/) and for this host alone (no Domain), so a sibling
# subdomain or a plain-http page cannot plant a session or CSRF cookie of its own.
SESSION_COOKIE_NAME = "__Host-sessionid" if SESSION_COOKIE_SECURE else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if CSRF_COOKIE_SECURE else "csrftoken"
# A clinician's session ends after this long without a request (the session row's own expiry,
# renewed at most once a minute), and this long after the login whatever the activity. Guest
# and upload-link sessions have their own limits (GUEST_SESSION_IDLE_SECONDS and below).
CLINICIAN_SESSION_IDLE_SECONDS = int(os.environ.get("CLINICIAN_SESSION_IDLE_SECONDS", "1800"))
CLINICIAN_SESSION_MAX_SECONDS = int(os.environ.get("CLINICIAN_SESSION_MAX_SECONDS", str(12 * 3600)))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# One Content-Security-Policy for every page (django-csp): scripts and styles from our own
# static files only (no inline script, style attribute or on...= handler anywhere in templates/),
# images, fetches and form posts to this site only, nothing embedded, never framed. The one
# exception is Django admin, whose own templates carry <style> blocks: its views allow inline
# styles, never inline scripts (cimar_share.admin.AdminSite.admin_view).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Behind our own reverse proxy: trust its X-Forwarded-Proto, and take the client's address from
# X-Forwarded-For, TRUSTED_PROXY_COUNT entries from the right (audit.services.client_ip).
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "1"))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
# HTTPS in production (SITE_URL is https://): browsers are told to use nothing else (HSTS), and
# plain-http requests are redirected. The redirect needs BEHIND_PROXY=1, as only the proxy's
# X-Forwarded-Proto tells a request that came over https from one that did not; without it,
# every request behind a TLS proxy would look like http and be redirected forever.
SERVED_OVER_HTTPS = not DEBUG and SITE_URL.startswith("https://")
SECURE_HSTS_SECONDS = int(
    os.environ.get("HSTS_SECONDS", str(365 * 24 * 3600 if SERVED_OVER_HTTPS else 0))
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", True)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SERVED_OVER_HTTPS and BEHIND_PROXY)

# Email: a local outbox (one file per message) unless EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Cimar Share <no-reply@cimar.local>")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "outbox"

# Celery: eager in the embedded default, Redis (or any broker) when configured.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL", "")
# Seconds per SMTP operation. Without a broker the web request itself sends (one attempt, then
# the sweep retries: README, "Delivery guarantees"), so it waits at most a few seconds.
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20" if CELERY_BROKER_URL else "5"))
if EMAIL_HOST and not CELERY_BROKER_URL and not DEBUG:
    raise ImproperlyConfigured(
        "EMAIL_HOST is set but CELERY_BROKER_URL is not: in production, email through an SMTP "
        "server needs a broker, a Celery worker and beat, so that a mail server that is slow or "
        "says 'try later' never holds a request and every failed attempt is retried. Set "
        "CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0), or unset EMAIL_HOST to write email "
        "to the local outbox."
    )
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every periodic task, in one place (run by `celery beat`; the embedded default runs none).
# The outbox sweep: sends what the broker lost or what is due for a retry, and recovers claims
# of workers that died (README, "Delivery guarantees").
NOTIFICATIONS_SWEEP_SECONDS = int(os.environ.get("NOTIFICATIONS_SWEEP_SECONDS", "60"))
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Messages whose delivery task was lost (broker down, worker killed) are sent again.
    "notifications-sweep": {
        "task": "notifications.tasks.sweep_pending",
        "schedule": timedelta(seconds=NOTIFICATIONS_SWEEP_SECONDS),
    },
    # Login and guest-link rate-limit counters of past windows.
    "accounts-prune-rate-limits": {
        "task": "accounts.tasks.prune_rate_limits",
        "schedule": timedelta(hours=1),
    },
    # The rendered-frame file cache, back within FRAME_CACHE_MAX_BYTES.
    "dicomweb-prune-frame-cache": {
        "task": "dicomweb.tasks.prune_frame_cache",
        "schedule": timedelta(hours=1),
    },
    # Chunks of upload-link uploads never completed (UPLOADLINK_STAGING_MAX_AGE_HOURS).
    "uploadlinks-prune-staging": {
        "task": "uploadlinks.tasks.prune_staging",
        "schedule": timedelta(hours=1),
    },
}

# Cache: local memory by default, Redis when configured (rendered frames use their own store).
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOG_FORMAT = os.environ.get("LOG_FORMAT", "line")  # "json": one JSON object per line
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "client_errors_without_traceback": {
            "()": "cimar_share.logfilters.ClientErrorsWithoutTraceback"
        },
        # Django logs the path of every 4xx response: link tokens never reach the logs.
        # Link, invitation and password-reset tokens and passwords never reach the logs: every
        # line the console writes goes through it (links.logs).
        "redact_secrets": {"()": "links.logs.RedactSecrets"},
    },
    "formatters": {
        "line": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
        "json": {"()": "cimar_share.logfilters.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "line",
            "filters": ["client_errors_without_traceback", "redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django gives these loggers console handlers of their own; without them, their lines
        # reach the root's handler only, so each is printed once. Requests that went well are
        # not logged by the development server.
        "django": {"handlers": [], "propagate": True},
        "django.server": {
            "handlers": [],
            "level": "WARNING",
            "propagate": True,
        },
    },
}

PHONENUMBER_DEFAULT_REGION = os.environ.get("PHONENUMBER_DEFAULT_REGION", "GB")

# Logins (accounts.services): failed passwords allowed per window, per account (username) and
# per client address, counted in the database like guest-link attempts; then the login form
# answers 429 without checking the password until the window ends. 0 switches a limit off.
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "900"))
LOGIN_MAX_FAILURES_PER_ACCOUNT = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", "10"))
LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", "100"))

# Sharing: how long an email invitation link works; how often a failing message is tried.
INVITATION_MAX_AGE_DAYS = int(os.environ.get("INVITATION_MAX_AGE_DAYS", "14"))
NOTIFICATIONS_MAX_ATTEMPTS = int(os.environ.get("NOTIFICATIONS_MAX_ATTEMPTS", "5"))
# The first retry after a transient failure waits this long; each next one twice as long.
NOTIFICATIONS_BACKOFF_SECONDS = int(os.environ.get("NOTIFICATIONS_BACKOFF_SECONDS", "30"))
# Rendering frames for the viewer (studies/rendering.py, dicomweb/framecache.py).
DICOM_MAX_PIXELS = int(os.environ.get("DICOM_MAX_PIXELS", str(100_000_000)))  # per frame
DICOM_MAX_FRAMES = int(os.environ.get("DICOM_MAX_FRAMES", "10000"))
# Frames over 2048 x 2048 samples rendered at once per process (dicomweb/frames.py): each
# peaks near 0.6 GB at the largest allowed size (README, Security), so this bounds a worker.
RENDER_MAX_CONCURRENT_LARGE = int(os.environ.get("RENDER_MAX_CONCURRENT_LARGE", "2"))
FRAME_CACHE = os.environ.get("FRAME_CACHE", "files")  # "files" or "django" (FRAME_CACHE_ALIAS)
FRAME_CACHE_DIR = os.environ.get("FRAME_CACHE_DIR", "")  # default: MEDIA_ROOT/render-cache
FRAME_CACHE_ALIAS = os.environ.get("FRAME_CACHE_ALIAS", "default")
# Bounds on the rendered-frame cache: the file cache is pruned (oldest first) to this size;
# entries in a Django cache backend expire after this many seconds.
FRAME_CACHE_MAX_BYTES = int(os.environ.get("FRAME_CACHE_MAX_BYTES", str(2 * 1024**3)))
FRAME_CACHE_TTL_SECONDS = int(os.environ.get("FRAME_CACHE_TTL_SECONDS", str(7 * 24 * 3600)))
# Guest links (guestlinks app): guest sessions, attempt rate limits, SMS delivery.
GUEST_SESSION_IDLE_SECONDS = int(os.environ.get("GUEST_SESSION_IDLE_SECONDS", "1800"))
# Attempts (POSTs) at guest links, counted in the database so that every process shares them;
# 0 switches a limit off. PER_IP counts per address and link (guestlinks/ratelimit.py).
# Pruned hourly with the login counters (CELERY_BEAT_SCHEDULE above).
GUESTLINK_RATE_LIMIT_WINDOW_SECONDS = int(
    os.environ.get("GUESTLINK_RATE_LIMIT_WINDOW_SECONDS", "600")
)
GUESTLINK_RATE_LIMIT_PER_IP = int(os.environ.get("GUESTLINK_RATE_LIMIT_PER_IP", "20"))
GUESTLINK_RATE_LIMIT_PER_LINK = int(os.environ.get("GUESTLINK_RATE_LIMIT_PER_LINK", "60"))
# Per address, POSTs to tokens that open nothing (guessing): never blocks a link that opens.
GUESTLINK_RATE_LIMIT_GUESSES_PER_IP = int(
    os.environ.get("GUESTLINK_RATE_LIMIT_GUESSES_PER_IP", "100")
)
# One-time codes (guestlinks/onetimecode.py): a session may ask for a new code after RESEND
# seconds; a link sends at most SENDS_PER_WINDOW codes per window (0: no limit).
GUESTLINK_CODE_RESEND_SECONDS = int(os.environ.get("GUESTLINK_CODE_RESEND_SECONDS", "30"))
GUESTLINK_CODE_SENDS_PER_WINDOW = int(os.environ.get("GUESTLINK_CODE_SENDS_PER_WINDOW", "5"))
GUESTLINK_CODE_SEND_WINDOW_SECONDS = int(
    os.environ.get("GUESTLINK_CODE_SEND_WINDOW_SECONDS", "900")
)
# Upload links (uploadlinks app): the same gate as guest links, with their own limits.
UPLOADLINK_RATE_LIMIT_WINDOW_SECONDS = int(
    os.environ.get("UPLOADLINK_RATE_LIMIT_WINDOW_SECONDS", "600")
)
UPLOADLINK_RATE_LIMIT_PER_IP = int(os.environ.get("UPLOADLINK_RATE_LIMIT_PER_IP", "20"))
UPLOADLINK_RATE_LIMIT_PER_LINK = int(os.environ.get("UPLOADLINK_RATE_LIMIT_PER_LINK", "60"))
UPLOADLINK_RATE_LIMIT_GUESSES_PER_IP = int(
    os.environ.get("UPLOADLINK_RATE_LIMIT_GUESSES_PER_IP", "100")
)
# Uploads started per address and link in one window (each may hold many files).
UPLOADLINK_RATE_LIMIT_UPLOADS_PER_IP = int(
    os.environ.get("UPLOADLINK_RATE_LIMIT_UPLOADS_PER_IP", "10")
)
# One upload: at most this many bytes and files (a zip archive counts as one file here; its
# members are bounded by DICOM_MAX_ARCHIVE_*). Each file is at most DICOM_MAX_ARCHIVE_SIZE.
UPLOADLINK_MAX_UPLOAD_BYTES = int(os.environ.get("UPLOADLINK_MAX_UPLOAD_BYTES", str(20 * 1024**3)))
UPLOADLINK_MAX_UPLOAD_FILES = int(os.environ.get("UPLOADLINK_MAX_UPLOAD_FILES", "10000"))
# Bytes per request: the browser sends each file in chunks of this size (and resumes a file
# from what the server has after a dropped connection).
UPLOADLINK_CHUNK_BYTES = int(os.environ.get("UPLOADLINK_CHUNK_BYTES", str(8 * 1024 * 1024)))
# Chunks wait here (a local disk of each web process's host) until the upload completes.
UPLOADLINK_STAGING_DIR = Path(
    os.environ.get("UPLOADLINK_STAGING_DIR", MEDIA_ROOT / "upload-staging")
)
# An upload not completed within this many hours is abandoned and its chunks deleted.
UPLOADLINK_STAGING_MAX_AGE_HOURS = int(os.environ.get("UPLOADLINK_STAGING_MAX_AGE_HOURS", "24"))
# An upload page open this long without a request needs the link (and password) again.
UPLOADLINK_SESSION_IDLE_SECONDS = int(os.environ.get("UPLOADLINK_SESSION_IDLE_SECONDS", "7200"))
SMS_TWILIO_ACCOUNT_SID = os.environ.get("SMS_TWILIO_ACCOUNT_SID", "")
SMS_TWILIO_AUTH_TOKEN = os.environ.get("SMS_TWILIO_AUTH_TOKEN", "")
SMS_TWILIO_FROM = os.environ.get(
    "SMS_TWILIO_FROM", ""
)  # a number, or a Messaging Service SID (MG...)
SMS_TWILIO_API_BASE = os.environ.get("SMS_TWILIO_API_BASE", "https://api.twilio.com")
SMS_OUTBOX_DIR = Path(os.environ.get("SMS_OUTBOX_DIR", VAR_DIR / "sms-outbox"))
SMS_BACKEND = os.environ.get("SMS_BACKEND") or (
    "notifications.sms_backends.TwilioBackend"
    if SMS_TWILIO_ACCOUNT_SID
    else "notifications.sms_backends.OutboxBackend"
)
