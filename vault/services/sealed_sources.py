"""Sources recorded and revealed end to end: the handler's client seals the identity notes and
names itself, and opens them itself; the server stores and returns them as sealed.

Recording: the client picks the source's id and a fresh data key, seals the records bound to
the case and the key's commitment (``vault.source_record``), and wraps the key for its own key
and the vault's recovery key, each checked against the access log. The server checks what it
can without the key (one copy for exactly those two keys, of the right size; records of a
bounded size; an unused id) and gives the source a pseudonym. Revealing: the handler, and only
while a member of the source's case, gets the sealed records and their copy of the key, with
the reason recorded in the access log exactly as a server-side reading records it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session

from vault import crypto
from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import Conflict, InvalidInput, NotFound
from vault.services import keyring
from vault.services.grants import is_member
from vault.services.sources import SourceInfo, free_pseudonym, new_handler, source_info
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.storage.models import Source, User

__all__ = [
    "MAX_SEALED_RECORD",
    "NewSealedSource",
    "SealedIdentity",
    "SealedSources",
    "SourceKey",
]

# The notes are at most 64 KiB, the names 50 of 200 characters: sealed, well under this.
MAX_SEALED_RECORD = 96 * 1024
_E2E = {"mode": "end-to-end"}


@dataclass(frozen=True)
class NewSealedSource:
    """What an end-to-end client sends to record a source."""

    source_id: UUID
    key_commitment: bytes
    sealed_notes: bytes | None
    sealed_names: bytes | None
    wrapped: Mapping[str, bytes]  # by recipient key id


@dataclass(frozen=True)
class SealedIdentity:
    """A source's sealed records with the handler's copy of its key."""

    info: SourceInfo
    key_commitment: bytes | None
    sealed_notes: bytes | None
    sealed_names: bytes | None
    recipient_key_id: str
    wrapped_key: bytes | None  # None when the source has no sealed record


@dataclass(frozen=True)
class SourceKey:
    """The handler's copy of a source's key, to hand the source over from the client."""

    case_id: UUID
    key_commitment: bytes | None
    recipient_key_id: str
    wrapped_key: bytes | None  # None when the source has no sealed record


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not 3 <= len(reason) <= 500:
        raise InvalidInput("a reason of 3-500 characters is required")
    return reason


class SealedSources:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._clock = clock

    def create(self, actor: Actor, case_id: UUID, new: NewSealedSource) -> SourceInfo:
        """Record a source the caller's client sealed, as the module docstring says."""
        _check(new)
        with self._uow.audited(actor, Action.SOURCE_CREATE, extra=_E2E, case=case_id) as work:
            db = work.db
            if not is_member(db, case_id, actor.user_id):
                raise NotFound("no such case")
            handler = db.get(User, actor.user_id)
            if handler is None or handler.public_key is None:
                raise InvalidInput("the handler has no key yet: finish enrolment first")
            if db.get(Source, new.source_id) is not None:
                raise Conflict("a source with this id exists already")
            sealed = new.sealed_notes is not None or new.sealed_names is not None
            source = Source(
                id=new.source_id,
                case_id=case_id,
                pseudonym=free_pseudonym(db),
                handler_id=actor.user_id,
                created_at=self._clock(),
                sealed_notes=new.sealed_notes,
                sealed_names=new.sealed_names,
                key_commitment=new.key_commitment if sealed else None,
            )
            db.add(source)
            if sealed:
                keyring.store_client_wrapped(
                    db,
                    kind=keyring.SOURCE,
                    subject_id=source.id,
                    wrapped=new.wrapped,
                    recipients=[
                        crypto.PublicKey(handler.public_key),
                        keyring.active_recovery_key(db),
                    ],
                    clock=self._clock,
                )
            elif new.wrapped:
                raise InvalidInput("a source without identity notes or names has no key")
            work.add(source=source.id)
        return source_info(source)

    def identity(self, actor: Actor, source_id: UUID, *, reason: str) -> SealedIdentity:
        """The sealed records of a source the caller handles, with their copy of its key; the
        reading and ``reason`` go into the access log. Anyone else: ``NotFound``."""
        reason = _reason(reason)
        with self._uow.audited(
            actor, Action.SOURCE_IDENTITY_READ, extra={"reason": reason, **_E2E}
        ) as work:
            source, key_id, wrapped = _handled(work.db, actor, source_id)
            work.add(source=source.id, case=source.case_id)
        return SealedIdentity(
            source_info(source),
            source.key_commitment,
            source.sealed_notes,
            source.sealed_names,
            key_id,
            wrapped,
        )

    def key(self, actor: Actor, source_id: UUID) -> SourceKey:
        """The handler's copy of the source's key (a wrapped key reveals nothing: not logged;
        the handover that uses it is)."""
        with self._uow.read() as db:
            source, key_id, wrapped = _handled(db, actor, source_id)
            return SourceKey(source.case_id, source.key_commitment, key_id, wrapped)

    def hand_over(
        self, actor: Actor, source_id: UUID, to: str, *, key_id: str, wrapped: bytes | None
    ) -> SourceInfo:
        """Hand a source over from the client: ``wrapped`` is the source's key wrapped for the
        new handler's key ``key_id`` (which must be theirs now; ``None`` for a source without
        sealed records). The handler's own copy is deleted. Logged as a server-side handover
        is."""
        with self._uow.audited(actor, Action.SOURCE_HANDOVER, extra=_E2E) as work:
            db = work.db
            source, own_key_id, own = _handled(db, actor, source_id)
            user = new_handler(db, source.case_id, to, not_=actor.user_id)
            if (own is None) != (wrapped is None):
                raise InvalidInput(
                    "send the source's key wrapped for the new handler exactly when it has "
                    "identity notes or names"
                )
            if wrapped is not None:
                if key_id != user.key_id:
                    raise Conflict("the new handler's key is another one now: check it again")
                if len(wrapped) != crypto.WRAPPED_KEY_SIZE:
                    raise InvalidInput(f"a wrapped key is {crypto.WRAPPED_KEY_SIZE} bytes")
                keyring.store_client_wrapped(
                    db,
                    kind=keyring.SOURCE,
                    subject_id=source.id,
                    wrapped={key_id: wrapped},
                    recipients=[crypto.PublicKey(user.public_key or b"")],
                    clock=self._clock,
                )
                keyring.delete_wrapped(
                    db, kind=keyring.SOURCE, subject_ids=[source.id], key_id=own_key_id
                )
            source.handler_id = user.id
            source.handover_pending = False
            db.add(source)
            work.add(source=source.id, case=source.case_id, user=str(user.id))
        return source_info(source)


