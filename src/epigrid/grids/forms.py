from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .choices import PlaceKind


class PlaceForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("place", "Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=PlaceKind.choices)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    thematic_grid = forms.ChoiceField(label=_("Thematic grid"), required=False)
    credit_code = forms.CharField(label=_("Unified social credit code"), max_length=18, required=False)
    contact_name = forms.CharField(label=_("Contact person"), max_length=50, required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=20, required=False)

    def __init__(self, *args, thematic_grids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["thematic_grid"].choices = [("", "—"), *[(g.code, g.name) for g in thematic_grids]]
