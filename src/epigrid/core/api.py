"""Shared pieces of every app's API router: the error schema, paging and the one time rule.

The time rule (stated in the OpenAPI description): a datetime with an offset is taken as given,
one without is Asia/Shanghai (TIME_ZONE); answers always carry +08:00. Event times (when
something happened) lie between the first epidemic report (2019-12-01) and now plus a small
clock skew; planned times (an order's start, a shift, an arrival) up to a year ahead.
"""

import datetime as dt
import functools
import re
import types
import typing
from typing import Annotated

from django.utils import timezone
from ninja import Schema
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder
from pydantic import AfterValidator, BeforeValidator, ConfigDict, ValidationInfo, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError


class In(Schema):
    """Every request body: a field the endpoint does not know is a 422 naming it (a typo such as
    `start_at` for `starts_at` would otherwise be dropped silently), and the schema says so
    (`additionalProperties: false`)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_scalars_as_declared(cls, value, info: ValidationInfo):
        """A boolean is `true` or `false` and a number is a JSON number, as the schema says:
        pydantic alone would take `0`, `"yes"` or `"off"` for a boolean and `"12"` or `true` for
        a number, so a client's mistake (a purge's `dry_run: 0`) would act instead of failing."""
        kind, is_list = _field_kind(cls, info.field_name)
        items = value if is_list else [value]
        if kind is not None and value is not None and isinstance(items, list):  # not a list: pydantic says so
            for item in items:
                if item is not None:  # None: pydantic takes it where the type allows it
                    _check_json_scalar(kind, item)
        return value


@functools.cache  # once per field: a batch body validates thousands of rows
def _field_kind(schema: type, name: str) -> tuple[type | None, bool]:
    return _json_scalar(schema.model_fields[name].annotation)


def _json_scalar(annotation) -> tuple[type | None, bool]:
    """(bool, int or float, whether a list of them) when a field takes that JSON scalar, alone,
    optional or as a list's items (the list optional too); (None, False) for any other field."""
    annotation = _optional_of(annotation)
    is_list = typing.get_origin(annotation) is list
    if is_list:
        (annotation,) = typing.get_args(annotation) or (None,)
        annotation = _optional_of(annotation)
    return (annotation, is_list) if annotation in (bool, int, float) else (None, False)


