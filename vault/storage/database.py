"""The metadata database: engine, connection policy and schema migrations.

SQLite (the embedded default) gets WAL, foreign keys and ``secure_delete`` so that rows removed
by crypto-shredding are overwritten in the file rather than left in free pages. The schema is
owned by Alembic from the first table on; ``migrate`` brings any database to the latest revision.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from vault.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["connect", "current_revision", "describe_url", "head_revision", "migrate"]

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


def connect(url: str, *, check: bool = True) -> Engine:
    """Create an engine for ``url`` and (with ``check``) prove the database answers.

    Raises ``StorageError`` naming the database (never its credentials) if it cannot be reached.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError("the database URL is not valid") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StorageError(f"unsupported database URL {describe_url(url)}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            engine.dispose()
            log.debug("database connection failed: %s", exc)
            raise StorageError(f"cannot reach the database at {describe_url(url)}") from None
    return engine


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
