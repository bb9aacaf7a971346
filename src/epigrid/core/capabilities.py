"""The capabilities a role can grant (what a principal may do); which role grants which is
decided in `accounts.choices.ROLE_CAPABILITIES`. Every app names these, so they live at the base."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .scoping import VIEW


class Capability(models.TextChoices):
    VIEW = VIEW, _("See the grids where the role is held")
    EDIT_PEOPLE = "edit_people", _("Register and edit people, households and places")
    UNMASK_PII = "unmask_pii", _("See full ID numbers and phones")
    MANAGE_ASSIGNMENTS = "manage_assignments", _("Assign staff to grids")
    MANAGE_GRIDS = "manage_grids", _("Edit the grid tree")
    IMPORT_EXPORT = "import_export", _("Import and export ledgers")
    VIEW_AUDIT = "view_audit", _("Read the audit log")
    INTAKE = "intake", _("Register key persons from tips")
    MANAGE_ORDERS = "manage_orders", _("Start, extend and transfer control orders")
    APPROVE_RELEASE = "approve_release", _("Approve the release of control orders")
    MANAGE_TEAMS = "manage_teams", _("Set up household teams")
    RECORD_HEALTH = "record_health", _("Record temperatures and samples")
    MANAGE_TESTS = "manage_tests", _("Manage test lists and results")
    CONFIRM_CASES = "confirm_cases", _("Record expert consultations")
    HANDLE_ALERTS = "handle_alerts", _("Acknowledge and resolve alerts")
    MANAGE_PLANS = "manage_plans", _("Edit emergency plans and epidemic points")
    RECORD_EXPOSURES = "record_exposures", _("Record close contacts")
    DO_TASKS = "do_tasks", _("Complete emergency tasks")
    MANAGE_CHECKPOINTS = "manage_checkpoints", _("Open and close checkpoints, plan duty shifts")
    ISSUE_PASSES = "issue_passes", _("Issue and revoke household passes")
    GUARD_GATE = "guard_gate", _("Check passes and register visitors at a gate")
    INSPECT = "inspect", _("Plan inspections, record findings, order and close rectifications")
    SIGN_REPORTS = "sign_reports", _("Review and sign daily reports")
    VIEW_DASHBOARD = "view_dashboard", _("See the command dashboard of the grids where the role is held")
