"""Settings for the imaging biobank; every deployment knob comes from the environment."""

from __future__ import annotations

import contextlib
from pathlib import Path

import dj_database_url

from biobank.core.env import env_bool, env_float, env_int, env_list, env_secret, env_str
from biobank.core.logs import console_logging

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("BIOBANK_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)

# NB: the development default is only usable with DEBUG on; production must set it.
SECRET_KEY = env_secret("SECRET_KEY") or (
    "dev-only-insecure-key-change-me" if DEBUG else ""
)
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"]
)

# HTTPS in production (DEBUG off), behind a TLS-terminating proxy that sets
# X-Forwarded-Proto; each can be switched off, e.g. SECURE_SSL_REDIRECT=false to try
# `dev.sh prod` over plain HTTP on loopback. The health checks stay reachable over HTTP
# for load-balancer probes (and by any Host header: biobank.health.ProbeMiddleware).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/?$", r"^ready/?$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# NB: preloading binds every subdomain of the organisation's domain to HTTPS in all
# browsers for months; the hospital's network team decides that, not this application.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "biobank.admin_site.BiobankAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "biobank",
    "patients",
    "radiomics",
    "liquidbiopsy",
    "biobank.cohorts",
    "biobank.exports",
]

MIDDLEWARE = [
    "biobank.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # /health/ and /ready/ answered whatever the Host header (load-balancer probes by
    # node address), before any middleware below reads it:
    "biobank.health.ProbeMiddleware",
    # Static files straight from the web process, in production too (no CDN, no
    # separate file server needed on one machine):
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "biobank.core.middleware.DatabaseUnavailableMiddleware",
    "biobank.core.routers.ReadOnlyRequestMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "biobank.core.middleware.RejectNulCharactersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Each user's project roles read once per request (biobank/api/access.py):
    "biobank.api.access.RolesOncePerRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Innermost, so that the page it renders for an empty 405 has the user and the
    # CSRF cookie of its log-out form:
    "biobank.core.middleware.MethodNotAllowedPageMiddleware",
]

ROOT_URLCONF = "biobank.urls"

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

WSGI_APPLICATION = "biobank.wsgi.application"

# SQLite under var/ is the embedded default; PostgreSQL when DATABASE_URL names it.
# Seconds a connection is kept for the next requests of a process (0: one per request).
# Connecting cost 21 to 39 ms a request on a loaded machine; production (dev.sh prod)
# keeps connections 60 s, each checked before a request uses it again, so that after a
# database restart the next request connects anew instead of failing.
DATABASE_CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 0)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'biobank.sqlite3'}"),
        conn_max_age=DATABASE_CONN_MAX_AGE,
        conn_health_checks=True,
    )
}
# A read replica (PostgreSQL streaming replication) takes the analysts' read-only
# requests (biobank/core/routers.py); the primary takes every write.
if env_str("DATABASE_REPLICA_URL", ""):
    DATABASES["replica"] = dj_database_url.parse(
        env_str("DATABASE_REPLICA_URL", ""),
        conn_max_age=DATABASE_CONN_MAX_AGE,
        conn_health_checks=True,
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["biobank.core.routers.ReplicaRouter"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
# No JIT compilation in PostgreSQL: on a cohort query over a biobank of 100,000
# patients it spent 3.7 s compiling what runs in well under one (BENCHMARKS.md).
# And index reads priced as on SSD or in memory, not as on spinning disks (the server's
# default of 4): otherwise a cohort count that stops at 1,001 pairs reads every
# variant and every assay into hash tables rather than looking up the few thousand
# draws it needs (0.43 s against 0.15 s for the EGFR cohort of BENCHMARKS.md).
BIOBANK_PG_RANDOM_PAGE_COST = env_float("BIOBANK_PG_RANDOM_PAGE_COST", 1.1)
for _database in DATABASES.values():
    if _database["ENGINE"] == "django.db.backends.postgresql":
        _options = _database.setdefault("OPTIONS", {})
        _options["options"] = (
            f"{_options.get('options', '')} -c jit=off"
            f" -c random_page_cost={BIOBANK_PG_RANDOM_PAGE_COST:g}"
        ).strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# With DEBUG off, collectstatic (run by `dev.sh prod` at each start) names each file by
# its content hash and adds gzip and Brotli copies, which WhiteNoise serves compressed
# and cached for good (biobank/core/staticfiles.py). With DEBUG on (`dev.sh run`, the
# tests) files keep their names: nothing needs collecting.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "biobank.core.staticfiles.CollectedStaticFilesStorage"
    },
}
# Files are served from the apps' static folders when collectstatic has not run (a
# first run with DEBUG off); the production command collects them once at start.
WHITENOISE_USE_FINDERS = True
# WhiteNoise warns at every start while the folder is missing, as on a first run:
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Analyst REST API (/api/, docs/api.md): token or session sign-in, writes for curators;
# page-number pages of 100 by default, cursor pages on the big tables.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "biobank.api.filters.StrictFilterBackend",
        "biobank.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "biobank.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    # Decimal model fields (ages) are JSON numbers, as every other number, not text;
    # writes still take a number or a numeric string:
    "COERCE_DECIMAL_TO_STRING": False,
    "DEFAULT_SCHEMA_CLASS": "biobank.api.schema.BiobankAutoSchema",
    # An unknown ?format= is a 400 listing the endpoint's formats, not a 404:
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "biobank.api.negotiation.FormatNamingNegotiation",
    # Token requests per client address (biobank.api.views.SignInThrottle):
    "DEFAULT_THROTTLE_RATES": {"sign-in": env_str("SIGN_IN_RATE", "10/minute")},
}

