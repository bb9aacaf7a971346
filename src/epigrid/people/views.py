from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l
from django.utils.translation import pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from epigrid.accounts.models import GridAssignment
from epigrid.core import access, jobs, lists
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError, Forbidden, NotFound, Throttled
from epigrid.core.scoping import allows
from epigrid.core.tabular import read_upload
from epigrid.core.views import domain_errors, form_error
from epigrid.core.xlsx import xlsx_response
from epigrid.grids.selectors import grid_choices, grid_node_get

from . import ledgers, selectors, services
from .forms import ArchiveForm, ExactSearchForm, HouseholdForm, ImportForm, PersonForm

# A page that writes loads its object with the right the write needs: outside the user's area
# 404, inside it without the right 403 (core.scoping).
EDIT = Capability.EDIT_PEOPLE


PERSON_COLUMNS = [
    lists.Column("name", _l("Name"), ("name_pinyin", "name")),
    lists.Column("birth_year", _l("Birth year"), ("birth_year",)),
    lists.Column("grid", _l("Grid"), ("grid__path",)),
    lists.Column("registered", pgettext_lazy("list", "Registered"), ("created_at",)),
]
HOUSEHOLD_COLUMNS = [
    lists.Column("address", _l("Address"), ("address",)),
    lists.Column("number", _l("Household number"), ("number",)),
    lists.Column("grid", _l("Grid"), ("grid__path",)),
    lists.Column("registered", pgettext_lazy("list", "Registered"), ("created_at",)),
]
FILTERS = ("q", "grid", "status", "from", "to")


def _list_context(request, grid) -> dict:
    return {
        "grid": grid,
        "q": "",
        "grids": grid_choices(user=request.user),
        # The exact search (full ID number or phone) is offered where the user may unmask.
        "can_search_exact": allows(request.user, Capability.UNMASK_PII, grid.path if grid else None),
    }


def _list_grid(request):
    code = request.GET.get("grid", "")
    return grid_node_get(user=request.user, code=code) if code else None


def _as_rows(page):
    page.object_list = selectors.person_rows(page.object_list)
    return page


@login_required
@domain_errors
def person_list(request):
    """人员: search in one box, filters (grid, status, registered between), a sort by column,
    the total and numbered pages; rows only of the user's area (`selectors.person_list`)."""
    q = request.GET.get("q", "").strip()
    grid = _list_grid(request)
    status = request.GET.get("status", "")
    context = _list_context(request, grid)
    context.update(
        status=status, statuses=[("", _("Current")), ("archived", _("Archived"))], filtered=False, sort_links=[]
    )
    try:
        persons = selectors.person_list(
            user=request.user, q=q, grid_path=grid.path if grid else "", include_archived=status == "archived"
        )
    except DomainError as exc:
        if exc.code != "exact_search_needs_post":
            raise
        # A full number in the address: not searched, and not shown back (nor in the form).
        context.update(page=[], search_error=exc.render(), next_path=request.path)
        return render(request, "people/person_list.html", context, status=exc.status)
    if status == "archived":
        persons = persons.filter(archived_at__isnull=False)
    dates, shown = lists.date_range(request, "created_at")
    sort, order = lists.sort_order(request, PERSON_COLUMNS, default="grid")
    context.update(
        page=_as_rows(lists.numbered_page(request, persons.filter(**dates).order_by(*order))),
        q=q,
        dates=shown,
        sort_links=lists.sort_links(request, PERSON_COLUMNS, sort),
        filtered=lists.filters_active(request, FILTERS),
    )
    return render(request, "people/person_list.html", context)


@login_required
@domain_errors
def household_list(request):
    """户: found by address, household number or pass number; the same filters, sort and pages
    as the persons list."""
    q = request.GET.get("q", "").strip()
    grid = _list_grid(request)
    households = selectors.household_list(user=request.user, grid_path=grid.path if grid else "", q=q)
    dates, shown = lists.date_range(request, "created_at")
    sort, order = lists.sort_order(request, HOUSEHOLD_COLUMNS, default="grid")
    return render(
        request,
        "people/household_list.html",
        {
            "grid": grid,
            "grids": grid_choices(user=request.user),
            "q": q,
            "dates": shown,
            "page": lists.numbered_page(request, households.filter(**dates).order_by(*order)),
            "sort_links": lists.sort_links(request, HOUSEHOLD_COLUMNS, sort),
            "filtered": lists.filters_active(request, FILTERS),
        },
    )


