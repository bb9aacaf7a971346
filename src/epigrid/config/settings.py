"""Settings, all from the environment, with safe development defaults.

Production sets EPIGRID_PRODUCTION=1 and must then give SECRET_KEY, EPIGRID_FIELD_KEY,
EPIGRID_AUDIT_KEY, DATABASE_URL and ALLOWED_HOSTS; nothing secret has a default there.
"""

import datetime as dt
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

env = environ.Env()
PACKAGE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("EPIGRID_VAR_DIR", default=str(Path.cwd() / "var")))

PRODUCTION = env.bool("EPIGRID_PRODUCTION", default=False)
DEBUG = env.bool("DEBUG", default=False)

# Development-only fallbacks: refused in production so a forgotten variable fails loudly.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-0531-0531-0531-0531-0531-0531"  # noqa: S105
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LTA1MzEtMDUzMS0wNTM="
_DEV_AUDIT_KEY = "dev-only-insecure-audit-key-0531-0531-0531-0531"
SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else _DEV_SECRET_KEY)
FIELD_ENCRYPTION_KEY = env.str("EPIGRID_FIELD_KEY", default="" if PRODUCTION else _DEV_FIELD_KEY)
# The audit chain is keyed (HMAC-SHA256), so rewriting rows and recomputing the hashes needs this
# key, which never goes into the database. Each row records the version of the key it was sealed
# with: to rotate, move the current key into EPIGRID_AUDIT_OLD_KEYS ("1=old-key,2=older") and set
# a new EPIGRID_AUDIT_KEY with a higher EPIGRID_AUDIT_KEY_VERSION. Version 0 is the unkeyed sha256
# of the rows written before the chain was keyed.
AUDIT_KEY = env.str("EPIGRID_AUDIT_KEY", default="" if PRODUCTION else _DEV_AUDIT_KEY)
AUDIT_KEY_VERSION = env.int("EPIGRID_AUDIT_KEY_VERSION", default=1)
AUDIT_KEYS = {  # "version=key" pairs, comma-separated; a key may contain "=" (base64), not ","
    int(version): key.strip()
    for version, _, key in (pair.partition("=") for pair in env.str("EPIGRID_AUDIT_OLD_KEYS", default="").split(","))
    if version.strip()
}
if PRODUCTION and (not SECRET_KEY or not FIELD_ENCRYPTION_KEY or not AUDIT_KEY):
    raise ImproperlyConfigured("EPIGRID_PRODUCTION needs SECRET_KEY, EPIGRID_FIELD_KEY and EPIGRID_AUDIT_KEY")


def _weak_secrets() -> list[str]:
    """The secrets that are the published development defaults or too short to be secret."""
    import base64
    import binascii

    try:
        field_key = base64.b64decode(FIELD_ENCRYPTION_KEY + "=" * (-len(FIELD_ENCRYPTION_KEY) % 4), altchars=b"-_")
    except (ValueError, binascii.Error):
        field_key = b""
    weak = []
    if SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        weak.append("SECRET_KEY (at least 50 random characters)")
    if FIELD_ENCRYPTION_KEY == _DEV_FIELD_KEY or len(field_key) < 32:
        weak.append("EPIGRID_FIELD_KEY (at least 32 random bytes, base64)")
    if AUDIT_KEY == _DEV_AUDIT_KEY or len(AUDIT_KEY) < 32:
        weak.append("EPIGRID_AUDIT_KEY (at least 32 random characters)")
    return weak


# Production refuses the keys published in this file and keys too short to be secret.
if PRODUCTION and _weak_secrets():
    raise ImproperlyConfigured("EPIGRID_PRODUCTION refuses these keys: " + "; ".join(_weak_secrets()))
if AUDIT_KEY_VERSION < 1 or AUDIT_KEYS.get(AUDIT_KEY_VERSION, AUDIT_KEY) != AUDIT_KEY or 0 in AUDIT_KEYS:
    raise ImproperlyConfigured("EPIGRID_AUDIT_KEY_VERSION must be >= 1 and differ from the old keys' versions")
AUDIT_KEYS[AUDIT_KEY_VERSION] = AUDIT_KEY

