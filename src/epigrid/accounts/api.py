from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.security import HttpBearer, SessionAuth

from epigrid.core.api import ERRORS
from epigrid.core.capabilities import Capability
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
        user = services.api_token_user(token)
        if user is not None:
            require_verified_login(user)
            request.user = user
        return user


class ActiveSessionAuth(SessionAuth):
    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is not None and user.is_active:
            require_verified_login(user)
            return user
        return None


API_AUTH = [BearerAuth(), ActiveSessionAuth()]


class TokenIn(Schema):
    username: str
    password: str
    otp: str | None = None  # the 6-digit code (or a backup code), for an account with a second factor


class TokenOut(Schema):
    token: str


@router.post("/auth/token", auth=None, response={200: TokenOut, **ERRORS}, summary="Get a device token")
def token_create(request, payload: TokenIn):
    user = services.user_authenticate(
        request=request,
        username=payload.username,
        password=payload.password,
        remote_addr=request.META.get("REMOTE_ADDR"),
    )
    mfa.token_second_factor(user=user, code=payload.otp)
    return {"token": services.api_token_issue(user=user)}


class AssignmentOut(Schema):
    id: int
    username: str
    full_name: str
    grid: str
    role: Role
    duties: list[Duty]
    started_at: str
    ended_at: str | None

    @staticmethod
    def from_model(a: GridAssignment) -> dict:
        return {
            "id": a.pk,
            "username": a.user.username,
            "full_name": a.user.full_name,
            "grid": a.node.code,
            "role": a.role,
            "duties": a.duties,
            "started_at": a.started_at.isoformat(),
            "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        }


class AssignmentIn(Schema):
    username: str
    grid: str
    role: Role
    duties: list[Duty] = []


class AssignmentPatch(Schema):
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
