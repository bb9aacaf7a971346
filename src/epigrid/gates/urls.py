from django.urls import path

from . import views

app_name = "gates"
urlpatterns = [
    path("", views.checkpoint_list, name="list"),
    path("ledger.xlsx", views.ledger, name="ledger"),
    path("<int:pk>/", views.checkpoint, name="checkpoint"),
    path("<int:pk>/scan/", views.scan, name="scan"),
    path("<int:pk>/visitor/", views.visitor, name="visitor"),
    path("<int:pk>/roster/", views.roster, name="roster"),
    path("shifts/<int:pk>/<str:action>/", views.shift_check, name="shift_check"),
    path("passes/<str:code>/", views.passes, name="passes"),
    path("passes/<str:code>/sheet/", views.pass_sheet, name="pass_sheet"),
    path("passes/<str:code>/sheet/job/", views.pass_sheet_job, name="pass_sheet_job"),
    path("pass/<int:pk>/<str:action>/", views.pass_action, name="pass_action"),
]
