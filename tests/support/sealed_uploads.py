"""End-to-end uploads built as a client builds them, each part open to tampering, for the
tests of the server's checks."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import httpx
from fastapi.testclient import TestClient

from vault import crypto, document_record
from vault.crypto import PublicKey
from vault.document_record import DocumentMetadata

CONTENT = b"the harbour pilot named in the minutes\n" * 700
KIND = "document"


@dataclass
class Sealed:
    """An end-to-end upload as a client builds it, each part open to tampering."""

    case_id: str
    doc_id: UUID
    created_at: datetime
    data_key: bytes
    commitment: bytes
    keys: dict[str, bytes]
    ciphertext: bytes
    metadata: bytes
    fields: dict[str, str] = field(default_factory=dict)

    def body(self, boundary: str = "sealedb0undary", *, metadata_first: bool = False) -> bytes:
        def part(name: str, value: bytes, *, file: bool = False) -> bytes:
            disposition = f'form-data; name="{name}"' + (f'; filename="{name}"' if file else "")
            return (
                f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                + value
                + b"\r\n"
            )

        fields = {
            "case": self.case_id,
            "document": str(self.doc_id),
            "created_at": self.created_at.isoformat(),
            "key_commitment": base64.b64encode(self.commitment).decode(),
            "keys": json.dumps({k: base64.b64encode(v).decode() for k, v in self.keys.items()}),
            **self.fields,
        }
        metadata = part("metadata", base64.b64encode(self.metadata))
        head = b"".join(part(k, v.encode()) for k, v in fields.items() if v is not None)
        return (
            (metadata if metadata_first else b"")
            + head
            + part("ciphertext", self.ciphertext, file=True)
            + (b"" if metadata_first else metadata)
            + f"--{boundary}--\r\n".encode()
        )


def _key(client: TestClient | httpx.Client, headers: dict[str, str], path: str) -> PublicKey:
    answer = client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    return PublicKey(base64.b64decode(answer.json()["public_key"]))


def build_sealed(
    client: TestClient | httpx.Client,
    headers: dict[str, str],
    *,
    case_id: UUID,
    uploader_id: UUID,
    content: bytes = CONTENT,
    segment_size: int = 4096,
    claimed_sha256: str | None = None,
) -> Sealed:
    """An upload of ``content`` into ``case_id``, built as a client builds it, for the
    recipients the caller of ``headers`` is told (keys taken as the server serves them: these
    tests are about the server's checks; the client's are tests/cli/test_e2e_writes_cli.py's).
    ``claimed_sha256``: what the sealed record says the content's digest is, if not the truth
    (an uploader who lies)."""
    listed = client.get(f"/v1/cases/{case_id}/recipients", headers=headers)
    assert listed.status_code == 200, listed.text
    recipients = listed.json()
    keys = [_key(client, headers, f"/v1/users/{m['username']}/key") for m in recipients["members"]]
    keys.append(_key(client, headers, "/v1/recovery-key"))
    assert [k.key_id for k in keys[:-1]] == [m["key_id"] for m in recipients["members"]]
    assert keys[-1].key_id == recipients["recovery_key_id"]
    doc_id, data_key = uuid.uuid4(), crypto.new_data_key()
    commitment = crypto.key_commitment(data_key, kind=KIND, subject_id=doc_id)
    created_at = datetime.fromisoformat(recipients["now"])
    ciphertext = b"".join(
        crypto.encrypt_stream(data_key, doc_id, [content], segment_size=segment_size)
    )
    meta = DocumentMetadata(
        title="harbour minutes",
        filename="minutes.txt",
        media_type="text/plain",
        notes=None,
        source_id=None,
        kind=None,
        sha256=claimed_sha256 or hashlib.sha256(content).hexdigest(),
        size=len(content),
    )
    bound = document_record.binding(
        case_id=case_id,
        uploader_id=uploader_id,
        created_at=created_at,
        key_commitment=commitment,
    )
    return Sealed(
        str(case_id),
        doc_id,
        created_at,
        data_key,
        commitment,
        {
            k.key_id: crypto.wrap_key(
                data_key, k, kind=KIND, subject_id=doc_id, commitment=commitment
            )
            for k in keys
        },
        ciphertext,
        document_record.seal(data_key, meta, document_id=doc_id, bound=bound),
    )
