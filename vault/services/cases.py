"""Cases (compartments) and their members.

Adding a member cannot give them the keys of documents already in the case: the server holds
no key that opens those documents (that is what keeps administrators out). Whether they get
them is the decision of a member who can read (``vault.services.grants``). Removing a member
deletes their wrapped keys (of documents and of the sources they handle, which move on to a
member the remover names or to the recovery key); it cannot take back what they already read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Literal
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import freetext
from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import Conflict, InvalidInput, NotFound
from vault.services import grants, keyring, sources
from vault.services.case_records import CaseInfo, case_info
from vault.services.grants import is_member
from vault.services.retention_policy import due_documents, validate_retention
from vault.services.sources import Handover
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.storage.models import Case, CaseMember, Document, RetentionStart, Role, User

__all__ = [
    "KEEP",
    "RECOVERY",
    "CaseInfo",
    "CaseService",
    "CaseUpdate",
    "Removal",
    "Retention",
    "RetentionChange",
]

MAX_CASE_NAME = 120


# ``sources_to`` that leaves a removed handler's sources to the recovery key alone.
RECOVERY = "recovery"


@dataclass(frozen=True)
class Removal:
    """What a removal did, for the answer and the log."""

    username: str
    sources: list[Handover]


class _Keep(Enum):
    KEEP = "keep"


# ``CaseService.update(retention=KEEP)``: leave the retention period as it is (``None`` clears it).
KEEP = _Keep.KEEP


@dataclass(frozen=True)
class Retention:
    """A case's retention period: ``days`` after each upload, or after the case is closed
    (``start``: ``"upload"`` or ``"close"``; see ``vault.services.retention_policy``)."""

    days: int
    start: str

    def checked(self) -> tuple[int, RetentionStart]:
        try:
            start = RetentionStart(self.start)
        except ValueError:
            raise InvalidInput("retention counts from the upload or the close") from None
        validate_retention(self.days, start)
        return self.days, start


# What ``CaseService.update`` does to the retention period: set it, clear it, or keep it.
RetentionChange = Retention | None | Literal[_Keep.KEEP]


@dataclass(frozen=True)
class CaseUpdate:
    """A case after a change, with how many of its documents are due now and not held: what
    the next retention run deletes (a shortened period can make that many at once)."""

    case: CaseInfo
    members: list[str]  # usernames
    due_now: int


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        # Case management is not secret, but refusing it looks like absence to everyone else.
        raise NotFound("no such case")


def _create_case(db: Session, actor: Actor, name: str, *, clock: Clock) -> Case:
    _require_admin(actor)
    name = name.strip()
    if not name or len(name) > MAX_CASE_NAME:
        raise InvalidInput(f"case name must be 1-{MAX_CASE_NAME} characters")
    freetext.check_line("the case name", name)
    if db.exec(select(Case.id).where(Case.name == name)).first() is not None:
        raise Conflict("a case with that name already exists")
    case = Case(name=name, created_at=clock())
    db.add(case)
    return case


def _get_case(db: Session, actor: Actor, case_id: UUID) -> Case:
    """A case the actor may see: its members, and administrators."""
    case = db.get(Case, case_id)
    # Both checks run whether the case exists or not, so that "not there" and "not yours" do
    # the same work (the skipped membership query told them apart by 0.2 ms).
    member = actor.role == Role.ADMIN or is_member(db, case_id, actor.user_id)
    if case is None or not member:
        raise NotFound("no such case")
    return case


def _list_cases(db: Session, actor: Actor) -> list[Case]:
    stmt = select(Case).order_by(col(Case.name))
    if actor.role != Role.ADMIN:
        stmt = stmt.join(CaseMember).where(CaseMember.user_id == actor.user_id)
    return list(db.exec(stmt).all())


def _list_members(db: Session, actor: Actor, case_id: UUID) -> list[User]:
    _get_case(db, actor, case_id)
    return list(
        db.exec(
            select(User)
            .join(CaseMember)
            .where(CaseMember.case_id == case_id)
            .order_by(col(User.username))
        ).all()
    )


def _add_member(
    db: Session, actor: Actor, case_id: UUID, user_id: UUID, *, clock: Clock
) -> CaseMember:
    """Make ``user_id`` a member (not committed), awaiting a reader's approval before they are
    given any key, except as the founding member of an empty case (``grants``)."""
    _get_case(db, actor, case_id)
    _require_admin(actor)
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if is_member(db, case_id, user_id):
        raise Conflict("already a member of this case")
    now = clock()
    member = CaseMember(
        case_id=case_id,
        user_id=user_id,
        added_at=now,
        added_by=actor.user_id,
        keys_pending=True,
        approved_at=now if grants.founding_approval(db, case_id) else None,
    )
    db.add(member)
    return member


def _approve(db: Session, actor: Actor, case_id: UUID, user_id: UUID, *, clock: Clock) -> int:
    """Record ``actor``'s decision that ``user_id`` may read the case, and wrap for them every
    document key the actor can open (not committed). Returns how many keys were wrapped.

    Only an approved member who can read decides (``NotFound`` otherwise, like every refusal):
    with a key unlocked here, or an end-to-end session, whose client then wraps the keys
    itself (``vault.services.client_grants``); a member who is approved already is a
    ``Conflict``."""
    if not actor.end_to_end:
        actor.require_key()
    if not grants.is_approved(db, case_id, actor.user_id):
        raise NotFound("no such case")
    member = db.get(CaseMember, (case_id, user_id))
    if member is None:
        raise NotFound("not a member of this case")
    if member.approved_at is not None:
        raise Conflict("this member is approved already")
    member.approved_by = actor.user_id
    member.approved_at = clock()
    member.keys_pending = True
    db.add(member)
    db.flush()
    if actor.key is None:
        return 0
    return grants.complete_grants(db, actor, case_id=case_id, user_id=user_id, clock=clock)


def _remove_member(
    db: Session, actor: Actor, case_id: UUID, user_id: UUID, *, sources_to: str | None = None
) -> list[Handover]:
    """End a membership and delete the member's wrapped keys for the case (not committed).

    The sources they handle in the case move on: ``sources_to`` names the approved member who
    takes them, or is :data:`RECOVERY` to leave them to the recovery key alone. Removing a
    handler without saying which is a ``Conflict`` naming how many sources are concerned."""
    _get_case(db, actor, case_id)
    _require_admin(actor)
    member = db.get(CaseMember, (case_id, user_id))
    user = db.get(User, user_id)
    if member is None or user is None:
        raise NotFound("not a member of this case")
    handled = sources.handled_by(db, case_id, user_id)
    if handled and sources_to is None:
        raise Conflict(
            f"this member handles {len(handled)} source(s) in the case: say who takes them "
            f"(sources_to=USERNAME, an approved member) or leave them to the recovery key "
            f"(sources_to={RECOVERY})"
        ).with_details(sources=[str(s.id) for s in handled])
    moved = sources.release_handled(
        db, case_id, user, to=None if sources_to in (None, RECOVERY) else sources_to
    )
    if user.key_id is not None:
        doc_ids = db.exec(select(Document.id).where(Document.case_id == case_id)).all()
        keyring.delete_wrapped(db, kind=keyring.DOCUMENT, subject_ids=doc_ids, key_id=user.key_id)
    db.delete(member)
    return moved


def _moved_extra(db: Session, moved: list[Handover], sources_to: str | None) -> dict[str, str]:
    """Where a removed handler's sources went, for the log: ids only, as everywhere in it."""
    extra = {
        "sources": json.dumps(
            [
                {
                    "source": str(h.source_id),
                    "to": RECOVERY if h.handler is None else "member",
                    "awaiting_recovery": h.awaiting_recovery,
                }
                for h in moved
            ],
            separators=(",", ":"),
        )
    }
    new = db.exec(select(User.id).where(User.username == sources_to)).first()
    if new is not None:
        extra["sources_to"] = str(new)
    return extra


