from django.urls import path

from . import views

app_name = "control"
urlpatterns = [
    path("tips/new/", views.tip_create, name="tip_create"),
    path("self-registrations/", views.self_registration_list, name="self_registrations"),
    path("self-registrations/<int:pk>/check/", views.self_registration_check, name="self_registration_check"),
    path("grids/<str:code>/poster/", views.poster, name="poster"),
    path("join/<str:token>/", views.join, name="join"),
    path("key-persons/", views.key_person_list, name="key_persons"),
    path("key-persons/<int:pk>/assess/", views.key_person_assess, name="key_person_assess"),
    path("orders/", views.order_list, name="orders"),
    path("persons/<int:person_pk>/orders/new/", views.order_start, name="order_start"),
    path("orders/<int:pk>/<str:action>/", views.order_action, name="order_action"),
    path("households/<int:household_pk>/team/", views.team_member_add, name="team_member_add"),
    path("team-members/<int:pk>/end/", views.team_member_end, name="team_member_end"),
]
