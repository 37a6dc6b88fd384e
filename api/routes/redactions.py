"""Redactions: propose, review, suggest; the text spans count in; verified redacted exports."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, SessionActor, VaultDep
from api.routes import problems
from api.routes.documents import content_disposition
from api.schemas.redactions import (
    DocumentText,
    ExportRequest,
    ExportStored,
    RedactionCreate,
    RedactionList,
    RedactionPublic,
    RejectNote,
    ReviewNote,
    SpanCreate,
    SuggestionList,
    SuggestionPublic,
    TermCreate,
    WithdrawalPublic,
    WithdrawRequest,
)
from vault.errors import InvalidInput, VaultError
from vault.freetext import LINE_PATTERN
from vault.redaction.export import ExportOptions
from vault.redaction.model import Category, Kind, Markers, Rect, Status
from vault.services.redaction_records import Withdrawal
from vault.services.redactions import Proposal, RedactionInfo, Released

documents = APIRouter(prefix="/v1/documents", tags=["redactions"])
reviews = APIRouter(prefix="/v1/redactions", tags=["redactions"])
routers = (documents, reviews)


def _public(info: RedactionInfo) -> RedactionPublic:
    p = info.proposal
    return RedactionPublic(
        id=info.id,
        document=info.document_id,
        status=info.status.value,
        kind=p.kind.value,
        category=p.category.value,
        note=p.note,
        start=p.start,
        end=p.end,
        term=p.term,
        page=p.page,
        rect=[p.rect.x0, p.rect.y0, p.rect.x1, p.rect.y1] if p.rect else None,
        text=info.text,
        content_sha256=info.content_sha256,
        current=info.current,
        proposer=info.proposer_id,
        reviewer=info.reviewer_id,
        review_note=info.review_note,
        created_at=info.created_at,
        reviewed_at=info.reviewed_at,
        withdrawal=_withdrawal(info.withdrawal),
    )


_WITHDRAWAL_STATUS: dict[Status, Literal["proposed", "approved", "rejected"]] = {
    Status.PROPOSED: "proposed",
    Status.APPROVED: "approved",
    Status.REJECTED: "rejected",
}


def _withdrawal(asked: Withdrawal | None) -> WithdrawalPublic | None:
    if asked is None:
        return None
    return WithdrawalPublic(
        status=_WITHDRAWAL_STATUS[asked.status],
        proposer=asked.proposer_id,
        note=asked.note,
        proposed_at=asked.proposed_at,
        reviewer=asked.reviewer_id,
        review_note=asked.review_note,
        reviewed_at=asked.reviewed_at,
    )


def _proposal(body: RedactionCreate) -> Proposal:
    common = Proposal(kind=Kind(body.kind), category=Category(body.category), note=body.note)
    if isinstance(body, SpanCreate):
        return replace(common, start=body.start, end=body.end)
    if isinstance(body, TermCreate):
        return replace(common, term=body.term)
    x0, y0, x1, y1 = body.rect
    if not (x0 < x1 and y0 < y1):
        raise InvalidInput("rect needs x0 < x1 and y0 < y1")
    return replace(common, page=body.page, rect=Rect(x0, y0, x1, y1))


@documents.get(
    "/{document_id}/redactions", response_model=RedactionList, responses=problems(401, 404, 409)
)
async def list_redactions(document_id: UUID, actor: Reader, vault: VaultDep) -> RedactionList:
    """A document's redactions, oldest first (editors of its case)."""
    infos = await run_in_threadpool(vault.redactions.of_document, actor, document_id)
    return RedactionList(redactions=[_public(i) for i in infos])


@documents.post(
    "/{document_id}/redactions",
    status_code=201,
    response_model=RedactionPublic,
    responses=problems(401, 404, 409, 413, 415, 422),
)
async def propose(
    document_id: UUID, body: RedactionCreate, actor: SessionActor, vault: VaultDep
) -> RedactionPublic:
    """Propose a redaction: a ``span`` (``start``, ``end`` in code points of the document's
    text, see ``/text``), a ``term`` (every occurrence, ignoring case, accents and spacing) or a
    ``region`` (``page`` and ``rect``). Another editor must approve it before it applies."""
    proposal = _proposal(body)
    info = await run_in_threadpool(
        lambda: vault.redactions.propose(
            actor, document_id, proposal, content_sha256=body.content_sha256
        )
    )
    return _public(info)


