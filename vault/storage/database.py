"""The metadata database: engine, connection policy and schema migrations.

SQLite (the embedded default) gets WAL, foreign keys and ``secure_delete`` so that rows removed
by crypto-shredding are overwritten in the file rather than left in free pages. The schema is
owned by Alembic from the first table on; ``migrate`` brings any database to the latest revision.

A database that runs out of disk, turns read-only or fails with an I/O error raises
``StorageError`` from the engine itself (``_storage_failure``), whatever the statement, so every
caller gets the same clear, typed error instead of a driver exception; a value the database
refuses to store (PostgreSQL text cannot hold NUL) raises ``InvalidInput`` the same way, since it
is the caller's input that slipped past validation, not a failure. ``connect(read_only=True)``
opens a database for checking without writing a byte to it, also on a read-only snapshot.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DataError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from vault.errors import InvalidInput, StorageError, Unavailable

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "PoolSize",
    "connect",
    "current_revision",
    "describe_url",
    "free_bytes",
    "head_revision",
    "migrate",
]

log = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).parent / "migrations"


def describe_url(url: str) -> str:
    """The database URL without credentials, safe for messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "an invalid database URL"
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:{parsed.database}"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.get_backend_name()}://{host}{port}/{parsed.database or ''}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # No journal_mode here: setting it is a write. query_only refuses any write that slips
    # through, so a checking command cannot change what it checks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _postgres_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()


# SQLite primary result codes and PostgreSQL SQLSTATEs that mean the storage itself failed,
# with what the caller is told. A full disk stops reads too: every read is recorded in the
# access log before it is answered, and an action whose entry cannot be written does not happen.
_SQLITE_FAILURES = {
    sqlite3.SQLITE_FULL: "the database's disk is full; nothing can be done, reads included "
    "(each is recorded in the access log first), until space is freed",
    sqlite3.SQLITE_READONLY: "the database is read-only",
    sqlite3.SQLITE_IOERR: "the database could not be read or written (I/O error)",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
}
_POSTGRES_FAILURES = {
    "53100": _SQLITE_FAILURES[sqlite3.SQLITE_FULL],  # disk_full
    "25006": "the database is read-only",  # read_only_sql_transaction (a standby)
}


def _storage_failure(context: ExceptionContext) -> None:
    """Raise ``StorageError`` in place of a driver error that says the storage failed, and
    ``InvalidInput`` in place of one that refuses a value."""
    if isinstance(context.sqlalchemy_exception, DataError):
        raise InvalidInput("a value contains characters that cannot be stored")
    original = context.original_exception
    code = getattr(original, "sqlite_errorcode", None)
    message = None
    if isinstance(code, int):
        message = _SQLITE_FAILURES.get(code & 0xFF)  # extended codes keep the primary in 8 bits
    else:
        message = _POSTGRES_FAILURES.get(str(getattr(original, "sqlstate", "")))
    if message is not None:
        # The operator's signal: the client only sees a 503. The message names no path.
        log.warning("database storage failure: %s", message)
        raise StorageError(message)


def _read_only_sqlite_url(parsed: URL) -> URL:
    """A URI that opens the SQLite file read-only.

    With no ``-wal`` file beside it, no connection has the database open and every committed
    transaction is in the main file: it is opened ``immutable``, which creates no ``-wal`` or
    ``-shm`` file, so a snapshot (even on a read-only mount) is left exactly as it was. With a
    ``-wal`` (a vault in use), it is opened ``mode=ro`` and read through the log like any reader.
    """
    path = Path(parsed.database or "").absolute()
    options = "mode=ro" if Path(f"{path}-wal").exists() else "mode=ro&immutable=1"
    return make_url(f"sqlite:///file:{quote(str(path))}?{options}&uri=true")


@dataclass(frozen=True)
class PoolSize:
    """The connection pool of one process: ``size`` kept open, ``overflow`` more under load,
    ``timeout`` seconds to wait for one when all are busy (then ``Unavailable``, a 503)."""

    size: int = 5
    overflow: int = 10
    timeout: float = 30.0


