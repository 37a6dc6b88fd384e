"""The fourth reader: every page of an export rendered and read by OCR, as a person would.

Text extractors and the byte scan read what a file *stores*; a name drawn as vector paths, inside
a picture or through a font whose /ToUnicode lies is stored as nothing they can search, and a
person reads it at once. So every page of a PDF export is rendered by pdfium from the released
bytes at ``DPI`` (200, or the export's resolution if higher) and every image export's pixels are
taken as they are, turned upright, and read by Tesseract; a redacted string found in what it reads
within the edit distance of ``leaks.edits_allowed`` refuses the export.

Pages read while rendering the export are not read twice: OCR's cache is keyed by the pixels, so
a page whose rendering from the released file is pixel-identical to the picture already read
reuses that reading (same pixels, same engine, same settings, same answer).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from PIL import Image

from vault.redaction import ocr
from vault.redaction.leaks import Needles
from vault.redaction.pdf import source

__all__ = ["DPI", "read_image", "read_pdf"]

DPI = 200


def _pages(pdf: bytes, dpi: int) -> Iterator[Image.Image]:
    with source.open_pdfium(pdf) as document:
        for index in range(len(document)):
            page = document[index]
            try:
                yield source.raster(page, dpi).upright().convert("L")
            finally:
                page.close()


def read_pdf(pdf: bytes, needles: Needles[str], *, dpi: int = DPI) -> dict[int, list[str]]:
    """Page number -> the redactions whose strings OCR reads on that page."""
    finds: dict[int, list[str]] = {}
    if not needles.any:
        return finds
    dpi = max(dpi, DPI)
    with ThreadPoolExecutor(max_workers=ocr.workers(), thread_name_prefix="ocr-check") as pool:
        # Rendering holds the pdfium lock on this thread; reading runs on the pool, a few pages
        # ahead at most, so that memory stays flat in the page count.
        pending: deque[tuple[int, Future[list[str]]]] = deque()
        for number, image in enumerate(_pages(pdf, dpi), start=1):
            pending.append((number, pool.submit(_read, image, needles)))
            while len(pending) > ocr.workers():
                _collect(pending, finds)
        while pending:
            _collect(pending, finds)
    return finds


def _collect(pending: deque[tuple[int, Future[list[str]]]], finds: dict[int, list[str]]) -> None:
    number, job = pending.popleft()
    if found := job.result():
        finds[number] = found


def _read(image: Image.Image, needles: Needles[str]) -> list[str]:
    return needles.fuzzy_in(ocr.text_of(ocr.read(image)))


def read_image(image: Image.Image, needles: Needles[str]) -> list[str]:
    """The redactions whose strings OCR reads in ``image`` (upright)."""
    return _read(image, needles) if needles.any else []
