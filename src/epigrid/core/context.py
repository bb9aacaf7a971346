"""Where a write comes from (address, request id), for the audit log, set once per request."""

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    remote_addr: str | None = None
    request_id: str = ""
    channel: str = "system"  # web, api, cli, system


_SYSTEM = Origin()
_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("epigrid_origin", default=None)


def current_origin() -> Origin:
    return _origin.get() or _SYSTEM


def set_origin(origin: Origin) -> contextvars.Token:
    return _origin.set(origin)


def reset_origin(token: contextvars.Token) -> None:
    _origin.reset(token)
