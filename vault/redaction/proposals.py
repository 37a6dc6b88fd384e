"""How a proposed redaction meets its document: what it covers, and whether an export can
apply it. Core code, run by the server for server-side proposals and by end-to-end clients for
their own, so that both record the same covered text for the same proposal."""

from __future__ import annotations

from collections.abc import Callable

from vault.errors import InvalidInput
from vault.redaction import export
from vault.redaction.model import Area, Kind
from vault.redaction.pdf.source import open_pdfium
from vault.redaction.record import Proposal, check_rect

__all__ = ["check_on_page", "covered", "target", "usable"]


def target(key: str, proposal: Proposal, covered_text: str) -> export.Target:
    """``proposal`` as the export module takes it, ``covered_text`` being the text under it."""
    return export.Target(
        key=key,
        kind=proposal.kind,
        category=proposal.category,
        start=proposal.start,
        end=proposal.end,
        term=proposal.term,
        page=proposal.page,
        rect=proposal.rect,
        text=covered_text or None,
    )


def covered(proposal: Proposal, media_type: str, content: Callable[[], bytes]) -> str:
    """What ``proposal`` covers, once checked against the document (``InvalidInput`` if it
    does not fit it). A term needs nothing of the content (it may match nowhere yet), so
    ``content`` is called only for spans and regions."""
    new = target("new", proposal, "")
    if proposal.kind is Kind.TERM:
        return new.needle()  # images too: their text is what OCR reads in them
    data = content()
    doc_text = export.document_text(data, media_type) if proposal.kind is Kind.SPAN else None
    text = export.check_target(data, media_type, new, doc_text)
    if proposal.kind is Kind.REGION and export.format_of(media_type) == "pdf":
        check_on_page(data, new.area())
    return text


def check_on_page(content: bytes, area: Area) -> None:
    """A PDF region must lie on its page: within the page's MediaBox, in PDF points. (Images
    are checked against their size by ``export.check_target``.)"""
    with open_pdfium(content) as document:
        left, bottom, right, top = document[area.page - 1].get_mediabox()
    rect = area.rect
    if not (left <= rect.x0 and rect.x1 <= right and bottom <= rect.y0 and rect.y1 <= top):
        raise InvalidInput(
            f"the region lies outside page {area.page} "
            f"({left:g},{bottom:g} to {right:g},{top:g} in PDF points)"
        )


def usable(proposal: Proposal) -> bool:
    """Whether an export can apply ``proposal``: a region stored before coordinates were
    checked may have ones no page has."""
    if proposal.rect is None:
        return True
    try:
        check_rect(proposal.rect)
    except InvalidInput:
        return False
    return True
