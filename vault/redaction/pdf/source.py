"""Reading the original PDF: its text as span offsets count it, and where on the page each
character is drawn.

Coordinates. Span offsets count Unicode code points of ``document_text``: the text of each
page, joined with ``"\\f"``. A page with a text layer contributes pdfium's text, built
character by character from pdfium's character list, so every code point maps exactly to the
pdfium characters behind it: a non-BMP character (which pdfium stores as two surrogate entries)
is one code point backed by both; a character with no Unicode value becomes U+FFFD instead of
being dropped (the one difference from ``get_text_range()``). A page with no text layer (a scan)
contributes what OCR reads on it (``vault.redaction.ocr``), one line per OCR line, and each code
point maps to the box of the word it belongs to. Areas are in PDF points with the origin at the
bottom-left of the page's user space, unrotated, as pdfium reports character boxes.

pdfium is not thread-safe: every call into it holds one process-wide lock (``PDFIUM``).
"""

from __future__ import annotations

import io
import logging
import math
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # ships no py.typed marker
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]  # ctypes bindings, untyped
from PIL import Image
from pypdf import PdfReader

from vault.errors import InvalidInput
from vault.redaction import ocr
from vault.redaction.model import Area, Rect

__all__ = [
    "PDFIUM",
    "Box",
    "PageText",
    "Raster",
    "check_pages",
    "document_text",
    "open_pdfium",
    "open_pypdf",
    "open_textpage",
    "page_count",
    "page_text",
    "page_text_layer",
    "raster",
    "reading",
    "texts",
]

logger = logging.getLogger(__name__)

UNREADABLE = "the PDF could not be read"
PDFIUM = threading.RLock()  # pdfium must never be entered from two threads at once
OCR_DPI = 200  # scans are read at this resolution to find their words
_REPLACEMENT = "\ufffd"
# A page of 200 x 200 inches at 150 dpi would be 2.7 gigabytes of pixels: cap every bitmap
# (about 120 MB in RGB) and lower the resolution of such a page instead.
_MAX_PAGE_PIXELS = 40_000_000

Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF points


@contextmanager
def open_pdfium(content: bytes) -> Iterator[Any]:
    """An open pdfium document, under the pdfium lock; ``InvalidInput`` if it cannot be read
    (malformed, or encrypted with a password we do not have)."""
    with PDFIUM:
        try:
            document = pdfium.PdfDocument(content)
        except pdfium.PdfiumError as error:
            logger.debug("pdfium could not open a PDF: %s", type(error).__name__)
            raise InvalidInput(UNREADABLE) from None
        try:
            yield document
        except pdfium.PdfiumError as error:
            logger.debug("pdfium failed on a PDF: %s", type(error).__name__)
            raise InvalidInput(UNREADABLE) from None
        finally:
            # Closing the document closes its pages and text pages too, here, under the lock,
            # rather than in a garbage-collector finaliser on whichever thread runs it.
            document.close()


def open_pypdf(content: bytes) -> PdfReader:
    """pypdf's reading of ``content``; owner-password files (empty user password) are opened,
    others raise ``InvalidInput``."""
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInput(UNREADABLE)
        _ = len(reader.pages)  # builds the page list: a broken page tree fails here
    except InvalidInput:
        raise
    except Exception as error:  # pypdf raises many types on malformed input
        logger.debug("pypdf could not read a PDF: %s", type(error).__name__)
        raise InvalidInput(UNREADABLE) from None
    return reader


# -- rasters --------------------------------------------------------------------------------


