import datetime as dt

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer, SessionAuth

from epigrid.core.api import ERRORS, ErrorOut, In
from epigrid.core.capabilities import Capability
from epigrid.core.rates import AddressThrottle
from epigrid.grids.selectors import grid_node_get

from . import mfa, selectors, services
from .choices import Duty, Role
from .models import GridAssignment, User
from .permissions import require_verified_login
from .user_api import router as users_router

router = Router(tags=["accounts"])
router.add_router("", users_router)  # /users, /auth/password


class BearerAuth(HttpBearer):
    def authenticate(self, request, token):
        api_token = services.api_token_get(token)
        if api_token is None:
            return None
        require_verified_login(api_token.user)
        request.user = api_token.user
        request.api_token = api_token  # the sign-in this request came with (logout revokes it)
        return api_token.user


class ActiveSessionAuth(SessionAuth):
    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is not None and user.is_active:
            require_verified_login(user)
            return user
        return None


API_AUTH = [BearerAuth(), ActiveSessionAuth()]
AUTH_ERRORS = {**ERRORS, 429: ErrorOut}


class TokenIn(In):
    username: str = Field(max_length=150)
    password: str = Field(max_length=4096)
    label: str = Field("", max_length=100, description="the device's name, shown in the list of tokens")
    otp: str | None = Field(
        None, max_length=64, description="the 6-digit code (or a backup code), for an account with a second factor"
    )


class TokenOut(Schema):
    id: int
    token: str = Field(description=f"the bearer key; valid {settings.API_TOKEN_HOURS} hours by default")
    refresh: str | None = Field(description="single use: POST /auth/refresh for new keys before the token ends")
    expires_at: dt.datetime
    refresh_expires_at: dt.datetime | None

    @staticmethod
    def from_issued(issued: services.IssuedToken) -> dict:
        return {
            "id": issued.token.pk,
            "token": issued.access,
            "refresh": issued.refresh,
            "expires_at": issued.token.expires_at,
            "refresh_expires_at": issued.token.refresh_expires_at,
        }


@router.post(
    "/auth/token",
    auth=None,
    throttle=AddressThrottle("token_issue"),
    response={200: TokenOut, **AUTH_ERRORS},
    summary="Get a device token (and its refresh key)",
    description=(
        "Who may call: anyone, without a token (this is the sign-in); throttled per client address (429 "
        "`throttled`). A wrong username or password is 400 `login_failed`; too many failures lock the username "
        "from this address, and the address, for a while (429 `login_locked`). An account with a second factor "
        "must give `otp` (its 6-digit code or a backup code). Each checked attempt is audited "
        "(`login.succeeded`, or `login.failed` as `system:login`). No cascade."
    ),
)
def token_create(request, payload: TokenIn):
    user = services.user_authenticate(request=request, username=payload.username, password=payload.password)
    mfa.token_second_factor(user=user, code=payload.otp)
    return TokenOut.from_issued(services.api_token_grant(user=user, label=payload.label))


class RefreshIn(In):
    refresh: str = Field(max_length=200)


@router.post(
    "/auth/refresh",
    auth=None,
    throttle=AddressThrottle("token_refresh"),
    response={200: TokenOut, **AUTH_ERRORS},
    summary="New keys for a refresh key (single use: a second use revokes the sign-in)",
    description=(
        "Who may call: anyone holding a live refresh key, without a token; throttled per client address (429 "
        "`throttled`). Answers a new access key and a new refresh key; the old ones stop working. An unknown, "
        "expired or used key is 401 `refresh_invalid`. Cascade, run as `system:token-guard`: a refresh key "
        "presented a second time revokes the whole sign-in, its current keys too (it was copied; audited as "
        "`api_token.reuse_revoked`), and that revocation stays although the call is refused."
    ),
)
def token_refresh(request, payload: RefreshIn):
    return TokenOut.from_issued(services.api_token_refresh(key=payload.refresh))


class TokenInfoOut(Schema):
    id: int
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime
    refresh_expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    current: bool = Field(description="the token of this request")


def _token_info(request, token) -> dict:
    calling = getattr(request, "api_token", None)
    return {
        "id": token.pk,
        "label": token.label,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "refresh_expires_at": token.refresh_expires_at,
        "last_used_at": token.last_used_at,
        "current": calling is not None and calling.pk == token.pk,
    }


@router.get(
    "/auth/tokens",
    response={200: list[TokenInfoOut], **ERRORS},
    summary="Your live device tokens",
    description=(
        "Who may call: any signed-in user; answers only the caller's own live tokens (never their keys), "
        "`current` marking the token of this request. Reads only: no cascade."
    ),
)
def token_list(request):
    return [_token_info(request, t) for t in services.api_token_list(user=request.user)]


