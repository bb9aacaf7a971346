"""The installable app's files (issue 11 "Offline"): the manifest a phone installs from, and the
service worker, served from the root so that its scope covers the day page and the gate pages."""

from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

STATIC = Path(settings.STATICFILES_DIRS[0])


def test_the_manifest_installs_the_day_page_in_chinese(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["name"] == "网格防控"
    assert manifest["start_url"] == "/health/today/"
    assert manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        assert (STATIC / icon["src"].removeprefix(settings.STATIC_URL)).is_file(), icon
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}


def test_every_page_links_the_manifest_and_the_offline_script(client):
    page = client.get("/login/").content.decode()
    assert 'rel="manifest" href="/manifest.webmanifest"' in page
    assert "epigrid/offline.js" in page
    assert 'data-waiting="{n} 条待上传"' in page


def test_the_service_worker_covers_the_site_and_imports_only_our_own_files(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response["Cache-Control"]
    code = response.content.decode()
    assert "googleapis" not in code  # Workbox's CDN default is replaced by the vendored modules
    for name in ("workbox-sw.js", "workbox-core.prod.js", "workbox-routing.prod.js", "workbox-strategies.prod.js"):
        assert f"/static/vendor/workbox/{name}" in code
        assert (STATIC / "vendor" / "workbox" / name).is_file()
    assert "/static/epigrid/sw.js" in code
    assert client.post("/sw.js").status_code == 405
