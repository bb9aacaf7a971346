"""/api/v1/users: the accounts an administrator manages (as the pages in user_views), and
/api/v1/auth/password: one's own password."""

from django.conf import settings
from django.urls import reverse
from ninja import Router, Schema, Status

from epigrid.core.api import ERRORS, In, page
from epigrid.core.capabilities import Capability
from epigrid.grids.selectors import grid_node_get

from . import mfa, selectors, users
from .choices import Duty, Role
from .models import GridAssignment, User
from .permissions import has_second_factor

router = Router(tags=["accounts"])


class RoleOut(Schema):
    grid: str
    role: Role
    duties: list[Duty]
    ended: bool


class UserOut(Schema):
    id: int
    username: str
    full_name: str
    phone_masked: str
    is_active: bool
    second_factor: bool
    roles: list[RoleOut]


def _out(request, user: User) -> dict:
    """The account, with only the roles it holds inside the caller's area."""
    assignments = (
        GridAssignment.objects.restrict(request.user, Capability.MANAGE_ASSIGNMENTS)
        .filter(user=user)
        .select_related("node")
        .order_by("node__path", "role")
    )
    return {
        "id": user.pk,
        "username": user.username,
        "full_name": user.full_name,
        "phone_masked": user.phone_masked,
        "is_active": user.is_active,
        "second_factor": has_second_factor(user),
        "roles": [
            {"grid": a.node.code, "role": a.role, "duties": a.duties, "ended": a.ended_at is not None}
            for a in assignments
        ],
    }


class UserPage(Schema):
    items: list[UserOut]
    next_offset: int | None
    total: int | None = None  # with_total=true: the rows matching the filters


class UserIn(In):
    username: str
    full_name: str
    grid: str
    role: Role
    duties: list[Duty] = []
    phone: str | None = None
    password: str | None = None  # none: the answer carries a one-time link to set one


class UserCreated(Schema):
    user: UserOut
    reset_link: str | None


class ResetLinkOut(Schema):
    reset_link: str
    expires_in_hours: int


class PasswordIn(In):
    old_password: str
    new_password: str


class Done(Schema):
    done: bool


def _link(request, key: str) -> str:
    return request.build_absolute_uri(reverse("password_reset", kwargs={"key": key}))


@router.get(
    "/users",
    response={200: UserPage, **ERRORS},
    summary="Accounts placed inside your area",
    description=(
        "Who may call: a user with `manage_assignments` (held only with a verified second factor); answers the "
        "accounts placed at nodes inside the caller's `manage_assignments` subtrees (everyone for a superuser, "
        "nobody for anyone else), each with only the roles it holds there. `q` matches username or full name; "
        "ordered by username; `next_offset` pages. Reads only: no cascade."
    ),
)
def user_list(request, q: str = "", limit: int = 50, offset: int = 0, with_total: bool = False):
    accounts = selectors.users_visible(user=request.user)
    if q:
        accounts = accounts.filter(username__icontains=q) | accounts.filter(full_name__icontains=q)
    items, next_offset, total = page(
        accounts.order_by("username", "pk"), limit=limit, offset=offset, with_total=with_total
    )
    return {"items": [_out(request, u) for u in items], "next_offset": next_offset, "total": total}


@router.post(
    "/users",
    response={201: UserCreated, **ERRORS},
    summary="Create an account, placed on a grid",
    description=(
        "Who may call: a user with `manage_assignments` (held only with a verified second factor) over `grid` "
        "(403 in sight without it, 404 out of sight); the role is given as by POST /assignments (only one "
        "whose capabilities the caller holds there). 409 `username_taken`. Without `password` the answer "
        "carries a one-time link to set one. Audited. No cascade."
    ),
)
def user_create(request, payload: UserIn):
    node = grid_node_get(user=request.user, code=payload.grid, capability=Capability.MANAGE_ASSIGNMENTS)
    user, key = users.user_create(
        username=payload.username,
        full_name=payload.full_name,
        phone=payload.phone,
        password=payload.password,
        node=node,
        role=payload.role,
        duties=[d.value for d in payload.duties],
        principal=request.user,
    )
    return Status(201, {"user": _out(request, user), "reset_link": _link(request, key) if key else None})


