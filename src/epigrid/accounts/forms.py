from django import forms
from django.utils.translation import gettext_lazy as _

from .choices import Duty, Role


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class AssignmentForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    duties = forms.MultipleChoiceField(
        label=_("Duties"), choices=Duty.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
