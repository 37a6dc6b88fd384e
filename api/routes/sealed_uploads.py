"""End-to-end uploads: the case's recipients, and a ciphertext the client encrypted itself
(vault.services.sealed_uploads)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import Uploader, VaultDep
from api.limits import Uploads
from api.multipart import StreamingForm
from api.routes import problems
from api.routes.documents import uuid_field
from api.schemas.sealed_uploads import RecipientList, RecipientPublic, SealedCreated
from api.upload_body import FRAMING_ALLOWANCE, multipart_boundary, store_upload
from vault.errors import InvalidInput
from vault.services.sealed_uploads import MAX_SEALED_METADATA, SealedStored, SealedUpload

router = APIRouter(prefix="/v1/sealed-documents", tags=["documents"])
by_case = APIRouter(prefix="/v1/cases", tags=["documents"])
routers = (router, by_case)

_FIELDS = {"case", "document", "created_at", "key_commitment", "keys"}
_METADATA = "metadata"
# A wrapped key is 1,168 bytes (1,560 in base64, with its key id about 1,630 in JSON): 2 MiB of
# them is over a thousand readers.
_MAX_KEYS_FIELD = 2 << 20
_LIMITS = {"keys": _MAX_KEYS_FIELD, _METADATA: MAX_SEALED_METADATA * 4 // 3 + 4}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [*sorted(_FIELDS), "ciphertext", _METADATA],
                    "additionalProperties": False,
                    "properties": {
                        "case": {"type": "string", "format": "uuid"},
                        "document": {
                            "type": "string",
                            "format": "uuid",
                            "description": "a fresh random id, sealed into the stream's header",
                        },
                        "created_at": {
                            "type": "string",
                            "format": "date-time",
                            "description": "`now` of the recipients answer",
                        },
                        "key_commitment": {"type": "string", "description": "base64, 32 bytes"},
                        "keys": {
                            "type": "string",
                            "description": "JSON object: recipient key id -> wrapped data key "
                            "(base64), one for exactly each recipient",
                        },
                        "ciphertext": {"type": "string", "format": "binary"},
                        _METADATA: {
                            "type": "string",
                            "description": "base64: the sealed metadata record (sent last)",
                        },
                    },
                },
            }
        },
    }
}


@by_case.get("/{case_id}/recipients", response_model=RecipientList, responses=problems(401, 404))
async def get_recipients(case_id: UUID, actor: Uploader, vault: VaultDep) -> RecipientList:
    """Whom a new document of the case must be wrapped for: its current readers (you among
    them) and the vault's recovery key, by key id, with the server's time to seal in. Check
    every key against the access log before wrapping for it."""
    found = await run_in_threadpool(vault.sealed_uploads.recipients, actor, case_id)
    return RecipientList(
        now=found.now,
        members=[
            RecipientPublic(username=m.username, user_id=m.user_id, key_id=m.key_id)
            for m in found.members
        ],
        recovery_key_id=found.recovery_key_id,
    )


def _b64(fields: dict[str, str], name: str) -> bytes:
    try:
        return base64.b64decode(fields.get(name, ""), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"field '{name}' must be base64") from None


def _keys(raw: str) -> dict[str, bytes]:
    try:
        keys = json.loads(raw)
    except ValueError:
        keys = None
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
    ):
        raise InvalidInput("field 'keys' must be a JSON object of base64 strings")
    return {key_id: _b64(keys, key_id) for key_id in keys}


def _sealed_upload(fields: dict[str, str]) -> SealedUpload:
    missing = sorted(_FIELDS - set(fields))
    if missing:
        raise InvalidInput(f"field '{missing[0]}' is required")
    try:
        created_at = datetime.fromisoformat(fields["created_at"])
    except ValueError:
        raise InvalidInput("field 'created_at' must be an ISO 8601 time") from None
    return SealedUpload(
        document_id=uuid_field(fields, "document", required=True) or UUID(int=0),
        created_at=created_at,
        key_commitment=_b64(fields, "key_commitment"),
        wrapped=_keys(fields["keys"]),
    )


@router.post(
    "",
    status_code=201,
    response_model=SealedCreated,
    responses=problems(401, 404, 408, 409, 413, 415, 422, 429, 503),
    openapi_extra=_UPLOAD_BODY,
)
async def upload_sealed(
    request: Request, actor: Uploader, vault: VaultDep, uploads: Uploads
) -> SealedCreated:
    """Upload a document you encrypted yourself (end to end): ``multipart/form-data`` with the
    fields ``case``, ``document``, ``created_at``, ``key_commitment`` and ``keys``, then the
    ``ciphertext`` part, then the ``metadata`` field. The server checks the stream's header,
    length and commitment and that the key is wrapped for exactly the case's recipients; it
    cannot read any of it (docs/security-model.md)."""
    limit = vault.settings.max_upload_bytes
    boundary = multipart_boundary(
        request, limit, allowance=FRAMING_ALLOWANCE + _MAX_KEYS_FIELD + _LIMITS[_METADATA]
    )

    def store(body: Iterator[bytes]) -> SealedStored:
        form = StreamingForm(body, boundary)
        fields, file = form.read(
            file_field="ciphertext", limits=_LIMITS, trailing=frozenset({_METADATA})
        )
        unknown = sorted(set(fields) - _FIELDS)
        if unknown:
            raise InvalidInput(f"unknown field '{unknown[0]}'")
        upload = _sealed_upload(fields)
        case_id = uuid_field(fields, "case", required=True) or UUID(int=0)

        def metadata() -> bytes:
            if _METADATA not in form.trailing:
                raise InvalidInput(f"field '{_METADATA}' is required, after the ciphertext")
            return _b64(form.trailing, _METADATA)

        return vault.sealed_uploads.add(
            actor,
            case_id=case_id,
            upload=upload,
            ciphertext=file.chunks,
            sealed_metadata=metadata,
            max_size=limit,
        )

    stored = await store_upload(request, uploads, actor.user_id, store)
    return SealedCreated(
        id=stored.id,
        case=stored.case_id,
        created_at=stored.created_at,
        ciphertext_size=stored.ciphertext_size,
        ciphertext_sha256=stored.ciphertext_sha256,
        log_index=stored.receipt.index,
        log_entry=base64.b64encode(stored.receipt.leaf).decode(),
    )