# The reverse proxies in front of the app (IPs or CIDRs, comma-separated). Only a request whose
# direct peer is one of them has its client address taken from X-Forwarded-For (the right-most
# address that is not itself a trusted proxy); from anyone else the header is ignored.
TRUSTED_PROXIES = env.list("EPIGRID_TRUSTED_PROXIES", default=[])
# Reads of a person's file (core.access): kept at least six months, then purged by the sweep.
ACCESS_LOG_MIN_DAYS = 183
ACCESS_LOG_DAYS = env.int("EPIGRID_ACCESS_LOG_DAYS", default=ACCESS_LOG_MIN_DAYS)
if ACCESS_LOG_DAYS < ACCESS_LOG_MIN_DAYS:
    raise ImproperlyConfigured(f"EPIGRID_ACCESS_LOG_DAYS must be at least {ACCESS_LOG_MIN_DAYS} (six months)")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "treebeard",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "epigrid.core",
    "epigrid.accounts",
    "epigrid.grids",
    "epigrid.people",
    "epigrid.alerts",
    "epigrid.control",
    "epigrid.health",
    "epigrid.response",
    "epigrid.gates",
    "epigrid.care",
    "epigrid.mobilization",
    "epigrid.oversight",
    "epigrid.dashboard",
    "epigrid.api",
    "epigrid.demo",
]

MIDDLEWARE = [
    # Before everything: /healthz and /readyz answer load balancers without login, session,
    # HTTPS redirect or host check (core/health.py, docs/deploy.md).
    "epigrid.core.health.HealthCheckMiddleware",
    # Before the rest: everything after it (the audit log, login throttling) sees the client's address.
    "epigrid.core.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # One structured line per request (core/logs.py); it picks the request id. After WhiteNoise:
    # static files are not logged.
    "epigrid.core.logs.RequestLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "epigrid.core.middleware.DefaultLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After OTPMiddleware: a login that owes its second factor sees only the code page.
    "epigrid.accounts.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "epigrid.core.middleware.RequestContextMiddleware",
    "epigrid.api.errors.ApiErrorShapeMiddleware",
]

ROOT_URLCONF = "epigrid.config.urls"
WSGI_APPLICATION = "epigrid.config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out username and address before any password is checked
# (accounts.services.user_authenticate, the one way in for the login page and the API).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "epigrid.config.nav.navigation",
            ],
        },
    },
]

