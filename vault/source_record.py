"""A source's sealed records (docs/format.md §5.1): the identity notes and the names, each
sealed under the source's data key and bound to the source's case and key commitment. Core
format code, shared by the server (which seals and opens them in server-side sessions) and by
end-to-end clients (which seal and open them themselves)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from vault import crypto, freetext
from vault.errors import IntegrityError, InvalidInput

__all__ = [
    "KIND",
    "MAX_NAME",
    "MAX_NAMES",
    "MAX_NOTES",
    "NAMES_LABEL",
    "NOTES_LABEL",
    "binding",
    "check_notes",
    "clean_names",
    "open_names",
    "open_notes",
    "seal_names",
    "seal_notes",
]

KIND = "source"  # a source's wrapped key (docs/format.md §3)
NOTES_LABEL = "source-notes"
NAMES_LABEL = "source-names"
MAX_NOTES = 64 * 1024
MAX_NAMES = 50
MAX_NAME = 200
_BOUND_SOURCE = b"source-vault/v2 source\x00"


def binding(case_id: UUID, key_commitment: bytes | None) -> bytes | None:
    """The clear columns a source's sealed records vouch for: its case and key commitment.
    Not the handler: a handover changes it while nobody online holds the key to seal again
    (the row seal covers it). ``None`` for a source sealed before key commitments."""
    if key_commitment is None:
        return None
    return _BOUND_SOURCE + case_id.bytes + key_commitment


def check_notes(notes: str | None) -> None:
    if notes is not None and len(notes) > MAX_NOTES:
        raise InvalidInput(f"identity notes must be at most {MAX_NOTES} characters")
    freetext.check_text("identity notes", notes)


def clean_names(names: Sequence[str]) -> list[str]:
    """``names`` with runs of spaces made one and repeats dropped; ``InvalidInput`` for too
    many, too short or too long ones."""
    cleaned = [" ".join(name.split()) for name in names]
    if len(cleaned) > MAX_NAMES:
        raise InvalidInput(f"at most {MAX_NAMES} names and aliases")
    if any(not 2 <= len(name) <= MAX_NAME for name in cleaned):
        raise InvalidInput(f"each name or alias must be 2-{MAX_NAME} characters")
    for name in cleaned:
        freetext.check_line("a name or alias", name)
    return list(dict.fromkeys(cleaned))


def seal_notes(
    data_key: bytes, notes: str, *, source_id: UUID, case_id: UUID, commitment: bytes
) -> bytes:
    return crypto.seal_record(
        data_key,
        notes.encode(),
        label=NOTES_LABEL,
        subject_id=source_id,
        bound=binding(case_id, commitment),
    )


def seal_names(
    data_key: bytes, names: Sequence[str], *, source_id: UUID, case_id: UUID, commitment: bytes
) -> bytes:
    return crypto.seal_record(
        data_key,
        json.dumps(list(names)).encode(),
        label=NAMES_LABEL,
        subject_id=source_id,
        bound=binding(case_id, commitment),
    )


def _open(
    data_key: bytes,
    sealed: bytes,
    label: str,
    *,
    source_id: UUID,
    case_id: UUID,
    commitment: bytes | None,
) -> bytes:
    try:
        return crypto.open_record(
            data_key,
            sealed,
            label=label,
            subject_id=source_id,
            bound=binding(case_id, commitment),
        )
    except IntegrityError as exc:
        raise IntegrityError(
            f"source {source_id}: its sealed record does not match its row (case or key "
            "commitment changed outside the vault)",
            reason=exc.reason,
        ) from None


def open_notes(
    data_key: bytes, sealed: bytes, *, source_id: UUID, case_id: UUID, commitment: bytes | None
) -> str:
    raw = _open(
        data_key, sealed, NOTES_LABEL, source_id=source_id, case_id=case_id, commitment=commitment
    )
    return raw.decode()


def open_names(
    data_key: bytes, sealed: bytes, *, source_id: UUID, case_id: UUID, commitment: bytes | None
) -> list[str]:
    raw = _open(
        data_key, sealed, NAMES_LABEL, source_id=source_id, case_id=case_id, commitment=commitment
    )
    names = json.loads(raw)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise IntegrityError(f"source {source_id}: its names record is malformed", reason="names")
    return names
