"""One way to move a status: `move(obj, target, principal=...)`.

A model with a state machine declares, beside its `status` field:
- `TRANSITIONS`: {status: {statuses it may move to}} (from the app's choices.py);
- `STATUS_STAMPS`: {status: "timestamp field set when it is reached"} — the database ties each
  status to its stamp with a CheckConstraint, so a status without its time cannot be stored;
- `AUDIT_PREFIX`: the audit action's prefix ("control_order" → "control_order.released").

`move` locks the row, returns it as is when the target is already reached (retries are
harmless), refuses a move TRANSITIONS does not list, stamps the time, applies the other
fields the caller passes, and writes the audit record. Nothing else sets `status`.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import audit
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
):
    """Move `obj` to `target`; returns the locked, saved row."""
    model = type(obj)
    fields = dict(fields or {})
    with transaction.atomic():
        locked = model._base_manager.select_for_update().get(pk=obj.pk)
        if locked.status == target and not fields:
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
        audit.record(
            principal=principal,
            action=action or f"{model.AUDIT_PREFIX}.{target}",
            obj=locked,
            grid_path=locked.grid.path,
            changes=diff,
        )
    obj.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    return locked


def _label(model, status: str) -> str:
    choices = dict(model._meta.get_field("status").flatchoices)
    return str(choices.get(status, status))
