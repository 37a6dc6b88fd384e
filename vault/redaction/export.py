"""Turn an original and its approved redactions into a derivative, and refuse to release it
unless an independent reading of the result confirms that what was redacted is gone.

This module is pure: bytes in, bytes out, no database. The service (``vault.services.redactions``)
decides which redactions apply and logs what was released. The format modules do the work:
``text`` for plain text and Markdown, ``pdf`` (rendered by pdfium, assembled by pypdf) and
``image`` (Pillow). Verification reads the result back with other code than wrote it
(``readers``): for PDFs pypdf's, poppler's and pdfium's text extractors, a scan of every byte
through qpdf, and OCR of every rendered page; for images OCR of the pixels and a scan of the
bytes. Any find refuses the export, naming the reader, the class of the find and the page, never
what was found.

Scans and photographs: a PDF page without a text layer, and an image, have the text OCR reads
on them (``pdf.source``, ``imagetext``), so spans, terms and suggestions work there too, and
their bars cover the boxes of the words OCR found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vault.errors import Conflict, InvalidInput, RedactionLeak, UnsupportedType
from vault.redaction import image, imagetext, match, ocr, ocrcheck, pdf, readers, text
from vault.redaction.leaks import Needles
from vault.redaction.model import Area, Category, Kind, Markers, Rect, Span

__all__ = [
    "PDF",
    "SUPPORTED",
    "Export",
    "ExportOptions",
    "Target",
    "document_text",
    "format_of",
    "matched_strings",
    "produce",
]

PDF = "application/pdf"
SUPPORTED: tuple[str, ...] = (*text.SUPPORTED, PDF, *image.SUPPORTED)
EXTENSIONS = {
    "text/plain": "txt",
    "text/markdown": "md",
    PDF: "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
}

PdfRenderer = Callable[..., pdf.Rendered]


@dataclass(frozen=True)
class Target:
    """One approved redaction, as the export needs it."""

    key: str
    kind: Kind
    category: Category
    start: int | None = None
    end: int | None = None
    term: str | None = None
    page: int | None = None
    rect: Rect | None = None
    # What the proposer saw under the span or region, kept sealed with the record: searched
    # for in the result too, in case the content the text was cut from was read differently.
    text: str | None = None

    def bounds(self) -> tuple[int, int]:
        if self.start is None or self.end is None:
            raise ValueError("not a span")
        return self.start, self.end

    def needle(self) -> str:
        if self.term is None:
            raise ValueError("not a term")
        return self.term

    def area(self) -> Area:
        if self.page is None or self.rect is None:
            raise ValueError("not a region")
        return Area(self.page, self.rect, self.category)


@dataclass(frozen=True)
class ExportOptions:
    markers: Markers = field(default_factory=Markers)
    # PDF: keep pages without redactions as sanitised vector text instead of re-rendering them.
    keep_text_pages: bool = False
    dpi: int = 200


@dataclass(frozen=True)
class Export:
    content: bytes
    media_type: str
    sha256: str
    # Redactions none of whose strings could be searched for (too short to search without
    # matching everywhere, or a region of an image): checked only by construction.
    unchecked: list[str] = field(default_factory=list)
    pictures: list[int] = field(default_factory=list)  # PDF pages re-rendered
    kept: list[int] = field(default_factory=list)  # PDF pages kept as sanitised vector text
    # With keep_text_pages: pages re-rendered after all, and what the sanitiser could not rebuild.
    unsafe: dict[int, str] = field(default_factory=dict)
    # Bars added where OCR still read a redacted string after the located ones were painted.
    healed: int = 0

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.media_type]


def format_of(media_type: str) -> str:
    """``text``, ``pdf`` or ``image``; ``UnsupportedType`` for anything else."""
    base = media_type.split(";", 1)[0].strip().lower()
    if base in text.SUPPORTED:
        return "text"
    if base == PDF:
        return "pdf"
    if base in image.SUPPORTED:
        return "image"
    raise UnsupportedType("redacted exports are not available for this type", supported=SUPPORTED)


def _base(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def document_text(content: bytes, media_type: str) -> str:
    """The text that span offsets count in: the decoded text, a PDF's text layer (OCR on pages
    without one), or what OCR reads in an image."""
    kind = format_of(media_type)
    if kind == "text":
        return text.document_text(content)
    if kind == "pdf":
        return pdf.document_text(content)
    return imagetext.read(content).text


def read_text(content: bytes, media_type: str) -> tuple[str, list[int]]:
    """:func:`document_text`, and the pages whose text is what OCR read on them (an image is
    one such page; a text document has none)."""
    kind = format_of(media_type)
    if kind == "pdf":
        return pdf.reading(content)
    if kind == "image":
        return imagetext.read(content).text, [1]
    return text.document_text(content), []


def check_target(content: bytes, media_type: str, target: Target, doc_text: str | None) -> str:
    """Check that ``target`` fits the document; returns the text it covers (a span's text, a
    region's text, the term itself)."""
    kind = format_of(media_type)
    if target.kind is Kind.REGION:
        if kind == "text":
            raise InvalidInput("text documents have no pages: redact them with spans or terms")
        area = target.area()
        if kind == "image":
            width, height = image.image_size(content)
            if area.page != 1 or area.rect.x1 > width or area.rect.y1 > height:
                raise InvalidInput(f"the region lies outside the {width}x{height} image")
            return imagetext.read(content).inside(area)
        return pdf.region_text(content, [area])[0]
    if doc_text is None:
        raise ValueError("the document's text is needed to check spans and terms")
    if target.kind is Kind.SPAN:
        start, end = target.bounds()
        if end > len(doc_text):
            raise InvalidInput(f"the span ends past the document's text ({len(doc_text)} chars)")
        return doc_text[start:end]
    return target.needle()


def _check_spans(doc_text: str, targets: Sequence[Target]) -> None:
    """A span must still cover the text it was proposed on. The content is the same (its digest
    is checked), but a scan's text is what OCR reads, and a new OCR engine may read it
    differently: then the span would cover other words, and it is refused as stale instead."""
    moved = [
        t.key
        for t in targets
        if t.kind is Kind.SPAN
        and t.text is not None
        and t.end is not None
        and doc_text[t.start : t.end] != t.text
    ]
    if moved:
        raise Conflict(
            f"stale: the document's text no longer has what {len(moved)} span redaction(s) "
            "covered (a scan read by a newer OCR engine?): " + ", ".join(moved)
        ).with_details(redactions=moved)


def _spans(doc_text: str, targets: Sequence[Target]) -> list[Span]:
    spans: list[Span] = []
    for target in targets:
        if target.kind is Kind.SPAN:
            spans.append(Span(*target.bounds(), target.category))
        elif target.kind is Kind.TERM:
            found = match.find_term(doc_text, target.needle())
            spans += [Span(a, b, target.category) for a, b in found]
    return spans


def matched_strings(doc_text: str, target: Target) -> list[str]:
    """Everything ``target`` removes from ``doc_text``: what the result must not contain."""
    found = [target.text] if target.text else []
    if target.kind is Kind.SPAN:
        start, end = target.bounds()
        found.append(doc_text[start:end])
    elif target.kind is Kind.TERM:
        found.append(target.needle())
        found += [doc_text[a:b] for a, b in match.find_term(doc_text, target.needle())]
    return list(dict.fromkeys(s for s in found if s.strip()))


def produce(
    content: bytes,
    media_type: str,
    targets: Sequence[Target],
    options: ExportOptions = ExportOptions(),
    *,
    render_pdf: PdfRenderer = pdf.render,
) -> Export:
    """The redacted derivative of ``content``, verified by every reader; ``RedactionLeak`` if
    any of them finds anything left (nothing is returned then)."""
    kind = format_of(media_type)
    base = _base(media_type)
    if kind == "image":
        return _image(content, base, targets, options)
    doc_text = document_text(content, media_type)
    # What each target covers now: a span's text, a term, a region's text (read once here).
    covered = {t.key: check_target(content, media_type, t, doc_text) for t in targets}
    _check_spans(doc_text, targets)
    spans = _spans(doc_text, targets)
    strings = {t.key: matched_strings(doc_text, t) for t in targets}
    for target in targets:
        if target.kind is Kind.REGION and covered[target.key].strip():
            strings[target.key].append(covered[target.key])
    needles: Needles[str] = Needles(strings)
    if kind == "text":
        out = text.render(doc_text, spans, markers=options.markers).encode()
        # Read back exactly as a recipient would: decoded again from the bytes released.
        _refuse_if(_text_finds(out, needles), [])
        return Export(out, base, hashlib.sha256(out).hexdigest(), needles.unsearchable)
    areas = [t.area() for t in targets if t.kind is Kind.REGION]
    hide = [s for values in strings.values() for s in values]
    rendered = render_pdf(
        content,
        spans,
        areas,
        hide=hide,
        dpi=options.dpi,
        keep_text_pages=options.keep_text_pages,
    )
    out = rendered.content
    finds: list[readers.Finding] = []
    for reader in readers.PDF_READERS.values():
        finds += reader(out, needles, options.dpi)
    _refuse_if(finds, pdf.structural_problems(out))
    return Export(
        out,
        base,
        hashlib.sha256(out).hexdigest(),
        needles.unsearchable,
        pictures=rendered.pictures,
        kept=rendered.kept,
        unsafe=rendered.unsafe,
        healed=sum(rendered.healed.values()),
    )


def _text_finds(out: bytes, needles: Needles[str]) -> list[readers.Finding]:
    found = needles.in_text(text.document_text(out))
    return [readers.Finding(key, "text", "text", None) for key in found]


def _refuse_if(finds: Sequence[readers.Finding], problems: Sequence[str]) -> None:
    if finds or problems:
        raise RedactionLeak(
            redactions=list(dict.fromkeys(f.redaction for f in finds)),
            problems=list(problems),
            findings=[f.public() for f in dict.fromkeys(finds)],
        )


def _image(
    content: bytes, media_type: str, targets: Sequence[Target], options: ExportOptions
) -> Export:
    reading = imagetext.read(content)
    _check_spans(reading.text, targets)
    strings: dict[str, list[str]] = {}
    areas: list[Area] = []
    for target in targets:
        if target.kind is Kind.REGION:
            check_target(content, media_type, target, None)
            areas.append(target.area())
            strings[target.key] = [s for s in [target.text, reading.inside(target.area())] if s]
            continue
        strings[target.key] = [s for s in [target.text] if s]
        if target.kind is Kind.SPAN:
            start, end = target.bounds()
            if end > len(reading.text):
                raise InvalidInput("the span ends past the image's text")
            ranges = [(start, end)]
        else:
            ranges = match.find_term(reading.text, target.needle())
            strings[target.key].append(target.needle())
        for a, b in ranges:
            strings[target.key].append(reading.text[a:b])
            areas += reading.areas(a, b, target.category)
    needles: Needles[str] = Needles(strings)
    out, healed = _healed_image(content, media_type, areas, needles)
    problems = image.structural_problems(out, media_type)
    if not image.filled(out, areas):
        problems.append("region-not-filled")
    finds = [
        readers.Finding(key, "ocr", "ocr", 1)
        for key in ocrcheck.read_image(image.upright_pixels(out), needles)
    ]
    finds += [readers.Finding(k, "bytes", "structure", None) for k in needles.in_bytes(out)]
    _refuse_if(finds, problems)
    unchecked = [t.key for t in targets if not needles.needles_of(t.key)]
    return Export(out, media_type, hashlib.sha256(out).hexdigest(), unchecked, healed=healed)


_HEAL_ROUNDS = 3


def _healed_image(
    content: bytes, media_type: str, areas: list[Area], needles: Needles[str]
) -> tuple[bytes, int]:
    """The image with ``areas`` black, and a bar over every run of words OCR still reads as a
    redacted string (the name in another font, on a sign in the photo), read again up to three
    times; ``areas`` grows by the bars added. As for PDF pages: what is still legible after that
    is for the check to refuse."""
    healed = 0
    out = image.render(content, media_type, areas)
    for _ in range(_HEAL_ROUNDS):
        if not needles.any:
            break
        words = ocr.read(image.upright_pixels(out))
        runs = ocr.spelled(words, needles)
        if not runs:
            break
        width, height = image.image_size(out)
        for run in runs:
            for left, top, right, bottom in ocr.line_boxes([words[i] for i in run]):
                rect = Rect(
                    max(left - 4, 0),
                    max(top - 4, 0),
                    min(right + 4, width),
                    min(bottom + 4, height),
                )
                areas.append(Area(1, rect, Category.SOURCE_IDENTITY))
                healed += 1
        out = image.render(content, media_type, areas)
    return out, healed
