"""Pseudonymous sources.

A source is known in the vault by a generated pseudonym (``amber-falcon-42``). Anything that
could identify them goes into identity notes, sealed under a key of their own that is wrapped
only for the handler (the member who recorded the source) and the recovery key: not for the
rest of the case, and never for administrators.

A source changes hands in two ways. Its handler hands it over (``hand_over``): their key wraps the
source's key for the new handler at once. Or its handler is removed from the case: their copy is
deleted with the membership, and the remover names who takes the source (whose copy then waits
for the recovery key holders, ``complete_handovers``: nobody else holds the key to wrap it with)
or leaves it to the recovery key alone (no handler).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto, source_record
from vault.audit.actions import Action
from vault.clock import Clock
from vault.crypto import PrivateKey, PublicKey
from vault.errors import Conflict, InvalidInput, NotFound
from vault.services import grants, keyring
from vault.services.grants import is_member
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.storage.models import Source, User

__all__ = [
    "Handover",
    "SourceInfo",
    "SourceService",
    "await_recovery",
    "complete_handovers",
    "free_pseudonym",
    "handled_by",
    "new_handler",
    "new_pseudonym",
    "read_names",
    "release_handled",
]

MAX_NOTES = source_record.MAX_NOTES
_ADJECTIVES = (
    "amber azure brisk calm cedar coral crimson dusky ember fallow gentle golden hazel ivory "
    "jade keen lunar misty noble ochre pale quiet russet sable silver slate solar sombre swift "
    "tawny umber velvet vivid wintry"
).split()
_ANIMALS = (
    "badger bison crane curlew falcon ferret finch gecko heron ibis jackal kestrel lynx marten "
    "mole newt ocelot osprey otter owl panther petrel puffin quail raven robin salmon stoat "
    "swift tapir tern vole wren yak"
).split()


@dataclass(frozen=True)
class Handover:
    """What became of one source whose handler was removed from its case."""

    source_id: UUID
    pseudonym: str
    handler: str | None  # the new handler's username; None: left to the recovery key alone
    awaiting_recovery: bool  # the new handler's copy waits for the recovery key holders


@dataclass(frozen=True)
class SourceInfo:
    """A source as its case sees it: the pseudonym and who handles it, never what identifies
    them (``has_identity_notes`` says only whether there are notes)."""

    id: UUID
    case_id: UUID
    pseudonym: str
    handler_id: UUID | None
    handover_pending: bool
    has_identity_notes: bool
    created_at: datetime


def source_info(row: Source) -> SourceInfo:
    """The boundary object of a source row."""
    return SourceInfo(
        id=row.id,
        case_id=row.case_id,
        pseudonym=row.pseudonym,
        handler_id=row.handler_id,
        handover_pending=row.handover_pending,
        has_identity_notes=row.sealed_notes is not None,
        created_at=row.created_at,
    )


def new_pseudonym() -> str:
    """A readable random pseudonym; carries no information about the source."""
    number = secrets.randbelow(100)
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}-{number:02d}"


def _create_source(
    db: Session,
    actor: Actor,
    case_id: UUID,
    *,
    notes: str | None,
    clock: Clock,
    names: Sequence[str] = (),
) -> Source:
    """Record a source in ``case_id`` handled by ``actor`` (not committed). ``names`` are the
    source's names and aliases, which redaction suggestions look for in documents."""
    if not is_member(db, case_id, actor.user_id):
        raise NotFound("no such case")
    source_record.check_notes(notes)
    names = source_record.clean_names(names)
    handler = db.get(User, actor.user_id)
    if handler is None or handler.public_key is None:
        raise InvalidInput("the handler has no key yet: finish enrolment first")
    source = Source(
        case_id=case_id, pseudonym=free_pseudonym(db), handler_id=actor.user_id, created_at=clock()
    )
    db.add(source)
    if notes is not None or names:
        data_key = crypto.new_data_key()
        commitment = crypto.key_commitment(data_key, kind=keyring.SOURCE, subject_id=source.id)
        source.key_commitment = commitment
        where = _where(source)
        if notes is not None:
            source.sealed_notes = source_record.seal_notes(data_key, notes, **where)
        if names:
            source.sealed_names = source_record.seal_names(data_key, names, **where)
        keyring.store_wrapped(
            db,
            kind=keyring.SOURCE,
            subject_id=source.id,
            data_key=data_key,
            recipients=[PublicKey(handler.public_key), keyring.active_recovery_key(db)],
            clock=clock,
        )
    return source


