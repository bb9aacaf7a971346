from django import forms
from django.utils.translation import gettext_lazy as _

from epigrid.core.models import ImportKind

from .choices import Relationship


class PersonForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=18,
        required=False,
        help_text=_("18 characters; leave empty to keep the current one."),
    )
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    relationship = forms.ChoiceField(
        label=_("Relationship to head"), choices=[("", "—"), *Relationship.choices], required=False
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class ExactSearchForm(forms.Form):
    """A full ID number or phone: posted, never put in a URL (people.views.person_search)."""

    key = forms.CharField(
        label=_("Full ID number or phone"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("Ledger"), choices=ImportKind.choices)
    file = forms.FileField(label=_("File (.xlsx or .csv)"))


class HouseholdForm(forms.Form):
    number = forms.CharField(label=_("Household number"), max_length=32, help_text=_("e.g. 1-301 (unit-room)"))
    address = forms.CharField(label=_("Address"), max_length=200)


class ArchiveForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)
