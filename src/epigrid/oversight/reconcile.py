"""Hand-offs that did not finish: find them, and complete them as the system.

Two sources: outbox messages not done in time (a worker was down, a handler failed), and the
hand-offs other apps declare as "reconcile_checks" (a confirmed case without its activation, an
order of a released epidemic point still open…). Cascades run inside the caller's transaction,
so these find nothing unless something went wrong (or data came from before the rule).
`epigrid reconcile` lists both and completes them; the coverage audit shows them as gaps.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from epigrid.core import audit, extensions, outbox
from epigrid.core.capabilities import Capability
from epigrid.core.scoping import SystemPrincipal

OUTBOX = "outbox"


@dataclass
class Unfinished:
    name: str
    label: str
    objects: list = field(default_factory=list)
    completed: int = 0
    errors: list[str] = field(default_factory=list)


def find_unfinished() -> list[Unfinished]:
    found = []
    late = list(outbox.pending(late_only=True)[:1000])
    if late:
        found.append(Unfinished(OUTBOX, str(_("Hand-off queued but not carried out")), late))
    for check in extensions.get("reconcile_checks"):
        rows = list(check.find().order_by("pk")[:1000])
        if rows:
            found.append(Unfinished(check.name, str(check.label), rows))
    return found


def reconcile(*, cause=None) -> list[Unfinished]:
    """Complete every unfinished hand-off, each in its own transaction (one that still fails
    leaves the others done), as `system:reconcile` for the operator who asked."""
    principal = SystemPrincipal("system:reconcile", Capability.values, on_behalf_of=cause)
    checks = {check.name: check for check in extensions.get("reconcile_checks")}
    found = find_unfinished()
    for unfinished in found:
        if unfinished.name == OUTBOX:
            unfinished.completed = outbox.drain(include_exhausted=True)
            still = outbox.pending().filter(pk__in=[m.pk for m in unfinished.objects])
            unfinished.errors = [f"{m.pk} {m.topic}: {m.last_error}" for m in still]
            continue
        check = checks[unfinished.name]
        for obj in unfinished.objects:
            try:
                with transaction.atomic():
                    check.complete(obj, principal)
                    audit.record(
                        principal=principal,
                        action="reconcile.complete",
                        obj=obj,
                        grid_path=obj.grid.path,
                        changes={"handoff": [None, check.name]},
                    )
            except Exception as exc:
                unfinished.errors.append(f"{obj.pk}: {type(exc).__name__}: {exc}")
            else:
                unfinished.completed += 1
    return found
