from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .choices import Conclusion, StaffContactKind


class TemperatureForm(forms.Form):
    # Text, not a number input: the service refuses "36,5" with a clear message instead of the
    # browser silently dropping it.
    value = forms.CharField(
        label=_("Temperature (°C)"),
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "36.5", "autocomplete": "off"}),
    )


class ResidentTemperatureForm(TemperatureForm):
    # Set by the confirm step: the resident confirms a reading that jumps from the one before.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class TestListForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("list", "Name"), max_length=100)
    test_date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    selection = forms.ChoiceField(
        label=_("Who"),
        choices=[("under_control", _("People under control in this grid")), ("grid", _("Everyone in this grid"))],
    )


class SampleForm(forms.Form):
    specimen_number = forms.CharField(label=_("Specimen number"), max_length=40)


class ResultsImportForm(forms.Form):
    file = forms.FileField(label=_("Results file (.xlsx): 样本编号, 检测结果, 报告时间, 检测机构"))


class ConsultationForm(forms.Form):
    held_at = forms.DateTimeField(label=_("Held at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    experts = forms.CharField(label=_("Experts"), max_length=200)
    # No default: a confirmation starts the emergency plan, so the experts' conclusion is picked.
    conclusion = forms.ChoiceField(
        label=_("Conclusion"), choices=[("", _("— choose the conclusion —")), *Conclusion.choices]
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class StaffContactForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=StaffContactKind.choices)
    # Empty: now. A datetime-local field gives local (Asia/Shanghai) time.
    at = forms.DateTimeField(
        label=_("When"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)
