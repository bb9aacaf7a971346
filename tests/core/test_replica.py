"""The read replica (issue 15 §5, core/replica.py): the dashboard and the ledgers' exports read on a
streaming replica when one is configured and fresh; everything else, every read inside a
transaction and who may do what stay on the primary; a replica down or behind is the primary's
page, never an error.

The router's tests run always (a replica alias that does not answer; on PostgreSQL one that is
the test database itself). The streaming tests need a real hot standby of the test server
(`scripts/replica.sh start`, which `.ci/run` starts) named by EPIGRID_TEST_REPLICA_URL, e.g.
postgres://postgres@127.0.0.1:5433/postgres: the database name is replaced by the test
database's, which streaming replication copies to the standby like every database of the cluster.
"""

import io
import logging
import os
import re
import time

import environ
import pytest
from django.conf import settings as django_settings
from django.db import connection, connections, transaction
from django.db.utils import load_backend
from django.test import Client
from django.test.utils import CaptureQueriesContext
from python_calamine import CalamineWorkbook

from epigrid.control import services as control
from epigrid.core import replica
from epigrid.core.models import AuditChainHead, JobStatus
from epigrid.oversight import rollup
from epigrid.oversight.models import NodeFigure
from epigrid.people import ledgers
from epigrid.people.services import person_create
from tests.factories import build_world, make_id_number

REPLICA_URL_ENV = "EPIGRID_TEST_REPLICA_URL"


def _add_alias(**overrides):
    """The alias "replica", as settings make it from DATABASE_REPLICA_URL, made here because its
    database is the test database (known once the session made it). A new DATABASES, not the
    dict the connection handler read at start: the connection is this thread's own (the test
    client runs in this thread), not one of the aliases the test case guards and flushes."""
    cfg = {**connections["default"].settings_dict, "CONN_MAX_AGE": 0, "TEST": {"MIRROR": None}, **overrides}
    _saved.append(django_settings.DATABASES)
    django_settings.DATABASES = {**django_settings.DATABASES, replica.REPLICA: cfg}
    connections[replica.REPLICA] = load_backend(cfg["ENGINE"]).DatabaseWrapper(cfg, replica.REPLICA)
    replica.forget()


_saved = []


def _remove_alias():
    connections[replica.REPLICA].close()
    del connections[replica.REPLICA]
    django_settings.DATABASES = _saved.pop()
    replica.forget()


@pytest.fixture
def no_replica_answers(settings):
    """A replica alias on a port where nothing listens (PostgreSQL's engine whatever the tests run on)."""
    settings.REPLICA_CHECK_SECONDS = 0
    _add_alias(
        ENGINE="django.db.backends.postgresql",
        NAME="epigrid",
        HOST="127.0.0.1",
        PORT=1,
        USER="postgres",
        PASSWORD="",
        OPTIONS={"connect_timeout": 2},
    )
    yield
    _remove_alias()


@pytest.fixture
def mirror_replica(transactional_db, settings):
    """A "replica" that is the test database itself (not in recovery: 0 s behind), to see the
    router's choices; PostgreSQL only (the lag's query is PostgreSQL's)."""
    if connection.vendor != "postgresql":
        pytest.skip("the replica's lag query needs PostgreSQL")
    settings.REPLICA_CHECK_SECONDS = 0
    AuditChainHead.objects.get_or_create(pk=1)  # an earlier transactional test's flush took it
    _add_alias()
    yield
    _remove_alias()


def _said(page: str) -> str:
    """What the dashboard says of the replica ("Read from the replica, N s behind the primary.")."""
    at = page.index('data-testid="replica">')
    return page[at : page.index("</span>", at)]


def _queries(captured, table):
    return [q["sql"] for q in captured.captured_queries if f'"{table}"' in q["sql"]]


# ---------------------------------------------------------------- the router, always


