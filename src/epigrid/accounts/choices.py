from django.db import models
from django.utils.translation import gettext_lazy as _

from epigrid.grids.choices import GridLevel


class Role(models.TextChoices):
    COMMANDER = "commander", _("Command center commander")
    SUBDISTRICT_STAFF = "subdistrict_staff", _("Subdistrict staff")
    COMMUNITY_SECRETARY = "community_secretary", _("Community party secretary")
    COMMUNITY_STAFF = "community_staff", _("Community staff")
    GRID_HEAD = "grid_head", _("Grid head")
    GRID_MEMBER = "grid_member", _("Grid member")
    BUILDING_HEAD = "building_head", _("Building head")
    MEDICAL_LIAISON = "medical_liaison", _("Medical liaison")
    THEMATIC_HEAD = "thematic_head", _("Thematic grid head")
    CHECKPOINT_GUARD = "checkpoint_guard", _("Checkpoint guard")
    INSPECTOR = "inspector", _("Inspector")
    VOLUNTEER = "volunteer", _("Volunteer")


class Duty(models.TextChoices):
    """A grid member's six duties (六大职责); "一人通办" = one member holds all six."""

    PARTY_BUILDING = "party_building", _("Party building")
    SOCIAL_GOVERNANCE = "social_governance", _("Comprehensive governance")
    PUBLIC_SECURITY = "public_security", _("Public security")
    URBAN_MANAGEMENT = "urban_management", _("Urban management")
    WORK_SAFETY = "work_safety", _("Work safety")
    ENVIRONMENT = "environment", _("Environmental protection")


class Capability(models.TextChoices):
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


_C = Capability
# Capabilities come in bundles that follow the method's division of work.
_GRID_WORK = {_C.EDIT_PEOPLE, _C.UNMASK_PII, _C.INTAKE, _C.RECORD_HEALTH, _C.HANDLE_ALERTS, _C.DO_TASKS}
_GRID_LEAD = _GRID_WORK | {
    _C.MANAGE_ASSIGNMENTS,
    _C.MANAGE_ORDERS,
    _C.MANAGE_TEAMS,
    _C.RECORD_EXPOSURES,
    _C.ISSUE_PASSES,
    _C.GUARD_GATE,
}
_COMMUNITY = _GRID_LEAD | {_C.IMPORT_EXPORT, _C.MANAGE_TESTS, _C.ISSUE_PASSES, _C.MANAGE_CHECKPOINTS, _C.GUARD_GATE}
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.COMMANDER: frozenset(_C.values),
    Role.SUBDISTRICT_STAFF: frozenset(_COMMUNITY | {_C.MANAGE_GRIDS, _C.APPROVE_RELEASE, _C.MANAGE_PLANS}),
    Role.COMMUNITY_SECRETARY: frozenset(_COMMUNITY | {_C.MANAGE_GRIDS, _C.APPROVE_RELEASE}),
    Role.COMMUNITY_STAFF: frozenset(_COMMUNITY),
    Role.GRID_HEAD: frozenset(_GRID_LEAD),
    # The grid member is the household's liaison: registers tips, takes temperatures, calls.
    Role.GRID_MEMBER: frozenset(_GRID_WORK),
    Role.BUILDING_HEAD: frozenset({_C.EDIT_PEOPLE, _C.RECORD_HEALTH, _C.DO_TASKS}),
    Role.MEDICAL_LIAISON: frozenset(
        {
            _C.UNMASK_PII,
            _C.RECORD_HEALTH,
            _C.MANAGE_TESTS,
            _C.CONFIRM_CASES,
            _C.HANDLE_ALERTS,
            _C.RECORD_EXPOSURES,
            _C.DO_TASKS,
        }
    ),
    Role.THEMATIC_HEAD: frozenset({_C.EDIT_PEOPLE}),
    Role.CHECKPOINT_GUARD: frozenset({_C.GUARD_GATE}),
    Role.INSPECTOR: frozenset({_C.VIEW_AUDIT}),
    Role.VOLUNTEER: frozenset(),
}

# Where each role may be held.
ROLE_LEVELS: dict[str, frozenset[str]] = {
    Role.COMMANDER: frozenset({GridLevel.SUBDISTRICT}),
    Role.SUBDISTRICT_STAFF: frozenset({GridLevel.SUBDISTRICT}),
    Role.COMMUNITY_SECRETARY: frozenset({GridLevel.COMMUNITY}),
    Role.COMMUNITY_STAFF: frozenset({GridLevel.COMMUNITY}),
    Role.GRID_HEAD: frozenset({GridLevel.GRID}),
    Role.GRID_MEMBER: frozenset({GridLevel.GRID}),
    Role.BUILDING_HEAD: frozenset({GridLevel.BUILDING}),
    Role.MEDICAL_LIAISON: frozenset({GridLevel.COMMUNITY, GridLevel.GRID, GridLevel.THEMATIC}),
    Role.THEMATIC_HEAD: frozenset({GridLevel.THEMATIC}),
    Role.CHECKPOINT_GUARD: frozenset({GridLevel.COMMUNITY, GridLevel.GRID, GridLevel.BUILDING}),
    Role.INSPECTOR: frozenset({GridLevel.SUBDISTRICT, GridLevel.COMMUNITY}),
    Role.VOLUNTEER: frozenset({GridLevel.SUBDISTRICT, GridLevel.COMMUNITY, GridLevel.GRID, GridLevel.BUILDING}),
}

# The person responsible for a node (a node without one is a coverage gap).
RESPONSIBLE_ROLE: dict[str, str] = {
    GridLevel.SUBDISTRICT: Role.COMMANDER,
    GridLevel.COMMUNITY: Role.COMMUNITY_SECRETARY,
    GridLevel.GRID: Role.GRID_HEAD,
    GridLevel.BUILDING: Role.BUILDING_HEAD,
    GridLevel.THEMATIC: Role.THEMATIC_HEAD,
}
