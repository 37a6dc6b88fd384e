"""Redaction records as the server stores them: the core format (``vault.redaction.record``)
bound to a ``redactions`` row's clear columns."""

from __future__ import annotations

from vault.redaction import record
from vault.redaction.record import (
    MAX_COORDINATE,
    MAX_NOTE,
    MAX_TERM,
    Proposal,
    SealedRedaction,
    Withdrawal,
    check_note,
    check_rect,
)
from vault.storage.models import Redaction

__all__ = [
    "MAX_COORDINATE",
    "MAX_NOTE",
    "MAX_TERM",
    "Proposal",
    "SealedRedaction",
    "Withdrawal",
    "binding",
    "check_note",
    "check_rect",
    "seal",
    "unseal",
]


def binding(row: Redaction) -> bytes:
    """What ``row``'s record is bound to (``record.binding``)."""
    return record.binding(
        document_id=row.document_id,
        proposer_id=row.proposer_id,
        reviewer_id=row.reviewer_id,
        status=row.status,
    )


def seal(data_key: bytes, row: Redaction, sealed: SealedRedaction) -> bytes:
    """``sealed`` as the record of ``row``, whose clear columns hold its new state."""
    return record.seal(data_key, row.id, binding(row), sealed)


def unseal(data_key: bytes, row: Redaction) -> SealedRedaction:
    """The record of ``row`` (``IntegrityError`` if it or a column it vouches for changed)."""
    return record.open_sealed(data_key, row.id, binding(row), row.sealed)
