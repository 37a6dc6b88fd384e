"""The metadata database at one instant, as an SQLite file, whatever the vault runs on.

- SQLite: the online backup API (``sqlite3.Connection.backup``) copies every page inside one
  read transaction, so the copy is one consistent state while servers go on writing (WAL lets
  them: a reader blocks no writer).
- PostgreSQL: every table is read in ONE transaction at ``SERIALIZABLE, READ ONLY,
  DEFERRABLE``, which is what ``pg_dump --serializable-deferrable`` asks for (it waits for a
  snapshot no running transaction can make anomalous, then never blocks or fails), and its rows
  are written into an SQLite file made by the same migrations. Not ``pg_dump`` itself, for
  three reasons: a restore must verify the database (its access log) before writing anything
  to the target, and a ``pg_dump`` file can only be read by loading it into a PostgreSQL server;
  ``pg_dump`` must be of the server's major version, one more thing to get wrong on the day of a
  disaster; and one format for both makes a backup restorable on either (moving from the
  embedded SQLite to PostgreSQL is a backup and a restore).

Rows are copied through the ORM's table definitions, so each column's type is converted by the
same code that wrote it (UUIDs, UTC times, bytes), in batches: memory does not grow with the
database. The copy holds what the database holds: ciphertext, wrapped keys, sealed records,
hashes. Callers put it in a private (0700) directory all the same and remove it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

import vault.storage.models  # noqa: F401 - registers every table in SQLModel.metadata
from vault.errors import Conflict, StorageError
from vault.storage.database import connect, describe_url, migrate

__all__ = ["copy_rows_into", "is_empty", "snapshot_database"]

_log = logging.getLogger(__name__)
_BATCH = 1000
_KNOWN = {"alembic_version"}


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database:
        raise StorageError("an in-memory database cannot be backed up")
    return Path(database).absolute()


def snapshot_database(engine: Engine, target: Path) -> None:
    """Write the database of ``engine``, as it is at one instant, to the new SQLite file
    ``target`` (mode 0600)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    if engine.dialect.name == "sqlite":
        _sqlite_snapshot(_sqlite_path(engine), target)
    else:
        _copy_snapshot(engine, target)


def _sqlite_snapshot(source: Path, target: Path) -> None:
    try:
        src = sqlite3.connect(source, timeout=10)
        try:
            dst = sqlite3.connect(target)
            try:
                # pages=-1: every page in one step, i.e. one read transaction, one state.
                src.backup(dst, pages=-1)
                # The copy is read on its own; a rollback journal keeps it one file.
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        _log.debug("sqlite backup failed: %s", exc)
        raise StorageError("the database could not be copied") from None


def _check_tables(engine: Engine) -> None:
    present = set(sa.inspect(engine).get_table_names())
    unknown = present - set(SQLModel.metadata.tables) - _KNOWN
    if unknown:
        raise StorageError("the database holds a table this version does not know")


def _copy_snapshot(engine: Engine, target: Path) -> None:
    _check_tables(engine)
    dest = connect(f"sqlite:///{target}", check=False)
    try:
        migrate(dest)
        snapshot = {
            "isolation_level": "SERIALIZABLE",
            "postgresql_readonly": True,
            "postgresql_deferrable": True,
        }
        with engine.connect().execution_options(**snapshot) as src, dest.begin() as out:
            _copy(src, out)
        with dest.connect() as conn:  # one file: the snapshot is read and moved on its own
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
    except SQLAlchemyError as exc:
        _log.debug("database snapshot failed: %s", type(exc).__name__)
        raise StorageError(
            f"the database at {describe_url(str(engine.url))} could not be copied"
        ) from None
    finally:
        dest.dispose()


def _copy(src: sa.Connection, out: sa.Connection) -> None:
    """Every row of every table from ``src`` to ``out``, which the migrations have made (and
    seeded: its rows go first, the source's replace them)."""
    tables = SQLModel.metadata.sorted_tables
    for table in reversed(tables):
        out.execute(sa.delete(table))
    for table in tables:
        result = src.execution_options(yield_per=_BATCH).execute(sa.select(table))
        for rows in result.partitions(_BATCH):
            out.execute(sa.insert(table), [dict(row._mapping) for row in rows])


def is_empty(engine: Engine) -> bool:
    """Whether the database of ``engine`` has no table at all (a restore's target)."""
    return not sa.inspect(engine).get_table_names()


def copy_rows_into(snapshot: Path, engine: Engine) -> None:
    """Load a verified snapshot into the empty database of ``engine``: the schema by the
    migrations, then every row in one transaction. On failure the tables are dropped again,
    so the database is left as empty as it was."""
    if not is_empty(engine):
        raise Conflict(f"the database at {describe_url(str(engine.url))} is not empty")
    source = connect(f"sqlite:///{snapshot}", read_only=True)
    try:
        migrate(engine)
        with source.connect() as src, engine.begin() as out:
            _copy(src, out)
    except BaseException:
        with contextlib.suppress(SQLAlchemyError):
            SQLModel.metadata.drop_all(engine)
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        raise
    finally:
        source.dispose()
