import os
import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from epigrid.core import dbroles

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class Command(BaseCommand):
    help = (
        "Print (or with --apply execute, on PostgreSQL) the SQL for the application's least-privilege "
        "database role: rows only, no DDL, no DELETE/TRUNCATE on the audit log and the person tables. "
        "Run as the owner role that runs the migrations; again after every upgrade (idempotent). "
        'docs/deploy.md, "Database roles".'
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", default=dbroles.DEFAULT_ROLE, help="the application role (default: %(default)s)")
        parser.add_argument("--owner", help="the role owning the tables (default: django_migrations' owner)")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="the environment variable holding the application role's password (with --apply; never printed)",
        )
        parser.add_argument("--apply", action="store_true", help="execute the statements, in one transaction")

    def handle(self, *args, role, owner=None, password_env=None, apply=False, **options):
        if not _ROLE_NAME.fullmatch(role):
            raise CommandError("--role: lower-case letters, digits and _ only, starting with a letter or _")
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"--password-env: the environment variable {password_env} is empty or unset")
        postgres = connection.vendor == "postgresql"
        if apply and not postgres:
            raise CommandError("--apply needs PostgreSQL: SQLite has no roles (the SQL is printed without --apply)")
        if postgres:
            try:
                owner = owner or dbroles.current_owner()
            except LookupError as exc:
                raise CommandError(str(exc)) from None
            database = connection.settings_dict["NAME"]
        else:
            owner, database = owner or "epigrid_owner", "epigrid"
        if owner == role:
            raise CommandError("the application role must not be the owner of the tables")
        sql = dbroles.statements(role=role, owner=owner, database=database, password=password)
        if not apply:
            self.stdout.write(f"-- epigrid dbroles: run as {owner} (the owner) on database {database}\n")
            for statement in sql:
                if statement.startswith(f"ALTER ROLE {connection.ops.quote_name(role)} PASSWORD"):
                    statement = f"ALTER ROLE {connection.ops.quote_name(role)} PASSWORD '…'"
                self.stdout.write(statement + ";")
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in sql:
                cursor.execute(statement)
        protected = ", ".join(sorted(dbroles.protected_tables()))
        self.stdout.write(
            self.style.SUCCESS(
                f"role {role}: rows only on database {database} (owner {owner}); no DELETE on {protected}"
            )
        )
