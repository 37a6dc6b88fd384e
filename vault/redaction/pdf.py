"""True redaction of PDFs: pages that carry a redaction become pictures of themselves.

Drawing black boxes over a PDF leaves the words underneath in the text layer, in the document
properties, in annotations, in an earlier revision of the file. This module never edits a page's
content; it *replaces* every page that carries a redaction with a bitmap rendered by pdfium, in
which the redacted areas are painted black before the pixels are encoded, and it writes a fresh
file (one revision) with pypdf that carries only the pages: no document information dictionary,
no XMP, no annotations, forms, attachments, JavaScript or actions, no outlines, thumbnails,
page-piece data or structure tree.

Three libraries, on purpose. pdfium reads the original (text, character boxes, rendering); pypdf
assembles the result; the checks (``structural_problems``, ``extract_text_*``) read the result
back with pdfium, pypdf *and* poppler, so that a bug in the writer, or two parsers disagreeing
about a malformed original, fails closed instead of leaking. ``render`` itself reads its result
back with pdfium before returning it: redacted pages must have no text, kept pages exactly the
text they had, or pypdf handed over a different page than pdfium meant.

Coordinates. Span offsets count Unicode code points of ``document_text``: the text of pdfium's
text page of each page, joined with ``"\\f"``. It is built character by character from pdfium's
character list, so every code point maps exactly to the pdfium characters behind it: a non-BMP
character (which pdfium stores as two surrogate entries) is one code point backed by both; a
character with no Unicode value becomes U+FFFD instead of being dropped (the one difference from
``get_text_range()``). Areas are in PDF points with the origin at the bottom-left of the page's
user space, unrotated, as pdfium reports character boxes.

Limits:

- A redacted page loses its text layer (it is an image now): it cannot be searched or read by a
  screen reader. The image is lossless (Flate), so the page is as legible as the rendering.
- The image covers the visible box (CropBox within MediaBox) and keeps /MediaBox, /CropBox,
  /Rotate and /UserUnit; whatever lay outside the crop box (invisible, but still in the file) is
  discarded. The resolution counts user units as points (pdfium ignores /UserUnit).
- Annotations and form fields are neither rendered nor kept, on any page: visible stamps, notes
  and filled-in form values disappear from the result.
- Only text pdfium extracts can be located from spans. Words drawn as vector outlines or inside
  images, and glyphs without a Unicode mapping, need areas drawn by hand. pdfium's text does
  include invisible text (render mode 3, hidden optional content, near-zero font sizes), so such
  text can be found and its page rasterised; /ActualText replaces the glyphs' text, spread over
  their boxes; runs of spaces come out as one. Vertical or rotated text gets a box per
  character rather than per line.
- Pages without redactions keep their content stream. Their resources are narrowed to the
  XObjects they draw (a resource dictionary shared with a redacted page could otherwise carry an
  unused image or form of it along); fonts, patterns and hidden optional-content layers on such
  a page are kept as they are. The independent checks are what catches what slips through here.
- pdfium is not thread-safe: every call into it in this module holds one process-wide lock.
"""

from __future__ import annotations

import io
import logging
import math
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # ships no py.typed marker
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]  # ctypes bindings, untyped
from PIL import ImageDraw
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    ContentStream,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NumberObject,
    PdfObject,
    RectangleObject,
)

from vault.errors import InvalidInput
from vault.redaction.model import Area, Rect, Span

__all__ = [
    "document_text",
    "extract_strings",
    "extract_text_poppler",
    "extract_text_pypdf",
    "locate",
    "page_count",
    "region_text",
    "render",
    "structural_problems",
]

logger = logging.getLogger(__name__)

_UNREADABLE = "the PDF could not be read"
_UNCHECKABLE = "the PDF could not be checked"
_AMBIGUOUS = "the PDF is read differently by the libraries that redact it"
_PDFIUM = threading.RLock()  # pdfium must never be entered from two threads at once
_PAD = 1.0  # points added around located text, so antialiased glyph edges are covered too
_MIN_DPI, _MAX_DPI = 72, 600
# A page of 200 x 200 inches at 150 dpi would be 2.7 gigabytes of pixels: cap every bitmap
# (about 120 MB in RGB) and lower the resolution of such a page instead.
_MAX_PAGE_PIXELS = 40_000_000
_POPPLER_TIMEOUT = 120  # seconds; pdftotext on a few hundred image pages takes well under that
_REPLACEMENT = "\ufffd"

