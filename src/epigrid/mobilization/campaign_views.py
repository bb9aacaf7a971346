"""Pages of the publicity campaigns (宣传): the campaigns in sight with the form to set one up; a
campaign with its materials and the log of its channels, with the forms to add both; the stored
photos and images."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from epigrid.core.errors import DomainError
from epigrid.core.scoping import allows
from epigrid.core.uploads import photo_response
from epigrid.core.views import domain_errors, refused_back
from epigrid.grids.models import GridNode
from epigrid.grids.selectors import grid_node_get

from . import publicity
from .choices import OFFLINE_CHANNELS, CampaignTarget, Channel, MaterialKind


@login_required
@domain_errors
def campaign_list(request):
    if request.method == "POST":
        grid = grid_node_get(user=request.user, code=request.POST.get("grid", "").strip())
        campaign = publicity.campaign_create(
            grid=grid,
            title=request.POST.get("title", ""),
            target=request.POST.get("target", ""),
            principal=request.user,
        )
        messages.success(request, _("The campaign is set up: %(title)s") % {"title": campaign.title})
        return redirect("mobilization:campaign", pk=campaign.pk)
    grids = [
        g
        for g in GridNode.objects.restrict(request.user, publicity.MANAGE)
        .filter(level__in=["subdistrict", "community", "grid", "building"])
        .order_by("path")[:300]
        if allows(request.user, publicity.MANAGE, g.path)
    ]
    return render(
        request,
        "mobilization/campaigns.html",
        {"campaigns": publicity.campaign_list(user=request.user)[:200], "grids": grids, "targets": CampaignTarget},
    )


@login_required
@domain_errors
def campaign(request, pk):
    obj = publicity.campaign_get(user=request.user, pk=pk)
    return render(
        request,
        "mobilization/campaign.html",
        {
            "campaign": obj,
            "materials": obj.materials.order_by("created_at", "id"),
            "posts": publicity.campaign_posts(obj),
            "can_manage": allows(request.user, publicity.MANAGE, obj.grid.path),
            "kinds": MaterialKind,
            "channels": Channel,
            "offline": sorted(OFFLINE_CHANNELS),
            "now": timezone.localtime(),
        },
    )


@login_required
@require_POST
@domain_errors
def material_add(request, pk):
    obj = publicity.campaign_get(user=request.user, pk=pk, capability=publicity.MANAGE)
    back = reverse("mobilization:campaign", args=[obj.pk])
    try:
        publicity.material_add(
            campaign=obj,
            kind=request.POST.get("kind", ""),
            title=request.POST.get("title", ""),
            text=request.POST.get("text", ""),
            link=request.POST.get("link", ""),
            image=request.FILES.get("image"),
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("Material added."))
    return redirect(back)


@login_required
@require_POST
@domain_errors
def post_log(request, pk):
    obj = publicity.campaign_get(user=request.user, pk=pk, capability=publicity.MANAGE)
    back = reverse("mobilization:campaign", args=[obj.pk])
    try:
        done_at = None
        if request.POST.get("done_at"):
            try:
                done_at = dt.datetime.fromisoformat(request.POST["done_at"])
            except ValueError:
                raise DomainError(
                    "datetime_invalid", _("Give the time as YYYY-MM-DD HH:MM."), field="done_at"
                ) from None
            if timezone.is_naive(done_at):
                done_at = timezone.make_aware(done_at)
        publicity.post_log(
            campaign=obj,
            channel=request.POST.get("channel", ""),
            done_at=done_at,
            place=request.POST.get("place", ""),
            photo=request.FILES.get("photo"),
            link=request.POST.get("link", ""),
            note=request.POST.get("note", ""),
            principal=request.user,
        )
    except DomainError as exc:
        return refused_back(request, exc, back)
    messages.success(request, _("Logged."))
    return redirect(back)


@login_required
@domain_errors
def campaign_file(request, which, pk):
    if which not in ("material", "post"):
        raise Http404
    field = publicity.file_get(user=request.user, which=which, pk=pk)
    return photo_response(field, download_name=f"publicity-{which}-{pk}")
