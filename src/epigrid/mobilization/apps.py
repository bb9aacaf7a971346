from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "party_org.create": _("Party organisation set up"),
    "party_org.dissolve": _("Party organisation dissolved"),
    "party_member.add": _("Party member recorded"),
    "party_member.change": _("Party member's office changed"),
    "party_member.end": _("Party membership ended"),
    "central_household.create": _("Party member central household set up"),
    "central_household.end": _("Party member central household ended"),
    "looked_after.assign": _("Household assigned to a central household"),
    "looked_after.release": _("Household taken off its central household"),
    "chain.import": _("Party chain ledger imported"),
    "team_ledger.import": _("Units, volunteers or hours ledger imported"),
    "reporting_unit.update": _("Registered unit's details corrected"),
    "unit_member.update": _("Party member of a unit: details corrected"),
    "volunteer.update": _("Volunteer's details corrected"),
    "volunteer.shift_update": _("Volunteer shift corrected"),
    "temporary_branch.open": _("Temporary party branch set up"),
    "temporary_branch.close": _("Temporary party branch closed"),
    "temporary_branch.member": _("Seat in a temporary party branch"),
    "temporary_branch.member_end": _("Seat in a temporary party branch ended"),
    "volunteer_team.create": _("Volunteer team set up"),
    "volunteer.signup": _("Volunteer signed up"),
    "volunteer.add": _("Volunteer registered"),
    "volunteer.approved": _("Volunteer approved"),
    "volunteer.refused": _("Volunteer refused"),
    "volunteer.team": _("Volunteer's team changed"),
    "volunteer.link": _("Volunteer's personal link issued"),
    "volunteer.shift": _("Volunteer shift recorded"),
    "wish.post": _("Wish posted"),
    "wish.claimed": _("Wish claimed by a volunteer"),
    "wish.open": _("Wish open again"),
    "wish.done": _("Wish done"),
    "wish.thanked": _("Wish thanked"),
    "wish.cancelled": _("Wish cancelled"),
    "reporting_unit.register": _("Unit registered with the community"),
    "unit_member.add": _("Party member of a unit registered"),
    "unit_member.assign": _("Party member of a unit assigned"),
    "appeal.issue": _("Appeal issued to the registered units"),
    "appeal.ack": _("Appeal acknowledged by a unit"),
    "notice.issue": _("Notice to households issued"),
    "notice.read": _("Notice read by a household"),
    "campaign.create": _("Publicity campaign set up"),
    "campaign.material": _("Publicity material added"),
    "campaign.post": _("Publicity logged on a channel"),
    "followup.create": _("Follow-up after release set"),
    "followup.done": _("Follow-up after release done"),
}


class MobilizationConfig(AppConfig):
    """The "3" of 0531: the party chain, temporary branches and the units that report in."""

    name = "epigrid.mobilization"
    label = "mobilization"
    verbose_name = _("mobilization")
    extensions = {
        "household_panels": ["epigrid.mobilization.views.household_chain_panel"],
        "checkpoint_panels": ["epigrid.mobilization.views.checkpoint_branches_panel"],
        "roster_cover": ["epigrid.mobilization.volunteers.gate_duty_cover"],
        "task_panels": ["epigrid.mobilization.notice_views.task_notice_panel"],
        "resident_panels": [
            "epigrid.mobilization.notice_views.resident_notices_panel",
            "epigrid.mobilization.volunteer_views.resident_wishes_panel",
        ],
        "sweeps": ["epigrid.mobilization.volunteers.OVERDUE_SWEEP", "epigrid.mobilization.notices.UNREAD_SWEEP"],
        "gap_checks": [
            "epigrid.mobilization.selectors.COMMUNITY_GAP",
            "epigrid.mobilization.selectors.BRANCH_GAP",
            "epigrid.mobilization.selectors.GROUP_GAP",
            "epigrid.mobilization.selectors.CENTRAL_GAP",
        ],
        "order_ended": ["epigrid.mobilization.followups.followups_on_order_ended"],
        "consequences": ["epigrid.mobilization.followups.consequences"],
        "compound_reopened": ["epigrid.mobilization.followups.followups_on_compound_reopened"],
        "action_labels": ["epigrid.mobilization.apps.ACTION_LABELS"],
        "job_kinds": ["epigrid.mobilization.ledger_jobs.IMPORT_JOB_KIND"],
        "ledger_exports": ["epigrid.mobilization.ledger_jobs.LEDGER_EXPORTS"],
    }
