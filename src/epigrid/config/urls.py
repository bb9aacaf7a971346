from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("epigrid.api.urls")),
    path("", include("epigrid.accounts.urls")),
    path("grids/", include("epigrid.grids.urls")),
    path("people/", include("epigrid.people.urls")),
]
