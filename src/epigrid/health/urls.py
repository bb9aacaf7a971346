from django.urls import path

from . import views

app_name = "health"
urlpatterns = [
    path("today/", views.today, name="today"),
    path("rules/", views.rules, name="rules"),
    path("persons/<int:person_pk>/temperature/", views.temperature_record, name="temperature_record"),
    path("persons/<int:person_pk>/contacts/", views.staff_contact_record, name="staff_contact_record"),
    path("persons/<int:person_pk>/report-link/", views.report_link_issue, name="report_link_issue"),
    path("test-lists/", views.test_lists, name="test_lists"),
    path("test-lists/<int:pk>/", views.test_list, name="test_list"),
    path("test-lists/<int:pk>/persons/<int:person_pk>/sample/", views.sample_create, name="sample_create"),
    path("results/import/", views.results_import, name="results_import"),
    path("samples/<int:pk>/result/", views.result_record, name="result_record"),
    path("cases/<int:case_pk>/consultations/", views.consultation_create, name="consultation_create"),
    path("ledgers/<str:name>/", views.ledger_export, name="ledger_export"),
    path("ledgers/<str:name>/job/", views.ledger_export_job, name="ledger_export_job"),
]
