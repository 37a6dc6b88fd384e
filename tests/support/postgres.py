"""Throwaway places on the PostgreSQL server the tests are pointed at (``VAULT_TEST_DATABASE_URL``):
a schema (cheap: most storage tests), or a database, optionally made from a template database
(``tests.support.world``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

__all__ = ["PG_ENV", "create_database", "database_name", "drop_database", "schema", "url_for"]

PG_ENV = "VAULT_TEST_DATABASE_URL"


def _run(base: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction: autocommit.
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        admin.dispose()


def url_for(base: str, database: str) -> str:
    """``base`` pointed at another database on the same server."""
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def database_name(url: str) -> str:
    return make_url(url).database or ""


def create_database(base: str, name: str, *, template: str | None = None) -> None:
    """A new database ``name``, a copy of ``template`` if given (which nobody may be connected
    to), else empty."""
    copy = f' TEMPLATE "{template}"' if template is not None else ""
    _run(base, f'CREATE DATABASE "{name}"{copy}')


def drop_database(base: str, name: str) -> None:
    """Drop ``name``, ending any session still connected to it (a server a test left)."""
    _run(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def schema(base: str, prefix: str = "t") -> Iterator[str]:
    """A URL to a fresh, empty schema on the server at ``base``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    _run(base, f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        _run(base, f'DROP SCHEMA "{name}" CASCADE')
