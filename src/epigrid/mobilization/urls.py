from django.urls import path

from . import campaign_views, followup_views, notice_views, unit_views, views, volunteer_views

app_name = "mobilization"
urlpatterns = [
    path("chain/", views.chain, name="chain"),
    path("chain/import/", views.chain_import, name="import"),
    path("chain/export/", views.chain_export, name="export"),
    path("chain/export/job/", views.chain_export_job, name="export_job"),
    path("ledgers/<str:kind>/", views.team_ledger, name="ledger"),
    path("ledgers/<str:kind>/export/", views.team_ledger_export, name="ledger_export"),
    path("ledgers/<str:kind>/export/job/", views.team_ledger_export_job, name="ledger_export_job"),
    path("orgs/<int:pk>/", views.org, name="org"),
    path("orgs/<int:pk>/dissolve/", views.org_dissolve, name="org_dissolve"),
    path("orgs/<int:pk>/members/", views.member_add, name="member_add"),
    path("members/<int:pk>/end/", views.member_end, name="member_end"),
    path("members/<int:pk>/central/", views.central_create, name="central_create"),
    path("centrals/<int:pk>/assign/", views.central_assign, name="central_assign"),
    path("households/<int:pk>/assign/", views.household_assign, name="household_assign"),
    path("looked-after/<int:pk>/release/", views.household_release, name="household_release"),
]
urlpatterns += [
    path("temporary-branches/", views.temporary_branches, name="temporary_branches"),
    path("temporary-branches/<int:pk>/", views.temporary_branch, name="temporary_branch"),
    path("temporary-branches/<int:pk>/close/", views.temporary_branch_close, name="temporary_branch_close"),
    path("temporary-branches/<int:pk>/members/", views.temporary_member_add, name="temporary_member_add"),
    path("temporary-branch-members/<int:pk>/end/", views.temporary_member_end, name="temporary_member_end"),
]
urlpatterns += [
    path("volunteers/", volunteer_views.volunteers, name="volunteers"),
    path("volunteers/<int:pk>/link/", volunteer_views.volunteer_link, name="volunteer_link"),
    path("volunteers/<int:pk>/shifts/", volunteer_views.shift_record, name="shift_record"),
    path("volunteers/<int:pk>/<str:action>/", volunteer_views.volunteer_decide, name="volunteer_decide"),
    path("volunteers/qr/<str:code>/", volunteer_views.signup_qr, name="signup_qr"),
    path("join/<str:token>/", volunteer_views.signup, name="signup"),
    path("v/<str:token>/", volunteer_views.volunteer_home, name="volunteer_home"),
    path("v/<str:token>/wishes/<int:pk>/claim/", volunteer_views.volunteer_claim, name="volunteer_claim"),
    path("wishes/", volunteer_views.wishes, name="wishes"),
    path("wishes/<int:pk>/<str:action>/", volunteer_views.wish_action, name="wish_action"),
]
urlpatterns += [
    path("units/", unit_views.unit_list, name="units"),
    path("units/<int:pk>/", unit_views.unit, name="unit"),
    path("unit-members/<int:pk>/assign/", unit_views.unit_member_assign, name="unit_member_assign"),
    path("appeals/<int:pk>/", unit_views.appeal, name="appeal"),
    path("appeal-acks/<int:pk>/acknowledge/", unit_views.appeal_ack, name="appeal_ack"),
]
urlpatterns += [
    path("notices/", notice_views.notice_list, name="notices"),
    path("notices/<int:pk>/", notice_views.notice, name="notice"),
    path("tasks/<int:pk>/notice/", notice_views.task_notice_issue, name="task_notice_issue"),
]
urlpatterns += [
    path("campaigns/", campaign_views.campaign_list, name="campaigns"),
    path("campaigns/<int:pk>/", campaign_views.campaign, name="campaign"),
    path("campaigns/<int:pk>/materials/", campaign_views.material_add, name="campaign_material_add"),
    path("campaigns/<int:pk>/posts/", campaign_views.post_log, name="campaign_post_log"),
    path("campaign-files/<str:which>/<int:pk>/", campaign_views.campaign_file, name="campaign_file"),
]
urlpatterns += [
    path("followups/", followup_views.followup_list, name="followups"),
    path("followups/<int:pk>/done/", followup_views.followup_done, name="followup_done"),
]
