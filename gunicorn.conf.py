"""Read by gunicorn when started from the checkout: epigrid's own settings (log redaction)."""

from epigrid.config.gunicorn import access_log_format, logger_class  # noqa: F401
