from django import forms
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role

from .choices import Evidence, ExposureDegree, Setting


class TaskDoneForm(forms.Form):
    note = forms.CharField(label=_("What was done"), max_length=500, required=False)
    count = forms.IntegerField(label=_("Count"), min_value=0, required=False)
    # Checked, re-encoded and stored by the service (core/uploads.py verified_photo).
    photo = forms.FileField(label=_("Photo"), required=False)


class ExposureForm(forms.Form):
    source = forms.ChoiceField(label=_("Exposed to (case)"))
    contact = forms.CharField(label=_("Contact: ID number, phone or name"), max_length=50)
    last_exposure_at = forms.DateTimeField(
        label=_("Last exposure"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    degree = forms.ChoiceField(label=_("Degree"), choices=ExposureDegree.choices)
    setting = forms.ChoiceField(label=_("Setting"), choices=Setting.choices)
    place = forms.CharField(label=_("Where"), max_length=100, required=False)

    def __init__(self, *args, cases=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [(c.person_id, c.name) for c in cases]


class PointForm(forms.Form):
    last_case_left_at = forms.DateTimeField(
        label=_("Last case left"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    disinfected_at = forms.DateTimeField(
        label=_("Terminal disinfection done"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class PlanForm(forms.Form):
    name = forms.CharField(label=_("Plan name"), max_length=100)


class PlanStepForm(forms.Form):
    """One step of the plan: what, who, within how many hours, with what evidence."""

    title = forms.CharField(label=_("Step"), max_length=100)
    responsible_role = forms.ChoiceField(label=_("Responsible role"), choices=Role.choices)
    deadline_hours = forms.IntegerField(label=_("Deadline (hours)"), min_value=1, max_value=24 * 30)
    evidence = forms.ChoiceField(label=_("Evidence"), choices=Evidence.choices, initial=Evidence.NOTE)


# One row per step, three empty rows for new ones; a row is removed with its box, reordered by
# its number (Django's formset ORDER and DELETE fields).
PlanStepFormSet = forms.formset_factory(
    PlanStepForm, extra=3, can_delete=True, can_order=True, min_num=1, validate_min=True, max_num=60
)
