"""Cases (compartments), their members, and the grants that membership implies.

Adding a member cannot give them the keys of documents already in the case: the server holds
no key that opens those documents (that is what keeps administrators out). The grant stays
*pending* until a current member's unlocked key completes it (``complete_grants``).
Removing a member deletes their wrapped keys; it cannot take back what they already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit import log as audit
from vault.clock import Clock
from vault.crypto import PublicKey
from vault.errors import Conflict, InvalidInput, NotFound
from vault.services import keyring
from vault.services.users import Actor
from vault.storage.models import Case, CaseMember, Document, Role, User, WrappedKey

__all__ = [
    "CaseService",
    "PendingGrant",
    "add_member",
    "complete_grants",
    "create_case",
    "get_case",
    "is_member",
    "list_cases",
    "list_members",
    "pending_grants",
    "remove_member",
]

MAX_CASE_NAME = 120


@dataclass(frozen=True)
class PendingGrant:
    document_id: UUID
    user_id: UUID


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        # Case management is not secret, but refusing it looks like absence to everyone else.
        raise NotFound("no such case")


def create_case(db: Session, actor: Actor, name: str, *, clock: Clock) -> Case:
    _require_admin(actor)
    name = name.strip()
    if not name or len(name) > MAX_CASE_NAME:
        raise InvalidInput(f"case name must be 1-{MAX_CASE_NAME} characters")
    if db.exec(select(Case.id).where(Case.name == name)).first() is not None:
        raise Conflict("a case with that name already exists")
    case = Case(name=name, created_at=clock())
    db.add(case)
    return case


def is_member(db: Session, case_id: UUID, user_id: UUID) -> bool:
    return db.get(CaseMember, (case_id, user_id)) is not None


def get_case(db: Session, actor: Actor, case_id: UUID) -> Case:
    """A case the actor may see: its members, and administrators."""
    case = db.get(Case, case_id)
    if case is None or not (actor.role == Role.ADMIN or is_member(db, case_id, actor.user_id)):
        raise NotFound("no such case")
    return case


def list_cases(db: Session, actor: Actor) -> list[Case]:
    stmt = select(Case).order_by(col(Case.name))
    if actor.role != Role.ADMIN:
        stmt = stmt.join(CaseMember).where(CaseMember.user_id == actor.user_id)
    return list(db.exec(stmt).all())


def list_members(db: Session, actor: Actor, case_id: UUID) -> list[User]:
    get_case(db, actor, case_id)
    return list(
        db.exec(
            select(User)
            .join(CaseMember)
            .where(CaseMember.case_id == case_id)
            .order_by(col(User.username))
        ).all()
    )


def add_member(db: Session, actor: Actor, case_id: UUID, user_id: UUID, *, clock: Clock) -> None:
    """Make ``user_id`` a member (not committed). Documents added from now on are wrapped for
    them at once; existing ones become pending grants."""
    get_case(db, actor, case_id)
    _require_admin(actor)
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if is_member(db, case_id, user_id):
        raise Conflict("already a member of this case")
    db.add(CaseMember(case_id=case_id, user_id=user_id, added_at=clock(), keys_pending=True))


def remove_member(db: Session, actor: Actor, case_id: UUID, user_id: UUID) -> None:
    """End a membership and delete the member's wrapped keys for the case (not committed)."""
    get_case(db, actor, case_id)
    _require_admin(actor)
    member = db.get(CaseMember, (case_id, user_id))
    if member is None:
        raise NotFound("not a member of this case")
    user = db.get(User, user_id)
    if user is not None and user.key_id is not None:
        doc_ids = db.exec(select(Document.id).where(Document.case_id == case_id)).all()
        keyring.delete_wrapped(db, kind=keyring.DOCUMENT, subject_ids=doc_ids, key_id=user.key_id)
    db.delete(member)


