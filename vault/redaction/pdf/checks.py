"""Independent readings of a redacted PDF: what text extractors get out of it, and what it
carries besides its pages.

The result is read back by other code than wrote it: pypdf's and poppler's text extractors (and
pdfium's, through ``source.document_text``), and a structural scan by pypdf over every object in
the file and by pdfium. The checker imports nothing from the renderer, so that a bug there cannot
hide itself here.
"""

from __future__ import annotations

import logging
import shutil

import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]  # ctypes bindings, untyped
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from vault.errors import InvalidInput
from vault.redaction import filters
from vault.redaction.pdf.source import open_pdfium, open_pypdf

__all__ = ["extract_text_poppler", "extract_text_pypdf", "structural_problems"]

logger = logging.getLogger(__name__)

_UNCHECKABLE = "the PDF could not be checked"
_POPPLER_TIMEOUT = 120  # seconds; pdftotext on a few hundred image pages takes well under that


def extract_text_pypdf(pdf: bytes) -> str:
    """All text pypdf extracts, page by page, pages joined with form feeds."""
    reader = open_pypdf(pdf)
    try:
        return "\f".join(page.extract_text() for page in reader.pages)
    except Exception as error:  # pypdf raises many types on malformed input
        logger.debug("pypdf could not extract text: %s", type(error).__name__)
        raise InvalidInput(_UNCHECKABLE) from None


def extract_text_poppler(pdf: bytes) -> str | None:
    """All text poppler's ``pdftotext`` extracts; ``None`` when it is not installed.

    The PDF goes in on standard input and the text comes back on standard output: no copy of
    either is ever written to disk (pdftotext reads "-" into memory).
    """
    executable = shutil.which("pdftotext")
    if executable is None:
        return None
    arguments = ["-q", "-enc", "UTF-8", "-", "-"]
    text = filters.run(executable, arguments, pdf, timeout=_POPPLER_TIMEOUT, failure=_UNCHECKABLE)
    return text.decode("utf-8", errors="replace")


# A key anywhere in the file, and what it means is left in it.
_KEY_PROBLEMS = {
    "/Metadata": "xmp-metadata",
    "/Annots": "annotations",
    "/EmbeddedFiles": "attachments",
    "/EF": "attachments",
    "/AcroForm": "acroform",
    "/XFA": "acroform",
    "/JavaScript": "javascript",
    "/JS": "javascript",
    "/OpenAction": "open-action",
    "/AA": "additional-actions",
    "/Thumb": "thumbnails",
    "/PieceInfo": "piece-info",
    "/Outlines": "outlines",
    "/StructTreeRoot": "structure-tree",
    "/StructParents": "structure-tree",
    "/StructParent": "structure-tree",
    "/MarkInfo": "structure-tree",
    "/ActualText": "structure-tree",
    "/Threads": "article-threads",
}
_VALUE_PROBLEMS = {
    ("/Type", "/Annot"): "annotations",
    ("/Type", "/Metadata"): "xmp-metadata",
    ("/Type", "/EmbeddedFile"): "attachments",
    ("/Type", "/Filespec"): "attachments",
    ("/Subtype", "/FileAttachment"): "attachments",
    ("/S", "/JavaScript"): "javascript",
}


def structural_problems(pdf: bytes) -> list[str]:
    """Short codes for what ``pdf`` carries besides its pages (``info-dictionary``,
    ``xmp-metadata``, ``annotations``, ``attachments``, ``acroform``, ``javascript``,
    ``open-action``, ``thumbnails``, ``outlines``, ``structure-tree``, ``incremental-update``,
    ...), found by a raw scan, by pypdf over every object in the file and by pdfium;
    ``unreadable`` if either library cannot open it. An empty list means clean."""
    problems: set[str] = set()
    # Every revision ends with startxref and %%EOF: more than one of either is an update
    # appended to an older file, whose objects are still in the bytes.
    if pdf.count(b"%%EOF") > 1 or pdf.count(b"startxref") > 1:
        problems.add("incremental-update")
    problems |= _pypdf_problems(pdf)
    problems |= _pdfium_problems(pdf)
    return sorted(problems)


def _pypdf_problems(pdf: bytes) -> set[str]:
    try:
        reader = open_pypdf(pdf)
        trailer = reader.trailer
        problems = set()
        if "/Info" in trailer:
            problems.add("info-dictionary")
        if "/Prev" in trailer:
            problems.add("incremental-update")
        if "/Encrypt" in trailer:
            problems.add("encrypted")
        # Every object in the cross-reference table, reachable or not: an orphaned object is
        # invisible to a viewer but not to anyone who reads the bytes.
        references = {(n, g) for g, table in reader.xref.items() for n in table}
        references |= {(n, 0) for n in reader.xref_objStm}
        for number, generation in sorted(references):
            obj = reader.get_object(IndirectObject(number, generation, reader))
            problems |= _object_problems(obj, 0)
        problems |= _object_problems(trailer, 0)
    except Exception as error:  # unreadable by pypdf: not clean
        logger.debug("pypdf could not check a PDF: %s", type(error).__name__)
        return {"unreadable"}
    return problems


def _object_problems(obj: PdfObject | None, depth: int) -> set[str]:
    """Problems in ``obj`` and its direct children (indirect ones are visited on their own)."""
    problems: set[str] = set()
    if depth > 64:
        return {"unreadable"}  # nesting no real file has
    if isinstance(obj, DictionaryObject):
        for key, value in obj.items():
            if key in _KEY_PROBLEMS:
                problems.add(_KEY_PROBLEMS[key])
            if isinstance(value, NameObject) and (key, value) in _VALUE_PROBLEMS:
                problems.add(_VALUE_PROBLEMS[(key, value)])
            if isinstance(value, DictionaryObject | ArrayObject):
                problems |= _object_problems(value, depth + 1)
    elif isinstance(obj, ArrayObject):
        for item in obj:
            if isinstance(item, DictionaryObject | ArrayObject):
                problems |= _object_problems(item, depth + 1)
    return problems


def _pdfium_problems(pdf: bytes) -> set[str]:
    problems: set[str] = set()
    try:
        with open_pdfium(pdf) as document:
            if any(value for value in document.get_metadata_dict().values()):
                problems.add("info-dictionary")
            if int(pdfium_c.FPDF_GetTrailerEnds(document, None, 0)) > 1:
                problems.add("incremental-update")
            if int(document.count_attachments()) > 0:
                problems.add("attachments")
            if int(pdfium_c.FPDF_GetFormType(document)) != pdfium_c.FORMTYPE_NONE:
                problems.add("acroform")
            if int(pdfium_c.FPDFDoc_GetJavaScriptActionCount(document)) > 0:
                problems.add("javascript")
            if pdfium_c.FPDFBookmark_GetFirstChild(document, None):
                problems.add("outlines")
            if int(pdfium_c.FPDFCatalog_IsTagged(document)):
                problems.add("structure-tree")
            for index in range(len(document)):
                page = document[index]
                if int(pdfium_c.FPDFPage_GetAnnotCount(page)) > 0:
                    problems.add("annotations")
                if int(pdfium_c.FPDFPage_GetRawThumbnailData(page, None, 0)) > 0:
                    problems.add("thumbnails")
                page.close()
    except InvalidInput:
        problems.add("unreadable")
    return problems
