"""Accepting a deliberate rollback of the database (``vault audit accept-rollback``).

When an operator restores an older copy of the database on purpose, the log in it no longer
extends the checkpoint pinned outside it (``vault.audit.pin``), and the vault refuses to start
or sign. Accepting the restore is itself an entry in the log, ``audit.rollback.accepted``, which
names the pinned tree and the database's tree it replaces (sizes and hex roots); the checkpoint
of the tree ending with that entry is signed and stored in the same transaction, and pinned
once it is committed. A witness that saved the newer checkpoint still sees the log rewritten:
the entry tells it why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from vault.audit import checkpoint, log, pin, signer
from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import Conflict, IntegrityError, StorageError
from vault.services.uow import SYSTEM, UnitOfWork
from vault.settings import Settings
from vault.storage.models import AuditCheckpoint

__all__ = ["Accepted", "accept_rollback"]

_NONE = "none"


@dataclass(frozen=True)
class Accepted:
    """What was accepted: the pinned size (``None`` if nothing that opens was pinned), the
    database's size before the entry, and the index of the entry that records it."""

    pinned_size: int | None
    database_size: int
    index: int


def accept_rollback(engine: Engine, settings: Settings, clock: Clock) -> Accepted:
    """Log that the database's log replaces the pinned one, sign and pin the tree that ends
    with that entry. ``Conflict`` if the database extends the pinned checkpoint (there is
    nothing to accept)."""
    path = settings.checkpoint_pin_path
    with pin.locked(path):
        uow = UnitOfWork(engine, clock)
        with uow.audited(SYSTEM, Action.AUDIT_ROLLBACK_ACCEPTED) as work:
            db = work.db
            log.lock(db)  # the head read next stays the head until the entry is appended
            size, root = pin.current_head(db)
            keys = pin.log_keys(db)
            try:
                pin.check(db, path, size, root, keys)
            except IntegrityError:
                pass
            else:
                raise Conflict(
                    "the database's access log extends the pinned checkpoint: there is no "
                    "rollback to accept"
                )
            pinned = _pinned(path, keys)
            work.add(
                extra={
                    "pinned_size": str(pinned.size) if pinned else _NONE,
                    "pinned_root": pinned.root.hex() if pinned else _NONE,
                    "database_size": str(size),
                    "database_root": root.hex(),
                }
            )
            index = work.log()
            found = signer.load_signer(db, settings)
            if found is None:
                raise StorageError("the access log has no signing key")
            new_size, new_root = pin.current_head(db)
            note = checkpoint.sign(
                checkpoint.Checkpoint(found.name, new_size, new_root), found.name, found.key
            )
            db.add(AuditCheckpoint(size=new_size, note=note, created_at=clock()))
        pin.write(path, note)
    return Accepted(pinned.size if pinned else None, size, index)


def _pinned(path: Path, keys: list[tuple[str, bytes]]) -> checkpoint.Checkpoint | None:
    data = pin.read(path)
    if data is None:
        return None
    try:
        return pin.open_pinned(data, keys)
    except IntegrityError:
        return None  # a file no key of this log opens: recorded as nothing pinned
