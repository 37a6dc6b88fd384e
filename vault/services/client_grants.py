"""Grants completed by clients that hold their own key (end-to-end sessions).

In a server-side session the server wraps a new member's copy of each document key with the
key of any member it holds (``vault.services.grants``). In an end-to-end session it holds none,
so the client does it: ``pending`` tells an approved member which (document, member) pairs wait
for a key the member's client can open, with the document as stored (so that the client checks
its record, and with it the case it belongs to) and the recipient's account and key id (which
the client checks against the access log before wrapping anything). ``complete`` stores the
copies the client wrapped, after checking *who* each is for: approved in the document's case,
enabled, and holding exactly that key. What a copy *holds* the server cannot check; a copy that
does not open is the recipient's integrity failure at their first read, and a grant a member
completes is logged (``grant.complete``) with who made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import InvalidInput, NotFound
from vault.services import grants, keyring
from vault.services.document_records import document_info
from vault.services.documents import SealedDocument
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.storage.models import CaseMember, Document, User, WrappedKey

__all__ = ["ClientGrants", "NewCopy", "OpenGrant"]

MAX_GRANTS = 500
"""At most this many pending grants in one answer, and copies in one request."""
# An HPKE-wrapped 32-byte key for ML-KEM-768 + X25519 is a little over 1 KiB; anything much
# larger is not one.
_MAX_WRAPPED = 4096


@dataclass(frozen=True)
class OpenGrant:
    """One (document, member) pair waiting for a copy of the document's key."""

    document: SealedDocument  # as stored, with the caller's own wrapped copy
    user_id: UUID
    username: str
    key_id: str


@dataclass(frozen=True)
class NewCopy:
    """A copy of a document's key a client wrapped for a member."""

    document_id: UUID
    user_id: UUID
    key_id: str
    wrapped: bytes


class ClientGrants:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._clock = clock

    def pending(self, actor: Actor) -> list[OpenGrant]:
        """The pending grants the actor's key can complete: in the cases where they are
        approved, for the documents they hold a copy of (at most ``MAX_GRANTS``). Logged."""
        with self._uow.audited(actor, Action.GRANT_PENDING_READ) as work:
            db = work.db
            mine = _key_id(db, actor)
            found: list[OpenGrant] = []
            approved = db.exec(
                select(CaseMember.case_id)
                .where(col(CaseMember.user_id) == actor.user_id)
                .where(col(CaseMember.approved_at).is_not(None))
            ).all()
            waiting = [g for case_id in approved for g in grants.pending_grants(db, case_id)]
            for grant in waiting:
                if len(found) == MAX_GRANTS:
                    break
                opened = _grantable(db, actor, mine, grant.document_id, grant.user_id)
                if opened is None:
                    continue
                document, copy, user = opened
                assert user.key_id is not None  # noqa: S101 - pending_grants names enrolled users
                found.append(
                    OpenGrant(
                        SealedDocument(
                            info=document_info(document, None),
                            key_commitment=document.key_commitment,
                            sealed_metadata=bytes(document.sealed_metadata),
                            recipient_key_id=mine,
                            wrapped_key=bytes(copy.wrapped),
                        ),
                        user.id,
                        user.username,
                        user.key_id,
                    )
                )
            work.add(extra={"count": str(len(found))})
        return found

    def complete(self, actor: Actor, copies: list[NewCopy]) -> int:
        """Store the copies that are for a pending grant the actor may complete; each is an
        entry of the log. Returns how many were stored (a copy for a grant completed meanwhile
        is skipped). ``NotFound`` for a copy the actor may not give: a document or member out
        of their reach, or a key that is not the member's."""
        if len(copies) > MAX_GRANTS:
            raise InvalidInput(f"at most {MAX_GRANTS} copies at once")
        if any(not 0 < len(c.wrapped) <= _MAX_WRAPPED for c in copies):
            raise InvalidInput("a wrapped key is empty or too large")
        with self._uow.audited(actor, None) as work:
            db = work.db
            mine = _key_id(db, actor)
            stored, cases = 0, set()
            for copy in copies:
                opened = _grantable(db, actor, mine, copy.document_id, copy.user_id)
                if opened is None:
                    if _held(db, copy.document_id, copy.key_id):
                        continue  # completed meanwhile, by another member or the server
                    raise NotFound("no such pending grant")
                document, _, user = opened
                if user.key_id != copy.key_id:
                    raise NotFound("no such pending grant")
                db.add(
                    WrappedKey(
                        kind=keyring.DOCUMENT,
                        subject_id=document.id,
                        recipient_key_id=copy.key_id,
                        wrapped=copy.wrapped,
                        created_at=self._clock(),
                    )
                )
                db.flush()
                work.record(
                    Action.GRANT_COMPLETE,
                    request_id=None,
                    document=document.id,
                    case=document.case_id,
                    user=user.id,
                )
                stored += 1
                cases.add((document.case_id, user.id))
            for case_id, user_id in cases:
                member = db.get(CaseMember, (case_id, user_id))
                if member is not None and not grants.pending_grants(db, case_id, user_id=user_id):
                    member.keys_pending = False
                    db.add(member)
            if not stored:
                work.unchanged()
        return stored


def _key_id(db: Session, actor: Actor) -> str:
    user = db.get(User, actor.user_id)
    if user is None or user.key_id is None:
        raise NotFound("no such account")
    return user.key_id


def _held(db: Session, document_id: UUID, key_id: str) -> bool:
    found = keyring.find_wrapped(db, kind=keyring.DOCUMENT, subject_id=document_id, key_id=key_id)
    return found is not None


def _grantable(
    db: Session, actor: Actor, mine: str, document_id: UUID, user_id: UUID
) -> tuple[Document, WrappedKey, User] | None:
    """The document, the actor's copy of its key and the member, if the actor may complete
    this grant now: approved in the document's case and holding a copy, the member approved
    and enabled, and the member holding none."""
    document = db.get(Document, document_id)
    if document is None or not grants.is_approved(db, document.case_id, actor.user_id):
        return None
    copy = keyring.find_wrapped(db, kind=keyring.DOCUMENT, subject_id=document.id, key_id=mine)
    user = db.get(User, user_id)
    if (
        copy is None
        or user is None
        or not user.enabled
        or user.key_id is None
        or not grants.is_approved(db, document.case_id, user.id)
        or _held(db, document.id, user.key_id)
    ):
        return None
    return document, copy, user
