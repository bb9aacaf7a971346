from django.urls import include, path

from epigrid.care.views import resident_request
from epigrid.core import pwa
from epigrid.health.views import resident
from epigrid.mobilization.notice_views import resident_notice_read
from epigrid.mobilization.volunteer_views import resident_wish_post, resident_wish_thank

urlpatterns = [
    # The installable app: at the root, so that the service worker's scope covers every page.
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("epigrid.api.urls")),
    path("", include("epigrid.accounts.urls")),
    path("users/", include("epigrid.accounts.user_urls")),
    path("grids/", include("epigrid.grids.urls")),
    path("grids/", include("epigrid.oversight.urls")),
    path("people/", include("epigrid.people.urls")),
    path("control/", include("epigrid.control.urls")),
    path("health/", include("epigrid.health.urls")),
    path("alerts/", include("epigrid.alerts.urls")),
    path("response/", include("epigrid.response.urls")),
    path("gates/", include("epigrid.gates.urls")),
    path("care/", include("epigrid.care.urls")),
    path("mobilization/", include("epigrid.mobilization.urls")),
    path("inspections/", include("epigrid.oversight.inspection_urls")),
    path("dashboard/", include("epigrid.dashboard.urls")),
    path("reports/", include("epigrid.oversight.report_urls")),
    path("verification/", include("epigrid.oversight.verification_urls")),
    path("jobs/", include("epigrid.core.job_urls")),
    path("retention/", include("epigrid.oversight.retention_urls")),
    path("r/<str:token>/request/", resident_request, name="resident_request"),
    path("r/<str:token>/wishes/", resident_wish_post, name="resident_wish"),
    path("r/<str:token>/wishes/<int:pk>/thank/", resident_wish_thank, name="resident_wish_thank"),
    path("r/<str:token>/notices/<int:pk>/read/", resident_notice_read, name="resident_notice_read"),
    path("r/<str:token>/", resident, name="resident"),
]
