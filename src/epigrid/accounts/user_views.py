"""Pages of one's own account (second factor, password) and of the accounts an administrator
manages (create, assign, deactivate, reset a password or a second factor)."""

import base64

import django_otp
import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_static.models import StaticToken

from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows
from epigrid.core.views import domain_errors, form_error, paginate
from epigrid.grids.selectors import grid_node_get

from . import mfa, selectors, users
from .choices import Capability
from .forms import CodeForm, PasswordChangeForm, PasswordSetForm, UserAssignForm, UserCreateForm
from .middleware import second_factor_exempt
from .models import GridAssignment
from .permissions import has_second_factor, may_manage, second_factor_verified
from .services import grid_assignment_create


def _next(request, default: str = "home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse(default)


def _verified_now(request, device) -> None:
    """The session passed its second factor: a new session key for the higher trust."""
    django_otp.login(request, device)
    request.session.cycle_key()


# ---------------------------------------------------------------- one's own account


@login_required
def account(request):
    user = request.user
    assignments = GridAssignment.objects.active().filter(user=user).select_related("node").order_by("node__path")
    backup_left = StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
    return render(
        request,
        "accounts/account.html",
        {
            "assignments": assignments,
            "has_device": has_second_factor(user),
            "backup_left": backup_left,
            "can_manage": allows(user, Capability.MANAGE_ASSIGNMENTS),
        },
    )


@second_factor_exempt
@login_required
def mfa_verify(request):
    """The code page: after the password, before anything else."""
    user = request.user
    if second_factor_verified(user):
        return redirect(_next(request))
    if not has_second_factor(user):
        return redirect(f"{reverse('mfa_enrol')}?{request.GET.urlencode()}")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device = mfa.second_factor_verify(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            form_error(form, exc)
            status = exc.status
        else:
            _verified_now(request, device)
            return redirect(_next(request))
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": _next(request)}, status=status)


@second_factor_exempt
@login_required
def mfa_enrol(request):
    """Set up the second factor: scan the QR code (or type the secret), confirm with a code; the
    backup codes are shown once, then."""
    user = request.user
    if has_second_factor(user):
        return redirect(_next(request, "account") if second_factor_verified(user) else "mfa_verify")
    device = mfa.second_factor_enrol_start(user=user)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = mfa.second_factor_enrol_confirm(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            form_error(form, exc)
            status = exc.status
        else:
            _verified_now(request, device)
            return render(request, "accounts/mfa_backup_codes.html", {"codes": codes, "next": _next(request)})
    elif request.method == "POST":
        status = 400
    secret = base64.b32encode(device.bin_key).decode()
    qr = mark_safe(segno.make(device.config_url, error="m").svg_inline(scale=4))  # noqa: S308 - segno's own SVG
    return render(
        request,
        "accounts/mfa_enrol.html",
        {
            "form": form,
            "qr": qr,
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "next": _next(request),
        },
        status=status,
    )


@login_required
def password_change(request):
    form = PasswordChangeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            users.user_password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except DomainError as exc:
            form_error(form, exc)
            status = exc.status
        else:
            update_session_auth_hash(request, request.user)  # this session stays; the others end
            messages.success(request, _("Your password is changed."))
            return redirect("account")
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/password_change.html", {"form": form}, status=status)


RESET_SESSION_KEY = "_epigrid_password_reset"
RESET_IN_SESSION = "set"


@second_factor_exempt
@domain_errors
def password_reset(request, key):
    """The one-time link an administrator issued. Its key leaves the address bar at once (kept in
    the session, as Django's own reset does), so it is not in the history or a later Referer."""
    if key != RESET_IN_SESSION and request.method == "GET":
        users.password_reset_get(key)  # 404 for a used, replaced or expired link
        request.session[RESET_SESSION_KEY] = key
        return redirect("password_reset", key=RESET_IN_SESSION)
    if key == RESET_IN_SESSION:
        key = request.session.get(RESET_SESSION_KEY, "")
    reset = users.password_reset_get(key)
    form = PasswordSetForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            users.password_reset_use(key=key, new_password=form.cleaned_data["new_password"])
        except DomainError as exc:
            form_error(form, exc)
            status = exc.status
        else:
            request.session.pop(RESET_SESSION_KEY, None)
            messages.success(request, _("Your password is set: log in with it."))
            return redirect("home")
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/password_reset.html", {"form": form, "who": reset.user}, status=status)


# ---------------------------------------------------------------- accounts one manages


def _reset_link(request, target, key: str):
    """The one-time link, on a page of its own: shown once, never stored in clear."""
    url = request.build_absolute_uri(reverse("password_reset", kwargs={"key": key}))
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    return render(request, "accounts/users/reset_link.html", {"target": target, "url": url, "hours": hours})


@login_required
@domain_errors
def user_list(request):
    """The accounts placed inside the user's area; a new account (POST names its grid)."""
    form = UserCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        grid = request.POST.get("grid", "")
        node = grid_node_get(user=request.user, code=grid, capability=Capability.MANAGE_ASSIGNMENTS)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user, key = users.user_create(
                    username=data["username"],
                    full_name=data["full_name"],
                    phone=data["phone"] or None,
                    password=data["password"] or None,
                    node=node,
                    role=data["role"],
                    duties=data["duties"],
                    principal=request.user,
                )
            except DomainError as exc:
                form_error(form, exc)
                status = exc.status
            else:
                if key is None:
                    messages.success(request, _("Account created."))
                    return redirect("users:detail", pk=user.pk)
                return _reset_link(request, user, key)
        else:
            status = 400
    q = request.GET.get("q", "").strip()
    accounts = selectors.users_visible(user=request.user)
    if q:
        accounts = accounts.filter(username__icontains=q) | accounts.filter(full_name__icontains=q)
    return render(
        request,
        "accounts/users/list.html",
        {
            "page": paginate(request, accounts.order_by("username")),
            "q": q,
            "form": form,
            "can_create": allows(request.user, Capability.MANAGE_ASSIGNMENTS),
        },
        status=status,
    )


@login_required
@domain_errors
def user_detail(request, pk):
    target = selectors.user_get(user=request.user, pk=pk)
    assignments = (
        GridAssignment.objects.restrict(request.user, Capability.MANAGE_ASSIGNMENTS)
        .filter(user=target)
        .select_related("node")
        .order_by("ended_at", "node__path")
    )
    return render(
        request,
        "accounts/users/detail.html",
        {
            "target": target,
            "assignments": assignments,
            "has_device": has_second_factor(target),
            "can_manage": may_manage(request.user, target) and target.pk != request.user.pk,
            "form": UserAssignForm(),
        },
    )


ACTIONS = ("deactivate", "reactivate", "password-reset", "mfa-reset")


@login_required
@require_POST
@domain_errors
def user_action(request, pk, action):
    if action not in ACTIONS:
        raise Http404
    target = selectors.user_get(user=request.user, pk=pk, manage=True)
    if action == "deactivate":
        users.user_deactivate(user=target, principal=request.user)
        messages.success(request, _("Account deactivated: it can no longer log in."))
    elif action == "reactivate":
        users.user_reactivate(user=target, principal=request.user)
        messages.success(request, _("Account reactivated."))
    elif action == "mfa-reset":
        mfa.second_factor_reset(user=target, principal=request.user)
        messages.success(request, _("Second factor removed: the person sets up a new one at the next login."))
    else:
        key = users.password_reset_issue(user=target, principal=request.user)
        return _reset_link(request, target, key)
    return redirect("users:detail", pk=target.pk)


@login_required
@require_POST
@domain_errors
def user_assign(request, pk):
    target = selectors.user_get(user=request.user, pk=pk)
    node = grid_node_get(user=request.user, code=request.POST.get("grid", ""), capability=Capability.MANAGE_ASSIGNMENTS)
    form = UserAssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the form."))
        return redirect("users:detail", pk=target.pk)
    if not target.is_active:
        raise DomainError("user_inactive", _("Reactivate the account first."))
    grid_assignment_create(
        node=node,
        user=target,
        role=form.cleaned_data["role"],
        duties=form.cleaned_data["duties"],
        principal=request.user,
    )
    messages.success(request, _("Assignment saved."))
    return redirect("users:detail", pk=target.pk)