# OpenAPI schema; Swagger UI and Redoc are served from drf-spectacular-sidecar, no CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Imaging biobank API",
    "DESCRIPTION": "Patients, imaging, radiomics and liquid-biopsy records: read access for signed-in users, create and update for curators, cohorts and their multi-omic matrices.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # `dates` on every read that honours it, each date mode's rows, the reads' errors:
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "biobank.api.schema.describe_dates_and_errors",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "SegmentationMethodEnum": "radiomics.models.Segmentation.Method",
        "CfDNAMethodEnum": "liquidbiopsy.models.CfDNAAssay.Method",
    },
}

# Where de-identified DICOM copies and other stored files live.
BIOBANK_STORAGE_ROOT = Path(env_str("BIOBANK_STORAGE_ROOT", str(VAR_DIR / "storage")))

# With consent required, a patient without a consent record covering a use (imaging
# and genomics for cohorts) is left out of it; otherwise only recorded consents that
# were withdrawn or lack the scope leave patients out (patients/consent.py).
BIOBANK_CONSENT_REQUIRED = env_bool("BIOBANK_CONSENT_REQUIRED", False)

# Numbered API pages count the matching rows up to this many; past it a page says
# count_exact: false instead of reading every row (biobank/api/pagination.py).
BIOBANK_API_COUNT_LIMIT = env_int("BIOBANK_API_COUNT_LIMIT", 1000)

# Key for the keyed hash that links a source patient identifier to its pseudonym.
# NB: changing it breaks the link between already stored patients and new imports.
BIOBANK_PSEUDONYM_KEY = env_secret("BIOBANK_PSEUDONYM_KEY") or SECRET_KEY

# Key of the keyed hash that gives each patient its date shift in exports with
# dates=shifted, and the most days a shift moves, either way (docs/matrix.md). The
# pseudonym key by default; a changed key changes every shift.
BIOBANK_DATE_SHIFT_KEY = env_secret("BIOBANK_DATE_SHIFT_KEY") or BIOBANK_PSEUDONYM_KEY
BIOBANK_DATE_SHIFT_MAX_DAYS = env_int("BIOBANK_DATE_SHIFT_MAX_DAYS", 365)
if BIOBANK_DATE_SHIFT_MAX_DAYS < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("BIOBANK_DATE_SHIFT_MAX_DAYS must be at least 1.")

# UID root for de-identified DICOM UIDs (2.25 is the UUID-derived arc, PS3.5 B.2).
BIOBANK_UID_ROOT = env_str("BIOBANK_UID_ROOT", "2.25.")