@dataclass
class Raster:
    """A page rendered along its user-space axes (bitmap rows and columns run along x and y
    whatever /Rotate says), with the arithmetic between pixels and PDF points."""

    image: Image.Image
    box: Box  # the visible box (CropBox within MediaBox) the bitmap covers
    rotation: int  # the page's /Rotate, clockwise, in 0/90/180/270

    @property
    def scale(self) -> tuple[float, float]:
        width, height = self.image.size
        return width / (self.box[2] - self.box[0]), height / (self.box[3] - self.box[1])

    @property
    def dpi(self) -> float:
        return self.scale[0] * 72

    def to_pixels(self, rect: Rect) -> tuple[int, int, int, int]:
        """``rect`` as whole pixels (left, top, right, bottom; exclusive), rounded outward."""
        sx, sy = self.scale
        width, height = self.image.size
        left, _, _, top = self.box
        return (
            max(math.floor((rect.x0 - left) * sx), 0),
            max(math.floor((top - rect.y1) * sy), 0),
            min(math.ceil((rect.x1 - left) * sx), width),
            min(math.ceil((top - rect.y0) * sy), height),
        )

    def to_points(self, box: tuple[float, float, float, float]) -> Box:
        """A box of pixels (left, top, right, bottom) of ``image`` in PDF points."""
        sx, sy = self.scale
        left, _, _, top = self.box
        return (left + box[0] / sx, top - box[3] / sy, left + box[2] / sx, top - box[1] / sy)

    def upright(self) -> Image.Image:
        """The image as a reader sees the page (rotated as /Rotate says), for OCR."""
        turn = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180}
        turn[270] = Image.Transpose.ROTATE_90
        return self.image.transpose(turn[self.rotation]) if self.rotation in turn else self.image

    def from_upright(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A box of pixels of :meth:`upright` as pixels of ``image``."""
        w, h = self.image.size
        x0, y0, x1, y1 = box
        if self.rotation == 90:
            corners = [(y0, h - x0), (y1, h - x1)]
        elif self.rotation == 180:
            corners = [(w - x0, h - y0), (w - x1, h - y1)]
        elif self.rotation == 270:
            corners = [(w - y0, x0), (w - y1, x1)]
        else:
            return box
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        return min(xs), min(ys), max(xs), max(ys)


def _scale(dpi: float, width: float, height: float) -> float:
    scale = dpi / 72
    if width * height * scale * scale > _MAX_PAGE_PIXELS:
        scale = math.sqrt(_MAX_PAGE_PIXELS / (width * height))
    return scale


def raster(page: Any, dpi: float, *, grey: bool = False) -> Raster:
    """``page`` (a pdfium page, under the lock) rendered at ``dpi`` without annotations or
    form fields. Memory: one page's pixels."""
    rotation = int(page.get_rotation()) % 360
    left, bottom, right, top = (float(v) for v in page.get_bbox())  # CropBox within MediaBox
    if right - left < 1 or top - bottom < 1:
        raise InvalidInput("a page of the PDF has no area to render")
    # Rendered against the page's own rotation, so that bitmap rows and columns run along user
    # space axes: areas map to pixels by a scale and a shift, and /Rotate is kept on the page.
    bitmap = page.render(
        scale=_scale(dpi, right - left, top - bottom),
        rotation=(360 - rotation) % 360,
        may_draw_forms=False,
        draw_annots=False,
        grayscale=grey,
    )
    try:
        image = bitmap.to_pil().convert("L" if grey else "RGB")
    finally:
        bitmap.close()
    return Raster(image, (left, bottom, right, top), rotation)


def ocr_words(picture: Raster) -> list[tuple[str, Box, tuple[int, int, int]]]:
    """What OCR reads on ``picture``: each word, its box in PDF points, and its line."""
    words = ocr.read(picture.upright())
    return [(w.text, picture.to_points(picture.from_upright(w.box)), w.line) for w in words]


# -- text -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageText:
    """One page's text and, for each of its code points, what is behind it: the pdfium
    characters (a text layer) or the box of the OCR word it belongs to (a scan)."""

    text: str
    chars: tuple[tuple[int, ...], ...] = ()
    ocr_boxes: tuple[Box | None, ...] | None = None


def _pdfium_text(textpage: Any) -> PageText:
    # Built from pdfium's character list rather than from get_text_range(): the string and the
    # character indices then cannot drift apart (get_text_range() decodes surrogate pairs into
    # one code point and silently drops characters it cannot decode).
    count = int(textpage.count_chars())
    out: list[str] = []
    chars: list[tuple[int, ...]] = []
    index = 0
    while index < count:
        code = int(pdfium_c.FPDFText_GetUnicode(textpage, index))
        if 0xD800 <= code < 0xDC00 and index + 1 < count:
            low = int(pdfium_c.FPDFText_GetUnicode(textpage, index + 1))
            if 0xDC00 <= low < 0xE000:
                out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                chars.append((index, index + 1))
                index += 2
                continue
        valid = 0 < code <= 0x10FFFF and not 0xD800 <= code < 0xE000
        out.append(chr(code) if valid else _REPLACEMENT)
        chars.append((index,))
        index += 1
    return PageText("".join(out), tuple(chars))


def _scan_raster(page: Any) -> Raster:
    # In colour, then grey as OCR reads it: the very pixels a re-rendered page without bars has,
    # so that the export reads such a page once (OCR's cache is keyed by the pixels).
    return raster(page, OCR_DPI)


def _ocr_text(picture: Raster) -> PageText:
    """A page without a text layer, read by OCR: words joined by spaces, lines by newlines."""
    words = ocr_words(picture)
    parts: list[str] = []
    boxes: list[Box | None] = []
    line = None
    for text, box, key in words:
        if parts:
            parts.append("\n" if key != line else " ")
            boxes.append(None)
        line = key
        parts.append(text)
        boxes += [box] * len(text)
    return PageText("".join(parts), ocr_boxes=tuple(boxes))


def page_text(document: Any, number: int) -> PageText:
    with open_textpage(document, number) as (page, textpage):
        text = _pdfium_text(textpage)
        if text.text.strip():
            return text
        picture = _scan_raster(page)
    return _ocr_text(picture)


@contextmanager
def open_textpage(document: Any, number: int) -> Iterator[tuple[Any, Any]]:
    """Page ``number`` (1-based) and its pdfium text page, closed on exit: one page's parsed
    content in memory at a time, however long the document."""
    page = document[number - 1]
    try:
        yield page, page.get_textpage()
    finally:
        page.close()  # closes the text page too


def page_text_layer(document: Any, number: int) -> str:
    """The text of page ``number``'s text layer alone (no OCR)."""
    with open_textpage(document, number) as (_, textpage):
        return _pdfium_text(textpage).text


def texts(document: Any) -> list[PageText]:
    """Every page's text. Pages without a text layer are rendered here (pdfium, under its lock)
    and read by OCR on worker threads, one per core and a few pages ahead at most, so that a
    long scan takes the time of its pages divided by the cores, in flat memory."""
    found: list[PageText | None] = []
    reading: deque[tuple[int, Future[PageText]]] = deque()
    with ThreadPoolExecutor(max_workers=ocr.workers(), thread_name_prefix="ocr-scan") as pool:
        for number in range(1, len(document) + 1):
            with open_textpage(document, number) as (page, textpage):
                text = _pdfium_text(textpage)
                picture = None if text.text.strip() else _scan_raster(page)
            found.append(text if picture is None else None)
            if picture is not None:
                reading.append((number, pool.submit(_ocr_text, picture)))
            while len(reading) > ocr.workers():
                done, job = reading.popleft()
                found[done - 1] = job.result()
        for done, job in reading:
            found[done - 1] = job.result()
    pages = [text for text in found if text is not None]
    if len(pages) != len(found):
        raise RuntimeError("a page's text was not read")  # a bug here, never a document
    return pages


def check_pages(areas: Sequence[Area], count: int) -> None:
    for area in areas:
        if area.page > count:
            raise InvalidInput(f"page {area.page} does not exist: the document has {count} pages")


def page_count(content: bytes) -> int:
    """The number of pages; ``InvalidInput`` if the PDF cannot be read."""
    with open_pdfium(content) as document:
        return len(document)


def document_text(content: bytes) -> str:
    """The text span offsets count in: each page's text (or OCR reading), pages joined with
    ``"\\f"``. Deterministic for the same bytes."""
    return reading(content)[0]


def reading(content: bytes) -> tuple[str, list[int]]:
    """:func:`document_text`, and the pages (1-based) whose text is what OCR read on them."""
    with open_pdfium(content) as document:
        pages = texts(document)
    ocr_pages = [n for n, page in enumerate(pages, start=1) if page.ocr_boxes is not None]
    return "\f".join(page.text for page in pages), ocr_pages