# The page keys a kept page may carry: geometry, resources and content. Everything else (/Annots,
# /AA, /Thumb, /Metadata, /PieceInfo, /B article beads, /StructParents, /Tabs, ...) is dropped
# by construction rather than by a list of known dangers.
_PAGE_KEYS = frozenset(
    {
        "/Type",
        "/Parent",
        "/MediaBox",
        "/CropBox",
        "/BleedBox",
        "/TrimBox",
        "/ArtBox",
        "/Rotate",
        "/Resources",
        "/Contents",
        "/UserUnit",
        "/Group",
    }
)
# Dropped at every depth below a kept page (pypdf passes excluded keys down while cloning):
# XMP and application data on images and forms, links into the (dropped) structure tree, and
# OPI references to external high-resolution originals, which name files.
_NESTED_DROP = ("/Metadata", "/PieceInfo", "/StructParent", "/StructParents", "/OPI")
_MAX_FORM_DEPTH = 8


# -- reading the original -------------------------------------------------------------------


@contextmanager
def _pdfium_document(content: bytes) -> Iterator[Any]:
    """An open pdfium document, under the pdfium lock; ``InvalidInput`` if it cannot be read
    (malformed, or encrypted with a password we do not have)."""
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(content)
        except pdfium.PdfiumError as error:
            logger.debug("pdfium could not open a PDF: %s", type(error).__name__)
            raise InvalidInput(_UNREADABLE) from None
        try:
            yield document
        except pdfium.PdfiumError as error:
            logger.debug("pdfium failed on a PDF: %s", type(error).__name__)
            raise InvalidInput(_UNREADABLE) from None
        finally:
            # Closing the document closes its pages and text pages too, here, under the lock,
            # rather than in a garbage-collector finaliser on whichever thread runs it.
            document.close()


def _pypdf_reader(content: bytes) -> PdfReader:
    """pypdf's reading of ``content``; owner-password files (empty user password) are opened,
    others raise ``InvalidInput``."""
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInput(_UNREADABLE)
        _ = len(reader.pages)  # builds the page list: a broken page tree fails here
    except InvalidInput:
        raise
    except Exception as error:  # pypdf raises many types on malformed input
        logger.debug("pypdf could not read a PDF: %s", type(error).__name__)
        raise InvalidInput(_UNREADABLE) from None
    return reader


@dataclass(frozen=True)
class _PageText:
    """One page's text and, for each of its code points, the pdfium characters behind it."""

    text: str
    chars: tuple[tuple[int, ...], ...]


def _page_text(textpage: Any) -> _PageText:
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
    return _PageText("".join(out), tuple(chars))


@contextmanager
def _textpage(document: Any, number: int) -> Iterator[Any]:
    """The pdfium text page of page ``number`` (1-based), closed with its page on exit: one
    page's parsed content in memory at a time, however long the document."""
    page = document[number - 1]
    try:
        yield page.get_textpage()
    finally:
        page.close()  # closes the text page too


def _texts(document: Any) -> list[_PageText]:
    texts = []
    for number in range(1, len(document) + 1):
        with _textpage(document, number) as textpage:
            texts.append(_page_text(textpage))
    return texts


def _check_pages(areas: Sequence[Area], count: int) -> None:
    for area in areas:
        if area.page > count:
            raise InvalidInput(f"page {area.page} does not exist: the document has {count} pages")


_Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF points


