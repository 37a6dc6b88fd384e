"""Users' public keys as clients check them: each with the log entry that names it, a signed
checkpoint and the proofs that tie the two together (``vault.audit.transparency``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit import log, pin, transparency
from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import InvalidInput, NotFound
from vault.services import keyring
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.storage.models import AuditEntry, User

__all__ = ["KeyDirectory", "PublishedKey"]

# How many entries naming a key are looked at, newest first, for one that is really about its
# user (the index column is a copy a database writer could point elsewhere; clients check the
# entry itself, and the server only avoids serving what they would refuse).
_CANDIDATES = 4


@dataclass(frozen=True)
class PublishedKey:
    """A user's public key, the entry of the log that names it, a checkpoint whose tree holds
    that entry, the entry's inclusion proof, and (when asked with ``since``) the proof that
    the checkpoint's tree extends the one of size ``since``."""

    username: str
    user_id: UUID
    enabled: bool
    public_key: bytes
    index: int
    leaf: bytes
    checkpoint: str
    inclusion: list[bytes]
    consistency: list[bytes]


class KeyDirectory:
    """Any authenticated caller may look up any user's key: wrapping a document for a case's
    members needs them, and comparing fingerprints is how colleagues check each other's."""

    def __init__(self, *, engine: Engine, clock: Clock, witness: Callable[[], str]) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._witness = witness

    def key_of(self, actor: Actor, username: str, *, since: int | None = None) -> PublishedKey:
        """``username``'s current public key as the module docstring says. ``NotFound`` for
        an unknown user and for one without a key yet (not enrolled); ``InvalidInput`` for a
        ``since`` larger than the log."""
        with self._uow.read() as db:
            user = db.exec(select(User).where(User.username == username)).first()
            if user is None or user.key_id is None or user.public_key is None:
                raise NotFound("no such user, or no key yet")
            user_id, key_id = user.id, user.key_id
            index = _entry_of(db, user_id, key_id)
        if index is None:
            # Logged before entries named keys, or by a release that did not index them.
            with self._uow.audited(
                None, Action.USER_KEY_LOGGED, extra={"key_id": key_id}, user=user_id
            ) as work:
                index = work.log()
        return self._published(user.username, user_id, user.enabled, user.public_key, index, since)

    def recovery_key(self, actor: Actor, *, since: int | None = None) -> PublishedKey:
        """The vault's active recovery key, as ``key_of`` answers a user's: every document is
        wrapped for it too, so an end-to-end client checks it like a colleague's. (The record
        names no user: ``username`` is empty and ``user_id`` the nil UUID.)"""
        with self._uow.read() as db:
            recovery = keyring.active_recovery_key(db)
            index = _recovery_entry_of(db, recovery.key_id)
        if index is None:
            # Made the recovery key before its entries were indexed.
            with self._uow.audited(
                None, Action.RECOVERY_KEY_LOGGED, recovery_key=recovery.key_id
            ) as work:
                index = work.log()
        return self._published("", UUID(int=0), True, recovery.to_bytes(), index, since)

    def _published(
        self,
        username: str,
        user_id: UUID,
        enabled: bool,
        public_key: bytes,
        index: int,
        since: int | None,
    ) -> PublishedKey:
        note = self._witness()
        with self._uow.read() as db:
            head = pin.open_pinned(note.encode(), pin.log_keys(db))
            if since is not None and not 0 < since <= head.size:
                raise InvalidInput(f"since must be between 1 and the log's size ({head.size})")
            leaf = db.exec(select(AuditEntry.leaf).where(col(AuditEntry.idx) == index)).one()
            return PublishedKey(
                username=username,
                user_id=user_id,
                enabled=enabled,
                public_key=public_key,
                index=index,
                leaf=bytes(leaf),
                checkpoint=note,
                inclusion=log.inclusion_proof(db, index, head.size),
                consistency=(
                    log.consistency_proof(db, since, head.size)
                    if since is not None and since < head.size
                    else []
                ),
            )


def _candidates(db: Session, key_id: str) -> list[tuple[int, bytes]]:
    rows = db.exec(
        select(AuditEntry.idx, AuditEntry.leaf)
        .where(col(AuditEntry.key_id) == key_id)
        .order_by(col(AuditEntry.idx).desc())
        .limit(_CANDIDATES)
    ).all()
    return [(int(index), bytes(leaf)) for index, leaf in rows]


def _recovery_entry_of(db: Session, key_id: str) -> int | None:
    """The newest entry that makes ``key_id`` the recovery key, if one is indexed."""
    for index, leaf in _candidates(db, key_id):
        if transparency.gives_recovery(leaf, key_id=key_id):
            return index
    return None


def _entry_of(db: Session, user_id: UUID, key_id: str) -> int | None:
    """The newest entry that gives ``user_id`` the key ``key_id``, if one is indexed."""
    for index, leaf in _candidates(db, key_id):
        if transparency.gives(leaf, user_id=user_id, key_id=key_id):
            return index
    return None
