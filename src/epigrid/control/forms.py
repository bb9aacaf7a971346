from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.core.validators import PROVINCE_CODES, region_name

from .choices import OrderKind, OrderReason, TeamRole, TravelMode


def _now_local():
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


class TipForm(forms.Form):
    origin_code = forms.CharField(
        label=_("Coming from (region code)"),
        max_length=6,
        help_text=_("6 digits, e.g. 420600 for 湖北省襄阳市"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "list": "risk-areas"}),
    )
    travel_mode = forms.ChoiceField(label=_("Travel"), choices=TravelMode.choices)
    expected_arrival_at = forms.DateTimeField(
        label=_("Expected arrival"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reported_at = forms.DateTimeField(
        label=_("Reported at"), initial=_now_local, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reporter = forms.CharField(label=_("Reported by"), max_length=100)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)
    # Someone not registered yet (a relative arriving): registered into the household with the tip.
    new_name = forms.CharField(label=_("New person: name"), max_length=50, required=False)
    new_id_number = forms.CharField(label=_("New person: ID number"), max_length=18, required=False)
    new_phone = forms.CharField(label=_("New person: phone"), max_length=20, required=False)


class OrderForm(forms.Form):
    kind = forms.ChoiceField(label=_("Measure"), choices=OrderKind.choices)
    reason = forms.ChoiceField(label=_("Reason"), choices=OrderReason.choices)
    starts_at = forms.DateTimeField(
        label=_("Starts"), initial=_now_local, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    last_exposure_at = forms.DateTimeField(
        label=_("Last exposure"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    site = forms.CharField(label=_("Site or hospital"), max_length=100, required=False)
    transport = forms.CharField(label=_("Transport"), max_length=100, required=False)
    whole_household = forms.BooleanField(label=_("The whole household"), required=False)


class PeriodForm(forms.Form):
    days = forms.IntegerField(label=_("Days"), min_value=1, max_value=365)
    reason = forms.CharField(label=_("Why"), max_length=200)


class TransferForm(forms.Form):
    kind = forms.ChoiceField(label=_("New measure"), choices=OrderKind.choices)
    reason = forms.ChoiceField(label=_("Reason"), choices=OrderReason.choices)
    site = forms.CharField(label=_("Site or hospital"), max_length=100, required=False)
    transport = forms.CharField(
        label=_("Transport"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "120负压救护车"}),
    )


class ReleaseForm(forms.Form):
    early_reason = forms.CharField(label=_("Reason for an early release"), max_length=200, required=False)


class TeamMemberForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=TeamRole.choices)


def _provinces():
    return [("", "——")] + [(f"{code}0000", region_name(f"{code}0000")) for code in sorted(PROVINCE_CODES)]


class SelfRegistrationForm(forms.Form):
    """返乡申报: what an arriving resident fills in from the poster's QR (no account)."""

    name = forms.CharField(label=_("Name"), max_length=50, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=18,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "text", "spellcheck": "false"}),
    )
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    origin_code = forms.ChoiceField(label=_("Coming from (province)"), choices=_provinces)
    origin_detail = forms.CharField(
        label=_("City and county"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "如：襄阳市襄城区"}),
    )
    travel_mode = forms.ChoiceField(label=_("Travel"), choices=TravelMode.choices)
    arrival_date = forms.DateField(
        label=_("Arrival date"),
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    address = forms.CharField(
        label=_("Building and room"),
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "如：1号楼2单元301"}),
    )