def _char_box(textpage: Any, index: int) -> _Box | None:
    """The union of pdfium's tight and loose boxes of a character; ``None`` for characters
    pdfium generated (inferred spaces and line breaks), which have no ink."""
    if int(pdfium_c.FPDFText_IsGenerated(textpage, index)) == 1:
        return None
    boxes: list[_Box] = []
    for loose in (False, True):
        try:
            left, bottom, right, top = (float(v) for v in textpage.get_charbox(index, loose=loose))
        except pdfium.PdfiumError:
            continue
        if all(math.isfinite(v) for v in (left, bottom, right, top)):
            boxes.append((min(left, right), min(bottom, top), max(left, right), max(bottom, top)))
    if not boxes:
        # A character that is in the text but has no position cannot be covered; refusing is
        # the only safe answer (its page might otherwise be kept with the text in it).
        raise InvalidInput("part of the PDF's text could not be located on its page")
    return _union(boxes)


def _union(boxes: Sequence[_Box]) -> _Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _same_line(a: _Box, b: _Box) -> bool:
    """Whether ``b`` continues the line ``a``: they overlap vertically by half the smaller
    height, and the horizontal gap (either way, for right-to-left text) is at most two line
    heights, so that a jump to another column is not bridged by one wide box."""
    low = min(a[3] - a[1], b[3] - b[1])
    if low <= 0:
        return False
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    gap = max(0.0, b[0] - a[2], a[0] - b[2])
    return overlap >= low / 2 and gap <= 2 * max(a[3] - a[1], b[3] - b[1])


def _lines(boxes: Sequence[_Box]) -> list[_Box]:
    lines: list[_Box] = []
    for box in boxes:
        if lines and _same_line(lines[-1], box):
            lines[-1] = _union([lines[-1], box])
        else:
            lines.append(box)
    return lines


def _pad(box: _Box) -> Rect:
    return Rect(box[0] - _PAD, box[1] - _PAD, box[2] + _PAD, box[3] + _PAD)


# -- text and locations -----------------------------------------------------------------------


def page_count(content: bytes) -> int:
    """The number of pages; ``InvalidInput`` if the PDF cannot be read."""
    with _pdfium_document(content) as document:
        return len(document)


def document_text(content: bytes) -> str:
    """The text span offsets count in: each page's text as pdfium extracts it, pages joined
    with ``"\\f"``. Deterministic for the same bytes."""
    with _pdfium_document(content) as document:
        return "\f".join(text.text for text in _texts(document))


def locate(content: bytes, spans: Sequence[Span]) -> list[Area]:
    """The rectangles that cover each span's characters: per page it touches, one per line
    (consecutive character boxes merged), padded by a point, with the span's category; in the
    order of ``spans``.

    ``InvalidInput`` if a span ends past ``document_text(content)``.
    """
    with _pdfium_document(content) as document:
        return _locate(document, _texts(document), spans)


def _locate(document: Any, texts: Sequence[_PageText], spans: Sequence[Span]) -> list[Area]:
    starts: list[int] = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text.text) + 1  # the "\f" between pages
    total = max(offset - 1, 0)
    # page -> span -> the code points of that page's text the span covers
    wanted: dict[int, dict[int, range]] = {}
    for which, span in enumerate(spans):
        if span.end > total:
            raise InvalidInput("a span ends past the end of the document's text")
        for number, text in enumerate(texts, start=1):
            first = max(span.start - starts[number - 1], 0)
            last = min(span.end - starts[number - 1], len(text.text))
            if first < last:
                wanted.setdefault(number, {})[which] = range(first, last)
    found: dict[int, list[Area]] = {}
    for number, by_span in sorted(wanted.items()):
        chars = texts[number - 1].chars
        with _textpage(document, number) as textpage:
            for which, points in by_span.items():
                boxes = [
                    box
                    for point in points
                    for char in chars[point]
                    if (box := _char_box(textpage, char)) is not None
                ]
                category = spans[which].category
                found.setdefault(which, [])
                found[which] += [Area(number, _pad(line), category) for line in _lines(boxes)]
    return [area for which in sorted(found) for area in found[which]]


def _centre(textpage: Any, index: int) -> tuple[float, float] | None:
    if int(pdfium_c.FPDFText_IsGenerated(textpage, index)) == 1:
        return None
    for loose in (False, True):  # the tight box if it has an extent, else the loose one
        try:
            left, bottom, right, top = (float(v) for v in textpage.get_charbox(index, loose=loose))
        except pdfium.PdfiumError:
            continue
        if right > left and top > bottom:
            return (left + right) / 2, (bottom + top) / 2
    return None


