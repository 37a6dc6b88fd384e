"""True redaction of PDFs: every page becomes a picture of itself with the redacted areas
painted black, carrying an invisible text layer read back from that picture by OCR.

Drawing black boxes over a PDF leaves the words underneath in the text layer, the document
properties, annotations, fonts, comments in the content stream, an earlier revision of the
file. This module never edits a page's content. By default it *replaces* every page with a
bitmap rendered by pdfium, in which the redacted areas are black before the pixels are encoded,
adds the words OCR reads on that bitmap as invisible text (``ocrpage``), so that the result is
searchable and copyable like the original but holds no byte of the original's text, and writes a
fresh file (one revision) with pypdf that carries only the pages: no document information, XMP,
annotations, forms, attachments, JavaScript, actions, outlines, thumbnails or structure tree.

``keep_text_pages`` keeps each page *without* redactions as vector text instead, rebuilt by
``sanitise`` from what it draws; a page the sanitiser cannot prove clean is re-rendered like
the others, and the result says which pages those were.

Three libraries, on purpose: pdfium reads the original (text, character boxes, rendering),
pypdf assembles the result, and ``checks`` and ``bytescan`` read the result back with pypdf,
poppler, pdfium, qpdf and OCR, so that a bug in the writer, or parsers disagreeing about a
malformed original, fails closed instead of leaking.

Limits: a re-rendered page's text layer is only as good as OCR (words, not layout; Latin-1
characters); the picture covers the visible box (CropBox within MediaBox) and keeps /MediaBox,
/CropBox, /Rotate and /UserUnit; annotations and form fields are neither rendered nor kept.
"""

from __future__ import annotations

import io
import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PIL import ImageDraw
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    RectangleObject,
)

from vault.errors import InvalidInput
from vault.redaction import ocr
from vault.redaction.leaks import Needles
from vault.redaction.model import Area, Rect, Span
from vault.redaction.pdf import ocrpage, sanitise, source
from vault.redaction.pdf.locate import locate_in

__all__ = ["MAX_DPI", "MIN_DPI", "Rendered", "render"]

logger = logging.getLogger(__name__)

MIN_DPI, MAX_DPI = 72, 600
_AMBIGUOUS = "the PDF is read differently by the libraries that redact it"


@dataclass
class Rendered:
    """The redacted PDF and what became of its pages."""

    content: bytes
    pictures: list[int] = field(default_factory=list)  # pages re-rendered, 1-based
    kept: list[int] = field(default_factory=list)  # pages kept as sanitised vector text
    unsafe: dict[int, str] = field(default_factory=dict)  # kept-page candidates re-rendered
    healed: dict[int, int] = field(default_factory=dict)  # page -> bars OCR added


def render(
    content: bytes,
    spans: Sequence[Span],
    areas: Sequence[Area],
    *,
    hide: Sequence[str] = (),
    dpi: int = 200,
    keep_text_pages: bool = False,
) -> Rendered:
    """The redacted PDF of ``content``: ``spans`` (located in the text, widened to whole words
    and by random padding) and ``areas`` painted black, every string of ``hide`` that OCR still
    reads on a re-rendered page painted black too; every page re-rendered, or with
    ``keep_text_pages`` only those with something to hide."""
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise InvalidInput(f"the resolution must be between {MIN_DPI} and {MAX_DPI} dpi")
    ocr.require()  # before any work: without OCR no page gets a text layer or a check
    reader = source.open_pypdf(content)
    needles: Needles[int] = Needles(dict(enumerate([[s] for s in hide])))
    with source.open_pdfium(content) as document:
        count = len(document)
        if len(reader.pages) != count:
            # The two parsers disagree about the document: assembling one's pages from the
            # other's reading could keep a page that was meant to be redacted.
            raise InvalidInput(_AMBIGUOUS)
        source.check_pages(areas, count)
        pages = source.texts(document)
        bars: dict[int, list[Rect]] = {}
        for area in areas:
            bars.setdefault(area.page, []).append(area.rect)
        for area in locate_in(document, pages, spans):
            bars.setdefault(area.page, []).append(_widened(area.rect))
        result = Rendered(b"")
        writer = PdfWriter()
        writer.metadata = None  # pypdf starts every file with an /Info /Producer; drop it
        chosen: dict[int, PageObject] = {}
        if keep_text_pages:
            for number in range(1, count + 1):
                if number in bars:
                    continue
                if pages[number - 1].ocr_boxes is not None:
                    # A scan has no vector text to keep; re-rendered, it gains an OCR text layer.
                    result.unsafe[number] = "no text layer to keep (a scan)"
                    continue
                try:
                    chosen[number] = sanitise.kept_page(reader.pages[number - 1], reader)
                except sanitise.Unsafe as unsafe:
                    result.unsafe[number] = unsafe.reason
        _assemble(document, reader, writer, bars, chosen, needles, dpi, result)
        out = io.BytesIO()
        writer.write(out)
        result.content = out.getvalue()
        _confirm(result.content, {n: pages[n - 1].text for n in result.kept})
    return result