# SQLite is the embedded default so `make demo` works anywhere; PostgreSQL in production.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'epigrid.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE transactions serialise writers up front, which the audit hash chain relies on.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A PostgreSQL streaming replica (hot standby) of the primary: the dashboard and the ledgers'
# exports read there while it is within REPLICA_MAX_LAG_SECONDS (core/replica.py, docs/scaling.md).
# Tests mirror it to the default test database (a standby cannot have a test database made on it).
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["epigrid.core.replica.ReplicaRouter"]
# Compiled reads (core/compiled.py) run as prepared statements on PostgreSQL. Turn off behind a
# pooler in transaction mode that does not keep them (PgBouncer before 1.22, or without
# max_prepared_statements): docs/scaling.md.
PREPARED_READS = env.bool("EPIGRID_PREPARED_READS", default=True)
REPLICA_MAX_LAG_SECONDS = env.float("EPIGRID_REPLICA_MAX_LAG_SECONDS", default=30.0)
REPLICA_CHECK_SECONDS = env.float("EPIGRID_REPLICA_CHECK_SECONDS", default=5.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
    if env.bool("EPIGRID_REDIS_CACHE", default=PRODUCTION)
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULE = {
    "sweep": {"task": "epigrid.sweep", "schedule": env.int("EPIGRID_SWEEP_SECONDS", default=120)},
    "audit-anchor": {"task": "epigrid.audit_anchor", "schedule": env.int("EPIGRID_AUDIT_ANCHOR_SECONDS", default=600)},
    # Stamps a heartbeat in Redis that /readyz reads (core/health.py): beat, broker and a worker alive.
    "heartbeat": {"task": "epigrid.heartbeat", "schedule": env.int("EPIGRID_HEARTBEAT_SECONDS", default=60)},
    # PostgreSQL: the coming months' partitions of readings and passages (core/partitions.py).
    "partitions": {"task": "epigrid.partitions_ensure", "schedule": crontab(hour=2, minute=50)},
}
# Monthly partitions created this many months ahead of the current one (core/partitions.py).
PARTITIONS_MONTHS_AHEAD = env.int("EPIGRID_PARTITIONS_MONTHS_AHEAD", default=3)
# Retention (PIPL; docs/architecture.md "Retention and erasure"): a person's identifying data is
# erased this many days after the last order, test, case and incident of their compound ended
# (never while one is open); temperature reports and gate passages older than this are deleted.
RETENTION_DAYS = env.int("EPIGRID_RETENTION_DAYS", default=30)
# Erase only closed (archived) files: a resident still living in the grid keeps theirs.
RETENTION_ARCHIVED_ONLY = env.bool("EPIGRID_RETENTION_ARCHIVED_ONLY", default=True)
# The daily purge (Celery beat, 03:30 local time) is irreversible: off unless enabled.
RETENTION_PURGE_ENABLED = env.bool("EPIGRID_RETENTION_PURGE", default=False)
if RETENTION_PURGE_ENABLED:
    CELERY_BEAT_SCHEDULE["retention-purge"] = {"task": "epigrid.purge", "schedule": crontab(hour=3, minute=30)}
# `epigrid audit anchor` (run by beat above) appends a signed checkpoint of the audit chain's head
# here; `epigrid audit verify` checks the chain against every line. Point it at storage the
# database's users cannot rewrite (another host, an append-only mount).
AUDIT_ANCHOR_FILE = Path(env.str("EPIGRID_AUDIT_ANCHOR_FILE", default=str(VAR_DIR / "audit-anchors.jsonl")))
# Hand-offs of the transactional outbox: drained by a Celery worker in production; without one
# (the demo, tests) they are carried out right after the commit in the same process.
OUTBOX_DRAIN_INLINE = env.bool("EPIGRID_OUTBOX_INLINE", default=not PRODUCTION)
# 日报: drafted by the sweep from this local time on; each level signs by its deadline (local
# time, the same day), else the level above is alerted.
DAILY_REPORT_DRAFT_AT = env.str("EPIGRID_DAILY_REPORT_DRAFT_AT", default="18:00")
DAILY_REPORT_DUE = {
    "grid": env.str("EPIGRID_DAILY_REPORT_GRID_DUE", default="20:00"),
    "community": env.str("EPIGRID_DAILY_REPORT_COMMUNITY_DUE", default="21:00"),
    "subdistrict": env.str("EPIGRID_DAILY_REPORT_SUBDISTRICT_DUE", default="22:00"),
}
# Background jobs (core.jobs: ledger imports): a Celery worker in production; a thread of the
# same process in the demo; "inline" runs them right after the request's commit (tests).
JOBS_RUNNER = env.str("EPIGRID_JOBS_RUNNER", default="celery" if PRODUCTION else "thread")
if JOBS_RUNNER not in ("celery", "thread", "inline"):
    raise ImproperlyConfigured("EPIGRID_JOBS_RUNNER is one of celery, thread, inline")
# How long a job's file (an export made in the background) waits for its download; then the
# sweep deletes it (personal data).
JOB_RESULT_HOURS = env.int("EPIGRID_JOB_RESULT_HOURS", default=24)
# 网格地图: the tile server behind the grid outlines (none by default: outlines on a plain
# background; set your own or a licensed one, e.g. https://tiles.example.gov.cn/{z}/{x}/{y}.png),
# its attribution, and the coordinate system the outlines are given in (stored as given).
MAP_TILE_URL = env.str("EPIGRID_MAP_TILE_URL", default="")
MAP_TILE_ATTRIBUTION = env.str("EPIGRID_MAP_TILE_ATTRIBUTION", default="")
MAP_COORDINATES = env.str("EPIGRID_MAP_COORDINATES", default="GCJ-02")
if MAP_COORDINATES not in ("WGS-84", "GCJ-02"):
    raise ImproperlyConfigured("EPIGRID_MAP_COORDINATES is WGS-84 or GCJ-02")
# The demo server runs the sweeps in a thread at this interval (0: off).
DEMO_SWEEP_SECONDS = env.int("EPIGRID_DEMO_SWEEP_SECONDS", default=60)
# /readyz (core/health.py): whether Redis and a recent beat heartbeat are required for "ready".
# On where a worker drains the outbox (production); off in the demo and development, where the
# sweeps run in-process: the checks are then reported with "required": false and never fail it.
READY_NEEDS_WORKERS = env.bool("EPIGRID_READY_NEEDS_WORKERS", default=not OUTBOX_DRAIN_INLINE)
# The oldest beat heartbeat /readyz accepts (a few heartbeat periods).
READY_BEAT_MAX_AGE_SECONDS = env.int("EPIGRID_READY_BEAT_MAX_AGE_SECONDS", default=300)

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Applied everywhere a password is set: the user services (create, change, reset link), the user
# manager (`createsuperuser`, with or without --noinput) and the demo's logins.
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "full_name", "first_name", "last_name", "email")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login protection (django-axes, accounts/login_guard.py): failed password checks are counted per
# username + client address and per client address. A username is locked *from that address* after
# AXES_FAILURE_LIMIT failures (so nobody locks a colleague out from elsewhere); an address is locked
# for every username after LOGIN_IP_FAILURE_LIMIT failures (so one address cannot go on guessing or
# locking out others). The lock lasts the cool-off after the last counted failure; refusals while
# locked are not counted (they neither extend the lock nor grow the rows). A success forgets only its
# own username + address failures, never the address's other ones. `epigrid axes_reset_username NAME`
# or `axes_reset_ip ADDR` unlock by hand.
AXES_HANDLER = "epigrid.accounts.login_guard.LoginAttemptHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = env.int("EPIGRID_LOGIN_FAILURE_LIMIT", default=5)
LOGIN_IP_FAILURE_LIMIT = env.int("EPIGRID_LOGIN_IP_FAILURE_LIMIT", default=20)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("EPIGRID_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_RESET_ON_SUCCESS = False  # axes would forget the whole address's failures: see above
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "epigrid.accounts.login_guard.client_ip"  # REMOTE_ADDR (set from a trusted proxy)
AXES_DISABLE_ACCESS_LOG = True  # successes and failures go to the audit log (login.succeeded, login.failed)
# The lockout answer is ours (the login form inline, the API's error shape), not AxesMiddleware's page.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]
# A guard may type this many pass numbers that match no pass of the checkpoint within the window;
# further misses are answered 429 until the window ends (pass numbers are sequential: typing them
# must not walk the city). Counted in the cache (per guard), so shared by all web processes.
GATE_TYPED_MISS_LIMIT = env.int("EPIGRID_GATE_TYPED_MISS_LIMIT", default=10)
GATE_TYPED_MISS_WINDOW_SECONDS = env.int("EPIGRID_GATE_TYPED_MISS_WINDOW_SECONDS", default=60)
# Searching persons by a full ID number or phone (POST /api/v1/persons/search, the exact search
# form) needs the unmask right, is audited as a reveal, and is limited per user: this many
# searches within the window, then 429 until it ends (core/throttle.py, counted in the cache).
PERSON_EXACT_SEARCH_LIMIT = env.int("EPIGRID_PERSON_EXACT_SEARCH_LIMIT", default=30)
PERSON_EXACT_SEARCH_WINDOW_SECONDS = env.int("EPIGRID_PERSON_EXACT_SEARCH_WINDOW_SECONDS", default=600)
# Searching by name, pinyin or last 4 digits (GET ?q=): a higher limit per user.
PERSON_SEARCH_LIMIT = env.int("EPIGRID_PERSON_SEARCH_LIMIT", default=120)
PERSON_SEARCH_WINDOW_SECONDS = env.int("EPIGRID_PERSON_SEARCH_WINDOW_SECONDS", default=60)
# An ID number (or specimen number) refused because it is already registered where the caller
# may not read it in full is a probe of its existence: each one is audited, and after this many
# within the window the user may not register persons or samples until it ends (429).
DUPLICATE_PROBE_LIMIT = env.int("EPIGRID_DUPLICATE_PROBE_LIMIT", default=10)
DUPLICATE_PROBE_WINDOW_SECONDS = env.int("EPIGRID_DUPLICATE_PROBE_WINDOW_SECONDS", default=3600)
# Device tokens (accounts/services.py): the access key (bearer) lives this many hours; a device
# renews it with its refresh key (POST /api/v1/auth/refresh, single use, rotated), which lives this
# many days from its last use. A password change ends every token of the user.
API_TOKEN_HOURS = env.int("EPIGRID_API_TOKEN_HOURS", default=12)
API_REFRESH_DAYS = env.int("EPIGRID_API_REFRESH_DAYS", default=30)
# Request rates (core/rates.py, django-ninja's sliding window in the cache), "count/period" with
# period s, min, h or day; 429 beyond. Token issue and refresh per client address; a resident's
# personal link (temperature reports and help requests, page and API) per link.
THROTTLE_RATES = {
    "token_issue": env.str("EPIGRID_RATE_TOKEN_ISSUE", default="30/min"),
    "token_refresh": env.str("EPIGRID_RATE_TOKEN_REFRESH", default="60/min"),
    "resident_link": env.str("EPIGRID_RATE_RESIDENT_LINK", default="10/min"),
    # 返乡申报 forms sent from one address (a family registers each member from one phone).
    "self_registration": env.str("EPIGRID_RATE_SELF_REGISTRATION", default="20/h"),
    # Volunteer sign-ups sent from one address by a community's QR (mobilization).
    "volunteer_signup": env.str("EPIGRID_RATE_VOLUNTEER_SIGNUP", default="20/h"),
}
# A wish (心愿) still open this long raises an alert to its community (mobilization's sweep).
WISH_OPEN_ALERT_HOURS = env.int("EPIGRID_WISH_OPEN_ALERT_HOURS", default=24)
# A notice to households unread by a household under home quarantine this long alerts its liaison.
NOTICE_UNREAD_ALERT_HOURS = env.int("EPIGRID_NOTICE_UNREAD_ALERT_HOURS", default=12)
NINJA_NUM_PROXIES = 0  # ninja's throttles take REMOTE_ADDR, never a client's X-Forwarded-For

# Second factor (django-otp, TOTP): required for the roles in accounts.choices.MFA_ROLES and for
# the capabilities in MFA_CAPABILITIES (accounts/permissions.py). Wrong codes slow the device down
# exponentially (1, 2, 4 … seconds after each failure): throttling stays on.
OTP_TOTP_ISSUER = env.str("EPIGRID_TOTP_ISSUER", default="epigrid")
OTP_TOTP_THROTTLE_FACTOR = 1
# Codes are accepted from one period (30 s) before to one after now, each once; a code from the
# next period does not move that window for the following logins.
OTP_TOTP_SYNC = False
OTP_STATIC_THROTTLE_FACTOR = 1
# A password reset link an administrator issues works once, for this long.
PASSWORD_RESET_TIMEOUT = env.int("EPIGRID_PASSWORD_RESET_HOURS", default=24) * 3600

# Sessions end after 30 idle minutes: shared phones at gates and in offices.
SESSION_COOKIE_AGE = env.int("EPIGRID_SESSION_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from the finders in development
# Photos users upload (task evidence, service photos) are personal data: kept in the "private"
# storage, outside STATIC_ROOT and outside anything a URL serves (there is no MEDIA_URL route),
# read only through views that check the reader's scope (core/uploads.py).
PRIVATE_MEDIA_ROOT = Path(env.str("EPIGRID_PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private")))
if any(PRIVATE_MEDIA_ROOT.resolve().is_relative_to(served.resolve()) for served in (STATIC_ROOT, *STATICFILES_DIRS)):
    raise ImproperlyConfigured("EPIGRID_PRIVATE_MEDIA_ROOT must not lie under a static files directory")
UPLOAD_IMAGE_MAX_BYTES = env.int("EPIGRID_UPLOAD_IMAGE_MAX_BYTES", default=10 * 1024 * 1024)
UPLOAD_IMAGE_MAX_PIXELS = env.int("EPIGRID_UPLOAD_IMAGE_MAX_PIXELS", default=50_000_000)  # checked before decoding
UPLOAD_IMAGE_MAX_SIDE = env.int("EPIGRID_UPLOAD_IMAGE_MAX_SIDE", default=2560)  # larger photos are scaled down
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": VAR_DIR / "media"}},
    "private": {"BACKEND": "epigrid.core.uploads.PrivateStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
# Ledger and results imports (core/tabular.py): a file beyond these is refused with a 400.
IMPORT_MAX_FILE_BYTES = env.int("EPIGRID_IMPORT_MAX_FILE_BYTES", default=20 * 1024 * 1024)
IMPORT_MAX_ROWS = env.int("EPIGRID_IMPORT_MAX_ROWS", default=200_000)  # data rows, after the header
IMPORT_MAX_COLUMNS = env.int("EPIGRID_IMPORT_MAX_COLUMNS", default=50)  # the ledgers use 8
IMPORT_MAX_CELL_CHARS = env.int("EPIGRID_IMPORT_MAX_CELL_CHARS", default=1000)
IMPORT_MAX_UNCOMPRESSED_BYTES = env.int("EPIGRID_IMPORT_MAX_UNCOMPRESSED_BYTES", default=300 * 1024 * 1024)
IMPORT_MAX_COMPRESSION_RATIO = env.int("EPIGRID_IMPORT_MAX_COMPRESSION_RATIO", default=100)

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    # the map's tile server, when the deployment sets one (网格地图)
    "img-src": [CSP.SELF, "data:", *(["/".join(MAP_TILE_URL.split("/")[:3])] if MAP_TILE_URL else [])],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# No ID number or phone in a log line (core/redaction.py): request lines (the development
# server's django.server, django.request's "Not Found: /path") and whatever reaches the console
# go through the redacting filter. gunicorn's own logs: epigrid/config/gunicorn.py.
# Lines are structured (structlog, core/logs.py): one JSON object a line in production
# (EPIGRID_LOG_FORMAT=json), readable text in development; `epigrid.request` has one line per
# request (request id, user id, route, status, duration, queries); `epigrid.db.slow` one per query
# slower than EPIGRID_SLOW_QUERY_MS.
LOG_FORMAT = env.str("EPIGRID_LOG_FORMAT", default="json" if PRODUCTION else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("EPIGRID_LOG_FORMAT must be json or text")
LOG_SLOW_QUERY_MS = env.int("EPIGRID_SLOW_QUERY_MS", default=500)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "epigrid.core.redaction.RedactingFilter"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
        "structured": {"()": "epigrid.core.logs.formatter", "fmt": LOG_FORMAT},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "structured", "filters": ["redact"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["redact"]},
    },
    "loggers": {
        "django.request": {"filters": ["redact"]},
        "django.server": {"handlers": ["django.server"], "filters": ["redact"], "level": "INFO", "propagate": False},
        "epigrid.request": {
            "handlers": ["console"],
            "level": env.str("EPIGRID_REQUEST_LOG_LEVEL", default="INFO"),
            "propagate": False,
        },
        "epigrid.db.slow": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
from epigrid.core.logs import configure_structlog, init_error_reporter  # noqa: E402

configure_structlog()
# The optional error reporter: sentry-sdk, only when SENTRY_DSN is set; no personal data is sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
init_error_reporter(
    SENTRY_DSN,
    environment=env.str("SENTRY_ENVIRONMENT", default="production" if PRODUCTION else "development"),
    release=env.str("SENTRY_RELEASE", default="epigrid@0.1.0"),
    traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
)

PAGE_SIZE = 50
# The default period of a control order when no rule is configured (the article: 14 days).
CONTROL_DEFAULT_DAYS = env.int("EPIGRID_CONTROL_DEFAULT_DAYS", default=14)
# Close contacts of a confirmed case: the measure and site by default (docs/method.md "5" item 7).
CLOSE_CONTACT_MEASURE = env.str("EPIGRID_CLOSE_CONTACT_MEASURE", default="centralized_quarantine")
CLOSE_CONTACT_SITE = env.str("EPIGRID_CLOSE_CONTACT_SITE", default="集中隔离点")
# An epidemic point is released this many days after the last case left (the article: 14).
EPIDEMIC_POINT_DAYS = env.int("EPIGRID_EPIDEMIC_POINT_DAYS", default=14)
# Minutes an alert owner has to acknowledge before it escalates, per level (liaison, grid head,
# community, command center).
ALERT_ACK_MINUTES = env.list("EPIGRID_ALERT_ACK_MINUTES", cast=int, default=[30, 60, 120, 240])
