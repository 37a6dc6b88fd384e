"""The independent readers of a redacted PDF, each returning what it found and where.

Each reader gets the released bytes and the compiled strings of every redaction, and returns one
:class:`Finding` per redaction it found, with its own name, the class of the find (``text``,
``stream``, ``string``, ``name``, ``structure``, ``ocr``) and the page. ``PDF_READERS`` is the
list ``export.produce`` runs; a reader removed from it (as the tests do, to show that each one
is needed) is a check disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vault.redaction import ocrcheck, pdf
from vault.redaction.leaks import Needles

__all__ = ["PDF_READERS", "Finding"]


@dataclass(frozen=True)
class Finding:
    redaction: str
    reader: str
    klass: str
    page: int | None

    def public(self) -> dict[str, object]:
        """What a refusal may say: never the text, only who found what kind of thing where."""
        return {
            "redaction": self.redaction,
            "reader": self.reader,
            "class": self.klass,
            "page": self.page,
        }


Reader = Callable[[bytes, Needles[str], int], list[Finding]]


def _by_page(name: str, pages: list[str], needles: Needles[str]) -> list[Finding]:
    return [
        Finding(key, name, "text", number)
        for number, page in enumerate(pages, start=1)
        for key in needles.in_text(page)
    ]


def _pypdf(out: bytes, needles: Needles[str], dpi: int) -> list[Finding]:
    return _by_page("pypdf", pdf.extract_text_pypdf(out).split("\f"), needles)


def _pdfium(out: bytes, needles: Needles[str], dpi: int) -> list[Finding]:
    return _by_page("pdfium", pdf.document_text(out).split("\f"), needles)


def _poppler(out: bytes, needles: Needles[str], dpi: int) -> list[Finding]:
    text = pdf.extract_text_poppler(out)
    return [] if text is None else _by_page("poppler", text.split("\f"), needles)


def _bytes(out: bytes, needles: Needles[str], dpi: int) -> list[Finding]:
    return [Finding(f.key, "bytes", f.klass, f.page) for f in pdf.scan(out, needles)]


def _ocr(out: bytes, needles: Needles[str], dpi: int) -> list[Finding]:
    return [
        Finding(key, "ocr", "ocr", number)
        for number, keys in ocrcheck.read_pdf(out, needles, dpi=dpi).items()
        for key in keys
    ]


PDF_READERS: dict[str, Reader] = {
    "pypdf": _pypdf,
    "pdfium": _pdfium,
    "poppler": _poppler,
    "bytes": _bytes,
    "ocr": _ocr,
}
