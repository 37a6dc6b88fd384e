"""Sending a file to the server as a new document, in whichever mode the session is in.

A server-side session sends the plaintext, which the server encrypts as it arrives; an
end-to-end session encrypts it here (``vault.cli.remote.sealed_put``). Either way the answer is
checked against the file: the SHA-256 the server measured, or, end to end, the access-log entry
against the ciphertext that was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import IO, Any, cast
from uuid import UUID

from vault.cli.client import Client
from vault.cli.remote import sealed_put
from vault.cli.remote.transfer import HashingReader
from vault.document_record import NewDocument
from vault.errors import IntegrityError

__all__ = ["upload_file"]


def upload_file(
    client: Client,
    raw: IO[bytes],
    *,
    name: str,
    case_id: str,
    title: str,
    media_type: str,
    optional: Mapping[str, str | None],
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """Upload ``raw`` (the file ``name``) into ``case_id``; the server's answer, with the
    plaintext's ``size`` and ``sha256``. ``optional``: ``source``, ``kind``, ``notes``."""
    if client.key is not None:
        source = optional.get("source")
        document = NewDocument(
            title=title,
            filename=name,
            media_type=media_type,
            notes=optional.get("notes"),
            source_id=UUID(source) if source else None,
            kind=optional.get("kind"),
        )
        sealed = sealed_put.put_sealed(
            client, case_id=case_id, file=raw, document=document, progress=progress
        )
        return {**sealed.answer, "size": sealed.size, "sha256": sealed.sha256}
    fields = {"case": case_id, "title": title}
    fields.update({k: v for k, v in optional.items() if v is not None})
    sent = HashingReader(raw)
    answer: dict[str, Any] = client.upload(
        "/v1/documents",
        fields,
        cast(IO[bytes], sent),  # file-like enough for httpx: read, seek, fileno
        filename=name,
        media_type=media_type,
        progress=progress,
    )
    if answer["sha256"] != sent.hexdigest():
        raise IntegrityError(
            f"the server's SHA-256 of document {answer['id']} does not match {name}: check it "
            f"and delete it with `vault docs rm {answer['id']}`",
            reason="upload-digest",
        )
    return answer