def test_without_a_replica_every_read_is_the_primarys(db):
    assert not replica.configured()
    router = replica.ReplicaRouter()
    with replica.reading_from_replica():
        assert replica.serving() is None
        assert router.db_for_read(NodeFigure) is None  # Django's own choice: default
    assert router.db_for_write(NodeFigure) is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_replica_that_does_not_answer_leaves_the_dashboard_on_the_primary(concurrent_db, no_replica_answers, caplog):
    AuditChainHead.objects.get_or_create(pk=1)
    world = build_world()
    rollup.refresh()
    client = Client()
    client.force_login(world.users["commander"])
    with caplog.at_level(logging.WARNING, logger="epigrid.core.replica"):
        page = client.get("/dashboard/S/")
        api = client.get("/api/v1/dashboard/S")
    assert page.status_code == 200 and 'data-testid="tiles"' in page.content.decode()
    assert 'data-testid="replica"' not in page.content.decode()  # read on the primary: nothing to say
    assert api.status_code == 200 and api.json()["figures"]["persons"] == 3
    assert "reads go to the primary: unreachable" in caplog.text
    assert not replica.state().usable


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_router_sends_only_the_marked_reads_outside_transactions_to_the_replica(mirror_replica):
    router = replica.ReplicaRouter()
    assert router.db_for_read(NodeFigure) is None  # not asked for: the primary
    with replica.reading_from_replica():
        assert router.db_for_read(NodeFigure) == replica.REPLICA
        assert replica.serving().lag == 0.0
        with replica.on_primary():
            assert router.db_for_read(NodeFigure) is None
        with transaction.atomic():  # a transaction of the primary reads its own writes
            assert router.db_for_read(NodeFigure) is None
        assert router.db_for_write(NodeFigure) is None
        row = NodeFigure.objects.first() or NodeFigure(node_id=1, figure="persons", value=0)
        row._state.db = replica.REPLICA
        # Outside the replica's reads, a row read there is followed and written on the primary.
    assert router.db_for_read(NodeFigure, instance=row) == "default"
    assert router.db_for_write(NodeFigure, instance=row) == "default"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_dashboard_reads_the_replica_and_the_roles_the_primary(mirror_replica):
    world = build_world()
    rollup.refresh()
    client = Client()
    client.force_login(world.users["commander"])
    with (
        CaptureQueriesContext(connections[replica.REPLICA]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        page = client.get("/dashboard/S/").content.decode()
    assert re.search(r"\b0\b", _said(page))  # "Read from the replica, 0 s behind the primary."
    assert _queries(on_replica, "oversight_nodefigure") and not _queries(on_primary, "oversight_nodefigure")
    assert _queries(on_primary, "accounts_gridassignment") and not _queries(on_replica, "accounts_gridassignment")
    assert _queries(on_primary, "oversight_threshold") and not _queries(on_replica, "oversight_threshold")
    # A page that is not the dashboard's reads on the primary.
    with CaptureQueriesContext(connections[replica.REPLICA]) as on_replica:
        assert client.get("/people/").status_code == 200
    assert not on_replica.captured_queries


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_replica_lost_in_the_middle_of_a_read_is_read_again_on_the_primary(mirror_replica, settings, caplog):
    settings.REPLICA_CHECK_SECONDS = 60  # checked before the read, not again before each query
    build_world()
    rollup.refresh()
    used = []

    @replica.from_replica
    def two_counts():
        used.append(replica.serving() is not None)
        first = NodeFigure.objects.count()
        if len(used) == 1:  # the replica goes away: its connection ends, nothing answers any more
            standby = connections[replica.REPLICA]
            standby.settings_dict["PORT"] = 1
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [standby.connection.info.backend_pid])
        return first, NodeFigure.objects.count()

    with caplog.at_level(logging.WARNING, logger="epigrid.core.replica"):
        first, second = two_counts()
    assert used == [True, False]  # the replica, then the whole read again on the primary
    assert first == second == NodeFigure.objects.count() > 0
    assert "replica failed during a read" in caplog.text and not replica.state().usable


# ---------------------------------------------------------------- a real streaming replica


@pytest.fixture
def streaming_replica(transactional_db, settings):
    url = os.environ.get(REPLICA_URL_ENV, "")
    if not url:
        pytest.skip(f"no streaming replica: set {REPLICA_URL_ENV} (scripts/replica.sh start)")
    if connection.vendor != "postgresql":
        pytest.skip("the streaming replica is PostgreSQL's: these tests run in the PostgreSQL pass")
    settings.REPLICA_CHECK_SECONDS = 0
    settings.REPLICA_MAX_LAG_SECONDS = 30
    AuditChainHead.objects.get_or_create(pk=1)
    given = environ.Env.db_url_config(url)
    _add_alias(**{key: given[key] for key in ("HOST", "PORT", "USER", "PASSWORD")})
    with connections[replica.REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0], f"{url} is not a standby"
    yield connections[replica.REPLICA]
    with connections[replica.REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    _remove_alias()


def _replayed(standby, timeout=15.0):
    """Wait until the standby has replayed everything the primary has written so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        target = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    with standby.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            if cursor.fetchone()[0]:
                return
            assert time.monotonic() < deadline, f"the standby did not replay {target} in {timeout} s"
            time.sleep(0.05)


def _tile(page: str, figure: str) -> str:
    at = page.index(f'data-figure="{figure}"')
    return page[page.index("<b>", at) + 3 : page.index("</b>", at)]


def _new_quarantine(world):
    person = person_create(
        name="赵六", id_number=make_id_number(), household=world.households["h2"], principal=world.admin
    )
    control.control_order_start(
        person=person, kind="centralized_quarantine", reason="other", site="集中隔离点", principal=world.admin
    )
    rollup.refresh()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_row_written_on_the_primary_shows_on_the_dashboard_served_by_the_replica(streaming_replica):
    world = build_world()
    _new_quarantine(world)
    _replayed(streaming_replica)
    client = Client()
    client.force_login(world.users["commander"])
    with CaptureQueriesContext(streaming_replica) as on_replica:
        page = client.get("/dashboard/S/").content.decode()
        api = client.get("/api/v1/dashboard/S").json()
    assert _tile(page, "orders_centralized_quarantine") == "1" and api["figures"]["orders_centralized_quarantine"] == 1
    assert 'data-testid="replica"' in page
    assert _queries(on_replica, "oversight_nodefigure")  # the figures came from the standby
    with streaming_replica.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0]
    # A ledger's export reads its rows there too; its audit record is written on the primary.
    with CaptureQueriesContext(streaming_replica) as on_replica:
        out, _name = ledgers.ledger_export(kind="residents", node=world.nodes["S"], principal=world.admin)
    rows = CalamineWorkbook.from_filelike(io.BytesIO(out.read())).get_sheet_by_index(0).to_python()
    assert any("赵六" in row for row in rows)
    assert _queries(on_replica, "people_person") and not _queries(on_replica, "core_auditevent")
    # The same export as a background job (run inline by the tests): its rows are read there too.
    with CaptureQueriesContext(streaming_replica) as on_replica:
        job = ledgers.ledger_export_start(kind="residents", node=world.nodes["S"], principal=world.admin)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.result["rows"] == len(rows) - 1
    assert _queries(on_replica, "people_person") and not _queries(on_replica, "core_job")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_replica_behind_the_limit_leaves_the_dashboard_on_the_primary(streaming_replica, settings, caplog):
    world = build_world()
    rollup.refresh()
    _replayed(streaming_replica)
    with streaming_replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    _new_quarantine(world)  # written on the primary, received by the standby, not replayed
    settings.REPLICA_MAX_LAG_SECONDS = 0.5
    time.sleep(1.0)
    client = Client()
    client.force_login(world.users["commander"])
    with caplog.at_level(logging.WARNING, logger="epigrid.core.replica"):
        with CaptureQueriesContext(streaming_replica) as on_replica:
            page = client.get("/dashboard/S/").content.decode()
    assert _tile(page, "orders_centralized_quarantine") == "1"  # the primary's figure, current
    assert 'data-testid="replica"' not in page
    assert not _queries(on_replica, "oversight_nodefigure")
    assert "reads go to the primary" in caplog.text and "s behind (limit 0.5 s)" in caplog.text
    # Replayed again and within the limit: the dashboard goes back to the replica.
    with streaming_replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    _replayed(streaming_replica)
    settings.REPLICA_MAX_LAG_SECONDS = 30
    page = client.get("/dashboard/S/").content.decode()
    assert 'data-testid="replica"' in page and _tile(page, "orders_centralized_quarantine") == "1"
