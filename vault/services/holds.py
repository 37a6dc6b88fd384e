"""Legal holds on a case or on one document.

While a hold is set, nothing it covers is deleted: not by retention, and not by an editor's
``DELETE`` either (``vault.services.shredding.shred`` refuses with ``LegalHold``), because a
newsroom under a preservation duty must be able to show that nothing was destroyed.

Editors a reader approved in the case, and administrators, set and release holds: an
administrator need not read a case to preserve it. Anyone else gets ``NotFound``. Setting a
hold that is set, or releasing one that is not, changes nothing and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import NotFound
from vault.services import grants
from vault.services.uow import UnitOfWork, Work
from vault.services.users import Actor
from vault.storage.models import Case, Document, Role

__all__ = ["Hold", "HoldService"]

Target = Literal["case", "document"]


@dataclass(frozen=True)
class Hold:
    """A hold's state after a change: since when it is set (``None``: released), and whether
    this call changed it."""

    target: Target
    id: UUID
    held_at: datetime | None
    changed: bool


def _may_hold(db: Session, actor: Actor, case_id: UUID) -> bool:
    if actor.role == Role.ADMIN:
        return True
    return actor.role == Role.EDITOR and grants.is_approved(db, case_id, actor.user_id)


class HoldService:
    """Set and release holds, each change in its own audited unit of work."""

    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._clock = clock

    def set_case(self, actor: Actor, case_id: UUID, *, held: bool) -> Hold:
        """Put a case under legal hold (``held``) or release it."""
        with self._uow.audited(actor, _action(held), case=case_id) as work:
            case = work.db.get(Case, case_id)
            if case is None or not _may_hold(work.db, actor, case_id):
                raise NotFound("no such case")
            return self._change(work, "case", case_id, held=held)

    def set_document(self, actor: Actor, document_id: UUID, *, held: bool) -> Hold:
        """Put one document under legal hold (``held``) or release it. Releasing it does not
        release a hold on its case."""
        with self._uow.audited(actor, _action(held)) as work:
            row = work.db.get(Document, document_id)
            if row is None or not _may_hold(work.db, actor, row.case_id):
                raise NotFound("no such document")
            work.add(case=row.case_id, document=document_id)
            return self._change(work, "document", document_id, held=held)

    def _change(self, work: Work, target: Target, id: UUID, *, held: bool) -> Hold:
        work.add(extra={"target": target})
        # The entry first: its write orders this change against a retention run or a delete
        # in flight (vault.services.retention), and the row is read again after it.
        work.log()
        row = _locked(work.db, Case if target == "case" else Document, id)
        if row is None:  # shredded meanwhile
            raise NotFound(f"no such {target}")
        if (row.held_at is not None) == held:
            work.unchanged()
            return Hold(target, id, row.held_at, changed=False)
        row.held_at = self._clock() if held else None
        work.db.add(row)
        return Hold(target, id, row.held_at, changed=True)


def _action(held: bool) -> Action:
    return Action.HOLD_SET if held else Action.HOLD_RELEASE


def _locked(db: Session, model: type[Case] | type[Document], id: UUID) -> Case | Document | None:
    """The row as committed now, locked until the transaction ends (PostgreSQL)."""
    fresh = {"populate_existing": True}
    if model is Case:
        stmt = select(Case).where(col(Case.id) == id).with_for_update()
        return db.exec(stmt.execution_options(**fresh)).first()
    doc = select(Document).where(col(Document.id) == id).with_for_update()
    return db.exec(doc.execution_options(**fresh)).first()