@router.get(
    "/users/{pk}",
    response={200: UserOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_assignments` over a node where the account is placed (else 404 "
        "`user_not_found`, whether or not it exists); only the roles held inside the caller's area are shown. "
        "Reads only: no cascade."
    ),
)
def user_get(request, pk: int):
    return _out(request, selectors.user_get(user=request.user, pk=pk))


@router.post(
    "/users/{pk}/deactivate",
    response={200: UserOut, **ERRORS},
    summary="Deactivate: no more logins",
    description=(
        "Who may call: a user who may manage the account: `manage_assignments` over every node where it is "
        "placed and every capability of its roles there (403 otherwise; 404 `user_not_found` out of sight; a "
        "superuser only by a superuser); never one's own account (403 `own_account`). The account's sessions "
        "and tokens stop working and its pending reset links die; its roles stay, unheld. Idempotent; audited. "
        "No cascade."
    ),
)
def user_deactivate(request, pk: int):
    user = users.user_deactivate(user=selectors.user_get(user=request.user, pk=pk, manage=True), principal=request.user)
    return _out(request, user)


@router.post(
    "/users/{pk}/reactivate",
    response={200: UserOut, **ERRORS},
    description=(
        "Who may call: a user who may manage the account (as for deactivate: 403 without the rights over all "
        "its nodes and roles, 404 `user_not_found` out of sight); never one's own (403 `own_account`). "
        "Idempotent; audited. No cascade."
    ),
)
def user_reactivate(request, pk: int):
    user = users.user_reactivate(user=selectors.user_get(user=request.user, pk=pk, manage=True), principal=request.user)
    return _out(request, user)


@router.post(
    "/users/{pk}/password-reset",
    response={200: ResetLinkOut, **ERRORS},
    summary="A one-time reset link",
    description=(
        "Who may call: a user who may manage the account (as for deactivate: 403 without the rights over all "
        "its nodes and roles, 404 `user_not_found` out of sight); never one's own (403 `own_account`); an "
        "inactive account is 400 `user_inactive`. Answers a one-time link; earlier unused links of the account "
        "die. Audited. No cascade."
    ),
)
def user_password_reset(request, pk: int):
    key = users.password_reset_issue(
        user=selectors.user_get(user=request.user, pk=pk, manage=True), principal=request.user
    )
    return {"reset_link": _link(request, key), "expires_in_hours": settings.PASSWORD_RESET_TIMEOUT // 3600}


@router.post(
    "/users/{pk}/mfa-reset",
    response={200: UserOut, **ERRORS},
    summary="Remove the second factor",
    description=(
        "Who may call: a user who may manage the account (as for deactivate: 403 without the rights over all "
        "its nodes and roles, 404 `user_not_found` out of sight); never one's own (403 `own_account`). Removes "
        "every device of the second factor: the user's sessions and tokens lose their verification and the "
        "user sets up a new one at the next page. Audited. No cascade."
    ),
)
def user_mfa_reset(request, pk: int):
    user = selectors.user_get(user=request.user, pk=pk, manage=True)
    mfa.second_factor_reset(user=user, principal=request.user)
    return _out(request, user)


@router.post(
    "/auth/password",
    response={200: Done, **ERRORS},
    summary="Change your own password",
    description=(
        "Who may call: any signed-in user, for their own account, giving the current password (400 "
        "`password_wrong`); the new one must pass the password rules. Afterwards every session and token of "
        "the account, the calling one included, is refused (each carries the old password's fingerprint): sign "
        "in again. Audited (`user.password_change`). No cascade."
    ),
)
def password_change(request, payload: PasswordIn):
    users.user_password_change(user=request.user, old_password=payload.old_password, new_password=payload.new_password)
    return {"done": True}