def _check(new: NewSealedSource) -> None:
    if new.source_id.version != 4:
        raise InvalidInput("a source id is a random (version 4) UUID")
    if len(new.key_commitment) != 32:
        raise InvalidInput("a key commitment is 32 bytes")
    for record in (new.sealed_notes, new.sealed_names):
        if record is not None and not 0 < len(record) <= MAX_SEALED_RECORD:
            raise InvalidInput(f"a sealed record is 1 to {MAX_SEALED_RECORD} bytes")
    if any(len(copy) != crypto.WRAPPED_KEY_SIZE for copy in new.wrapped.values()):
        raise InvalidInput(f"a wrapped key is {crypto.WRAPPED_KEY_SIZE} bytes")
    if new.source_id == uuid.UUID(int=0):
        raise InvalidInput("a source id is a random (version 4) UUID")


def _handled(db: Session, actor: Actor, source_id: UUID) -> tuple[Source, str, bytes | None]:
    source = db.get(Source, source_id)
    # As a server-side reading: the handler, and only while a member of the source's case.
    if (
        source is None
        or source.handler_id != actor.user_id
        or not is_member(db, source.case_id, actor.user_id)
    ):
        raise NotFound("no such source")
    user = db.get(User, actor.user_id)
    if user is None or user.key_id is None:
        raise NotFound("no such source")
    if source.sealed_notes is None and source.sealed_names is None:
        return source, user.key_id, None
    copy = keyring.find_wrapped(db, kind=keyring.SOURCE, subject_id=source.id, key_id=user.key_id)
    if copy is None:
        # Handed over while its key waits for the recovery key holders.
        raise Conflict("your copy of this source's key waits for the recovery key holders")
    return source, user.key_id, copy.wrapped
