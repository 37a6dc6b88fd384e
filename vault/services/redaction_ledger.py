"""The access log as the witness of every redaction decision, checked before an export.

A redaction's row says its status, and its sealed record is bound to that status (only a holder
of the document's key can seal a new one). What neither can show is a row that is *gone*, or
one put back to an older state it really had: whoever can write the database could delete an
approved redaction, or a pending proposal, and the next export would release what it hid.

The log can show it. Every proposal and every decision is an entry naming the redaction and its
document; the log is hash-chained into a Merkle tree whose checkpoints are signed with a key the
database cannot use, the server re-signs after every decision, and it keeps the latest
checkpoint outside the database, refusing a log that does not extend it. So before an export,
the log is verified and the document's redactions are replayed from it: every redaction the log
knows must be in the database, in the state the log's last decision on it left it. A mismatch
refuses the export with an ``IntegrityError`` naming the redaction.

Verifying the whole log costs time linear in its length (about a second per 100 000 entries on
the reference machine); an export already decrypts the document and reads it with OCR.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from uuid import UUID

import orjson
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit.actions import Action
from vault.audit.signer import verify_vault
from vault.errors import IntegrityError
from vault.redaction.model import Status
from vault.services.row_seal_guard import UNCHECKED
from vault.storage.models import AuditEntry, Document, Redaction

__all__ = ["check_redactions", "logged_states", "problems", "unwitnessed"]

# The state each successful action leaves a redaction in.
_RESULT = {
    Action.REDACTION_PROPOSE.value: Status.PROPOSED,
    Action.REDACTION_APPROVE.value: Status.APPROVED,
    Action.REDACTION_REJECT.value: Status.REJECTED,
    Action.REDACTION_WITHDRAW.value: Status.WITHDRAWING,
    Action.REDACTION_WITHDRAW_APPROVE.value: Status.WITHDRAWN,
    Action.REDACTION_WITHDRAW_REJECT.value: Status.APPROVED,
}
_BATCH = 2000


def _logged(db: Session, document_id: UUID | None) -> dict[str, dict[str, Status]]:
    """Document id -> redaction id -> the state the log's entries leave it in (for one
    document, or all).

    Every entry is read, not only those the ``document_id`` index column names: that column is
    a copy kept for lookups, outside what the log's hashes cover, and a database writer could
    clear it."""
    needle = f'"document":"{document_id}"'.encode() if document_id is not None else b""
    found: dict[str, dict[str, Status]] = {}
    stmt = select(col(AuditEntry.leaf)).order_by(col(AuditEntry.idx))
    for leaf in db.exec(stmt.execution_options(yield_per=_BATCH)):
        raw = bytes(leaf)
        if needle not in raw or b'"redaction":"' not in raw:
            continue
        entry = orjson.loads(raw)
        targets = entry.get("targets") or {}
        result = _RESULT.get(entry.get("action", ""))
        document = targets.get("document")
        if result is None or entry.get("outcome") != "ok" or document is None:
            continue
        if document_id is not None and document != str(document_id):
            continue
        if "redaction" in targets:
            found.setdefault(document, {})[targets["redaction"]] = result
    return found


def logged_states(db: Session, document_id: UUID) -> dict[str, Status]:
    """Each redaction of the document, by id, in the state the log's entries leave it."""
    return _logged(db, document_id).get(str(document_id), {})


class _Stated(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class _Row:
    id: UUID
    status: str


def _said(status: str) -> str:
    # Whatever a database writer put in the column is not echoed into messages or terminals.
    known = {s.value for s in Status}
    return status if status in known else "in an unknown state"


def problems(logged: dict[str, Status], rows: Iterable[_Stated]) -> list[tuple[str, str, str]]:
    """(redaction id, "missing" or "state", what is wrong) for every way ``rows`` (one
    document's redactions) differ from what the log says of them."""
    held = {str(row.id): row for row in rows}
    found = []
    for rid, state in logged.items():
        row = held.get(rid)
        if row is None:
            found.append((rid, "missing", "it is in the access log but not in the database"))
        elif row.status != state.value:
            found.append(
                (
                    rid,
                    "state",
                    f"it is {_said(row.status)} in the database but {state.value} in the log",
                )
            )
    for rid, row in held.items():
        # Proposals made by accepting every suggestion were not logged one by one before
        # this check existed: such a row may be absent from the log, but only as proposed,
        # which no export passes anyway.
        if rid not in logged and row.status != Status.PROPOSED.value:
            found.append((rid, "state", f"it is {_said(row.status)} but the log never recorded it"))
    return found


def unwitnessed(db: Session) -> list[tuple[str, str, str]]:
    """``problems`` for every document still in the vault (``vault fsck``)."""
    logged = _logged(db, None)
    # Columns, not records: loading a record checks its seal and would stop at the first
    # edited one, which fsck lists instead (with the seals) and compares here all the same.
    stmt = select(col(Redaction.id), col(Redaction.document_id), col(Redaction.status))
    rows: dict[str, list[_Row]] = {}
    for rid, of_document, status in db.exec(stmt.execution_options(row_seals=UNCHECKED)):
        rows.setdefault(str(of_document), []).append(_Row(rid, status))
    ids = select(Document.id).execution_options(row_seals=UNCHECKED)
    present = {str(d) for d in db.exec(ids)}
    found = []
    for document in sorted(present & (set(logged) | set(rows))):
        found.extend(problems(logged.get(document, {}), rows.get(document, [])))
    return found


def check_redactions(
    engine: Engine,
    db: Session,
    document_id: UUID,
    rows: Sequence[Redaction],
    *,
    pin_path: Path | None,
) -> None:
    """Refuse (``IntegrityError``) unless the access log verifies and ``rows`` are exactly the
    document's redactions in the states the log gives them."""
    report = verify_vault(engine, pin_path)
    if not report.ok:
        raise IntegrityError(
            f"the access log does not verify ({report.problem}): exports are refused until "
            "`vault audit verify` is clean",
            reason="log",
        )
    found = problems(logged_states(db, document_id), rows)
    if found:
        rid, what, detail = found[0]
        raise IntegrityError(
            f"redaction {rid}: {detail}; it was changed outside the vault",
            reason="record-missing" if what == "missing" else "record-state",
        )
