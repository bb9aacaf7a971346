import logging
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections

log = logging.getLogger(__name__)


def _sweep_forever(interval: int) -> None:
    from epigrid.oversight.sweeps import sweep_all

    while True:
        time.sleep(interval)
        try:
            sweep_all()
        except Exception:  # keep the demo's worker alive; the error is logged
            log.exception("sweep failed")
        finally:
            close_old_connections()


class Command(BaseCommand):
    help = "The demo server: runserver plus an in-process worker running the periodic sweeps."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        if settings.DEMO_SWEEP_SECONDS:
            threading.Thread(target=_sweep_forever, args=(settings.DEMO_SWEEP_SECONDS,), daemon=True).start()
            self.stdout.write(f"sweeps run every {settings.DEMO_SWEEP_SECONDS} s in this process")
        call_command("runserver", addrport, use_reloader=False)
