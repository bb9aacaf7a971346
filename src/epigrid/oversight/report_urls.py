from django.urls import path

from . import report_views as views

app_name = "reports"
urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:pk>/", views.report_page, name="report"),
    path("<int:pk>/print/", views.report_print, name="print"),
    path("<int:pk>/xlsx/", views.report_xlsx, name="xlsx"),
]
