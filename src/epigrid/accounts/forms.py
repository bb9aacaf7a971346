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


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Verification code"),
        max_length=20,
        help_text=_("The 6-digit code your authenticator app shows now, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "spellcheck": "false"}
        ),
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    new_password = forms.CharField(
        label=_("New password"),
        help_text=_("At least 10 characters; not a common password, not only digits, not like your name."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label=_("New password again"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if data.get("new_password") and data.get("new_password") != data.get("new_password2"):
            self.add_error("new_password2", _("The two passwords differ."))
        return data


class PasswordSetForm(PasswordChangeForm):
    old_password = None


class UserCreateForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    full_name = forms.CharField(label=_("Full name"), max_length=50)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    grid = forms.CharField(label=_("Grid code"), max_length=32)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    duties = forms.MultipleChoiceField(
        label=_("Duties"), choices=Duty.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        help_text=_("Leave empty to get a one-time link instead, for the person to set their own."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class UserAssignForm(forms.Form):
    grid = forms.CharField(label=_("Grid code"), max_length=32)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    duties = forms.MultipleChoiceField(
        label=_("Duties"), choices=Duty.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
