"""`epigrid dbroles`: the application's least-privilege database role (core/dbroles.py)."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from epigrid.core import dbroles
from epigrid.core.models import AuditEvent
from epigrid.people.models import Household, Person

ROLE = f"epigrid_app_test_{os.getpid()}"
PASSWORD = "app-role-test-password"


def test_printed_sql_names_the_tables_from_the_models(db):
    out = io.StringIO()
    call_command("dbroles", "--role", "city_app", stdout=out)
    sql = out.getvalue()
    for model in (AuditEvent, Person, Household):
        table = model._meta.db_table
        grant = re.search(rf'GRANT ([A-Z, ]+) ON "public"."{table}" TO "city_app"', sql)
        assert grant, table
        assert "DELETE" not in grant.group(1) and "TRUNCATE" not in grant.group(1)
    assert 'GRANT SELECT, INSERT ON "public"."core_auditevent"' in sql  # no UPDATE of the log either
    assert "TRUNCATE" not in sql and "CREATE ON SCHEMA" in sql


def test_the_password_is_never_printed(db, monkeypatch):
    monkeypatch.setenv("APP_DB_PASSWORD", "s3cret-do-not-print")
    out = io.StringIO()
    call_command("dbroles", "--password-env", "APP_DB_PASSWORD", stdout=out)
    assert "s3cret-do-not-print" not in out.getvalue() and "PASSWORD '…'" in out.getvalue()


def test_bad_input_is_refused(db):
    with pytest.raises(CommandError, match="--role"):
        call_command("dbroles", "--role", 'x"; DROP TABLE people_person; --', stdout=io.StringIO())
    with pytest.raises(CommandError, match="APP_DB_PASSWORD_UNSET"):
        call_command("dbroles", "--password-env", "APP_DB_PASSWORD_UNSET", stdout=io.StringIO())
    if connection.vendor == "sqlite":
        with pytest.raises(CommandError, match="PostgreSQL"):
            call_command("dbroles", "--apply", stdout=io.StringIO())


@pytest.fixture
def app_role(monkeypatch):
    """The role applied by the command (as the test database's owner), dropped afterwards."""
    monkeypatch.setenv("EPIGRID_TEST_APP_PASSWORD", PASSWORD)
    out = io.StringIO()
    call_command("dbroles", "--apply", "--role", ROLE, "--password-env", "EPIGRID_TEST_APP_PASSWORD", stdout=out)
    assert ROLE in out.getvalue()
    settings = connection.settings_dict
    app = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=ROLE,
        password=PASSWORD,
        autocommit=True,
    )
    try:
        yield app
    finally:
        app.close()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{ROLE}"')
            cursor.execute(f'DROP ROLE "{ROLE}"')


def _refused(app, sql: str) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        app.execute(sql)
    return str(refused.value)


AUDIT_ROW = (
    "INSERT INTO core_auditevent (id, occurred_at, actor_label, action, object_type, object_id, grid_path, "
    "changes, request_id, channel, prev_hash, hash, key_version) VALUES (987654321, now(), 'test', 'test.insert', "
    "'test', '', '', '{}', '', 'system', repeat('0', 64), repeat('0', 64), 1)"
)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database roles are PostgreSQL's")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_app_role_inserts_into_the_audit_log_but_never_deletes(app_role):
    with app_role.transaction(force_rollback=True):  # it may insert: the row is not kept
        app_role.execute(AUDIT_ROW)
        assert app_role.execute("SELECT count(*) FROM core_auditevent WHERE id = 987654321").fetchone() == (1,)
    assert "permission denied for table core_auditevent" in _refused(app_role, "DELETE FROM core_auditevent")
    _refused(app_role, "TRUNCATE core_auditevent")
    _refused(app_role, "UPDATE core_auditevent SET action = 'x'")
    _refused(app_role, "DELETE FROM core_auditchainhead")
    for model in (Person, Household):
        table = model._meta.db_table
        assert f"permission denied for table {table}" in _refused(app_role, f"DELETE FROM {table}")
        _refused(app_role, f"TRUNCATE {table}")
        app_role.execute(f"UPDATE {table} SET id = id WHERE false")  # archived and anonymised in place
    # No DDL: it owns nothing, creates nothing, cannot lift the append-only trigger.
    _refused(app_role, "CREATE TABLE sneaky (id int)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner"):
        app_role.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner"):
        app_role.execute("DROP TABLE people_person")
    _refused(app_role, "DELETE FROM django_migrations")
    # Ordinary tables: the whole of DML (sessions end, login failures are forgotten).
    app_role.execute("DELETE FROM django_session WHERE false")
    assert app_role.execute("SELECT count(*) FROM django_migrations").fetchone()[0] > 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database roles are PostgreSQL's")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_applying_twice_is_harmless(app_role):
    call_command("dbroles", "--apply", "--role", ROLE, stdout=io.StringIO())
    _refused(app_role, "DELETE FROM core_auditevent")
    assert dbroles.current_owner() == connection.settings_dict["USER"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database roles are PostgreSQL's")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_application_works_as_the_app_role(app_role, tmp_path):
    """The services, run as the role alone: grids, users, households, persons and their audit rows
    are written and the chain verifies; nothing the application does needs more."""
    settings = connection.settings_dict
    url = (
        f"postgres://{ROLE}:{PASSWORD}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    root = Path(__file__).resolve().parents[2]
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'epigrid.config.settings'); django.setup();"
        "from django.db import connection; from tests.factories import build_world; from epigrid.core import audit;"
        "w = build_world(); print(connection.settings_dict['USER'], len(w.persons), audit.verify().ok);"
        # Beat's partitions and the purge's drop, through the owner's functions: a month far ahead
        # of both partitioned tables made, then dropped again (nothing left behind).
        "import datetime as dt; from epigrid.core import partitions as P; far = dt.date(2040, 1, 1);"
        "made = P.partitions_ensure(months_ahead=0, today=far);"
        "gone = [P.partitions_drop_before(t, P._bound(k, dt.date(2040, 2, 1)),"
        " keep=lambda low, high: high <= P._bound(k, far))['partitions']"
        " for t, (_, k) in P.partitioned_tables().items()];"
        "print(len(made), sum(gone))"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}",
        "EPIGRID_VAR_DIR": str(tmp_path),  # not a developer's anchor file
    }
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [ROLE, "3", "True", "2", "2"]