def _optional_of(annotation):
    """T for T | None; a union of several types is left as it is (never a JSON scalar here)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else annotation
    return annotation


def _check_json_scalar(kind: type, value) -> None:
    if kind is bool:
        if not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "Input should be true or false")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("int_type" if kind is int else "float_type", "Input should be a number")


class ErrorOut(Schema):
    code: str
    message: str
    messages: dict[str, str] = {}
    field: str | None = None


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def page(queryset, *, limit: int, offset: int, with_total: bool = False, rows=list, read=None):
    """One page, the offset of the next (None: the last) and, when asked, the number of rows the
    filters match. Paging itself needs no COUNT (limit+1 trick); `with_total` costs one COUNT over
    the caller's filtered rows, or none when this page already holds the end. `rows` reads the
    page's slice (a list's own row reader, e.g. `people.selectors.person_rows`); `read(start,
    stop)`, when given, reads the page instead of the slice (a compiled read of the same rows,
    e.g. `people.selectors.person_page`)."""
    limit = max(1, min(limit, 500))
    offset = max(0, offset)
    rows = read(offset, offset + limit + 1) if read else rows(queryset[offset : offset + limit + 1])
    more = len(rows) > limit
    total = None
    if with_total:
        total = queryset.order_by().count() if more or (not rows and offset) else offset + len(rows)
    return rows[:limit], (offset + limit if more else None), total


EPIDEMIC_START = dt.date(2019, 12, 1)
CLOCK_SKEW = dt.timedelta(minutes=10)
PLAN_HORIZON = dt.timedelta(days=366)


def _out_of_range(earliest, latest):
    return PydanticCustomError(
        "time_out_of_range",
        "between {earliest} and {latest}",
        {"earliest": earliest.isoformat(), "latest": latest.isoformat()},
    )


def aware(value: dt.datetime) -> dt.datetime:
    """A datetime without an offset is local time (Asia/Shanghai)."""
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _bounded_time(horizon: dt.timedelta):
    def check(value: dt.datetime) -> dt.datetime:
        value = aware(value)
        earliest = timezone.make_aware(dt.datetime.combine(EPIDEMIC_START, dt.time()))
        latest = timezone.localtime() + horizon
        if not earliest <= value <= latest:
            raise _out_of_range(earliest, latest.replace(microsecond=0))
        return value

    return check


def _bounded_date(horizon: dt.timedelta):
    def check(value: dt.date) -> dt.date:
        latest = timezone.localdate() + horizon
        if not EPIDEMIC_START <= value <= latest:
            raise _out_of_range(EPIDEMIC_START, latest)
        return value

    return check


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_only(kind: str):
    # pydantic would read 1700000000 or "0.5" as seconds since 1970: a time is written ISO 8601.
    def check(value):
        if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise PydanticCustomError(kind, "not an ISO 8601 {kind}", {"kind": kind})
        return value

    return BeforeValidator(check)


# A time or date as ISO 8601 text (no seconds-since-1970 numbers); naive = Asia/Shanghai.
IsoTime = Annotated[dt.datetime, _iso_only("datetime_parsing"), AfterValidator(lambda v: aware(v))]
# When something happened: not before the epidemic, not in the future (beyond clock skew).
EventTime = Annotated[dt.datetime, _iso_only("datetime_parsing"), AfterValidator(_bounded_time(CLOCK_SKEW))]
# When something is planned to happen: up to a year ahead.
PlanTime = Annotated[dt.datetime, _iso_only("datetime_parsing"), AfterValidator(_bounded_time(PLAN_HORIZON))]
EventDate = Annotated[dt.date, _iso_only("date_parsing"), AfterValidator(_bounded_date(dt.timedelta(days=1)))]
PlanDate = Annotated[dt.date, _iso_only("date_parsing"), AfterValidator(_bounded_date(PLAN_HORIZON))]

# A body temperature as a number or as typed ("36.5"). The schema states the valid range; the
# API itself refuses anything else with a message that says what is wrong (a comma, a word, 50 °C).
_TEMPERATURE_TEXT = r"^\s*((3[4-9]|4[0-2])(\.\d+)?|43(\.0+)?)\s*$"
Temperature = (
    Annotated[float, WithJsonSchema({"type": "number", "minimum": 34.0, "maximum": 43.0})]
    | Annotated[str, WithJsonSchema({"type": "string", "pattern": _TEMPERATURE_TEXT})]
)

_FILTER_FLOOR = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
_FILTER_CEILING = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def _filter_time(value: dt.datetime) -> dt.datetime:
    # Stored times lie inside the bounds above, so a filter from year 1 means the same as one from
    # 2019: clamp it (no 422 for a harmless range, no overflow converting year 1 to UTC).
    value = aware(value)
    if value.year < 1901:
        return _FILTER_FLOOR
    if value.year > 8999:
        return _FILTER_CEILING
    return value


# A bound of a list filter (`…_from` ≤ time < `…_to`): any time; naive = Asia/Shanghai.
FilterTime = Annotated[dt.datetime, _iso_only("datetime_parsing"), AfterValidator(_filter_time)]
# A day to filter by: any date, written ISO 8601 (2022-02-06).
FilterDate = Annotated[dt.date, _iso_only("date_parsing")]


class LocalTimeEncoder(NinjaJSONEncoder):
    """Every datetime in an answer in local time: 2022-02-06T11:00:00+08:00, never Z."""

    def default(self, o):
        if isinstance(o, dt.datetime) and timezone.is_aware(o):
            return timezone.localtime(o).isoformat()
        return super().default(o)


class LocalTimeRenderer(JSONRenderer):
    encoder_class = LocalTimeEncoder
    json_dumps_params = {"ensure_ascii": False}
