"""The dedicated benchmark database: created fresh from DATABASE_URL's server, migrated by
Django, dropped at the end (and at the start, should a previous run have died)."""

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_NAME = "epigrid_bench"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class BenchDatabase:
    def __init__(self, url: str, name: str | None = None):
        if not url or urlsplit(url).scheme not in {"postgres", "postgresql", "pgsql"}:
            raise SystemExit(
                "bench: set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test"
            )
        self.name = name or os.environ.get("BENCH_DATABASE", DEFAULT_NAME)
        self.admin_url = _with_database(url, "postgres")
        self.url = _with_database(url, self.name)

    def _admin(self, statement: sql.Composable) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def drop(self) -> None:
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))

    def create(self) -> None:
        self.drop()
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(self.name)))

    def connect(self, **kwargs) -> psycopg.Connection:
        """A raw psycopg connection (the "raw database" side of every figure)."""
        return psycopg.connect(self.url, **kwargs)


def setup_django(url: str) -> None:
    """Point Django at the bench database, then set it up and migrate into it."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "epigrid.config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
