"""PDF redaction, in the order the work happens: ``source`` reads the original (text, OCR of
scans, character boxes), ``render`` paints and re-renders pages (``ocrpage`` reads them back
for healing and the text layer; ``sanitise`` and ``fonts`` rebuild kept vector pages), and the
independent readers of the result are ``checks`` (text extractors, structure) and ``bytescan``
(every byte). The readers import nothing from the writers."""

from vault.redaction.pdf.bytescan import Find, scan
from vault.redaction.pdf.checks import (
    extract_text_poppler,
    extract_text_pypdf,
    structural_problems,
)
from vault.redaction.pdf.locate import locate, region_text
from vault.redaction.pdf.render import MAX_DPI, MIN_DPI, Rendered, render
from vault.redaction.pdf.source import document_text, page_count, reading

__all__ = [
    "MAX_DPI",
    "MIN_DPI",
    "Find",
    "Rendered",
    "document_text",
    "extract_text_poppler",
    "extract_text_pypdf",
    "locate",
    "page_count",
    "reading",
    "region_text",
    "render",
    "scan",
    "structural_problems",
]
