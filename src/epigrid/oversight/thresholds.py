"""The dashboard's thresholds (the red of the children table): a figure's alarm level, set on the
Rules page or through the API by those who set the rules, read by the dashboard."""

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit
from epigrid.core.capabilities import Capability
from epigrid.core.errors import DomainError
from epigrid.core.scoping import authorize

from . import rollup
from .models import Threshold

SET_THRESHOLDS = Capability.APPROVE_RELEASE  # as the other rules (risk areas, control periods)
# The figures of the dashboard's children table that may have one (not the derived completeness).
FIGURES = [
    "persons",
    "orders_home_quarantine",
    "orders_centralized_quarantine",
    "orders_health_monitoring",
    "key_persons_today",
    "fevers_today",
    "missed_today",
    "cases_confirmed",
    "tasks_overdue",
    "alerts_open",
]
MAX_VALUE = 10_000_000


def label(figure: str) -> str:
    return str(rollup.CURRENT_KEYS[figure].label)


def thresholds_current() -> dict[str, int]:
    """The figures that have a threshold, and its value (a figure absent has none)."""
    return dict(Threshold.objects.values_list("figure", "value"))


def thresholds_rows() -> list[dict]:
    """Every figure that may have a threshold, its label and its value (None: no threshold)."""
    current = thresholds_current()
    return [{"figure": f, "label": label(f), "value": current.get(f)} for f in FIGURES]


def _parse(figure: str, raw) -> int | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
    else:
        raise ValueError
    if not 0 <= value <= MAX_VALUE:
        raise ValueError
    return value


def thresholds_save(*, values: dict, principal) -> dict[str, int]:
    """Set the thresholds named in `values` ({figure: whole number, or None/"" for none}); the
    figures not named keep theirs. Every value is checked first: an unknown figure or a value that
    is not a whole number 0–10,000,000 refuses the whole change, naming them. Audited with the
    values before and after; a save that changes nothing writes nothing."""
    authorize(principal, SET_THRESHOLDS)
    unknown = [f for f in values if f not in FIGURES]
    if unknown:
        raise DomainError(
            "threshold_unknown",
            _("No such figure for a threshold: %(figures)s") % {"figures": ", ".join(sorted(unknown))},
            field=unknown[0],
        )
    wanted, bad = {}, []
    for figure, raw in values.items():
        try:
            wanted[figure] = _parse(figure, raw)
        except ValueError:
            bad.append(figure)
    if bad:
        raise DomainError(
            "threshold_invalid",
            _("Give a whole number (or leave blank) for: %(figures)s") % {"figures": "、".join(label(f) for f in bad)},
            field=bad[0],
        )
    with transaction.atomic():
        current = dict(Threshold.objects.select_for_update().values_list("figure", "value"))
        changes = {}
        for figure, value in wanted.items():
            if current.get(figure) == value:
                continue
            changes[figure] = [current.get(figure), value]
            if value is None:
                Threshold.objects.filter(figure=figure).delete()
            else:
                Threshold.objects.update_or_create(figure=figure, defaults={"value": value})
        if changes:
            audit.record(
                principal=principal,
                action="dashboard.thresholds",
                object_type="dashboard.threshold",
                changes=changes,
            )
    return thresholds_current()