def region_text(content: bytes, areas: Sequence[Area]) -> list[str]:
    """For each area, the text of the characters whose box centre lies inside it, in text
    order; characters that are not adjacent in the text are separated by one space."""
    with _pdfium_document(content) as document:
        _check_pages(areas, len(document))
        found: dict[int, str] = {}
        for number in sorted({area.page for area in areas}):
            with _textpage(document, number) as textpage:
                text = _page_text(textpage)
                centres = [_centre(textpage, chars[0]) for chars in text.chars]
            for which, area in enumerate(areas):
                if area.page == number:
                    found[which] = _text_inside(area.rect, text.text, centres)
        return [found[which] for which in range(len(areas))]


def _text_inside(rect: Rect, text: str, centres: Sequence[tuple[float, float] | None]) -> str:
    parts: list[str] = []
    previous = None
    for index, point in enumerate(centres):
        if point is None or not (rect.x0 <= point[0] <= rect.x1 and rect.y0 <= point[1] <= rect.y1):
            continue
        if previous is not None and index != previous + 1:
            parts.append(" ")
        parts.append(text[index])
        previous = index
    return "".join(parts)


# -- rendering --------------------------------------------------------------------------------


def render(
    content: bytes,
    spans: Sequence[Span],
    areas: Sequence[Area],
    *,
    dpi: int = 150,
    rerender_all: bool = False,
) -> bytes:
    """The redacted PDF: every page that carries one of ``areas`` or part of one of ``spans``
    (or every page, with ``rerender_all``) replaced by an image of it with those areas black;
    the other pages kept; written as a new single-revision file without metadata,
    annotations, forms, attachments, scripts, outlines or structure tree."""
    if not _MIN_DPI <= dpi <= _MAX_DPI:
        raise InvalidInput(f"the resolution must be between {_MIN_DPI} and {_MAX_DPI} dpi")
    reader = _pypdf_reader(content)
    with _pdfium_document(content) as document:
        count = len(document)
        if len(reader.pages) != count:
            # The two parsers disagree about the document: assembling one's pages from the
            # other's reading could keep a page that was meant to be redacted.
            raise InvalidInput(_UNREADABLE)
        _check_pages(areas, count)
        texts = _texts(document)
        redacted: dict[int, list[Area]] = {}
        for area in [*areas, *_locate(document, texts, spans)]:
            redacted.setdefault(area.page, []).append(area)
        if rerender_all:
            redacted = {number: redacted.get(number, []) for number in range(1, count + 1)}
        writer = PdfWriter()
        writer.metadata = None  # pypdf starts every file with an /Info /Producer; drop it
        for number in range(1, count + 1):
            original = reader.pages[number - 1]
            if number in redacted:
                page = document[number - 1]
                try:
                    writer.add_page(_image_page(page, redacted[number], dpi, original))
                finally:
                    page.close()
            else:
                writer.add_page(_kept_page(original, reader), excluded_keys=_NESTED_DROP)
        out = io.BytesIO()
        writer.write(out)
        _confirm(
            out.getvalue(), [t.text if n not in redacted else "" for n, t in enumerate(texts, 1)]
        )
    return out.getvalue()


def _confirm(result: bytes, expected: Sequence[str]) -> None:
    """Read the result back with pdfium: redacted pages must have no text at all, kept pages
    exactly the text they had. A difference means pypdf and pdfium disagree about which page
    is which in the original, and a kept page might be one that was meant to be redacted."""
    with _pdfium_document(result) as document:
        if [text.text for text in _texts(document)] != list(expected):
            logger.debug("pdfium reads the assembled PDF differently from the original")
            raise InvalidInput(_AMBIGUOUS)


def _scale(dpi: int, width: float, height: float) -> float:
    scale = dpi / 72
    if width * height * scale * scale > _MAX_PAGE_PIXELS:
        scale = math.sqrt(_MAX_PAGE_PIXELS / (width * height))
    return scale