@login_required
@require_POST
@never_cache
@domain_errors
def person_search(request):
    """The exact search: a full ID number or phone, sent in the form's body (never in a URL),
    for users who may unmask (people.services.person_search_exact: audited, throttled)."""
    code = request.POST.get("grid", "")
    grid = grid_node_get(user=request.user, code=code) if code else None
    # The language switch goes back to the list, not to this POST-only address.
    context = {**_list_context(request, grid), "exact": True, "page": [], "next_path": reverse("people:persons")}
    form = ExactSearchForm(request.POST)
    value = form.cleaned_data["key"] if form.is_valid() else ""
    kind = selectors.exact_key_kind(value)
    try:
        if kind is None:
            raise DomainError(
                "search_key_required", _("Enter a full ID number (18 characters) or phone number."), field="key"
            )
        found = services.person_search_exact(
            principal=request.user, grid_path=grid.path if grid else "", **{kind: value}
        )
    except (NotFound, Forbidden):
        raise
    except DomainError as exc:
        context["search_error"] = exc.render()
        return render(request, "people/person_list.html", context, status=exc.status)
    context.update(page=found, found_count=len(found))
    return render(request, "people/person_list.html", context)


@login_required
@domain_errors
def person_detail(request, pk):
    person = selectors.person_get(user=request.user, pk=pk)
    access.log_read(request, "person.read", person, person.grid.path)
    # Roles: the person's place in the household, and any staff roles if they also work a grid.
    staff_roles = (
        GridAssignment.objects.restrict(request.user).active().filter(user__person=person).select_related("node")
    )
    return render(
        request,
        "people/person_detail.html",
        {
            "person": person,
            "timeline": selectors.person_timeline(person=person),
            "household_members": selectors.person_list(user=request.user, household_id=person.household_id)
            if person.household_id
            else [],
            # An erased person has nothing left to reveal (person_reveal answers 409).
            "can_unmask": not person.erased_at and allows(request.user, Capability.UNMASK_PII, person.grid.path),
            "can_edit": allows(request.user, Capability.EDIT_PEOPLE, person.grid.path),
            "staff_roles": staff_roles,
            "panels": selectors.panels("person_panels", request, person),
            "summaries": selectors.panels("person_summaries", request, person),
            # Who opened this file: for those who may read the access log here (inspectors).
            "reads": access.access_list(user=request.user, object_type="people.person", object_id=person.pk)[:20]
            if allows(request.user, Capability.VIEW_AUDIT, person.grid.path)
            else None,
        },
    )


@login_required
@require_POST
@domain_errors
def person_reveal(request, pk, field):
    person = selectors.person_get(user=request.user, pk=pk, capability=Capability.UNMASK_PII)
    value = services.person_reveal(person=person, field=field, principal=request.user)
    return render(request, "people/_revealed.html", {"value": value, "field": field})


def _save_person(request, form, *, person=None, household=None, grid=None):
    data = form.cleaned_data
    if person is None:
        return services.person_create(
            name=data["name"],
            id_number=data["id_number"],
            phone=data["phone"],
            household=household,
            grid=grid,
            relationship=data["relationship"],
            note=data["note"],
            principal=request.user,
        )
    changes = {"name": data["name"], "phone": data["phone"], "relationship": data["relationship"], "note": data["note"]}
    if data["id_number"]:
        changes["id_number"] = data["id_number"]
    return services.person_update(person=person, principal=request.user, **changes)


@login_required
@domain_errors
def person_create(request):
    household = (
        selectors.household_get(user=request.user, pk=request.GET["household"], capability=EDIT)
        if request.GET.get("household", "").isdigit()
        else None
    )
    grid = (
        grid_node_get(user=request.user, code=request.GET["grid"], capability=EDIT) if request.GET.get("grid") else None
    )
    if household is None and grid is None:
        raise DomainError("grid_required", _("Open a household or a grid first, then add the person there."))
    form = PersonForm(request.POST or None)
    form.fields["id_number"].required = True
    form.fields["id_number"].help_text = ""
    context = {"form": form, "household": household, "grid": grid}
    if request.method == "POST" and form.is_valid():
        try:
            person = _save_person(request, form, household=household, grid=grid)
        except DomainError as exc:
            _refused(form, exc, context)
        else:
            messages.success(request, _("Person registered."))
            return redirect("people:person", pk=person.pk)
    status = context.pop("status", 400 if form.errors else 200)
    return render(request, "people/person_form.html", context, status=status)