class CaseService:
    """The case operations above, each in its own audited unit of work."""

    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._clock = clock

    def create(self, actor: Actor, name: str) -> CaseInfo:
        with self._uow.audited(actor, Action.CASE_CREATE) as work:
            case = _create_case(work.db, actor, name, clock=self._clock)
            work.add(case=case.id)
        return case_info(case)

    def visible(self, actor: Actor) -> list[CaseInfo]:
        with self._uow.read() as db:
            return [case_info(c) for c in _list_cases(db, actor)]

    def get(self, actor: Actor, case_id: UUID) -> tuple[CaseInfo, list[str]]:
        """A case and its members' usernames."""
        with self._uow.read() as db:
            case = _get_case(db, actor, case_id)
            return case_info(case), [u.username for u in _list_members(db, actor, case_id)]

    def lookup(self, ref: str) -> CaseInfo | None:
        """The case whose id or name is ``ref``, for the server's command line (no actor: the
        local administrator); ``None`` if there is none."""
        with self._uow.read() as db:
            try:
                case = db.get(Case, UUID(ref))
            except ValueError:
                case = db.exec(select(Case).where(Case.name == ref)).first()
            return None if case is None else case_info(case)

    def update(
        self,
        actor: Actor,
        case_id: UUID,
        *,
        retention: RetentionChange = KEEP,
        closed: bool | None = None,
    ) -> CaseUpdate:
        """Set or clear (``None``) the retention period, and close or reopen the case
        (administrators). Each change is logged; asking for the state a case is in already
        changes and records nothing."""
        with self._uow.audited(actor) as work:
            db = work.db
            case = _get_case(db, actor, case_id)
            _require_admin(actor)
            if retention is KEEP and closed is None:
                raise InvalidInput("nothing to change: give a retention period or closed")
            wanted = (None, None) if retention in (None, KEEP) else retention.checked()
            if retention is not KEEP and (case.retain_days, case.retain_from) != wanted:
                case.retain_days, case.retain_from = wanted
                work.record(
                    Action.CASE_RETENTION_SET,
                    extra={
                        "retain_days": "none" if wanted[0] is None else str(wanted[0]),
                        "retain_from": wanted[1].value if wanted[1] else "none",
                    },
                    case=case_id,
                )
            if closed is not None and closed != (case.closed_at is not None):
                case.closed_at = self._clock() if closed else None
                action = Action.CASE_CLOSE if closed else Action.CASE_REOPEN
                work.record(action, case=case_id)
            db.add(case)
            due = due_documents(db, self._clock(), case_id=case_id)
            members = [u.username for u in _list_members(db, actor, case_id)]
            return CaseUpdate(case_info(case), members, sum(1 for d in due if d.held is None))

    def add_member(self, actor: Actor, case_id: UUID, username: str) -> bool:
        """Add a member; returns whether they were approved by being added (an empty case)."""
        with self._uow.audited(actor, Action.CASE_MEMBER_ADD, case=case_id) as work:
            user = _user_named(work.db, username)
            member = _add_member(work.db, actor, case_id, user.id, clock=self._clock)
            approved = member.approved_at is not None
            work.add(extra={"approval": "founding" if approved else "awaiting"}, user=user.id)
        return approved

    def awaiting(self, actor: Actor, case_id: UUID) -> list[grants.AwaitingMember]:
        """The members of a case awaiting approval, with who added them."""
        with self._uow.read() as db:
            _get_case(db, actor, case_id)
            return grants.awaiting(db, case_id)

    def approve(self, actor: Actor, case_id: UUID, username: str) -> int:
        """Give a member awaiting approval the case's keys (logged); returns how many document
        keys the actor's own key wrapped for them at once."""
        with self._uow.audited(actor, Action.CASE_MEMBER_APPROVE, case=case_id) as work:
            _get_case(work.db, actor, case_id)
            user = _user_named(work.db, username)
            if not is_member(work.db, case_id, user.id):
                raise NotFound("not a member of this case")
            wrapped = _approve(work.db, actor, case_id, user.id, clock=self._clock)
            work.add(extra={"keys_wrapped": str(wrapped)}, user=user.id)
        return wrapped

    def remove_member(
        self, actor: Actor, case_id: UUID, username: str, *, sources_to: str | None = None
    ) -> Removal:
        with self._uow.audited(actor, Action.CASE_MEMBER_REMOVE, case=case_id) as work:
            user = _user_named(work.db, username)
            moved = _remove_member(work.db, actor, case_id, user.id, sources_to=sources_to)
            if moved:
                work.add(extra=_moved_extra(work.db, moved, sources_to))
            work.add(user=user.id)
        return Removal(username=user.username, sources=moved)


def _user_named(db: Session, username: str) -> User:
    user = db.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound("no such user")
    return user
