from django.urls import path

from . import inspection_views as views

app_name = "inspections"
urlpatterns = [
    path("", views.round_list, name="list"),
    path("<int:pk>/", views.round_page, name="round"),
    path("<int:pk>/findings/", views.finding_record, name="finding"),
    path("<int:pk>/complete/", views.round_complete, name="complete"),
    path("findings/<int:pk>/rectify/", views.rectification_order, name="rectify"),
    path("rectifications/", views.rectification_list, name="rectifications"),
    path("omissions/", views.omission_list, name="omissions"),
    path("omissions/<int:pk>/review/", views.omission_review, name="omission_review"),
    path("rectifications/<int:pk>/", views.rectification_page, name="rectification"),
    path("rectifications/<int:pk>/answer/", views.rectification_answer, name="answer"),
    path("rectifications/<int:pk>/recheck/", views.rectification_recheck, name="recheck"),
    path("<str:which>/<int:pk>/photo/", views.photo, name="photo"),
    path("checklists/", views.checklist_list, name="checklists"),
    path("checklists/<int:pk>/", views.checklist_page, name="checklist"),
    path("scores/", views.scores, name="scores"),
]