def free_pseudonym(db: Session) -> str:
    """A pseudonym no source has yet."""
    for _ in range(20):
        pseudonym = new_pseudonym()
        if db.exec(select(Source.id).where(Source.pseudonym == pseudonym)).first() is None:
            return pseudonym
    raise Conflict("could not find a free pseudonym; try again")


def _where(source: Source) -> dict[str, Any]:
    return {"source_id": source.id, "case_id": source.case_id, "commitment": source.key_commitment}


def _list_sources(db: Session, actor: Actor, case_id: UUID) -> list[Source]:
    if not is_member(db, case_id, actor.user_id):
        raise NotFound("no such case")
    return list(
        db.exec(select(Source).where(Source.case_id == case_id).order_by(col(Source.pseudonym)))
    )


def _handled_key(db: Session, actor: Actor, source_id: UUID) -> tuple[Source, bytes | None]:
    source = db.get(Source, source_id)
    # The handler, and only while a member of the source's case: a membership that ended ends
    # the handling too (removal also moves the source on; this holds even if a row says not).
    if (
        source is None
        or source.handler_id != actor.user_id
        or not is_member(db, source.case_id, actor.user_id)
    ):
        raise NotFound("no such source")
    if source.sealed_notes is None and source.sealed_names is None:
        return source, None
    data_key = keyring.open_data_key(
        db, kind=keyring.SOURCE, subject_id=source.id, key=actor.require_key()
    )
    if data_key is None:
        raise NotFound("no such source")
    return source, data_key


def new_handler(db: Session, case_id: UUID, username: str, *, not_: UUID) -> User:
    """The member ``username`` of ``case_id`` who can take a source over: approved to read the
    case, enrolled, enabled, and not the one handing it over."""
    user = db.exec(select(User).where(User.username == username)).first()
    if user is None or not grants.is_approved(db, case_id, user.id):
        raise InvalidInput("a source can be handed only to an approved member of its case")
    if user.id == not_:
        raise InvalidInput("a source cannot be handed over to its own handler")
    if not user.enabled or user.public_key is None:
        raise InvalidInput("the new handler has no key yet: they must finish enrolment first")
    return user


def _hand_over(db: Session, actor: Actor, source_id: UUID, to: str, *, clock: Clock) -> Source:
    """The handler gives the source to another approved member of its case (not committed):
    the source's key is wrapped for them with the handler's key, and the handler's copy goes."""
    source, data_key = _handled_key(db, actor, source_id)
    user = new_handler(db, source.case_id, to, not_=actor.user_id)
    if data_key is not None and user.public_key is not None:  # _new_handler checked the key
        keyring.store_wrapped(
            db,
            kind=keyring.SOURCE,
            subject_id=source.id,
            data_key=data_key,
            recipients=[PublicKey(user.public_key)],
            clock=clock,
        )
        keyring.delete_wrapped(
            db,
            kind=keyring.SOURCE,
            subject_ids=[source.id],
            key_id=actor.require_key().public_key().key_id,
        )
    source.handler_id = user.id
    source.handover_pending = False
    db.add(source)
    return source


def handled_by(db: Session, case_id: UUID, user_id: UUID) -> list[Source]:
    return list(
        db.exec(
            select(Source)
            .where(Source.case_id == case_id)
            .where(Source.handler_id == user_id)
            .order_by(col(Source.pseudonym))
        )
    )


def release_handled(db: Session, case_id: UUID, user: User, *, to: str | None) -> list[Handover]:
    """The sources ``user`` handles in ``case_id``, as their membership ends (not committed):
    their copy of each source's key is deleted, and the source goes to the member ``to`` (whose
    copy waits for the recovery key holders) or, with ``to=None``, to the recovery key alone."""
    new = new_handler(db, case_id, to, not_=user.id) if to is not None else None
    done = []
    for source in handled_by(db, case_id, user.id):
        if user.key_id is not None:
            keyring.delete_wrapped(
                db, kind=keyring.SOURCE, subject_ids=[source.id], key_id=user.key_id
            )
        sealed = source.sealed_notes is not None or source.sealed_names is not None
        source.handler_id = new.id if new is not None else None
        source.handover_pending = new is not None and sealed
        db.add(source)
        done.append(
            Handover(
                source_id=source.id,
                pseudonym=source.pseudonym,
                handler=new.username if new is not None else None,
                awaiting_recovery=source.handover_pending,
            )
        )
    return done