# Processes that read, de-identify and write the files of a DICOM import of at least
# BIOBANK_DICOM_POOL_MIN_FILES images (docs/dicom_ingest.md); the importing process
# keeps every database step. 1 (the default) stores in process; so does a smaller
# import. Two were slower than one on the benchmark's two shared cores (BENCHMARKS.md).
BIOBANK_DICOM_WORKERS = env_int("BIOBANK_DICOM_WORKERS", 1)
BIOBANK_DICOM_POOL_MIN_FILES = env_int("BIOBANK_DICOM_POOL_MIN_FILES", 100)
if BIOBANK_DICOM_WORKERS < 1 or BIOBANK_DICOM_POOL_MIN_FILES < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "BIOBANK_DICOM_WORKERS and BIOBANK_DICOM_POOL_MIN_FILES must be at least 1."
    )

# Limits on what an import reads (biobank/core/safefiles.py). An upload or a file given
# to an import command larger than BIOBANK_MAX_UPLOAD_BYTES is refused, an upload while
# it streams in; an archive (a DICOM .zip, a gzipped MAF) is refused whole when it
# would unpack to more bytes or members than these, or when a member packs more than
# BIOBANK_MAX_COMPRESSION_RATIO bytes into one (a zip bomb).
BIOBANK_MAX_UPLOAD_BYTES = env_int("BIOBANK_MAX_UPLOAD_BYTES", 2 << 30)
BIOBANK_MAX_UNPACKED_BYTES = env_int("BIOBANK_MAX_UNPACKED_BYTES", 20 << 30)
BIOBANK_MAX_ARCHIVE_MEMBERS = env_int("BIOBANK_MAX_ARCHIVE_MEMBERS", 100_000)
BIOBANK_MAX_COMPRESSION_RATIO = env_int("BIOBANK_MAX_COMPRESSION_RATIO", 200)
# Where the upload page keeps a DICOM archive until its background job has read it;
# with workers on other machines, a folder they all mount.
BIOBANK_UPLOAD_ROOT = Path(env_str("BIOBANK_UPLOAD_ROOT", str(VAR_DIR / "uploads")))
# Uploads count their bytes as they stream in (biobank/core/uploads.py); above Django's
# FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) a file goes to a temporary file, not memory.
FILE_UPLOAD_HANDLERS = [
    "biobank.core.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Background jobs (Celery). With no broker, a queued job runs at once in the process
# that queues it, so development needs nothing but Python. RabbitMQ is the
# recommended broker: it hands an unacknowledged job to another worker as soon as the
# connection of the worker that held it drops; Redis only does so after the
# visibility timeout below, which must also exceed the longest job.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
}
# Acknowledge a job only when it ends, and put it back when its worker dies, so a
# lost worker's extraction runs again elsewhere; one job at a time per process:
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# LOG_FORMAT=json writes one JSON object per line to standard error (production); every
# record logged while serving a request carries its ID (X-Request-ID).
# ACCESS_LOG_LEVEL=INFO logs each request with its status and duration.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    **console_logging(env_str("LOG_FORMAT", "text")),
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {
        # Django's own handlers (a plain-text console while DEBUG is on, mail to
        # ADMINS, of whom there are none) give way to the root's, so that each of its
        # lines is written once, in LOG_FORMAT:
        "django": {"handlers": []},
        "django.request": {"filters": ["refusal_without_traceback"]},
        "django.server": {"filters": ["request_line_without_query"]},
        "biobank.requests": {"level": env_str("ACCESS_LOG_LEVEL", "WARNING")},
        "biobank": {"level": env_str("LOG_LEVEL", "INFO")},
        "patients": {"level": env_str("LOG_LEVEL", "INFO")},
        "radiomics": {"level": env_str("LOG_LEVEL", "INFO")},
        "liquidbiopsy": {"level": env_str("LOG_LEVEL", "INFO")},
        "celery": {"level": env_str("LOG_LEVEL", "INFO")},
    },
}