def _image_page(page: Any, areas: Sequence[Area], dpi: int, original: PageObject) -> PageObject:
    """A page showing only a bitmap of ``page`` with ``areas`` filled black, with the
    original's boxes and rotation. Memory: one page's pixels at a time."""
    rotation = int(page.get_rotation())
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
    )
    try:
        image = bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()
    width, height = image.size
    sx, sy = width / (right - left), height / (top - bottom)
    draw = ImageDraw.Draw(image)
    for area in areas:
        # Outward rounding: a pixel the area touches at all is filled.
        x0 = max(math.floor((area.rect.x0 - left) * sx), 0)
        x1 = min(math.ceil((area.rect.x1 - left) * sx), width)
        y0 = max(math.floor((top - area.rect.y1) * sy), 0)
        y1 = min(math.ceil((top - area.rect.y0) * sy), height)
        if x0 < x1 and y0 < y1:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(0, 0, 0))
    # Lossless Flate rather than JPEG: text in the picture stays as crisp as it was rendered,
    # and no compression artefacts blur the edges of the black boxes; a text page compresses
    # well, a photographic page costs more bytes.
    pixels = DecodedStreamObject()
    pixels.set_data(image.tobytes())
    del image
    pixels.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(width),
            NameObject("/Height"): NumberObject(height),
            NameObject("/ColorSpace"): NameObject("/DeviceRGB"),
            NameObject("/BitsPerComponent"): NumberObject(8),
        }
    )
    xobject = pixels.flate_encode(level=6)
    del pixels
    drawing = DecodedStreamObject()
    w, h = right - left, top - bottom
    drawing.set_data(f"q {w:.4f} 0 0 {h:.4f} {left:.4f} {bottom:.4f} cm /Im0 Do Q".encode())
    media = _box(original.mediabox)
    if not (media[0] <= left and media[1] <= bottom and media[2] >= right and media[3] >= top):
        media = (left, bottom, right, top)
    new = PageObject()
    new[NameObject("/Type")] = NameObject("/Page")
    new[NameObject("/MediaBox")] = RectangleObject(media)
    if media != (left, bottom, right, top):
        new[NameObject("/CropBox")] = RectangleObject((left, bottom, right, top))
    if rotation:
        new[NameObject("/Rotate")] = NumberObject(rotation)
    if "/UserUnit" in original:
        new[NameObject("/UserUnit")] = original["/UserUnit"]
    new[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): xobject})}
    )
    new[NameObject("/Contents")] = drawing
    return new


def _box(rect: RectangleObject) -> _Box:
    xs, ys = (float(rect.left), float(rect.right)), (float(rect.bottom), float(rect.top))
    return min(xs), min(ys), max(xs), max(ys)


def _kept_page(page: PageObject, reader: PdfReader) -> PageObject:
    """``page`` (pypdf's in-memory copy, never written back) narrowed to what it shows."""
    for key in list(page.keys()):
        if key not in _PAGE_KEYS:
            del page[key]
    resources = page.get("/Resources")
    resources = resources.get_object() if isinstance(resources, PdfObject) else None
    if isinstance(resources, DictionaryObject):
        try:
            content = page.get_contents()
        except Exception as error:  # unparseable content: keep the resources unnarrowed
            logger.debug("could not read a kept page's content: %s", type(error).__name__)
            return page
        page[NameObject("/Resources")] = _narrowed(resources, content, reader, 0)
    return page


def _drawn(content: ContentStream | None) -> set[str]:
    """The XObject names ``content`` paints with ``Do``."""
    if content is None:
        return set()
    return {
        str(operands[0])
        for operands, operator in content.operations
        if operator == b"Do" and operands and isinstance(operands[0], NameObject)
    }


