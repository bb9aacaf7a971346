"""The least-privilege database role of the application (PostgreSQL; `epigrid dbroles`).

Two roles (docs/deploy.md "Database roles"):

- the **owner** owns the schema and every table: `epigrid migrate`, `epigrid restore` and
  `epigrid dbroles --apply` run as it (DATABASE_URL with the owner's credentials);
- the **application role** (web, worker, beat: DATABASE_URL with its credentials) reads and writes
  rows and nothing else: it owns nothing, so it cannot ALTER, DROP or disable a trigger (the
  audit log's append-only triggers stay), cannot CREATE in the schema, never TRUNCATEs, and may
  not DELETE from the audit log, its chain head and the person tables (persons are archived and,
  under the retention rules, anonymised in place: never deleted). It may not UPDATE the audit log
  either, nor write the migration history.

The statements are idempotent: run them again after every upgrade, so that tables a migration
added get their grants (new tables also get the ordinary grants through ALTER DEFAULT PRIVILEGES,
but a protected table re-created by a migration would otherwise have them all).
"""

from django.apps import apps
from django.db import connection

from epigrid.core import partitions

DEFAULT_ROLE = "epigrid_app"
# DML on an ordinary table.
ORDINARY = ("SELECT", "INSERT", "UPDATE", "DELETE")
# (app label, model): the rows the application never deletes, and what it may do instead.
PROTECTED = {
    ("core", "AuditEvent"): ("SELECT", "INSERT"),  # append-only
    ("core", "AuditChainHead"): ("SELECT", "UPDATE"),  # advanced by every append, one row
    ("people", "Person"): ("SELECT", "INSERT", "UPDATE"),  # archived / anonymised, never deleted
    ("people", "Household"): ("SELECT", "INSERT", "UPDATE"),
}
READ_ONLY_TABLES = ("django_migrations",)  # /readyz reads it; only the owner migrates


def protected_tables() -> dict[str, tuple[str, ...]]:
    """{db_table: privileges} of the protected models, as the models name their tables."""
    return {apps.get_model(app, model)._meta.db_table: privileges for (app, model), privileges in PROTECTED.items()}


def _ident(name: str) -> str:
    return connection.ops.quote_name(name)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def statements(*, role: str, owner: str, database: str, schema: str = "public", password: str | None = None) -> list:
    """The SQL, in order. The password, when given, is in one ALTER ROLE statement (never printed
    by the command)."""
    r, o, s = _ident(role), _ident(owner), _ident(schema)
    sql = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) "
        f"THEN CREATE ROLE {r} LOGIN; END IF; END $$",
        f"ALTER ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT",
    ]
    if password:
        sql.append(f"ALTER ROLE {r} PASSWORD {_literal(password)}")
    sql += [
        # No DDL: nobody but the owner creates in the schema (PostgreSQL < 15 let PUBLIC).
        f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC",
        f"REVOKE ALL ON SCHEMA {s} FROM {r}",
        f"GRANT CONNECT ON DATABASE {_ident(database)} TO {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        # Start from nothing on every table, then the ordinary rights.
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"GRANT {', '.join(ORDINARY)} ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        # Tables and sequences a later migration adds get the ordinary rights too.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT {', '.join(ORDINARY)} ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]
    # DDL only through the owner's functions, which create or drop one monthly partition each.
    functions = ", ".join(f"{s}.{name}" for name in (partitions.MONTH_FUNCTION, partitions.DROP_FUNCTION))
    sql += [f"GRANT EXECUTE ON FUNCTION {functions} TO {r}"]
    for table in READ_ONLY_TABLES:
        sql += [f"REVOKE ALL ON {s}.{_ident(table)} FROM {r}", f"GRANT SELECT ON {s}.{_ident(table)} TO {r}"]
    for table, privileges in protected_tables().items():
        sql += [
            f"REVOKE ALL ON {s}.{_ident(table)} FROM {r}",
            f"GRANT {', '.join(privileges)} ON {s}.{_ident(table)} TO {r}",
        ]
    return sql


def current_owner(schema: str = "public") -> str:
    """The role that owns the tables (the one migrations run as): django_migrations' owner."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = %s AND tablename = 'django_migrations'", [schema]
        )
        row = cursor.fetchone()
    if row is None:
        raise LookupError("no django_migrations table: run `epigrid migrate` as the owner first")
    return row[0]
