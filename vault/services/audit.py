"""Reading the access log: checkpoints, the verifier key, entries, proofs, and one document's
history, for the callers allowed to read each; and rotating the log's signing key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit import log, rotation, signer
from vault.clock import Clock
from vault.errors import Conflict, InvalidInput, NotFound, StorageError
from vault.services.grants import is_member
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import AuditEntry, Document, Role, User

__all__ = ["MAX_PAGE", "AuditService", "HistoryItem"]

MAX_PAGE = 1000
# Why serving a checkpoint writes: each tree size's signed checkpoint is stored once, so that
# every replica serves the same note for it. The log's own record, not an action.
_STORED_CHECKPOINT = "a tree size's signed checkpoint is stored once"


@dataclass(frozen=True)
class HistoryItem:
    index: int
    time: datetime
    actor: str
    action: str
    outcome: str


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _document_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput("a document id is a UUID") from None


class AuditService:
    """Auditors (administrators and editors) read the whole log. Everyone who can read may
    fetch the checkpoint and the verifier key, and an inclusion proof for an entry that names
    them as its actor: the receipt for an upload. A document's history is for the editors and
    administrators of its case and for the journalist who uploaded it."""

    def __init__(self, *, engine: Engine, settings: Settings, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._settings = settings
        self._clock = clock

    @staticmethod
    def _require_auditor(actor: Actor) -> None:
        if actor.role not in (Role.ADMIN, Role.EDITOR):
            raise NotFound("no such resource")

    def _signer(self, db: Session) -> signer.Signer:
        found = signer.load_signer(db, self._settings)
        if found is None:
            raise StorageError("the access log has no signing key")
        return found

    def checkpoint(self, actor: Actor) -> str:
        return self.witness()

    def witness(self) -> str:
        """Sign (and pin, outside the database) a checkpoint of the log as it is now: what
        the server does after every redaction decision, so that no decision sits in an
        unsigned tail of the log that a database writer could cut off unnoticed."""
        try:
            with self._uow.unaudited(_STORED_CHECKPOINT) as db:
                return signer.latest_checkpoint(db, self._signer(db), self._clock)
        except Conflict:
            # The key was rotated between reading it and the head: the new one is active now.
            with self._uow.unaudited(_STORED_CHECKPOINT) as db:
                return signer.latest_checkpoint(db, self._signer(db), self._clock)

    def verifier_key(self, actor: Actor) -> str:
        with self._uow.read() as db:
            return self._signer(db).vkey

    def rotations(self, actor: Actor) -> list[rotation.Transition]:
        """Every rotation of the log's key, oldest first: what a client that pinned an older
        key needs to follow to the current one (``rotation.follow``)."""
        with self._uow.read() as db:
            return signer.load_transitions(db)

    def rotate_key(self) -> rotation.Transition:
        """Replace the log's signing key (the administrator, on the server)."""
        with self._uow.unaudited("the signer appends the rotation's entry and commits it") as db:
            return signer.rotate_log_key(db, self._settings, self._clock)

    def entries(self, actor: Actor, start: int, end: int) -> list[tuple[int, bytes]]:
        self._require_auditor(actor)
        if not 0 <= start < end:
            raise InvalidInput("need 0 <= start < end")
        end = min(end, start + MAX_PAGE)
        with self._uow.read() as db:
            rows = db.exec(
                select(AuditEntry)
                .where(col(AuditEntry.idx) >= start, col(AuditEntry.idx) < end)
                .order_by(col(AuditEntry.idx))
            ).all()
            return [(row.idx, row.leaf) for row in rows]

    def listing(
        self,
        *,
        document: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The log's entries as decoded JSON, oldest first, each with ``actor_name`` (the
        actor's username, or the actor as logged), for the server's command line (the local
        administrator). Filters: entries about ``document``, by ``actor`` (a username or an
        id), at or after ``since`` (naive times are UTC)."""
        with self._uow.read() as db:
            names = {str(u.id): u.username for u in db.exec(select(User))}
            stmt = select(AuditEntry).order_by(col(AuditEntry.idx))
            if document is not None:
                stmt = stmt.where(col(AuditEntry.document_id) == _document_id(document))
            if since is not None:
                start = since if since.tzinfo else since.replace(tzinfo=UTC)
                stmt = stmt.where(col(AuditEntry.created_at) >= start)
            rows = db.exec(stmt).all()
        ids = {v: k for k, v in names.items()}
        entries = []
        for row in rows:
            entry: dict[str, Any] = json.loads(row.leaf)
            if actor is not None and entry["actor"] != ids.get(actor, actor):
                continue
            entry["actor_name"] = names.get(entry["actor"], entry["actor"])
            entries.append(entry)
        return entries

    def _size(self, db: Session) -> int:
        return log.head(db)[0]

    def inclusion(self, actor: Actor, index: int, tree_size: int) -> list[bytes]:
        with self._uow.read() as db:
            if actor.role not in (Role.ADMIN, Role.EDITOR) and not _acted(db, actor, index):
                raise NotFound("no such resource")
            if not 0 <= index < tree_size <= self._size(db):
                raise InvalidInput("need 0 <= index < tree_size <= the log's size")
            return log.inclusion_proof(db, index, tree_size)

    def consistency(self, actor: Actor, first: int, second: int) -> list[bytes]:
        """For every reader: a client checks that each checkpoint it sees extends the last one
        (key transparency), and the proof's node hashes say nothing of any entry."""
        with self._uow.read() as db:
            if not 0 < first <= second <= self._size(db):
                raise InvalidInput("need 0 < first <= second <= the log's size")
            return log.consistency_proof(db, first, second)

    def document_history(self, actor: Actor, document_id: UUID) -> list[HistoryItem]:
        with self._uow.read() as db:
            document = db.get(Document, document_id)
            allowed = (
                document is not None
                and is_member(db, document.case_id, actor.user_id)
                and (
                    actor.role in (Role.ADMIN, Role.EDITOR) or document.uploader_id == actor.user_id
                )
            )
            if not allowed:
                raise NotFound("no such document")
            rows = db.exec(
                select(AuditEntry)
                .where(col(AuditEntry.document_id) == document_id)
                .order_by(col(AuditEntry.idx))
            ).all()
            entries: list[dict[str, Any]] = [json.loads(row.leaf) for row in rows]
            actor_ids = {UUID(e["actor"]) for e in entries if _is_uuid(e["actor"])}
            names = {
                str(u.id): u.username
                for u in db.exec(select(User).where(col(User.id).in_(actor_ids)))
            }
            items = []
            for row, entry in zip(rows, entries, strict=True):
                items.append(
                    HistoryItem(
                        index=row.idx,
                        time=row.created_at,
                        actor=names.get(entry["actor"], entry["actor"]),
                        action=entry["action"],
                        outcome=entry["outcome"],
                    )
                )
            return items


def _acted(db: Session, actor: Actor, index: int) -> bool:
    """Whether entry ``index`` names ``actor`` as the one who acted."""
    row = db.get(AuditEntry, index)
    if row is None:
        return False
    try:
        return bool(json.loads(row.leaf).get("actor") == str(actor.user_id))
    except (ValueError, AttributeError):
        return False