def _narrowed(
    resources: DictionaryObject, content: ContentStream | None, reader: PdfReader, depth: int
) -> DictionaryObject:
    """A copy of ``resources`` whose /XObject dictionary names only what ``content`` draws,
    directly or through forms that use these same resources; forms with resources of their
    own have those narrowed the same way (to ``_MAX_FORM_DEPTH``). Anything that cannot be
    parsed is left as it was: narrowing is a second line of defence, not the first."""
    copy = DictionaryObject(resources)
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if isinstance(xobjects, PdfObject) else None
    if not isinstance(xobjects, DictionaryObject) or depth > _MAX_FORM_DEPTH:
        return copy
    try:
        pending = sorted(_drawn(content))
        kept = DictionaryObject()
        while pending:
            name = pending.pop()
            if name in kept or name not in xobjects:
                continue
            kept[NameObject(name)] = xobjects.raw_get(name)
            form = xobjects[name].get_object()
            if not isinstance(form, DictionaryObject) or form.get("/Subtype") != "/Form":
                continue
            inner = ContentStream(form, reader)
            own = form.get("/Resources")
            own = own.get_object() if isinstance(own, PdfObject) else None
            if isinstance(own, DictionaryObject):
                # Safe to write into a shared form: the result depends only on its content.
                form[NameObject("/Resources")] = _narrowed(own, inner, reader, depth + 1)
            else:
                pending += sorted(_drawn(inner))  # resolved in the resources given here
    except Exception as error:  # malformed content: keep the resources unnarrowed
        logger.debug("could not narrow a page's resources: %s", type(error).__name__)
        return copy
    copy[NameObject("/XObject")] = kept
    return copy


# -- independent checks of a result -----------------------------------------------------------


def extract_text_pypdf(pdf: bytes) -> str:
    """All text pypdf extracts, page by page, joined with newlines."""
    reader = _pypdf_reader(pdf)
    try:
        return "\n".join(page.extract_text() for page in reader.pages)
    except Exception as error:  # pypdf raises many types on malformed input
        logger.debug("pypdf could not extract text: %s", type(error).__name__)
        raise InvalidInput(_UNCHECKABLE) from None


def extract_strings(pdf: bytes) -> str:
    """Every string object in the file as pypdf decodes it (escapes, hex, UTF-16), wherever it
    is: names that no text extractor reads (an optional-content layer's name, a font's or an
    image's description) are searched too."""
    reader = _pypdf_reader(pdf)
    found: list[str] = []

    def walk(obj: object, depth: int) -> None:
        # Indirect objects are visited from the cross-reference table, once each; the depth
        # bound only guards against absurdly nested direct objects.
        if depth > 64:
            raise InvalidInput(_UNCHECKABLE)
        if isinstance(obj, DictionaryObject):
            for value in obj.values():
                walk(value, depth + 1)
        elif isinstance(obj, ArrayObject):
            for value in obj:
                walk(value, depth + 1)
        elif isinstance(obj, str):
            found.append(str(obj))

    try:
        for generation, table in reader.xref.items():
            for number in table:
                walk(reader.get_object(IndirectObject(number, generation, reader)), 0)
        walk(reader.trailer, 0)
    except InvalidInput:
        raise
    except Exception as error:  # pypdf raises many types on malformed input
        logger.debug("pypdf could not walk the objects: %s", type(error).__name__)
        raise InvalidInput(_UNCHECKABLE) from None
    return "\n".join(found)


def extract_text_poppler(pdf: bytes) -> str | None:
    """All text poppler's ``pdftotext`` extracts; ``None`` when it is not installed.

    The PDF goes in on standard input and the text comes back on standard output: no copy of
    either is ever written to disk (pdftotext reads "-" into memory).
    """
    executable = shutil.which("pdftotext")
    if executable is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - fixed argument list, no shell, PDF on stdin
            [executable, "-q", "-enc", "UTF-8", "-", "-"],
            input=pdf,
            capture_output=True,
            timeout=_POPPLER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InvalidInput(_UNCHECKABLE) from None
    if result.returncode != 0:
        logger.debug("pdftotext exited with status %d", result.returncode)
        raise InvalidInput(_UNCHECKABLE)
    return result.stdout.decode("utf-8", errors="replace")


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
        reader = _pypdf_reader(pdf)
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
        with _pdfium_document(pdf) as document:
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
