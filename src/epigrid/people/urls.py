from django.urls import path

from . import views

app_name = "people"
urlpatterns = [
    path("", views.person_list, name="persons"),
    path("new/", views.person_create, name="person_create"),
    path("search/", views.person_search, name="person_search"),
    path("<int:pk>/", views.person_detail, name="person"),
    path("<int:pk>/edit/", views.person_edit, name="person_edit"),
    path("<int:pk>/reveal/<str:field>/", views.person_reveal, name="person_reveal"),
    path("<int:pk>/archive/", views.person_archive, name="person_archive"),
    path("households/", views.household_list, name="households"),
    path("households/new/", views.household_create, name="household_create"),
    path("households/<int:pk>/", views.household_detail, name="household"),
    path("import/", views.ledger_import, name="import"),
    path("export/<str:kind>/", views.ledger_export, name="export"),
    path("export/<str:kind>/job/", views.ledger_export_job, name="export_job"),
]
