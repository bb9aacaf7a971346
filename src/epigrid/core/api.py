"""Shared pieces of every app's API router: the error schema and paging."""

from ninja import Schema


class ErrorOut(Schema):
    code: str
    message: str
    messages: dict[str, str] = {}
    field: str | None = None


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def page(queryset, *, limit: int, offset: int):
    """One page plus whether more follow (limit+1 trick: no COUNT over a city-sized table)."""
    limit = max(1, min(limit, 500))
    offset = max(0, offset)
    rows = list(queryset[offset : offset + limit + 1])
    more = len(rows) > limit
    return rows[:limit], (offset + limit if more else None)
