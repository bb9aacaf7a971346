from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "person.create": _("Registered"),
    "person.update": _("Details changed"),
    "person.archive": _("File archived"),
    "person.reveal": _("Full ID number or phone viewed"),
    "person.import": _("Imported from a ledger"),
    "household.create": _("Household registered"),
    "household.update": _("Household changed"),
    "household.import": _("Household imported from a ledger"),
}


class PeopleConfig(AppConfig):
    name = "epigrid.people"
    label = "people"
    verbose_name = _("people")
    # Contributions to lower apps (core.extensions): dotted paths, loaded on first use.
    extensions = {
        "action_labels": [
            "epigrid.people.apps.ACTION_LABELS",
        ],
    }
