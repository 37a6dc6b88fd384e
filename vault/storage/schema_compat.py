"""Which schema revisions this release may serve: its own, and a newer one whose migrations
only added to what this release uses (``schema_compat.oldest_release`` at or below this
release's revision). That is what lets replicas be upgraded one by one: `vault migrate` with
the new release first, then each replica in turn, the old ones serving meanwhile
(docs/deployment.md, "Stopping and upgrading").

Revisions are four-digit numbers, so their order is the order of their text. A database at an
older revision than this release's is never served: it lacks what this release writes.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vault.errors import StorageError

__all__ = ["check"]

log = logging.getLogger(__name__)


def _oldest_release(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT oldest_release FROM schema_compat WHERE id = 1")
            ).scalar_one_or_none()
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        return None  # no such table (SQLite, PostgreSQL): a schema from before 0013
    return None if found is None else str(found)


def check(engine: Engine, revision: str, release: str) -> None:
    """Return if a release whose schema revision is ``release`` may serve the database at
    ``revision``; ``StorageError`` saying what to do otherwise."""
    if revision == release:
        return
    if revision < release:
        raise StorageError(
            f"the vault's schema is at revision {revision}, this version expects {release}: "
            "run `vault migrate` with this version"
        )
    oldest = _oldest_release(engine)
    if oldest is None or oldest > release:
        raise StorageError(
            f"the vault's schema is at revision {revision}, newer than this version's "
            f"({release}), and no longer one this version can serve: upgrade this server"
        )
    # Said at every start: this replica is behind, and should be upgraded soon.
    log.warning(
        "the vault's schema is at revision %s, newer than this version's (%s) but compatible "
        "with it: serving; upgrade this server",
        revision,
        release,
    )
