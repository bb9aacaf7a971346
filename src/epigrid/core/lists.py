"""What the daily list pages share: a whitelisted sort by column, a date range, numbered pages
with a total (issue 11 "Lists"). The rows come restricted (`.restrict(user)`) from the app's
selector; this module only orders, filters by date and cuts them into pages."""

import datetime as dt
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.dateparse import parse_date

PER_PAGE = 50


@dataclass(frozen=True)
class Column:
    key: str  # the value of ?sort=
    label: object
    fields: tuple  # the ORDER BY fields of the ascending sort ("-severity": urgent first)


def sort_order(request, columns: list[Column], default: str) -> tuple[str, list[str]]:
    """The sort asked for (`?sort=name` or `-name`) when it is one of `columns`, else `default`;
    and its ORDER BY, with the id last so that equal values keep one order across pages."""
    asked = request.GET.get("sort", "")
    by_key = {c.key: c for c in columns}
    if asked.lstrip("-") not in by_key:
        asked = default
    column = by_key[asked.lstrip("-")]
    fields = [*column.fields, "id"]
    if asked.startswith("-"):
        fields = [f[1:] if f.startswith("-") else f"-{f}" for f in fields]
    return asked, fields


def _query(request, **changes) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value:
            params[key] = value
    return "?" + params.urlencode() if params else "?"


def sort_links(request, columns: list[Column], current: str) -> list[dict]:
    """The column headers: each a link that sorts by it (again: the other way), the current one
    with ▲ (ascending) or ▼; the page goes back to 1."""
    links = []
    for c in columns:
        on = current.lstrip("-") == c.key
        descending = current.startswith("-")
        target = f"-{c.key}" if on and not descending else c.key
        links.append(
            {
                "label": c.label,
                "url": _query(request, sort=target, page=""),
                "arrow": ("▼" if descending else "▲") if on else "",
                "on": on,
            }
        )
    return links


def date_range(request, field: str) -> tuple[dict, dict]:
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD` as a filter on the datetime `field` (both days included,
    in the local time zone), and the values to show back; a malformed date is ignored."""
    shown, lookups = {}, {}
    for name, lookup, shift in (("from", "gte", 0), ("to", "lt", 1)):
        day = _day(request.GET.get(name, ""))
        if day is None:
            continue
        shown[name] = day.isoformat()
        start = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=shift), dt.time()))
        lookups[f"{field}__{lookup}"] = start
    return lookups, shown


def _day(value: str):
    try:
        return parse_date(value.strip())
    except ValueError:
        return None


def numbered_page(request, queryset, per_page: int = PER_PAGE):
    """The page asked for (`?page=`; out of range: the last) with `total` (one COUNT of the
    filtered rows) and `links`: page numbers, None for a gap (« 1 2 3 … 9 »)."""
    paginator = Paginator(queryset, per_page)
    page = paginator.get_page(request.GET.get("page"))
    page.total = paginator.count
    page.links = [
        {"number": n, "url": _query(request, page=str(n)) if n != page.number else ""} if isinstance(n, int) else None
        for n in paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
    ]
    page.first_url = _query(request, page="")
    page.previous_url = _query(request, page=str(page.previous_page_number())) if page.has_previous() else ""
    page.next_url = _query(request, page=str(page.next_page_number())) if page.has_next() else ""
    return page


def filters_active(request, names) -> bool:
    return any(request.GET.get(n) for n in names)