@documents.post(
    "/{document_id}/redactions/suggest",
    response_model=SuggestionList,
    responses=problems(401, 404, 409, 413, 415, 422),
)
async def suggest(
    document_id: UUID,
    actor: SessionActor,
    vault: VaultDep,
    accept_all: Annotated[bool, Query(description="propose every suggestion")] = False,
) -> SuggestionList:
    """Suggested spans: e-mail addresses, phone numbers, URLs, handles, ID-like numbers, and
    the recorded names and aliases of the document's source when you are its handler."""
    found = await run_in_threadpool(
        lambda: vault.redactions.suggest(actor, document_id, accept_all=accept_all)
    )
    return SuggestionList(
        suggestions=[
            SuggestionPublic(
                start=s.start, end=s.end, category=s.category.value, reason=s.reason, text=s.text
            )
            for s in found.items
        ],
        created=[_public(i) for i in found.created],
        source_names_used=found.source_names_used,
    )


@documents.get(
    "/{document_id}/text", response_model=DocumentText, responses=problems(401, 404, 409, 413, 415)
)
async def document_text(document_id: UUID, actor: Reader, vault: VaultDep) -> DocumentText:
    """The document's text as span offsets count it: the decoded text of a text document, the
    text layer of a PDF (pages separated by form feeds), and on a scanned page or an image what
    OCR reads there (``ocr_pages`` lists those pages). Editors of its case."""
    read = await run_in_threadpool(vault.redactions.text, actor, document_id)
    return DocumentText(text=read.text, sha256=read.sha256, ocr_pages=read.ocr_pages)


@reviews.post(
    "/{redaction_id}/approve", response_model=RedactionPublic, responses=problems(401, 404, 409)
)
async def approve(
    redaction_id: UUID, actor: SessionActor, vault: VaultDep, body: ReviewNote | None = None
) -> RedactionPublic:
    """Approve a proposed redaction; its proposer cannot (unless the vault allows it)."""
    note = body.note if body else None
    info = await run_in_threadpool(lambda: vault.redactions.approve(actor, redaction_id, note=note))
    return _public(info)


@reviews.post(
    "/{redaction_id}/reject", response_model=RedactionPublic, responses=problems(401, 404, 409)
)
async def reject(
    redaction_id: UUID, body: RejectNote, actor: SessionActor, vault: VaultDep
) -> RedactionPublic:
    """Reject a proposed redaction, with a note saying why."""
    info = await run_in_threadpool(
        lambda: vault.redactions.reject(actor, redaction_id, note=body.note)
    )
    return _public(info)


@reviews.post(
    "/{redaction_id}/withdraw",
    response_model=RedactionPublic,
    responses=problems(401, 404, 409, 422),
)
async def withdraw(
    redaction_id: UUID, body: WithdrawRequest, actor: SessionActor, vault: VaultDep
) -> RedactionPublic:
    """Ask to withdraw an approved redaction, with a note saying why. It still applies to
    exports until another editor approves the withdrawal (``/withdrawal/approve``)."""
    info = await run_in_threadpool(
        lambda: vault.redactions.withdraw(actor, redaction_id, note=body.note)
    )
    return _public(info)


@reviews.post(
    "/{redaction_id}/withdrawal/approve",
    response_model=RedactionPublic,
    responses=problems(401, 404, 409, 422),
)
async def approve_withdrawal(
    redaction_id: UUID, actor: SessionActor, vault: VaultDep, body: ReviewNote | None = None
) -> RedactionPublic:
    """Approve a withdrawal; the editor who asked for it cannot (unless the vault allows
    self-approval). The redaction no longer applies."""
    note = body.note if body else None
    info = await run_in_threadpool(
        lambda: vault.redactions.approve_withdrawal(actor, redaction_id, note=note)
    )
    return _public(info)


