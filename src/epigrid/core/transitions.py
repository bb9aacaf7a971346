"""One way to move a status: `move(obj, target, principal=...)`.

A model with a state machine declares, beside its `status` field:
- `TRANSITIONS`: {status: {statuses it may move to}} (from the app's choices.py);
- `STATUS_STAMPS`: {status: "timestamp field set when it is reached"} — the database ties each
  status to its stamp with a CheckConstraint, so a status without its time cannot be stored;
- `AUDIT_PREFIX`: the audit action's prefix ("control_order" → "control_order.released");
- optionally `AUDIT_ALSO`: foreign keys whose objects get the record too (("person",): the move
  shows on the person's file, 一人一档);
- optionally `AFFECTS_HEALTH_CODE = True` when the status is a fact of the person's health code:
  the move tells the `person_facts_changed` extension point, in the same transaction.

`move` locks the row, returns it as is when the target is already reached (retries are
harmless), refuses a move TRANSITIONS does not list, stamps the time, applies the other
fields the caller passes, and writes the audit record. Nothing else sets `status`.
"""

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import audit, extensions
from .errors import DomainError


def _state(obj, names) -> dict:
    return {name: getattr(obj, name) for name in names}


def move(
    obj,
    target: str,
    *,
    principal,
    reason: str = "",
    at=None,
    fields: dict | None = None,
    changes: dict | None = None,
    action: str | None = None,
    refresh: bool = False,
    facts: bool = True,
):
    """Move `obj` to `target`; returns the locked, saved row. With `refresh`, a row already in a
    non-final `target` still takes `fields` (an order in force gets a new end date). `facts=False`:
    the caller tells `person_facts_changed` itself, once, after its other changes to the person."""
    model = type(obj)
    fields = dict(fields or {})
    with transaction.atomic():
        locked = model._base_manager.select_for_update().get(pk=obj.pk)
        # Already there: a retry changes nothing (and a final status keeps its fields for good).
        if locked.status == target and not (refresh and fields and model.TRANSITIONS.get(target)):
            return locked
        if locked.status != target and target not in model.TRANSITIONS.get(locked.status, ()):
            raise DomainError(
                f"{model.AUDIT_PREFIX}_transition",
                _("This cannot move from “%(status)s” to “%(target)s”."),
                params={"status": locked.get_status_display(), "target": _label(model, target)},
            )
        stamp = model.STATUS_STAMPS.get(target)
        names = ["status", *fields]
        if stamp:
            names.append(stamp)
        before = _state(locked, names)
        if locked.status != target and stamp and stamp not in fields:
            setattr(locked, stamp, at or timezone.now())
        locked.status = target
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save()
        diff = audit.diff(before, _state(locked, names))
        if reason:
            diff["reason"] = [None, reason[:500]]
        diff.update(changes or {})
        audit.record_many(
            principal=principal, entries=_entries(locked, action or f"{model.AUDIT_PREFIX}.{target}", diff)
        )
        if facts:
            _facts_changed(model, [locked])
    obj.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    return locked


def _facts_changed(model, rows) -> None:
    """A model whose status is a fact of the person's health code (AFFECTS_HEALTH_CODE) tells the
    app that stores those facts, in the same transaction."""
    if getattr(model, "AFFECTS_HEALTH_CODE", False):
        extensions.run("person_facts_changed", person_ids={row.person_id for row in rows})


def _entries(row, action: str, diff: dict) -> list:
    """The audit record of a move: on the row, and on each object named in AUDIT_ALSO."""
    model = type(row)
    entries = [
        audit.AuditEntry(
            action, model._meta.label_lower, str(row.pk), row.grid.path, diff, person_id=audit.person_of_object(row)
        )
    ]
    for name in getattr(model, "AUDIT_ALSO", ()):
        related = model._meta.get_field(name).related_model._meta.label_lower
        also = {model._meta.model_name: [None, row.pk], **diff}
        entries.append(audit.AuditEntry(action, related, str(getattr(row, f"{name}_id")), row.grid.path, also))
    return entries


def _label(model, status: str) -> str:
    choices = dict(model._meta.get_field("status").flatchoices)
    return str(choices.get(status, status))


def stamp_constraints(model_name: str, stamps: dict, *, only: bool = False) -> list:
    """The CheckConstraints that tie each status to its timestamp: a row in `status` has `stamp`
    set. With `only`, the stamp is set in that status and no other (where the timestamp was the
    status before the model had one, the two can never tell different stories)."""
    constraints = []
    for status, stamp in stamps.items():
        stamped = Q(**{f"{stamp}__isnull": False})
        condition = (
            (Q(status=status) & stamped) | (~Q(status=status) & ~stamped) if only else ~Q(status=status) | stamped
        )
        constraints.append(models.CheckConstraint(condition=condition, name=f"{model_name}_{status}_stamped"))
    return constraints


def move_many(queryset, target: str, *, principal, at=None, limit: int = 20000) -> list:
    """The set-based form of `move` for sweeps: every row of `queryset` that may move to
    `target` does, in one UPDATE, stamped and audited in one append. Returns the moved rows."""
    model = queryset.model
    sources = [status for status, targets in model.TRANSITIONS.items() if target in targets]
    stamp = model.STATUS_STAMPS.get(target)
    at = at or timezone.now()
    with transaction.atomic():
        rows = list(queryset.filter(status__in=sources).select_for_update().select_related("grid")[:limit])
        if not rows:
            return []
        values = {"status": target, **({stamp: at} if stamp else {})}
        model._base_manager.filter(pk__in=[r.pk for r in rows]).update(**values)
        action = f"{model.AUDIT_PREFIX}.{target}"
        entries = []
        for row in rows:
            entries += _entries(row, action, {"status": [row.status, target]})
            row.status = target
        audit.record_many(principal=principal, entries=entries)
        _facts_changed(model, rows)
    return rows