def await_recovery(db: Session, user_id: UUID) -> None:
    """The sources ``user_id`` handles wait for the recovery key holders (their key pair was
    reset, and with it their copies of the sources' keys)."""
    for source in db.exec(select(Source).where(Source.handler_id == user_id)):
        if source.sealed_notes is not None or source.sealed_names is not None:
            source.handover_pending = True
            db.add(source)


def complete_handovers(db: Session, recovery: PrivateKey, *, clock: Clock) -> list[Source]:
    """Wrap, with the rebuilt recovery key, each waiting source's key for its new handler (not
    committed). Returns the sources completed; one whose handler cannot hold a key yet (not
    enrolled, disabled, no longer an approved member) keeps waiting."""
    done = []
    for source in db.exec(select(Source).where(col(Source.handover_pending).is_(True))):
        handler = db.get(User, source.handler_id) if source.handler_id is not None else None
        if (
            handler is None
            or handler.public_key is None
            or not handler.enabled
            or not grants.is_approved(db, source.case_id, handler.id)
        ):
            continue
        done_here = keyring.rewrap(
            db,
            kind=keyring.SOURCE,
            subject_id=source.id,
            holder=recovery,
            to=PublicKey(handler.public_key),
            clock=clock,
        )
        if done_here is None:
            continue  # not wrapped for this recovery key (one made after the source)
        source.handover_pending = False
        db.add(source)
        done.append(source)
    return done


def _read_identity_notes(db: Session, actor: Actor, source_id: UUID) -> str | None:
    """The source's identity notes, for their handler only (anyone else: ``NotFound``)."""
    source, data_key = _handled_key(db, actor, source_id)
    if data_key is None or source.sealed_notes is None:
        return None
    return source_record.open_notes(data_key, source.sealed_notes, **_where(source))


def read_names(db: Session, actor: Actor, source_id: UUID) -> list[str]:
    """The source's recorded names and aliases, for their handler only (anyone else:
    ``NotFound``)."""
    source, data_key = _handled_key(db, actor, source_id)
    if data_key is None or source.sealed_names is None:
        return []
    return source_record.open_names(data_key, source.sealed_names, **_where(source))


class SourceService:
    """The source operations above, each in its own audited unit of work."""

    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._clock = clock

    def create(
        self, actor: Actor, case_id: UUID, notes: str | None, names: Sequence[str] = ()
    ) -> SourceInfo:
        with self._uow.audited(actor, Action.SOURCE_CREATE, case=case_id) as work:
            source = _create_source(
                work.db, actor, case_id, notes=notes, clock=self._clock, names=names
            )
            work.add(source=source.id)
        return source_info(source)

    def in_case(self, actor: Actor, case_id: UUID) -> list[SourceInfo]:
        with self._uow.read() as db:
            return [source_info(s) for s in _list_sources(db, actor, case_id)]

    def identity(
        self, actor: Actor, source_id: UUID, *, reason: str
    ) -> tuple[SourceInfo, str | None, list[str]]:
        """The identity notes, for the handler, with ``reason`` recorded in the access log
        (auditors read it: it must explain the need, not name the source)."""
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 500:
            raise InvalidInput("a reason of 3-500 characters is required")
        with self._uow.audited(
            actor, Action.SOURCE_IDENTITY_READ, extra={"reason": reason}
        ) as work:
            notes = _read_identity_notes(work.db, actor, source_id)
            names = read_names(work.db, actor, source_id)
            source = work.db.get(Source, source_id)
            if source is None:
                raise NotFound("no such source")
            work.add(source=source.id, case=source.case_id)
        return source_info(source), notes, names

    def hand_over(self, actor: Actor, source_id: UUID, to: str) -> SourceInfo:
        """Give a source you handle to another approved member of its case (logged)."""
        with self._uow.audited(actor, Action.SOURCE_HANDOVER) as work:
            source = _hand_over(work.db, actor, source_id, to, clock=self._clock)
            work.add(source=source.id, case=source.case_id, user=str(source.handler_id))
        return source_info(source)
