"""How a case is seen from outside the vault: the door between its table row and the web layer
or the command line, which map these to their own shapes and never see the storage model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vault.storage.models import Case

__all__ = ["CaseInfo", "case_info"]


@dataclass(frozen=True)
class CaseInfo:
    """A case: its name (stored in the clear), retention period and state.

    ``retain_from`` is ``"upload"`` or ``"close"`` when ``retain_days`` is set."""

    id: UUID
    name: str
    created_at: datetime
    retain_days: int | None
    retain_from: str | None
    closed_at: datetime | None
    held_at: datetime | None


def case_info(row: Case) -> CaseInfo:
    """The boundary object of a case row."""
    return CaseInfo(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        retain_days=row.retain_days,
        retain_from=None if row.retain_from is None else str(row.retain_from),
        closed_at=row.closed_at,
        held_at=row.held_at,
    )
