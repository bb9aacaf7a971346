"""The person file's timeline in the reader's language: each entry keeps its machine-readable
`kind` and gains a `text` ("由 网格员李刚 登记；电话：138****0001 → 139****0002"). Actors are named by
their display name and role, personal values only by their masks, unknown actions and fields by a
generic label, never by a raw code. Other apps name their fields' values through "timeline_values"."""

from functools import cache

from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from epigrid.accounts.choices import Role
from epigrid.accounts.models import GridAssignment, User
from epigrid.core import extensions
from epigrid.core.audit import REDACTED
from epigrid.core.labels import action_label
from epigrid.core.shred import ERASED
from epigrid.grids.models import GridNode

from .choices import Relationship

# The fields a reader cares about, by label; other fields (ids, timestamps) are left out.
FIELD_LABELS = {
    "name": _("Person's name"),
    "phone": _("Phone"),
    "id_number": _("ID number"),
    "birth_date": _("Birth date"),
    "relationship": _("Relationship"),
    "grid": _("Grid"),
    "note": _("Note"),
    "address": _("Address"),
    "number": _("Household number"),
    "user": _("Staff member"),
    "role": _("Role"),
    "kind": _("Measure"),
    "status": _("Status"),
    "origin": _("Coming from"),
    "value": _("Temperature"),
    "reason": _("Reason"),
    "result": _("Result"),
    "ends_at": _("Ends"),
}
# Personal values shown as masks only (the services audit masks, older rows "[redacted]").
MASKED = {"phone", "id_number", "birth_date"}


@cache
def _value_labels() -> dict:
    merged = {"relationship": dict(Relationship.choices), "role": dict(Role.choices)}
    for contribution in extensions.get("timeline_values"):
        for field, labels in contribution.items():
            merged.setdefault(field, {}).update(labels)
    return merged


def _actors(labels: set[str]) -> dict[str, str]:
    """username → "网格员李刚" (role label + display name); system principals → "系统"."""
    users = {u.username: u for u in User.objects.filter(username__in=labels)}
    roles: dict[int, str] = {}
    for a in GridAssignment.objects.filter(user__in=users.values(), ended_at__isnull=True).order_by("id"):
        roles.setdefault(a.user_id, a.get_role_display())
    out = {}
    for label in labels:
        user = users.get(label)
        if user is not None:
            out[label] = f"{roles.get(user.pk, '')}{user}"
        elif label.startswith("system:"):
            out[label] = _t("the system")
        else:
            out[label] = label
    return out


def _value(field: str, value, actors: dict) -> str:
    if value is None or value == "":
        return "—"
    if value == ERASED:  # sealed with the key of a person since erased
        return _t("(erased)")
    if field in MASKED:
        return _t("(hidden)") if value == REDACTED else str(value)
    if field == "user":
        return actors.get(str(value), str(value))
    if field == "grid":
        return actors.get(f"grid:{value}", str(value))
    label = _value_labels().get(field, {}).get(value)
    if label is not None:
        return str(label)
    if isinstance(value, bool):
        return _t("yes") if value else _t("no")
    return str(value)


def describe_changes(changes: dict, actors: dict) -> str:
    parts = []
    for field, pair in (changes or {}).items():
        label = FIELD_LABELS.get(field)
        if label is None or not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        old, new = pair
        if field in MASKED and old == REDACTED and new == REDACTED:
            parts.append(_t("%(field)s changed") % {"field": label})
        elif old is None:
            parts.append(f"{label}：{_value(field, new, actors)}")
        else:
            parts.append(f"{label}：{_value(field, old, actors)} → {_value(field, new, actors)}")
    return "；".join(parts)


def describe(entry: dict, actors: dict) -> str:
    """One sentence for one timeline entry (an entry may bring its own `text`)."""
    if entry.get("text"):
        return entry["text"]
    label = action_label(entry["kind"])
    if label == entry["kind"]:  # an action no app names
        label = _t("Other change")
    actor = actors.get(entry.get("actor") or "", entry.get("actor") or "")
    text = _t("%(action)s by %(actor)s") % {"action": label, "actor": actor} if actor else str(label)
    details = describe_changes(entry.get("changes") or {}, actors)
    return f"{text}；{details}" if details else text


def with_texts(entries: list[dict]) -> list[dict]:
    """The entries with their `text` (one query for every actor named)."""
    names = {e.get("actor") or "" for e in entries}
    for e in entries:
        pair = (e.get("changes") or {}).get("user")
        if isinstance(pair, list | tuple):
            names.update(str(v) for v in pair if v)
    actors = _actors(names - {""})
    # Grids by their names, not their codes.
    codes = {str(v) for e in entries for v in ((e.get("changes") or {}).get("grid") or ()) if v}
    actors.update(
        {f"grid:{code}": name for code, name in GridNode.objects.filter(code__in=codes).values_list("code", "name")}
    )
    for e in entries:
        e["text"] = describe(e, actors)
    return entries
