"""Who may be given a case's keys, and giving them.

The server holds no key that opens a case's documents, so a member who joins holds none of them
until a member who can read wraps them. *Whether* that happens is a decision, not a side effect:
an administrator manages memberships but must not be able to read a case by adding themselves to
it. So a new member is *awaiting approval* until a member who can read approves them (and sees
who added whom); only then are they wrapped into the case's new documents and given the keys of
its existing ones. The approver's own key wraps what it can at once; what it cannot open is
completed by the next request of any member who can (``complete_flagged_grants``).

The one exception: the first member of a case that holds no document yet and has no approved
member is approved by being added (there is nothing to read, and nobody else to decide).

A reset account (``vault users reset``) loses its approvals: a new key pair may belong to
someone else (whoever received the enrolment code), so the case's members decide again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlmodel import Session, col, select

from vault.clock import Clock
from vault.crypto import PublicKey
from vault.services import keyring
from vault.services.document_records import open_metadata
from vault.services.users import Actor
from vault.storage.models import CaseMember, Document, User, WrappedKey

__all__ = [
    "AwaitingMember",
    "PendingGrant",
    "awaiting",
    "complete_flagged_grants",
    "complete_grants",
    "founding_approval",
    "is_approved",
    "is_member",
    "pending_grants",
    "withdraw_approvals",
]


@dataclass(frozen=True)
class PendingGrant:
    document_id: UUID
    user_id: UUID


@dataclass(frozen=True)
class AwaitingMember:
    """A member waiting for the decision to give them the case's keys."""

    user_id: UUID
    username: str
    added_by: str | None  # the administrator's username (None: unknown, or since deleted)
    added_at: datetime
    enrolled: bool
    documents: int  # how many documents of the case an approval would open to them


def is_member(db: Session, case_id: UUID, user_id: UUID) -> bool:
    """Whether ``user_id`` is a member of ``case_id``, approved or awaiting approval."""
    return db.get(CaseMember, (case_id, user_id)) is not None


def is_approved(db: Session, case_id: UUID, user_id: UUID) -> bool:
    member = db.get(CaseMember, (case_id, user_id))
    return member is not None and member.approved_at is not None


def founding_approval(db: Session, case_id: UUID) -> bool:
    """Whether a member added now is approved by being added: the case holds no document and
    no approved member (nothing to read, nobody else to decide)."""
    has_document = db.exec(select(Document.id).where(Document.case_id == case_id)).first()
    # The approvals are loaded, not just looked at, so that each is checked against its seal:
    # an approval written into the database would otherwise make this answer no.
    has_approved = db.exec(
        select(CaseMember)
        .where(CaseMember.case_id == case_id)
        .where(col(CaseMember.approved_at).is_not(None))
    ).first()
    return has_document is None and has_approved is None


def awaiting(db: Session, case_id: UUID) -> list[AwaitingMember]:
    """The case's members awaiting approval, oldest first."""
    documents = len(db.exec(select(Document.id).where(Document.case_id == case_id)).all())
    rows = db.exec(
        select(CaseMember, User)
        .join(User, col(User.id) == col(CaseMember.user_id))
        .where(CaseMember.case_id == case_id)
        .where(col(CaseMember.approved_at).is_(None))
        .order_by(col(CaseMember.added_at))
    ).all()
    found = []
    for member, user in rows:
        adder = db.get(User, member.added_by) if member.added_by is not None else None
        found.append(
            AwaitingMember(
                user_id=user.id,
                username=user.username,
                added_by=adder.username if adder is not None else None,
                added_at=member.added_at,
                enrolled=user.public_key is not None,
                documents=documents,
            )
        )
    return found


def withdraw_approvals(db: Session, user_id: UUID) -> None:
    """Every membership of ``user_id`` awaits a new decision (their key pair was reset)."""
    # Record by record, not one bulk update: each is checked as it loads and sealed again as
    # it is written (vault.services.row_seals).
    for member in db.exec(select(CaseMember).where(col(CaseMember.user_id) == user_id)):
        member.approved_by = None
        member.approved_at = None
        member.keys_pending = True
        db.add(member)


def pending_grants(
    db: Session, case_id: UUID | None = None, *, user_id: UUID | None = None
) -> list[PendingGrant]:
    """(document, member) pairs where an enrolled, approved member holds no copy of the
    document's key, in one case and for one member if given."""
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
        .where(col(CaseMember.approved_at).is_not(None))
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
    """Wrap, with the actor's unlocked key, every pending grant of an approved member in the
    cases where the actor is approved, for the documents the actor can open (not committed).
    Returns how many keys were wrapped.

    This looks at every document of every case (or of ``case_id``): logins run it, as a net
    under the flags that :func:`complete_flagged_grants` relies on."""
    key = actor.require_key()
    done = 0
    for grant in pending_grants(db, case_id, user_id=user_id):
        document = db.get(Document, grant.document_id)
        if document is None or not is_approved(db, document.case_id, actor.user_id):
            continue
        # pending_grants chose the member on raw columns: the membership is loaded (and so
        # checked against its seal) before anything is wrapped for them.
        if not is_approved(db, document.case_id, grant.user_id):
            continue
        data_key = keyring.open_data_key(db, kind=keyring.DOCUMENT, subject_id=document.id, key=key)
        if data_key is None:
            continue
        # The document's case decides who is given its key, and only its sealed record
        # proves the case is the one it was uploaded to (not a row edited by whoever holds the
        # seal key): refuse, naming the document, rather than wrap for another case.
        open_metadata(document, data_key)
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
    member (a member awaiting approval has nothing to wrap: approval sets the flag again); it
    stays while the actor cannot open some document (another member may)."""
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
