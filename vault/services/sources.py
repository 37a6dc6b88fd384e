"""Pseudonymous sources.

A source is known in the vault by a generated pseudonym (``amber-falcon-42``). Anything that
could identify them goes into identity notes, sealed under a key of their own that is wrapped
only for the handler (the member who recorded the source) and the recovery key: not for the
rest of the case, and never for administrators.
"""

from __future__ import annotations

import secrets
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit import log as audit
from vault.clock import Clock
from vault.crypto import PublicKey
from vault.errors import Conflict, InvalidInput, NotFound
from vault.services import keyring
from vault.services.cases import is_member
from vault.services.users import Actor
from vault.storage.models import Source, User

__all__ = ["create_source", "list_sources", "new_pseudonym", "read_identity_notes"]

_NOTES_LABEL = "source-notes"
MAX_NOTES = 64 * 1024
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


def new_pseudonym() -> str:
    """A readable random pseudonym; carries no information about the source."""
    number = secrets.randbelow(100)
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}-{number:02d}"


def create_source(
    db: Session, actor: Actor, case_id: UUID, *, notes: str | None, clock: Clock
) -> Source:
    """Record a source in ``case_id`` handled by ``actor`` (not committed)."""
    if not is_member(db, case_id, actor.user_id):
        raise NotFound("no such case")
    if notes is not None and len(notes) > MAX_NOTES:
        raise InvalidInput(f"identity notes must be at most {MAX_NOTES} characters")
    handler = db.get(User, actor.user_id)
    if handler is None or handler.public_key is None:
        raise InvalidInput("the handler has no key yet: finish enrolment first")
    for _ in range(20):
        pseudonym = new_pseudonym()
        if db.exec(select(Source.id).where(Source.pseudonym == pseudonym)).first() is None:
            break
    else:
        raise Conflict("could not find a free pseudonym; try again")
    source = Source(
        case_id=case_id, pseudonym=pseudonym, handler_id=actor.user_id, created_at=clock()
    )
    if notes is not None:
        data_key = crypto.new_data_key()
        source.sealed_notes = crypto.seal_record(
            data_key, notes.encode(), label=_NOTES_LABEL, subject_id=source.id
        )
        keyring.store_wrapped(
            db,
            kind=keyring.SOURCE,
            subject_id=source.id,
            data_key=data_key,
            recipients=[PublicKey(handler.public_key), keyring.active_recovery_key(db)],
            clock=clock,
        )
    db.add(source)
    return source


def list_sources(db: Session, actor: Actor, case_id: UUID) -> list[Source]:
    if not is_member(db, case_id, actor.user_id):
        raise NotFound("no such case")
    return list(
        db.exec(select(Source).where(Source.case_id == case_id).order_by(col(Source.pseudonym)))
    )


def read_identity_notes(db: Session, actor: Actor, source_id: UUID) -> str | None:
    """The source's identity notes, for their handler only (anyone else: ``NotFound``)."""
    source = db.get(Source, source_id)
    if source is None or source.handler_id != actor.user_id:
        raise NotFound("no such source")
    if source.sealed_notes is None:
        return None
    data_key = keyring.open_data_key(
        db, kind=keyring.SOURCE, subject_id=source.id, key=actor.require_key()
    )
    if data_key is None:
        raise NotFound("no such source")
    return crypto.open_record(
        data_key, source.sealed_notes, label=_NOTES_LABEL, subject_id=source.id
    ).decode()


class SourceService:
    """The source operations above, each in its own transaction."""

    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, actor: Actor, case_id: UUID, notes: str | None) -> Source:
        with Session(self._engine, expire_on_commit=False) as db:
            source = create_source(db, actor, case_id, notes=notes, clock=self._clock)
            audit.record(
                db,
                "source.create",
                actor.user_id,
                clock=self._clock,
                source=source.id,
                case=case_id,
            )
            audit.commit(db)
            return source

    def in_case(self, actor: Actor, case_id: UUID) -> list[Source]:
        with Session(self._engine, expire_on_commit=False) as db:
            return list_sources(db, actor, case_id)

    def identity(self, actor: Actor, source_id: UUID, *, reason: str) -> tuple[Source, str | None]:
        """The identity notes, for the handler, with ``reason`` recorded in the access log
        (auditors read it: it must explain the need, not name the source)."""
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 500:
            raise InvalidInput("a reason of 3-500 characters is required")
        with Session(self._engine, expire_on_commit=False) as db:
            notes = read_identity_notes(db, actor, source_id)
            source = db.get(Source, source_id)
            if source is None:
                raise NotFound("no such source")
            audit.record(
                db,
                "source.identity.read",
                actor.user_id,
                clock=self._clock,
                extra={"reason": reason},
                source=source.id,
                case=source.case_id,
            )
            audit.commit(db)
            return source, notes
