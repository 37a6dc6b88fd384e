"""Proposing, listing and reviewing redactions on this machine, in an end-to-end session: each
record is opened and sealed here under the document's key (``vault.redaction.record``), so the
server never sees a term, the text a span or region covers, or a note. What a proposal covers
is worked out here as the server works it out (``vault.redaction.proposals``); the answers
have the shape of the server-side routes', so the commands show them alike."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import replace
from typing import Any
from uuid import UUID

from vault.cli.client import Client
from vault.cli.remote import sealed_read
from vault.cli.remote.sealed_read import OpenedDocument
from vault.errors import Conflict, IntegrityError, InvalidInput
from vault.redaction import export, proposals, record
from vault.redaction.model import Category, Kind, Rect, Status
from vault.redaction.record import Proposal, SealedRedaction

__all__ = ["listed", "proposal_of", "propose", "review"]


def proposal_of(body: dict[str, Any]) -> Proposal:
    """The request body of a server-side proposal (``redaction_forms.proposal_body``) as the
    proposal it describes."""
    rect = body.get("rect")
    return Proposal(
        kind=Kind(body["kind"]),
        category=Category(body["category"]),
        note=body.get("note"),
        start=body.get("start"),
        end=body.get("end"),
        term=body.get("term"),
        page=body.get("page"),
        rect=Rect(*rect) if rect else None,
    )


def _opened(client: Client, document_id: str) -> OpenedDocument:
    if client.key is None:
        raise InvalidInput("this needs an end-to-end session")
    return sealed_read.open_document(client, client.key, document_id)


def _uuid(value: Any) -> UUID | None:
    return None if value is None else UUID(str(value))


def _open_item(opened: OpenedDocument, item: Any) -> SealedRedaction:
    try:
        rid = UUID(str(item["id"]))
        bound = record.binding(
            document_id=opened.id,
            proposer_id=UUID(str(item["proposer"])),
            reviewer_id=_uuid(item.get("reviewer")),
            status=str(item["status"]),
        )
        box = base64.b64decode(str(item["sealed"]), validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise IntegrityError(
            "the server's redaction record is malformed", reason="sealed"
        ) from None
    if str(item.get("document")) != str(opened.id):
        raise IntegrityError(
            "the server answered with another document's redaction", reason="sealed"
        )
    return record.open_sealed(opened.data_key, rid, bound, box)


def _public(item: Any, sealed: SealedRedaction, opened: OpenedDocument) -> dict[str, Any]:
    """``item`` with its record opened, in the shape of the server-side routes' answers."""
    p = sealed.proposal
    withdrawal = sealed.withdrawal
    return {
        "id": str(item["id"]),
        "document": str(opened.id),
        "status": str(item["status"]),
        "kind": p.kind.value,
        "category": p.category.value,
        "note": p.note,
        "start": p.start,
        "end": p.end,
        "term": p.term,
        "page": p.page,
        "rect": [p.rect.x0, p.rect.y0, p.rect.x1, p.rect.y1] if p.rect else None,
        "text": sealed.text,
        "content_sha256": sealed.content_sha256,
        "current": sealed.content_sha256 == opened.metadata.sha256,
        "proposer": str(item["proposer"]),
        "reviewer": item.get("reviewer"),
        "review_note": sealed.review_note,
        "created_at": item.get("created_at"),
        "reviewed_at": item.get("reviewed_at"),
        "withdrawal": withdrawal.to_dict() if withdrawal else None,
    }


def listed(client: Client, document_id: str) -> list[dict[str, Any]]:
    """The document's redactions, each record opened here."""
    opened = _opened(client, document_id)
    items = client.get(f"/v1/documents/{document_id}/sealed-redactions")["redactions"]
    return [_public(item, _open_item(opened, item), opened) for item in items]


def _content(client: Client, opened: OpenedDocument) -> bytes:
    """The whole plaintext, in memory as on the server (never a temporary file), checked
    against its record's digest by ``sealed_read.plaintext``."""
    with sealed_read.plaintext(client, opened) as chunks:
        return b"".join(chunks)


def propose(client: Client, document_id: str, proposal: Proposal) -> dict[str, Any]:
    """Propose ``proposal`` on the document: checked against it here, sealed here."""
    proposal.validate()
    opened = _opened(client, document_id)
    media_type = opened.metadata.media_type
    export.format_of(media_type)  # a type that cannot be redacted is refused before anything
    text = proposals.covered(proposal, media_type, lambda: _content(client, opened))
    me = UUID(str(client.get("/v1/auth/me")["id"]))
    rid = uuid.uuid4()
    bound = record.binding(
        document_id=opened.id, proposer_id=me, reviewer_id=None, status=Status.PROPOSED.value
    )
    box = record.seal(
        opened.data_key, rid, bound, SealedRedaction(proposal, opened.metadata.sha256, text)
    )
    item = client.post(
        f"/v1/documents/{document_id}/sealed-redactions",
        {"id": str(rid), "sealed": base64.b64encode(box).decode()},
    )
    return _public(item, _open_item(opened, item), opened)


def review(
    client: Client, document_id: str | None, redaction_id: str, path: str, note: str | None
) -> dict[str, Any]:
    """Approve (``path`` "approve") or reject a proposed redaction of ``document_id``: its
    record opened here and sealed again for the new state, with ``note``."""
    if document_id is None:
        raise InvalidInput("in an end-to-end session, name the redaction's document with --doc")
    status = Status.APPROVED if path == "approve" else Status.REJECTED
    opened = _opened(client, document_id)
    items = client.get(f"/v1/documents/{document_id}/sealed-redactions")["redactions"]
    item = next((i for i in items if str(i.get("id")) == redaction_id), None)
    if item is None:
        raise InvalidInput(f"no redaction {redaction_id} on document {document_id}")
    sealed = _open_item(opened, item)
    if status is Status.APPROVED:
        if sealed.content_sha256 != opened.metadata.sha256:
            raise Conflict("stale: this redaction was made on other content")
        if not proposals.usable(sealed.proposal):
            raise Conflict(
                "this region's coordinates lie on no page: reject it, and propose it again"
            )
    record.check_note(note)
    me = UUID(str(client.get("/v1/auth/me")["id"]))
    bound = record.binding(
        document_id=opened.id,
        proposer_id=UUID(str(item["proposer"])),
        reviewer_id=me,
        status=status.value,
    )
    box = record.seal(opened.data_key, UUID(redaction_id), bound, replace(sealed, review_note=note))
    answer = client.post(
        f"/v1/redactions/{redaction_id}/sealed-review",
        {"status": status.value, "sealed": base64.b64encode(box).decode()},
    )
    return _public(answer, _open_item(opened, answer), opened)
