"""The hostile corpus: every case, as the redaction tests consume it.

A case is a generated file that hides ``NAME`` (or, with ``SURNAME`` in ``terms``, just the
surname) somewhere; ``terms`` are what the product is asked to redact. Every PDF shows the
name in ordinary Helvetica body text on page 1, so a term redaction has something to find;
the hiding place is elsewhere, often on page 2, which names nobody visibly.

``bare`` builds the same PDF without the visible page-1 name. The self-test runs the oracle on
it, which proves the oracle sees each hiding place by itself and not just the visible text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from . import cases_image, cases_stream, cases_structure, cases_text
from .cases_text import draw_image, image_xobject
from .pdfkit import NAME, SURNAME, Doc, PdfSpec
from .pictures import exif, harmless_image, jpeg, text_image, xmp

PDF = "application/pdf"
KLASSES = ("stream", "string", "name", "confusable", "visual", "structure", "image")

__all__ = [
    "CASES",
    "KLASSES",
    "NAME",
    "PDF",
    "SURNAME",
    "HostileCase",
    "by_id",
    "control_jpeg",
    "control_pdf",
    "half_inch_letters_pdf",
]


@dataclass(frozen=True)
class HostileCase:
    id: str  # short kebab-case, unique
    klass: str  # one of KLASSES
    media_type: str  # "application/pdf", "image/jpeg" or "image/png"
    build: Callable[[], bytes]
    terms: tuple[str, ...] = (NAME,)
    note: str = ""  # one line: where the name hides
    bare: Callable[[], bytes] | None = None  # PDFs: the same file, no visible name on page 1


def _build(make: Callable[[Doc], bytes], visible: bool) -> bytes:
    return make(Doc(visible=visible))


def _pdf(spec: PdfSpec) -> HostileCase:
    return HostileCase(
        id=spec.id,
        klass=spec.klass,
        media_type=PDF,
        build=functools.partial(_build, spec.make, True),
        terms=spec.terms,
        note=spec.note,
        bare=functools.partial(_build, spec.make, False),
    )


CASES: list[HostileCase] = [
    *(_pdf(spec) for spec in [*cases_stream.SPECS, *cases_text.SPECS, *cases_structure.SPECS]),
    *(HostileCase(s.id, "image", s.media_type, s.make, s.terms, s.note) for s in cases_image.SPECS),
]

if len({case.id for case in CASES}) != len(CASES):
    raise RuntimeError("hostile case ids must be unique")
if {case.klass for case in CASES} != set(KLASSES):
    raise RuntimeError("every class needs a case, and no case may have another class")


def by_id(case_id: str) -> HostileCase:
    return next(case for case in CASES if case.id == case_id)


# --- controls: files that must give no finding


def control_pdf() -> bytes:
    """The base document with nobody named: the oracle must find nothing."""
    return Doc(visible=False).save()


def control_jpeg() -> bytes:
    """A harmless picture with harmless metadata."""
    return jpeg(
        harmless_image(),
        exif=exif({0x013B: "Archivo de la redacción"}),
        xmp=xmp("Archivo de la redacción"),
        comment=b"Foto de archivo",
    )


def half_inch_letters_pdf() -> bytes:
    """The name only as an image of 0.5-inch capital letters on page 1: nothing but OCR can
    find it."""
    doc = Doc(visible=False)
    image = text_image(NAME, 100)  # Vera capitals are ~73 px tall at 100 px
    draw_image(doc, 1, "ImH", image_xobject(doc, image), 72, 400, 36 / 73)
    return doc.save()
