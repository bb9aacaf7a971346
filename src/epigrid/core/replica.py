"""Reads sent to a streaming replica (docs/scaling.md "The read replica").

With `DATABASE_REPLICA_URL` set, settings add the database alias "replica" (a PostgreSQL hot
standby of the primary) and `ReplicaRouter` may send reads there — only reads made under
`reading_from_replica()` (or a function decorated with `from_replica`), which the heavy readers
that need not see their caller's own writes ask for: the command dashboard (page and API) and
the ledgers' exports (people, health, mobilization, gates; inline, from the CLI or as background
jobs). Every other read, and every read made inside a transaction of the primary (an audit
record's chain, a write's own checks), stays on the primary; writes always go to the primary.
Who may do what (a user's roles) is read on the primary too (`on_primary`): a role ended a
second ago ends at once; so are a background job's cancel (an export job stops at once) and the
dashboard's thresholds, which its own form sets. The map
page, where outlines are drawn and saved, reads the primary.

The lag: before sending a read to the replica the router asks it how far behind it is (once per
`REPLICA_CHECK_SECONDS` per process): a standby that has replayed all the WAL it received (now,
or when looked at again 0.1 s later) while its WAL receiver is streaming is current (on an idle
primary the time of the last replayed transaction grows old without the replica being behind),
else it is `now() - pg_last_xact_replay_timestamp()` behind. Beyond `REPLICA_MAX_LAG_SECONDS`, or unreachable, the
reads go to the primary and a warning is logged; `from_replica` also answers a replica that fails
mid-read by reading again on the primary. A replica down is never an error page.
"""

import contextvars
import functools
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

REPLICA = "replica"
log = logging.getLogger(__name__)

_wanted = contextvars.ContextVar("epigrid_replica_wanted", default=False)


@dataclass(frozen=True)
class ReplicaState:
    """The replica as last checked: usable or not, seconds behind, why not."""

    usable: bool
    lag: float | None = None
    reason: str = ""
    checked_at: float = 0.0


_state: ReplicaState | None = None  # this process's last check (per process: cheap, a few seconds old at most)


def configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def reading_from_replica():
    """Reads inside may go to the replica (when one is configured, answers and is fresh enough)."""
    token = _wanted.set(True)
    try:
        yield
    finally:
        _wanted.reset(token)


@contextmanager
def on_primary():
    """Reads inside go to the primary, even within `reading_from_replica`."""
    token = _wanted.set(False)
    try:
        yield
    finally:
        _wanted.reset(token)


def from_replica(func):
    """Decorator: `func`'s reads may go to the replica; if the replica fails while it runs, it is
    marked down and `func` runs again on the primary (the functions decorated only read, or write
    last: an export's audit record goes to the primary after its rows are read)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with reading_from_replica():
            used = state().usable if configured() else False
            if not used:
                return func(*args, **kwargs)
            try:
                return func(*args, **kwargs)
            except DatabaseError as exc:
                if not _replica_failed(exc):
                    raise
        with on_primary():
            return func(*args, **kwargs)

    return wrapper


def _replica_failed(exc) -> bool:
    """After a database error under the replica: was it the replica? (It no longer answers.)"""
    fresh = check(force=True)
    if fresh.usable:
        return False
    log.warning("replica failed during a read (%s): read again on the primary", type(exc).__name__)
    return True


def serving() -> ReplicaState | None:
    """Where the reads made here go now: the replica's state when they go there, else None."""
    if not (_wanted.get() and configured()) or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return None
    current = state()
    return current if current.usable else None


def state() -> ReplicaState:
    """The replica's last check, made again when older than REPLICA_CHECK_SECONDS."""
    current = _state
    if current is None or time.monotonic() - current.checked_at > settings.REPLICA_CHECK_SECONDS:
        current = check()
    return current


LAG_SQL = """
SELECT pg_is_in_recovery(),
       coalesce((SELECT status = 'streaming' FROM pg_stat_wal_receiver), false),
       pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn(),
       extract(epoch FROM now() - pg_last_xact_replay_timestamp()),
       pg_last_wal_receive_lsn()
"""
# WAL received but not yet replayed: the age of the last replayed commit overstates the lag when
# the primary was quiet before (an hour's silence, then one write: "3600 s behind" for the few
# milliseconds its replay takes). So look once more a moment later: replayed by then, it is current.
SECOND_LOOK_SECONDS = 0.1


def check(*, force: bool = False) -> ReplicaState:
    """Ask the replica how far behind it is (one short query) and remember the answer."""
    global _state
    previous = _state
    try:
        connection = connections[REPLICA]
        with connection.cursor() as cursor:
            cursor.execute(LAG_SQL)
            in_recovery, streaming, replayed_all, since_replay, received = cursor.fetchone()
            caught_up = 0.0 if replayed_all else None  # seconds it took to replay all it had received
            if in_recovery and streaming and not replayed_all:
                time.sleep(SECOND_LOOK_SECONDS)
                cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [received])
                caught_up = SECOND_LOOK_SECONDS if cursor.fetchone()[0] else None
    except DatabaseError as exc:
        connections[REPLICA].close()  # the next check connects again
        current = ReplicaState(False, None, f"unreachable ({type(exc).__name__})", time.monotonic())
    else:
        if not in_recovery:
            lag = 0.0  # promoted, or the same database (tests mirror it)
        elif streaming and caught_up is not None:
            lag = caught_up  # all it received is replayed: an idle primary sends nothing new
        else:
            lag = float(since_replay) if since_replay is not None else None
        limit = settings.REPLICA_MAX_LAG_SECONDS
        if lag is None:
            current = ReplicaState(False, None, "not streaming, nothing replayed yet", time.monotonic())
        elif lag > limit:
            current = ReplicaState(False, lag, f"{lag:.0f} s behind (limit {limit} s)", time.monotonic())
        else:
            current = ReplicaState(True, lag, "", time.monotonic())
    if not current.usable and (force or previous is None or previous.usable or previous.reason != current.reason):
        log.warning("replica not used, reads go to the primary: %s", current.reason)
    _state = current
    return current


def forget() -> None:
    """Drop the last check (tests; the next read checks again)."""
    global _state
    _state = None


def _primary_for(hints):
    """Outside the replica's reads Django's own choice (the instance's database, else default),
    except that a row loaded from the replica is followed, and written, on the primary."""
    instance = hints.get("instance")
    if instance is not None and getattr(instance._state, "db", None) == REPLICA:
        return DEFAULT_DB_ALIAS
    return None


class ReplicaRouter:
    """Reads under `reading_from_replica()` to the replica while it is usable; everything else
    (and every write, and every migration) to the primary."""

    def db_for_read(self, model, **hints):
        if serving() is not None:
            return REPLICA
        return _primary_for(hints)

    def db_for_write(self, model, **hints):
        return _primary_for(hints)

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same rows, wherever read

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA  # a standby is read-only: it follows the primary's migrations