def pending_grants(
    db: Session, case_id: UUID | None = None, *, user_id: UUID | None = None
) -> list[PendingGrant]:
    """(document, member) pairs where an enrolled member holds no copy of the document's key,
    in one case and for one member if given."""
    held = (
        select(WrappedKey.id)
        .where(col(WrappedKey.kind) == keyring.DOCUMENT)
        .where(col(WrappedKey.subject_id) == col(Document.id))
        .where(col(WrappedKey.recipient_key_id) == col(User.key_id))
    )
    stmt = (
        select(Document.id, User.id)
        .join(CaseMember, col(CaseMember.case_id) == col(Document.case_id))
        .join(User, col(User.id) == col(CaseMember.user_id))
        .where(col(User.key_id).is_not(None))
        .where(col(User.enabled).is_(True))
        .where(~held.exists())
    )
    if case_id is not None:
        stmt = stmt.where(col(Document.case_id) == case_id)
    if user_id is not None:
        stmt = stmt.where(col(User.id) == user_id)
    return [PendingGrant(doc, user) for doc, user in db.exec(stmt).all()]


def complete_grants(
    db: Session,
    actor: Actor,
    *,
    case_id: UUID | None = None,
    user_id: UUID | None = None,
    clock: Clock,
) -> int:
    """Wrap, with the actor's unlocked key, every pending grant in the actor's cases that the
    actor can open (not committed). Returns how many keys were wrapped.

    This looks at every document of every case (or of ``case_id``): logins run it, as a net
    under the flags that :func:`complete_flagged_grants` relies on."""
    key = actor.require_key()
    done = 0
    for grant in pending_grants(db, case_id, user_id=user_id):
        document = db.get(Document, grant.document_id)
        if document is None or not is_member(db, document.case_id, actor.user_id):
            continue
        data_key = keyring.open_data_key(db, kind=keyring.DOCUMENT, subject_id=document.id, key=key)
        if data_key is None:
            continue
        user = db.get(User, grant.user_id)
        if user is None or user.public_key is None:
            continue  # pending_grants only names enrolled users; nothing to wrap for otherwise
        done += keyring.store_wrapped(
            db,
            kind=keyring.DOCUMENT,
            subject_id=document.id,
            data_key=data_key,
            recipients=[PublicKey(user.public_key)],
            clock=clock,
        )
    return done


def complete_flagged_grants(db: Session, actor: Actor, *, clock: Clock) -> int:
    """:func:`complete_grants` for the members flagged ``keys_pending`` in the actor's cases
    only (not committed): what every authenticated request runs, so it must cost one indexed
    query when nothing is pending. A flag is cleared once nothing is left to wrap for that
    member; it stays while the actor cannot open some document (another member may)."""
    mine = select(CaseMember.case_id).where(col(CaseMember.user_id) == actor.user_id)
    flagged = db.exec(
        select(CaseMember)
        .where(col(CaseMember.keys_pending).is_(True))
        .where(col(CaseMember.case_id).in_(mine))
    ).all()
    done = 0
    for member in flagged:
        done += complete_grants(
            db, actor, case_id=member.case_id, user_id=member.user_id, clock=clock
        )
        if not pending_grants(db, member.case_id, user_id=member.user_id):
            member.keys_pending = False
            db.add(member)
    return done


class CaseService:
    """The case operations above, each in its own transaction."""

    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def create(self, actor: Actor, name: str) -> Case:
        with self._session() as db:
            case = create_case(db, actor, name, clock=self._clock)
            audit.record(db, "case.create", actor.user_id, clock=self._clock, case=case.id)
            audit.commit(db)
            return case

    def visible(self, actor: Actor) -> list[Case]:
        with self._session() as db:
            return list_cases(db, actor)

    def get(self, actor: Actor, case_id: UUID) -> tuple[Case, list[User]]:
        with self._session() as db:
            return get_case(db, actor, case_id), list_members(db, actor, case_id)

    def add_member(self, actor: Actor, case_id: UUID, username: str) -> None:
        with self._session() as db:
            user = _user_named(db, username)
            add_member(db, actor, case_id, user.id, clock=self._clock)
            audit.record(
                db, "case.member.add", actor.user_id, clock=self._clock, case=case_id, user=user.id
            )
            audit.commit(db)

    def remove_member(self, actor: Actor, case_id: UUID, username: str) -> None:
        with self._session() as db:
            user = _user_named(db, username)
            remove_member(db, actor, case_id, user.id)
            audit.record(
                db,
                "case.member.remove",
                actor.user_id,
                clock=self._clock,
                case=case_id,
                user=user.id,
            )
            audit.commit(db)


def _user_named(db: Session, username: str) -> User:
    user = db.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound("no such user")
    return user
