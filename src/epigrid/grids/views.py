from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.core.views import domain_errors, form_error

from . import selectors, services
from .choices import GridLevel
from .forms import PlaceForm
from .models import GridNode


@login_required
@domain_errors
def place(request, pk):
    # The page shows an archived place too (its history); the API lists current places only.
    obj = selectors.place_get(user=request.user, pk=pk, archived=True)
    return render(request, "grids/place.html", {"place": obj})


@login_required
@domain_errors
def place_create(request, code):
    node = selectors.grid_node_get(user=request.user, code=code, capability=Capability.EDIT_PEOPLE)
    thematic = GridNode.objects.restrict(request.user).filter(level=GridLevel.THEMATIC)
    form = PlaceForm(request.POST or None, thematic_grids=thematic)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        code_t = data.pop("thematic_grid")
        try:
            place = services.place_create(
                grid=node,
                thematic_grid=selectors.grid_node_get(user=request.user, code=code_t) if code_t else None,
                principal=request.user,
                **data,
            )
        except DomainError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Place registered."))
            return redirect("grids:place", pk=place.pk)
    return render(request, "grids/place_form.html", {"form": form, "node": node}, status=400 if form.errors else 200)
