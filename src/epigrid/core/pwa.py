"""The installable app (issue 11 "Offline"): its web manifest and its service worker.

Both are public and carry nothing of anyone's data. The service worker is served from the root
(/sw.js) so that its scope covers every page it keeps for offline use (/health/today/, /gates/…);
its code is static (static/epigrid/sw.js, Workbox vendored in static/vendor/workbox): this view
only tells it the URLs of those files, which carry a content hash in production.
"""

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

WORKBOX_MODULES = ("core", "routing", "strategies")


@require_GET
@cache_control(max_age=3600)
def manifest(request):
    icons = [
        {"src": static("epigrid/icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": static("epigrid/icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {
            "src": static("epigrid/icons/icon-maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    body = {
        "name": _("Grid epidemic prevention"),
        "short_name": _("Grid epidemic prevention"),
        "start_url": reverse("health:today"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f8fa",
        "theme_color": "#c8102e",
        "icons": icons,
    }
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response


@require_GET
@cache_control(no_cache=True)  # a new version is picked up at the next visit
def service_worker(request):
    config = {
        "workbox": {m: static(f"vendor/workbox/workbox-{m}.prod.js") for m in WORKBOX_MODULES},
        "static": settings.STATIC_URL,  # not static(""): the manifest storage has no entry for it
    }
    code = (
        f"self.EPIGRID_SW = {json.dumps(config)};\n"
        f"importScripts({json.dumps(static('vendor/workbox/workbox-sw.js'))}, "
        f"{json.dumps(static('epigrid/sw.js'))});\n"
    )
    response = HttpResponse(code, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    return response
