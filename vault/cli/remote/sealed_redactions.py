"""Proposing, listing and reviewing redactions on this machine, in an end-to-end session: each
record is opened and sealed here under the document's key (``vault.redaction.record``), so the
server never sees a term, the text a span or region covers, or a note. What a proposal covers
is worked out here as the server works it out (``vault.redaction.proposals``); the answers
have the shape of the server-side routes', so the commands show them alike."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from vault.cli.client import Client
from vault.cli.remote import sealed_read
from vault.cli.remote.sealed_read import OpenedDocument
from vault.errors import Conflict, IntegrityError, InvalidInput
from vault.redaction import export, proposals, record
from vault.redaction.model import Category, Kind, Rect, Status
from vault.redaction.record import Proposal, SealedRedaction

__all__ = ["Exported", "export_here", "listed", "proposal_of", "propose", "review", "text_of"]


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


def text_of(client: Client, document_id: str) -> dict[str, Any]:
    """The document's text as ``GET /v1/documents/{id}/text`` answers it, read here."""
    opened = _opened(client, document_id)
    text, ocr_pages = export.read_text(_content(client, opened), opened.metadata.media_type)
    return {"text": text, "sha256": opened.metadata.sha256, "ocr_pages": ocr_pages}


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
    return {**_public(item, _open_item(opened, item), opened), "sealed_here": True}


@dataclass(frozen=True)
class Exported:
    """A redacted export made here, and the access-log entry that records it."""

    content: bytes
    extension: str
    sha256: str
    applied: int
    log_index: int


def _applying(opened: OpenedDocument, items: list[Any]) -> list[tuple[str, SealedRedaction]]:
    """The redactions an export applies, as the server chooses them (``redaction_core``):
    refused while any is proposed, stale or unusable; a withdrawn one left out only if its
    record says a second editor approved the withdrawal."""
    pending = [str(i["id"]) for i in items if i.get("status") == Status.PROPOSED.value]
    if pending:
        raise Conflict(f"{len(pending)} redaction(s) still proposed: " + ", ".join(pending))
    found: list[tuple[str, SealedRedaction]] = []
    for item in items:
        status = item.get("status")
        if status in (Status.APPROVED.value, Status.WITHDRAWING.value):
            found.append((str(item["id"]), _open_item(opened, item)))
        elif status == Status.WITHDRAWN.value:
            withdrawal = _open_item(opened, item).withdrawal
            if withdrawal is None or withdrawal.status is not Status.APPROVED:
                raise IntegrityError(
                    f"redaction {item['id']} is marked withdrawn but its record says otherwise",
                    reason="record-state",
                )
    stale = [rid for rid, s in found if s.content_sha256 != opened.metadata.sha256]
    if stale:
        raise Conflict(f"{len(stale)} redaction(s) were made on other content: " + ", ".join(stale))
    unusable = [rid for rid, s in found if not proposals.usable(s.proposal)]
    if unusable:
        raise Conflict(
            f"{len(unusable)} approved redaction(s) have coordinates no page has: "
            + ", ".join(unusable)
        )
    return found


def export_here(client: Client, document_id: str, options: export.ExportOptions) -> Exported:
    """The document with its approved redactions applied, made and checked here by the same
    code and four readers as on the server; recorded in the access log (the server checks
    the log and the redactions first) before it is returned for release. A refusal of the
    release check is recorded too, and raised."""
    opened = _opened(client, document_id)
    media_type = opened.metadata.media_type
    export.format_of(media_type)
    items = client.get(f"/v1/documents/{document_id}/sealed-redactions")["redactions"]
    applying = _applying(opened, items)
    targets = [proposals.target(rid, s.proposal, s.text) for rid, s in applying]
    content = _content(client, opened)
    ids = [rid for rid, _ in applying]
    url = f"/v1/documents/{document_id}/sealed-export"
    try:
        result = export.produce(content, media_type, targets, options)
    except IntegrityError as exc:
        refused = {"ok": False, "sha256": hashlib.sha256(b"").hexdigest(), "redactions": ids}
        client.post(url, {**refused, "reason": exc.reason})
        raise
    answer = client.post(url, {"ok": True, "sha256": result.sha256, "redactions": ids})
    try:
        entry = json.loads(base64.b64decode(answer["log_entry"], validate=True))
        index = int(answer["log_index"])
        recorded = (
            entry["action"] == "document.export"
            and entry["outcome"] == "ok"
            and entry["targets"]["document"] == document_id
            and entry["sha256"] == result.sha256
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        recorded = False
    if not recorded:
        raise IntegrityError(
            "the server's receipt is not for this export: nothing was released", reason="receipt"
        )
    return Exported(result.content, result.extension, result.sha256, len(targets), index)


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
