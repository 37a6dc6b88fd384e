"""Write ``tests/vectors/row-seal.json``, the test vectors of docs/format.md, "Row seals".

Run from the repository root::

    .venv/bin/python -m tests.vectors.generate_row_seal

The seals come from the vault's own writer (``vault.services.row_seals.seal_record``) over
records with fixed values, so the file comes out byte for byte the same on every run;
``tests/vault/test_row_seals.py`` regenerates it and compares.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import SQLModel

from vault.services import row_seals
from vault.storage.models import CaseMember, Document, User

HERE = Path(__file__).resolve().parent
TARGET = HERE / "row-seal.json"
SEAL_KEY = bytes(range(32))


def _records() -> list[tuple[str, SQLModel]]:
    when = datetime(2026, 12, 7, 5, 54, 18, 123456, tzinfo=UTC)
    return [
        (
            "user-administrator",
            User(
                id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
                username="ada",
                role="admin",
                enabled=True,
                created_at=when,
                key_id="k1",
                public_key=bytes(32),
                totp_confirmed=False,
                key_rotation_required=False,
            ),
        ),
        (
            "user-end-to-end-only",
            User(
                id=uuid.UUID("00000000-0000-4000-8000-000000000002"),
                username="eve",
                role="editor",
                enabled=True,
                created_at=when,
                key_id="k2",
                public_key=bytes(range(32)),
                totp_confirmed=True,
                key_rotation_required=False,
                end_to_end_only=True,
            ),
        ),
        (
            "member-approved",
            CaseMember(
                case_id=uuid.UUID("00000000-0000-4000-8000-00000000000c"),
                user_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
                added_at=when,
                added_by=None,
                approved_by=uuid.UUID("00000000-0000-4000-8000-000000000001"),
                approved_at=when,
            ),
        ),
        (
            "document-empty-values",
            Document(
                id=uuid.UUID("00000000-0000-4000-8000-00000000000d"),
                case_id=uuid.UUID("00000000-0000-4000-8000-00000000000c"),
                uploader_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
                blob_id="",
                ciphertext_size=-1,
                sealed_metadata=b"",
                created_at=datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                held_at=None,
                key_commitment=b"",
            ),
        ),
    ]


def _hex_or_value(kind: row_seals.Kind, value: object) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def generate() -> str:
    """The file's text."""
    key = row_seals.row_key(SEAL_KEY)
    valid = []
    for name, record in _records():
        binding = row_seals.BOUND[type(record)]
        row_seals.seal_record(key, record)
        values = {c: getattr(record, c) for c, _ in binding.columns}
        fields = row_seals.bound_fields(binding, values)
        valid.append(
            {
                "id": name,
                "table": binding.table,
                "fields": [
                    {"name": c, "kind": k.name.lower(), "value": _hex_or_value(k, v)}
                    for c, k, v in fields
                ],
                "encoding": row_seals.encode(binding.table, fields).hex(),
                "seal": getattr(record, "seal").hex(),  # noqa: B009 - every bound model has one
            }
        )
    data = {
        "format": "docs/format.md, Row seals",
        "version": 2,
        "generator": "tests/vectors/generate_row_seal.py",
        "seal_key": SEAL_KEY.hex(),
        "row_key": key.hex(),
        "valid": valid,
    }
    return json.dumps(data, indent=2) + "\n"


def main() -> None:
    TARGET.write_text(generate(), encoding="utf-8")


if __name__ == "__main__":
    main()