@reviews.post(
    "/{redaction_id}/withdrawal/reject",
    response_model=RedactionPublic,
    responses=problems(401, 404, 409, 422),
)
async def reject_withdrawal(
    redaction_id: UUID, body: RejectNote, actor: SessionActor, vault: VaultDep
) -> RedactionPublic:
    """Reject a withdrawal, with a note saying why: the redaction stays approved."""
    info = await run_in_threadpool(
        lambda: vault.redactions.reject_withdrawal(actor, redaction_id, note=body.note)
    )
    return _public(info)


def _options(
    vault: VaultDep, marker: str, per_category: bool, keep_text_pages: bool
) -> ExportOptions:
    return ExportOptions(
        markers=Markers(marker, per_category),
        keep_text_pages=keep_text_pages,
        dpi=vault.settings.export_dpi,
    )


def _headers(released: Released) -> dict[str, str]:
    digest = base64.b64encode(bytes.fromhex(released.sha256)).decode()
    return {
        "Content-Disposition": content_disposition(released.filename),
        "Repr-Digest": f"sha-256=:{digest}:",
        "Vault-Log-Index": str(released.log_index),
        "Vault-Redactions": str(released.redactions),
        # Which PDF pages stayed vector text with keep_text_pages (the others were re-rendered),
        # and why a page could not: what it held, never what it said.
        **({"Vault-Pages-Kept": _pages(released.kept)} if released.kept else {}),
        **(
            {
                "Vault-Pages-Rendered-Instead": "; ".join(
                    f"{page}: {why}" for page, why in sorted(released.unsafe.items())
                )
            }
            if released.unsafe
            else {}
        ),
    }


def _pages(numbers: list[int]) -> str:
    return ",".join(str(n) for n in numbers)


_EXPORT_TYPES = {
    t: {"schema": {"type": "string", "format": "binary"}}
    for t in ("text/plain", "text/markdown", "application/pdf", "image/jpeg", "image/png")
}


@documents.get(
    "/{document_id}/export",
    response_class=Response,
    responses={
        200: {"description": "The verified redacted derivative", "content": _EXPORT_TYPES},
        **problems(401, 404, 409, 413, 415, 422),
    },
)
async def export(
    document_id: UUID,
    actor: Reader,
    vault: VaultDep,
    redacted: Annotated[
        bool,
        Query(
            description="must be true: exports are always redacted",
            json_schema_extra={"enum": [True]},
        ),
    ],
    marker: Annotated[str, Query(min_length=1, max_length=40, pattern=LINE_PATTERN)] = (
        "[REDACTED]"
    ),
    per_category: Annotated[bool, Query(description="name the category in markers")] = False,
    keep_text_pages: Annotated[
        bool,
        Query(description="PDF: keep pages without redactions as sanitised vector text"),
    ] = False,
) -> Response:
    """The document with its approved redactions applied, released only after an independent
    re-reading finds none of the redacted text and no metadata left. Refused (409) while any
    redaction is proposed; 415 for types that cannot be redacted; 422 ``redaction-leak`` when
    the check fails (nothing is released). Logged with the SHA-256 of what was released."""
    if not redacted:
        raise InvalidInput(
            "only redacted exports exist: use redacted=true (the original is at /content)"
        )
    options = _options(vault, marker, per_category, keep_text_pages)
    released = await run_in_threadpool(lambda: vault.redactions.export(actor, document_id, options))
    return Response(released.content, media_type=released.media_type, headers=_headers(released))


@documents.post(
    "/{document_id}/export",
    status_code=201,
    response_model=ExportStored,
    responses=problems(401, 404, 409, 413, 415, 422),
)
async def export_and_store(
    document_id: UUID, actor: SessionActor, vault: VaultDep, body: ExportRequest | None = None
) -> ExportStored:
    """Make the verified redacted export and keep it in the vault as a new document of the same
    case, linked to its original (``derived_from``)."""
    body = body or ExportRequest()
    options = _options(vault, body.marker, body.per_category, body.keep_text_pages)
    released = await run_in_threadpool(
        lambda: vault.redactions.export(actor, document_id, options, store=True)
    )
    if released.stored is None:
        raise VaultError("the export was not stored")  # answered 500 internal: a bug
    return ExportStored(
        document=released.stored.id,
        sha256=released.sha256,
        log_index=released.log_index,
        redactions=released.redactions,
        pages_kept=released.kept,
        pages_rendered_instead=released.unsafe,
    )