@router.post(
    "/auth/tokens/{pk}/revoke",
    response={200: TokenInfoOut, **ERRORS},
    summary="Revoke one of your tokens",
    description=(
        "Who may call: any signed-in user, for one of their own tokens; another's token, or one that does not "
        "exist, is 404 `token_not_found`. Revoking an already revoked token changes nothing. Audited "
        "(`api_token.revoke`). No cascade."
    ),
)
def token_revoke(request, pk: int):
    return _token_info(request, services.api_token_revoke(token_id=pk, principal=request.user))


@router.post(
    "/auth/logout",
    response={204: None, **ERRORS},
    summary="Log out: revoke this token, or end this session",
    description=(
        "Who may call: any signed-in user. With a bearer token, that token is revoked (audited, reason "
        "`logout`); with a session, the session ends. Answers 204. No cascade."
    ),
)
def token_logout(request):
    token = getattr(request, "api_token", None)
    if token is not None:
        services.api_token_revoke(token_id=token.pk, principal=request.user, reason="logout")
    else:
        logout(request)
    return Status(204, None)


class AssignmentOut(Schema):
    id: int
    username: str
    full_name: str
    grid: str
    role: Role
    duties: list[Duty]
    started_at: dt.datetime
    ended_at: dt.datetime | None

    @staticmethod
    def from_model(a: GridAssignment) -> dict:
        return {
            "id": a.pk,
            "username": a.user.username,
            "full_name": a.user.full_name,
            "grid": a.node.code,
            "role": a.role,
            "duties": a.duties,
            "started_at": a.started_at,
            "ended_at": a.ended_at,
        }


class AssignmentIn(In):
    username: str
    grid: str
    role: Role
    duties: list[Duty] = []


class AssignmentPatch(In):
    duties: list[Duty]


@router.get(
    "/assignments",
    response={200: list[AssignmentOut], **ERRORS},
    description=(
        "Who may call: any user with a role; answers only the assignments at nodes inside the grids the caller "
        "sees. `grid` keeps the assignments at that node (404 outside sight); ended assignments only with "
        "`include_ended`. Ordered by node, role, id; at most 2000 rows, not paged. Reads only: no cascade."
    ),
)
def assignment_list(request, grid: str | None = None, include_ended: bool = False):
    assignments = GridAssignment.objects.restrict(request.user).select_related("user", "node")
    if grid:
        assignments = assignments.filter(node=grid_node_get(user=request.user, code=grid))
    if not include_ended:
        assignments = assignments.active()
    return [AssignmentOut.from_model(a) for a in assignments.order_by("node__path", "role", "id")[:2000]]


@router.post(
    "/assignments",
    response={201: AssignmentOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_assignments` (held only with a verified second factor) over `grid` "
        "(403 in sight without it, 404 out of sight); only a role whose capabilities the caller holds there "
        "(403 `role_beyond_own`) and that may be held at that level (400 `role_level`). The user must be an "
        "active account (404 otherwise); the same role there again is 409 `assignment_exists`. Audited. No "
        "cascade."
    ),
)
def assignment_create(request, payload: AssignmentIn):
    node = grid_node_get(user=request.user, code=payload.grid, capability=Capability.MANAGE_ASSIGNMENTS)
    user = get_object_or_404(User, username=payload.username, is_active=True)
    assignment = services.grid_assignment_create(
        node=node, user=user, role=payload.role, duties=[d.value for d in payload.duties], principal=request.user
    )
    return Status(201, AssignmentOut.from_model(assignment))


@router.patch(
    "/assignments/{pk}",
    response={200: AssignmentOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_assignments` (held only with a verified second factor) over the "
        "assignment's node (403 in sight without it, 404 out of sight, `assignment_not_found`). Replaces the "
        "duties. Audited. No cascade."
    ),
)
def assignment_update(request, pk: int, payload: AssignmentPatch):
    assignment = services.grid_assignment_update(
        assignment=selectors.grid_assignment_get(user=request.user, pk=pk, capability=Capability.MANAGE_ASSIGNMENTS),
        duties=[d.value for d in payload.duties],
        principal=request.user,
    )
    return AssignmentOut.from_model(assignment)


@router.post(
    "/assignments/{pk}/end",
    response={200: AssignmentOut, **ERRORS},
    description=(
        "Who may call: a user with `manage_assignments` (held only with a verified second factor) over the "
        "assignment's node (403 in sight without it, 404 out of sight, `assignment_not_found`). Ends the "
        "assignment now; the role stays unheld until someone else is assigned (the coverage audit shows the "
        "gap). Audited. No cascade."
    ),
)
def assignment_end(request, pk: int):
    assignment = selectors.grid_assignment_get(user=request.user, pk=pk, capability=Capability.MANAGE_ASSIGNMENTS)
    assignment = services.grid_assignment_end(assignment=assignment, principal=request.user)
    return AssignmentOut.from_model(assignment)
