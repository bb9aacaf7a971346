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


@router.get("/auth/tokens", response={200: list[TokenInfoOut], **ERRORS}, summary="Your live device tokens")
def token_list(request):
    return [_token_info(request, t) for t in services.api_token_list(user=request.user)]


@router.post("/auth/tokens/{pk}/revoke", response={200: TokenInfoOut, **ERRORS}, summary="Revoke one of your tokens")
def token_revoke(request, pk: int):
    return _token_info(request, services.api_token_revoke(token_id=pk, principal=request.user))


@router.post("/auth/logout", response={204: None, **ERRORS}, summary="Log out: revoke this token, or end this session")
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


@router.get("/assignments", response={200: list[AssignmentOut], **ERRORS})
def assignment_list(request, grid: str | None = None, include_ended: bool = False):
    assignments = GridAssignment.objects.restrict(request.user).select_related("user", "node")
    if grid:
        assignments = assignments.filter(node=grid_node_get(user=request.user, code=grid))
    if not include_ended:
        assignments = assignments.active()
    return [AssignmentOut.from_model(a) for a in assignments.order_by("node__path", "role", "id")[:2000]]


@router.post("/assignments", response={201: AssignmentOut, **ERRORS})
def assignment_create(request, payload: AssignmentIn):
    node = grid_node_get(user=request.user, code=payload.grid, capability=Capability.MANAGE_ASSIGNMENTS)
    user = get_object_or_404(User, username=payload.username, is_active=True)
    assignment = services.grid_assignment_create(
        node=node, user=user, role=payload.role, duties=[d.value for d in payload.duties], principal=request.user
    )
    return Status(201, AssignmentOut.from_model(assignment))


@router.patch("/assignments/{pk}", response={200: AssignmentOut, **ERRORS})
def assignment_update(request, pk: int, payload: AssignmentPatch):
    assignment = services.grid_assignment_update(
        assignment=selectors.grid_assignment_get(user=request.user, pk=pk, capability=Capability.MANAGE_ASSIGNMENTS),
        duties=[d.value for d in payload.duties],
        principal=request.user,
    )
    return AssignmentOut.from_model(assignment)


@router.post("/assignments/{pk}/end", response={200: AssignmentOut, **ERRORS})
def assignment_end(request, pk: int):
    assignment = selectors.grid_assignment_get(user=request.user, pk=pk, capability=Capability.MANAGE_ASSIGNMENTS)
    assignment = services.grid_assignment_end(assignment=assignment, principal=request.user)
    return AssignmentOut.from_model(assignment)
