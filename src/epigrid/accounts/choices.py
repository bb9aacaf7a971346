from django.db import models
from django.utils.translation import gettext_lazy as _

from epigrid.core.capabilities import Capability
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


_C = Capability
# Capabilities come in bundles that follow the method's division of work.
_GRID_WORK = {
    _C.EDIT_PEOPLE,
    _C.UNMASK_PII,
    _C.INTAKE,
    _C.RECORD_HEALTH,
    _C.HANDLE_ALERTS,
    _C.DO_TASKS,
    _C.VIEW_DASHBOARD,
}
_GRID_LEAD = _GRID_WORK | {
    _C.MANAGE_ASSIGNMENTS,
    _C.MANAGE_ORDERS,
    _C.MANAGE_TEAMS,
    _C.RECORD_EXPOSURES,
    _C.ISSUE_PASSES,
    _C.GUARD_GATE,
    _C.SIGN_REPORTS,
}
_COMMUNITY = _GRID_LEAD | {_C.IMPORT_EXPORT, _C.MANAGE_TESTS, _C.ISSUE_PASSES, _C.MANAGE_CHECKPOINTS, _C.GUARD_GATE}
_ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.COMMANDER: frozenset(_C.values),
    Role.SUBDISTRICT_STAFF: frozenset(_COMMUNITY | {_C.MANAGE_GRIDS, _C.APPROVE_RELEASE, _C.MANAGE_PLANS, _C.INSPECT}),
    # The community office answers for who read its residents' files (the access log).
    Role.COMMUNITY_SECRETARY: frozenset(_COMMUNITY | {_C.MANAGE_GRIDS, _C.APPROVE_RELEASE, _C.VIEW_AUDIT, _C.INSPECT}),
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
            _C.VIEW_DASHBOARD,
        }
    ),
    Role.THEMATIC_HEAD: frozenset({_C.EDIT_PEOPLE}),
    Role.CHECKPOINT_GUARD: frozenset({_C.GUARD_GATE}),
    # 督查督导: the inspection team reads the log and inspects; it changes nothing else.
    Role.INSPECTOR: frozenset({_C.VIEW_AUDIT, _C.INSPECT, _C.VIEW_DASHBOARD}),
    Role.VOLUNTEER: frozenset(),
}

# Every role sees the subtree where it is held; reading is a capability like the others.
ROLE_CAPABILITIES = {role: caps | {_C.VIEW} for role, caps in _ROLE_CAPABILITIES.items()}

# A second factor (TOTP) guards these capabilities: a session or token not verified with one does
# not hold them, whatever its roles (`accounts.permissions.user_grant_paths`). Seeing full ID
# numbers and phones, exporting ledgers of personal data, and making accounts and assigning roles
# (which could hand the other two to anyone).
MFA_CAPABILITIES = frozenset({_C.UNMASK_PII, _C.IMPORT_EXPORT, _C.MANAGE_ASSIGNMENTS})
# Who must have one: the command center, and every role that grants one of those capabilities.
MFA_ROLES = frozenset({Role.COMMANDER} | {role for role, caps in _ROLE_CAPABILITIES.items() if caps & MFA_CAPABILITIES})

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