def _refused(form, exc: DomainError, context: dict) -> None:
    """A refused save on the person form: the message by its field; an ID number already
    registered in the user's area links to that file; a throttle answers 429."""
    form_error(form, exc)
    context["status"] = exc.status if isinstance(exc, Throttled) else 400
    if isinstance(exc, services.RegisteredInScope):
        context["duplicate_person_id"] = exc.person_id


@login_required
@domain_errors
def person_edit(request, pk):
    person = selectors.person_get(user=request.user, pk=pk, capability=EDIT)
    initial = {"name": person.name, "relationship": person.relationship, "note": person.note}
    form = PersonForm(request.POST or None, initial=initial)
    context = {"form": form, "person": person}
    if request.method == "POST" and form.is_valid():
        try:
            _save_person(request, form, person=person)
        except DomainError as exc:
            _refused(form, exc, context)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("people:person", pk=person.pk)
    status = context.pop("status", 400 if form.errors else 200)
    return render(request, "people/person_form.html", context, status=status)


@login_required
@domain_errors
def household_detail(request, pk):
    household = selectors.household_get(user=request.user, pk=pk)
    access.log_read(request, "household.read", household, household.grid.path)
    return render(
        request,
        "people/household_detail.html",
        {
            "household": household,
            "members": selectors.person_list(user=request.user, household_id=household.pk),
            "can_edit": allows(request.user, Capability.EDIT_PEOPLE, household.grid.path),
            "panels": selectors.panels("household_panels", request, household),
        },
    )


@login_required
@domain_errors
def ledger_import(request):
    """Upload a ledger: the file is checked (type, size, the right to import) and queued as a
    background job; its page follows the rows and shows the report (core.job_views)."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = ledgers.ledger_import_start(
                data=read_upload(upload), file_name=upload.name, kind=form.cleaned_data["kind"], principal=request.user
            )
        except DomainError as exc:
            form_error(form, exc)
            return render(request, "people/import.html", _import_context(request, form), status=exc.status)
        return redirect(job.get_absolute_url())
    return render(request, "people/import.html", _import_context(request, form), status=400 if form.errors else 200)


def _import_context(request, form) -> dict:
    recent = jobs.job_list(user=request.user, mine=True).filter(kind=ledgers.IMPORT_JOB)[:5]
    return {"form": form, "recent_jobs": recent}


@login_required
@domain_errors
def ledger_export(request, kind):
    node = grid_node_get(user=request.user, code=request.GET.get("grid", ""), capability=Capability.IMPORT_EXPORT)
    out, name = ledgers.ledger_export(kind=kind, node=node, principal=request.user)
    return xlsx_response(out, name)


@login_required
@require_POST
@domain_errors
def ledger_export_job(request, kind):
    """Export a ledger in the background (a large subtree): the job's page follows it and offers
    the file when it is written."""
    if kind not in ledgers.COLUMNS:  # the residents' and places' ledgers: the others start from their own pages
        raise DomainError("import_kind", _("Unknown ledger kind."), field="kind")
    node = grid_node_get(user=request.user, code=request.POST.get("grid", ""), capability=Capability.IMPORT_EXPORT)
    job = ledgers.ledger_export_start(kind=kind, node=node, principal=request.user)
    return redirect(job.get_absolute_url())


@login_required
@domain_errors
def household_create(request):
    grid = grid_node_get(user=request.user, code=request.GET.get("grid", ""), capability=EDIT)
    form = HouseholdForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            household = services.household_create(grid=grid, principal=request.user, **form.cleaned_data)
        except DomainError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Household registered."))
            return redirect("people:household", pk=household.pk)
    return render(
        request, "people/household_form.html", {"form": form, "grid": grid}, status=400 if form.errors else 200
    )


@login_required
@require_POST
@domain_errors
def person_archive(request, pk):
    person = selectors.person_get(user=request.user, pk=pk, capability=EDIT)
    form = ArchiveForm(request.POST)
    if not form.is_valid():
        raise DomainError("reason_required", _("Give the reason."), field="reason")
    services.person_archive(person=person, reason=form.cleaned_data["reason"], principal=request.user)
    messages.success(request, _("File archived."))
    return redirect("people:person", pk=person.pk)
