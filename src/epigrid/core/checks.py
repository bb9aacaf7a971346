"""`epigrid check --deploy`: what makes a deployment unsafe is an Error (the command exits
non-zero), what may be on purpose a Warning. Django's own deployment checks run beside these."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def deployment(app_configs=None, **kwargs):
    problems = []

    def error(code: str, msg: str, hint: str) -> None:
        problems.append(Error(msg, hint=hint, id=f"epigrid.E{code}"))

    if not settings.PRODUCTION:
        error(
            "001",
            "EPIGRID_PRODUCTION is not set: these are the demo's settings.",
            "Set EPIGRID_PRODUCTION=1 with real keys (docs/deploy.md).",
        )
    if settings.DEBUG:
        error("002", "DEBUG is on: tracebacks would show personal data.", "Unset DEBUG.")
    weak = settings._weak_secrets() if hasattr(settings, "_weak_secrets") else []
    if weak:
        error(
            "003",
            "Keys that are the published development defaults or too short: " + "; ".join(weak),
            "Generate them as docs/deploy.md says.",
        )
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        error(
            "004",
            "The database is SQLite: one writer, no least-privilege role, no replica.",
            "Set DATABASE_URL to PostgreSQL.",
        )
    if settings.OUTBOX_DRAIN_INLINE or getattr(settings, "JOBS_RUNNER", "celery") != "celery":
        error(
            "005",
            "Hand-offs or background jobs run in the web process.",
            "Run the Celery worker and beat; leave EPIGRID_OUTBOX_INLINE and EPIGRID_JOBS_RUNNER unset.",
        )
    if "*" in settings.ALLOWED_HOSTS:
        error("006", "ALLOWED_HOSTS accepts any host.", "List the deployment's host names.")
    for name, wanted in (
        ("SESSION_COOKIE_SECURE", True),
        ("CSRF_COOKIE_SECURE", True),
        ("SECURE_SSL_REDIRECT", True),
    ):
        if getattr(settings, name, None) is not wanted:
            error("007", f"{name} is off: sessions and forms would travel in clear.", f"Set {name} (HTTPS only).")
    if getattr(settings, "SECURE_HSTS_SECONDS", 0) < 86400:
        error("008", "HSTS is off or shorter than a day.", "Set SECURE_HSTS_SECONDS (a year: 31536000).")
    anchors = str(settings.AUDIT_ANCHOR_FILE)
    if anchors.startswith(str(settings.VAR_DIR)):
        problems.append(
            Warning(
                "The audit anchors are written beside the application's own files.",
                hint="Point EPIGRID_AUDIT_ANCHOR_FILE at storage the database's users cannot rewrite.",
                id="epigrid.W001",
            )
        )
    broker = urlsplit(settings.CELERY_BROKER_URL)
    if broker.hostname not in (None, "127.0.0.1", "localhost", "::1") and not broker.password:
        problems.append(
            Warning(
                "The Celery broker on another host has no password.",
                hint="Use redis://:password@host/…",
                id="epigrid.W002",
            )
        )
    if settings.MAP_TILE_URL and not settings.MAP_TILE_URL.startswith("https://"):
        problems.append(
            Warning("The map's tile server is not HTTPS.", hint="Use an https:// tile URL.", id="epigrid.W003")
        )
    return problems
