"""The service rule language, in the words the offices use:

    每日 09:00            every day at 09:00
    每日 08:00、16:00     twice a day (每日2次消杀)
    每周二、四、六 08:00   Tuesdays, Thursdays and Saturdays (garbage pickup)

Times are Asia/Shanghai; occurrences are computed day by day in local time.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from epigrid.core.errors import DomainError

WEEKDAYS = "一二三四五六日"  # Monday first, as date.isoweekday() - 1
_RULE = re.compile(
    r"^每(日|周([一二三四五六日](?:[、,，][一二三四五六日])*))\s*(\d{1,2}:\d{2}(?:\s*[、,，]\s*\d{1,2}:\d{2})*)$"
)


@dataclass(frozen=True)
class Rule:
    weekdays: frozenset[int]  # 1..7 (isoweekday)
    times: tuple[dt.time, ...]

    def text(self) -> str:
        times = "、".join(t.strftime("%H:%M") for t in self.times)
        if len(self.weekdays) == 7:
            return f"每日 {times}"
        return "每周" + "、".join(WEEKDAYS[d - 1] for d in sorted(self.weekdays)) + f" {times}"


def parse_rule(text: str) -> Rule:
    match = _RULE.match((text or "").strip())
    if not match:
        raise DomainError(
            "rule_invalid",
            _("Write the rule like 每日 09:00, 每日 08:00、16:00 or 每周二、四、六 08:00."),
            field="rule",
        )
    days = match.group(2)
    weekdays = (
        frozenset(range(1, 8)) if days is None else frozenset(WEEKDAYS.index(c) + 1 for c in days if c in WEEKDAYS)
    )
    try:
        times = tuple(sorted({dt.time.fromisoformat(t.strip().zfill(5)) for t in re.split(r"[、,，]", match.group(3))}))
    except ValueError:
        raise DomainError("rule_time", _("A time is between 00:00 and 23:59."), field="rule") from None
    return Rule(weekdays=weekdays, times=times)


def occurrences(rule: Rule, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every moment of the rule in [start, end), aware datetimes."""
    out = []
    day = timezone.localtime(start).date()
    last = timezone.localtime(end).date()
    while day <= last:
        if day.isoweekday() in rule.weekdays:
            for time in rule.times:
                moment = timezone.make_aware(dt.datetime.combine(day, time))
                if start <= moment < end:
                    out.append(moment)
        day += dt.timedelta(days=1)
    return out
