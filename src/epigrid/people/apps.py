from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "person.create": _("Registered"),
    "person.update": _("Details changed"),
    "person.archive": _("File archived"),
    "person.reveal": _("Full ID number or phone viewed"),
    "person.import": _("Imported from a ledger"),
    "person.search_reveal": _("Found by a full ID number or phone"),
    "person.search_throttled": _("Too many searches by ID number or phone"),
    "person.duplicate": _("ID number confirmed by a refused registration"),
    "person.duplicate_outside_scope": _("ID number registered outside the area refused"),
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
        "job_kinds": [
            "epigrid.people.ledgers.IMPORT_JOB_KIND",
            "epigrid.people.ledgers.EXPORT_JOB_KIND",
        ],
        "ledger_exports": ["epigrid.people.ledgers.LEDGER_EXPORTS"],
    }
