"""Reads of the gates app that other apps show (through core.extensions)."""

from django.utils.translation import gettext_lazy as _

from epigrid.control.choices import OPEN_ORDER_STATUSES, OrderKind
from epigrid.control.models import ControlOrder

from .models import HouseholdPass


def consequences(action: str, obj) -> list[str]:
    """ "consequences": after an order's release, whether the household's pass opens the gate
    again (the gate refuses a household with a member under home quarantine)."""
    if action != "order_release" or obj.kind != OrderKind.HOME_QUARANTINE:
        return []
    household = obj.person.household
    if household is None:
        return []
    others = ControlOrder.objects.filter(
        person__household=household, status__in=OPEN_ORDER_STATUSES, kind=OrderKind.HOME_QUARANTINE
    ).exclude(pk=obj.pk)
    if others.exists():
        return []
    return [
        _("%(address)s is no longer refused at the gate for home quarantine (an epidemic point still closes it).")
        % {"address": household.address}
    ]


def households_by_pass_number(q: str):
    """The households whose pass carries this number (the people lists' search, where a pass
    number is as good as an address). Only ids: the caller's list is already restricted."""
    return HouseholdPass.objects.filter(number=q.strip()).values("household_id")
