"""Uploading a document end to end: encrypted on this machine, for keys checked here.

The server says who the case's readers are (``GET /v1/cases/{id}/recipients``); every one of
their keys, and the vault's recovery key, is accepted only as the access log holds it
(``vault.cli.remote.key_check``), so a server that substitutes a key of its own for a
colleague's is caught before a byte is encrypted. The file is then encrypted here under a fresh
data key (docs/format.md §2), the key wrapped for each reader (§3), and the metadata record
sealed here (§5.1) once the content's digest is known; what goes to the server is ciphertext,
wrapped copies and the sealed record. Its answer is a receipt: the access-log entry of the
upload must name this document and the digest of the ciphertext that was sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from uuid import UUID

from vault import crypto, document_record, mediatypes
from vault.cli.client import Client
from vault.cli.remote.key_check import checked_key, checked_recovery_key, tell
from vault.cli.remote.sealed_read import DOCUMENT_KIND
from vault.crypto import PublicKey
from vault.document_record import DocumentMetadata, NewDocument
from vault.errors import IntegrityError, InvalidInput

__all__ = ["SealedReceipt", "put_sealed"]

_READ = 1 << 20


@dataclass(frozen=True)
class SealedReceipt:
    id: str
    size: int
    sha256: str  # of the plaintext, measured here
    ciphertext_sha256: str
    log_index: int
    answer: dict[str, Any]


def _substituted(who: str) -> IntegrityError:
    return IntegrityError(
        f"the server names a key for {who} that is not the one the access log holds: nothing "
        "was uploaded",
        reason="key",
    )


def _recipients(client: Client, case_id: str) -> tuple[datetime, UUID, list[PublicKey]]:
    """The server's time, this account's id, and every key to wrap for, each checked."""
    key = client.key
    if key is None:
        raise InvalidInput("an end-to-end upload needs an end-to-end session")
    answer = client.get(f"/v1/cases/{case_id}/recipients")
    own = key.public_key().key_id
    keys: list[PublicKey] = []
    me: UUID | None = None
    try:
        now = datetime.fromisoformat(str(answer["now"]))
        members = [
            (str(m["username"]), str(m["user_id"]), str(m["key_id"])) for m in answer["members"]
        ]
        recovery_id = str(answer["recovery_key_id"])
    except (KeyError, TypeError, ValueError):
        raise IntegrityError("the server's list of recipients is malformed", reason="key") from None
    for username, user_id, key_id in members:
        checked = checked_key(client, username)
        entry = checked.entry
        if str(entry.user_id) != user_id or entry.key_id != key_id:
            raise _substituted(repr(username))
        tell(checked, own=key_id == own)
        if key_id == own:
            me = entry.user_id
        keys.append(entry.public_key)
    if me is None:
        raise IntegrityError(
            "the server's list of recipients leaves out your own key: nothing was uploaded",
            reason="key",
        )
    recovery = checked_recovery_key(client)
    if recovery.key_id != recovery_id:
        raise _substituted("the vault's recovery key")
    keys.append(recovery.public_key)
    return now, me, keys


def put_sealed(
    client: Client,
    *,
    case_id: str,
    file: IO[bytes],
    document: NewDocument,
    progress: Callable[[int], None] | None = None,
) -> SealedReceipt:
    """Encrypt ``file`` here and upload it into ``case_id`` as the module docstring says."""
    document.validate()
    media_type = mediatypes.normalise(document.media_type)
    now, me, recipients = _recipients(client, case_id)
    doc_id = uuid.uuid4()
    data_key = crypto.new_data_key()
    commitment = crypto.key_commitment(data_key, kind=DOCUMENT_KIND, subject_id=doc_id)
    wrapped = {
        r.key_id: base64.b64encode(
            crypto.wrap_key(
                data_key, r, kind=DOCUMENT_KIND, subject_id=doc_id, commitment=commitment
            )
        ).decode()
        for r in recipients
    }
    digest, sent = hashlib.sha256(), hashlib.sha256()
    size = 0

    def plaintext() -> Iterator[bytes]:
        nonlocal size
        while chunk := file.read(_READ):
            size += len(chunk)
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
            yield chunk

    def ciphertext() -> Iterator[bytes]:
        for piece in crypto.encrypt_stream(data_key, doc_id, plaintext()):
            sent.update(piece)
            yield piece

    def record() -> bytes:
        # Sealed only now: the record states the digest and size of the whole plaintext.
        meta = DocumentMetadata(
            title=document.title,
            filename=document.filename,
            media_type=media_type,
            notes=document.notes,
            source_id=document.source_id,
            kind=document.kind,
            sha256=digest.hexdigest(),
            size=size,
        )
        bound = document_record.binding(
            case_id=UUID(case_id), uploader_id=me, created_at=now, key_commitment=commitment
        )
        return document_record.seal(data_key, meta, document_id=doc_id, bound=bound)

    fields = {
        "case": case_id,
        "document": str(doc_id),
        "created_at": now.isoformat(),
        "key_commitment": base64.b64encode(commitment).decode(),
        "keys": json.dumps(wrapped),
    }
    answer = client.upload_stream(
        "/v1/sealed-documents",
        fields,
        ("ciphertext", ciphertext()),
        trailing=lambda: {"metadata": base64.b64encode(record()).decode()},
    )
    return _receipt(answer, doc_id, sent.hexdigest(), size, digest.hexdigest())


def _receipt(
    answer: Any, doc_id: UUID, ciphertext_sha256: str, size: int, sha256: str
) -> SealedReceipt:
    """The server's answer, checked to be a receipt for exactly what was sent."""
    try:
        entry = json.loads(base64.b64decode(answer["log_entry"], validate=True))
        index = int(answer["log_index"])
        matches = (
            answer["id"] == str(doc_id)
            and answer["ciphertext_sha256"] == ciphertext_sha256
            and entry["index"] == index
            and entry["action"] == "document.upload"
            and entry["targets"]["document"] == str(doc_id)
            and entry["ciphertext_sha256"] == ciphertext_sha256
        )
    except (KeyError, TypeError, ValueError):
        matches = False
    if not matches:
        raise IntegrityError(
            f"the server's receipt for document {doc_id} is not for what was sent: check it "
            f"and delete it with `vault docs rm {doc_id}`",
            reason="upload-digest",
        )
    return SealedReceipt(str(doc_id), size, sha256, ciphertext_sha256, index, answer)
