"""Celery app: the periodic sweeps run here in production (Redis broker)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "epigrid.config.settings")
app = Celery("epigrid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