def _widened(rect: Rect) -> Rect:
    """``rect`` widened along its line (the longer side: vertical text runs along y) by a
    random share of the line's height at each end."""
    width, height = rect.x1 - rect.x0, rect.y1 - rect.y0
    if width >= height:
        left, right = ocrpage.padding(height)
        return Rect(rect.x0 - left, rect.y0, rect.x1 + right, rect.y1)
    below, above = ocrpage.padding(width)
    return Rect(rect.x0, rect.y0 - below, rect.x1, rect.y1 + above)


def _assemble(
    document: Any,
    reader: PdfReader,
    writer: PdfWriter,
    bars: dict[int, list[Rect]],
    chosen: dict[int, PageObject],
    needles: Needles[int],
    dpi: int,
    result: Rendered,
) -> None:
    """Add every page in order: kept ones as they are, the others rendered (under the pdfium
    lock, on this thread) and read by OCR on worker threads, a few pages ahead at most so that
    memory stays flat in the page count."""
    ahead = ocr.workers()
    pending: deque[tuple[int, Future[ocrpage.Read] | None]] = deque()
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="ocr") as pool:

        def drain(limit: int) -> None:
            while len(pending) > limit:
                number, job = pending.popleft()
                original = reader.pages[number - 1]
                if job is None:
                    writer.add_page(chosen[number])
                    result.kept.append(number)
                    continue
                read = job.result()
                if read.healed:
                    result.healed[number] = read.healed
                writer.add_page(_picture_page(read, original))
                result.pictures.append(number)

        for number in range(1, len(document) + 1):
            if number in chosen:
                pending.append((number, None))
            else:
                page = document[number - 1]
                try:
                    picture = source.raster(page, dpi)
                finally:
                    page.close()
                _paint(picture, bars.get(number, []))
                pending.append((number, pool.submit(ocrpage.heal, picture, needles)))
            drain(ahead)
        drain(0)


def _paint(picture: source.Raster, rects: Sequence[Rect]) -> None:
    draw = ImageDraw.Draw(picture.image)
    for rect in rects:
        # Outward rounding: a pixel the area touches at all is filled.
        x0, y0, x1, y1 = picture.to_pixels(rect)
        if x0 < x1 and y0 < y1:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(0, 0, 0))


def _picture_page(read: ocrpage.Read, original: PageObject) -> PageObject:
    """A page showing only ``read``'s picture and its invisible OCR text, with the original's
    boxes and rotation. Lossless Flate rather than JPEG: text in the picture stays as crisp as it
    was rendered, and no compression artefacts blur the edges of the black boxes."""
    picture = read.picture
    image = picture.image
    width, height = image.size
    red, green, blue = image.split()
    grey = red.tobytes() == green.tobytes() == blue.tobytes()
    if grey:
        image = red  # a third of the bytes to write, compress and check
    pixels = DecodedStreamObject()
    pixels.set_data(image.tobytes())
    pixels.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(width),
            NameObject("/Height"): NumberObject(height),
            NameObject("/ColorSpace"): NameObject("/DeviceGray" if grey else "/DeviceRGB"),
            NameObject("/BitsPerComponent"): NumberObject(8),
        }
    )
    xobject = pixels.flate_encode(level=6)
    del pixels
    left, bottom, right, top = picture.box
    drawing = DecodedStreamObject()
    w, h = right - left, top - bottom
    drawing.set_data(
        f"q {w:.4f} 0 0 {h:.4f} {left:.4f} {bottom:.4f} cm /Im0 Do Q\n".encode()
        + ocrpage.text_layer(read)
    )
    media = _box(original.mediabox)
    if not (media[0] <= left and media[1] <= bottom and media[2] >= right and media[3] >= top):
        media = (left, bottom, right, top)
    new = PageObject()
    new[NameObject("/Type")] = NameObject("/Page")
    new[NameObject("/MediaBox")] = RectangleObject(media)
    if media != (left, bottom, right, top):
        new[NameObject("/CropBox")] = RectangleObject((left, bottom, right, top))
    if picture.rotation:
        new[NameObject("/Rotate")] = NumberObject(picture.rotation)
    if "/UserUnit" in original:
        new[NameObject("/UserUnit")] = sanitise.number(original["/UserUnit"])
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    new[NameObject("/Resources")] = DictionaryObject(
        {
            NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): xobject}),
            NameObject("/Font"): DictionaryObject({NameObject("/F0"): font}),
        }
    )
    new[NameObject("/Contents")] = drawing
    return new


def _box(rect: RectangleObject) -> source.Box:
    xs, ys = (float(rect.left), float(rect.right)), (float(rect.bottom), float(rect.top))
    return min(xs), min(ys), max(xs), max(ys)


def _confirm(result: bytes, kept: dict[int, str]) -> None:
    """Read the result back with pdfium: kept pages must have the letters they had. A
    difference means pypdf and pdfium disagree about which page is which in the original, and
    a kept page might be one that was meant to be redacted."""
    if not kept:
        return
    with source.open_pdfium(result) as document:
        for number, text in kept.items():
            if _letters(source.page_text_layer(document, number)) != _letters(text):
                logger.debug("pdfium reads the assembled PDF differently from the original")
                raise InvalidInput(_AMBIGUOUS)


def _letters(text: str) -> str:
    # Rebuilt content streams may place a space or a line break differently; the letters of a
    # page are what tells it from another.
    return "".join(c for c in text if c.isalnum())
