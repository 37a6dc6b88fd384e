"""Recording and revealing a source on this machine, in an end-to-end session: the identity
notes and names are sealed and opened here (docs/format.md §5.1), and the source's key is
wrapped here for this account's key and for the vault's recovery key as the access log holds
it (``vault.cli.remote.key_check``); the server stores and returns them sealed."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from vault import crypto, source_record
from vault.cli.client import Client
from vault.cli.remote.key_check import checked_key, checked_recovery_key, tell
from vault.errors import IntegrityError, InvalidInput

__all__ = ["OpenedIdentity", "hand_over", "record_source", "reveal_source"]


@dataclass(frozen=True)
class OpenedIdentity:
    pseudonym: str
    notes: str | None
    names: list[str]


def _key(client: Client) -> crypto.PrivateKey:
    if client.key is None:
        raise InvalidInput("this needs an end-to-end session")
    return client.key


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def record_source(
    client: Client, case_id: str, notes: str | None, names: Sequence[str]
) -> dict[str, Any]:
    """Record a source in ``case_id`` with ``notes`` and ``names`` sealed here; the server's
    answer. Nothing is sent if the recovery key is not the one the access log holds."""
    key = _key(client)
    source_record.check_notes(notes)
    cleaned = source_record.clean_names(names)
    source_id = uuid.uuid4()
    body: dict[str, Any] = {"case": case_id, "id": str(source_id), "keys": {}}
    data_key = crypto.new_data_key()
    commitment = crypto.key_commitment(data_key, kind=source_record.KIND, subject_id=source_id)
    body["key_commitment"] = _b64(commitment)
    if notes is not None or cleaned:
        recovery = checked_recovery_key(client)
        case = UUID(case_id)
        if notes is not None:
            sealed = source_record.seal_notes(
                data_key, notes, source_id=source_id, case_id=case, commitment=commitment
            )
            body["sealed_notes"] = _b64(sealed)
        if cleaned:
            sealed = source_record.seal_names(
                data_key, cleaned, source_id=source_id, case_id=case, commitment=commitment
            )
            body["sealed_names"] = _b64(sealed)
        for recipient in (key.public_key(), recovery.public_key):
            wrapped = crypto.wrap_key(
                data_key,
                recipient,
                kind=source_record.KIND,
                subject_id=source_id,
                commitment=commitment,
            )
            body["keys"][recipient.key_id] = _b64(wrapped)
    answer: dict[str, Any] = client.post("/v1/sealed-sources", body)
    if answer.get("id") != str(source_id):
        raise IntegrityError("the server recorded another source than the one sent", reason="key")
    return answer


def _bytes(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError(
            "the server's copy of the source is not trustworthy: a field is not base64",
            reason="sealed",
        ) from None


def _my_copy(body: Any, key: crypto.PrivateKey, source_id: UUID) -> tuple[bytes, bytes | None]:
    """The source's data key from the copy the server says is this key's, and its commitment
    (``IntegrityError`` if the copy is another key's or does not open)."""
    if body.get("recipient_key_id") != key.public_key().key_id:
        raise IntegrityError(
            "the source's key is wrapped for another key than yours", reason="sealed"
        )
    commitment = _bytes(body["key_commitment"]) if body.get("key_commitment") else None
    data_key = crypto.unwrap_key(
        _bytes(body["wrapped_key"]),
        key,
        kind=source_record.KIND,
        subject_id=source_id,
        commitment=commitment,
    )
    return data_key, commitment


def hand_over(client: Client, source_id: str, to: str) -> dict[str, Any]:
    """Hand a source over from here: its key, opened with this session's key, wrapped for the
    new handler's key as the access log holds it (nothing is sent otherwise)."""
    key = _key(client)
    body = client.get(f"/v1/sources/{source_id}/key")
    if str(body.get("id")) != source_id:
        raise IntegrityError("the server answered with another source", reason="sealed")
    checked = checked_key(client, to)
    tell(checked, own=False)
    request: dict[str, Any] = {"to": to, "key_id": checked.entry.key_id}
    if body.get("wrapped_key") is not None:
        subject = UUID(source_id)
        data_key, commitment = _my_copy(body, key, subject)
        wrapped = crypto.wrap_key(
            data_key,
            checked.entry.public_key,
            kind=source_record.KIND,
            subject_id=subject,
            commitment=commitment,
        )
        request["wrapped_key"] = _b64(wrapped)
    answer: dict[str, Any] = client.post(f"/v1/sources/{source_id}/handover", request)
    return answer


def reveal_source(client: Client, source_id: str, reason: str) -> OpenedIdentity:
    """A source's identity notes and names, opened here (the reading and ``reason`` are
    logged by the server)."""
    key = _key(client)
    body = client.get(f"/v1/sources/{source_id}/sealed-identity", reason=reason)
    try:
        found_id, case_id = UUID(str(body["id"])), UUID(str(body["case"]))
        pseudonym = str(body["pseudonym"])
    except (KeyError, TypeError, ValueError):
        raise IntegrityError("the server's answer is malformed", reason="sealed") from None
    if str(found_id) != source_id:
        raise IntegrityError("the server answered with another source", reason="sealed")
    if body.get("wrapped_key") is None:
        return OpenedIdentity(pseudonym, None, [])
    data_key, commitment = _my_copy(body, key, found_id)
    notes, names = None, []
    if body.get("sealed_notes"):
        notes = source_record.open_notes(
            data_key,
            _bytes(body["sealed_notes"]),
            source_id=found_id,
            case_id=case_id,
            commitment=commitment,
        )
    if body.get("sealed_names"):
        names = source_record.open_names(
            data_key,
            _bytes(body["sealed_names"]),
            source_id=found_id,
            case_id=case_id,
            commitment=commitment,
        )
    return OpenedIdentity(pseudonym, notes, names)