class _BoundedPool(QueuePool):
    """A queue pool whose wait for a free connection ends in ``Unavailable`` (503 with
    Retry-After: the client may try again) instead of SQLAlchemy's ``TimeoutError``, which
    nothing above storage knows (the API must not import SQLAlchemy)."""

    def _do_get(self) -> ConnectionPoolEntry:
        # _do_get is QueuePool's checkout, where it waits and raises: a private method that
        # every pool class of SQLAlchemy's overrides. tests/vault/test_pool.py fails if a
        # release renames it (the timeout would then reach the API as an unexpected error).
        try:
            return super()._do_get()
        except PoolTimeout:
            log.warning("every database connection of this process is busy")
            raise Unavailable("the server is busy; try again", retry_after=1) from None


# SQLAlchemy names a pool's logger after its class, and keeps only its own "sqlalchemy" tree at
# WARNING: without this, a server logging at INFO would log every pool disposal of this one.
logging.getLogger(f"{__name__}.{_BoundedPool.__name__}").setLevel(logging.WARNING)


def connect(
    url: str, *, check: bool = True, read_only: bool = False, pool: PoolSize | None = None
) -> Engine:
    """Create an engine for ``url`` and (with ``check``) prove the database answers.

    With ``read_only``, nothing is ever written: for commands that only check a vault.
    ``pool`` sizes the connection pool (SQLAlchemy's defaults without it).
    Raises ``StorageError`` naming the database (never its credentials) if it cannot be reached.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError("the database URL is not valid") from None
    sqlite = parsed.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {}
    if sqlite:
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    if pool is not None:
        kwargs.update(pool_size=pool.size, max_overflow=pool.overflow, pool_timeout=pool.timeout)
        kwargs["poolclass"] = _BoundedPool
    target = _read_only_sqlite_url(parsed) if sqlite and read_only else parsed
    try:
        engine = sa.create_engine(target, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StorageError(f"unsupported database URL {describe_url(url)}: {exc}") from None
    if sqlite:
        pragmas = _sqlite_read_only_pragmas if read_only else _sqlite_pragmas
        event.listen(engine, "connect", pragmas)
    elif read_only:
        event.listen(engine, "connect", _postgres_read_only)
    event.listen(engine, "handle_error", _storage_failure)
    if check:
        try:
            with engine.connect() as conn:
                # Reading the schema, not just SELECT 1: SQLite opens its files lazily.
                conn.execute(
                    sa.text("SELECT 1" if not sqlite else "SELECT count(*) FROM sqlite_master")
                )
        except (SQLAlchemyError, StorageError) as exc:
            engine.dispose()
            log.debug("database connection failed: %s", exc)
            raise StorageError(f"cannot reach the database at {describe_url(url)}") from None
    return engine


def free_bytes(engine: Engine) -> int | None:
    """Bytes still free on the file system of an SQLite database file; ``None`` for a
    database server, whose disk this process cannot see."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    database = url.database
    if database.startswith("file:"):  # the URI of a read-only connection
        database = unquote(database.removeprefix("file:"))
    try:
        stats = os.statvfs(Path(database).absolute().parent)
    except OSError as exc:
        raise StorageError(f"cannot read the database's directory: {exc.strerror}") from None
    return stats.f_bavail * stats.f_frsize


# Alembic is imported where it is used: most commands never migrate, and it costs a quarter
# of a second to import.


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the latest revision (idempotent)."""
    try:
        from alembic import command

        command.upgrade(_alembic_config(engine), "head")
    except OperationalError as exc:
        log.debug("migration failed: %s", exc)
        raise StorageError("the database schema could not be upgraded") from None


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(_MIGRATIONS)).get_current_head()
    if head is None:
        raise StorageError("no schema migrations are installed")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()
