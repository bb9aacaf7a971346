from django import forms
from django.utils.translation import gettext_lazy as _

from .choices import ExposureDegree, Setting


class TaskDoneForm(forms.Form):
    note = forms.CharField(label=_("What was done"), max_length=500, required=False)
    count = forms.IntegerField(label=_("Count"), min_value=0, required=False)
    photo = forms.FileField(label=_("Photo"), required=False)

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        # A phone photo: a JPEG/PNG/WebP/HEIC image of at most 10 MB (checked by its first bytes).
        if photo:
            head = photo.read(12)
            photo.seek(0)
            image = head.startswith((b"\xff\xd8\xff", b"\x89PNG")) or head[8:12] in (b"WEBP", b"heic", b"heix")
            if not image or photo.size > 10 * 1024 * 1024:
                raise forms.ValidationError(_("Upload a photo (JPEG, PNG, WebP or HEIC, at most 10 MB)."))
        return photo


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
        self.fields["source"].choices = [(c.person_id, c.person.name) for c in cases]


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
    steps = forms.CharField(
        label=_("Steps, one a line: title | role | hours | evidence (note, photo, count)"),
        widget=forms.Textarea(attrs={"rows": 12}),
    )
