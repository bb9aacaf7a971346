"""Pages of 双报到: the units registered with the communities in sight and the appeals (倡议书)
issued to them; a unit's members and where the community sent them; an appeal with who has
acknowledged it and who has not."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows
from epigrid.core.views import domain_errors, refused_back
from epigrid.grids.selectors import grid_node_get

from . import units
from .choices import ShiftKind, UnitKind
from .models import TemporaryBranch, Wish
from .volunteers import community_grids


@login_required
@domain_errors
def unit_list(request):
    """双报到: the registered units and the appeals of the communities in sight; the community
    office registers a unit or issues an appeal here."""
    if request.method == "POST":
        grid = grid_node_get(user=request.user, code=request.POST.get("grid", "").strip())
        if request.POST.get("action") == "appeal":
            appeal = units.appeal_issue(
                grid=grid,
                title=request.POST.get("title", ""),
                text=request.POST.get("text", ""),
                principal=request.user,
            )
            messages.success(request, _("The appeal is issued to %(n)s units.") % {"n": appeal.acks.count()})
            return redirect("mobilization:appeal", pk=appeal.pk)
        unit = units.unit_register(
            grid=grid,
            kind=request.POST.get("kind", ""),
            name=request.POST.get("name", ""),
            contact_name=request.POST.get("contact_name", ""),
            contact_phone=request.POST.get("contact_phone", ""),
            skills=request.POST.get("skills", ""),
            hours_offered=request.POST.get("hours_offered", 0),
            principal=request.user,
        )
        messages.success(request, _("%(unit)s is registered.") % {"unit": unit.name})
        return redirect("mobilization:unit", pk=unit.pk)
    return render(
        request,
        "mobilization/units.html",
        {
            "units": units.unit_list(user=request.user)[:500],
            "appeals": units.appeal_list(user=request.user)[:100],
            "communities": community_grids(request.user),
            "kinds": UnitKind,
        },
    )


@login_required
@domain_errors
def unit(request, pk):
    """A registered unit: its contact, what it offers, its party members and where each is sent."""
    if request.method == "POST":
        obj = units.unit_get(user=request.user, pk=pk, capability=units.MANAGE)
        member = units.unit_member_add(
            unit=obj,
            name=request.POST.get("name", ""),
            phone=request.POST.get("phone", ""),
            skills=request.POST.get("skills", ""),
            hours_offered=request.POST.get("hours_offered", 0),
            principal=request.user,
        )
        messages.success(request, _("%(name)s is registered.") % {"name": member.name})
        return redirect("mobilization:unit", pk=obj.pk)
    obj = units.unit_get(user=request.user, pk=pk)
    can_manage = allows(request.user, units.MANAGE, obj.grid.path)
    members = list(units.unit_members(obj))
    choices = units.assignable(members[0]) if members and can_manage else {"branches": [], "wishes": []}
    return render(
        request,
        "mobilization/unit.html",
        {
            "unit": obj,
            "members": members,
            "can_manage": can_manage,
            "branches": list(choices["branches"]),
            "wishes": list(choices["wishes"]),
            "duties": ShiftKind,
            "acks": obj.acks.select_related("appeal").order_by("-appeal__issued_at")[:20],
        },
    )


@login_required
@require_POST
@domain_errors
def unit_member_assign(request, pk):
    """Send a member to a temporary branch, a duty or a wish (one of the three)."""
    member = units.unit_member_get(user=request.user, pk=pk, capability=units.MANAGE)
    back = reverse("mobilization:unit", args=[member.unit_id])
    target = request.POST.get("target", "")
    kind, _sep, value = target.partition(":")
    branch = wish = None
    duty = ""
    try:
        if kind == "branch":
            branch = TemporaryBranch.objects.select_related("grid").filter(pk=_int(value)).first()
            if branch is None:
                raise DomainError("assignment_one", _("Choose one: a temporary branch, a duty or a wish."))
        elif kind == "wish":
            wish = Wish.objects.select_related("grid").filter(pk=_int(value)).first()
            if wish is None:
                raise DomainError("assignment_one", _("Choose one: a temporary branch, a duty or a wish."))
        else:
            duty = value if kind == "duty" else ""
        units.unit_member_assign(
            member=member,
            branch=branch,
            duty=duty,
            wish=wish,
            note=request.POST.get("note", ""),
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("%(name)s is assigned.") % {"name": member.name})
    return redirect(back)


def _int(value) -> int | None:
    return int(value) if str(value or "").isdigit() else None


@login_required
@domain_errors
def appeal(request, pk):
    """An appeal (倡议书): its text, and each unit's acknowledgement — who has not yet, first."""
    obj = units.appeal_get(user=request.user, pk=pk)
    acks = list(units.appeal_acks(obj))
    pending = [a for a in acks if a.acknowledged_at is None]
    return render(
        request,
        "mobilization/appeal.html",
        {
            "appeal": obj,
            "acks": acks,
            "pending": pending,
            "done": len(acks) - len(pending),
            "can_manage": allows(request.user, units.MANAGE, obj.grid.path),
        },
    )


@login_required
@require_POST
@domain_errors
def appeal_ack(request, pk):
    """Record a unit's acknowledgement of an appeal, and who at the unit acknowledged it."""
    ack = units.ack_get(user=request.user, pk=pk, capability=units.MANAGE)
    back = reverse("mobilization:appeal", args=[ack.appeal_id])
    try:
        units.appeal_acknowledge(ack=ack, by_name=request.POST.get("by_name", ""), principal=request.user)
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("%(unit)s acknowledged the appeal.") % {"unit": ack.unit.name})
    return redirect(back)
