"""Where on the page a span of the document's text is drawn: the boxes of its characters (a
text layer, through pdfium) or of its words (a scan, through OCR), widened to whole words,
merged per line and padded; and, the other way, which text lies inside a region.

Areas are in PDF points with the origin at the bottom-left of the page's user space, unrotated,
as pdfium reports character boxes. Every call into pdfium holds ``source.PDFIUM``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # ships no py.typed marker
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]  # ctypes bindings, untyped

from vault.errors import InvalidInput
from vault.redaction.model import Area, Rect, Span
from vault.redaction.pdf.source import (
    Box,
    PageText,
    check_pages,
    open_pdfium,
    open_textpage,
    page_text,
    texts,
)

__all__ = ["lines", "locate", "locate_in", "pad", "region_text", "union"]

_PAD = 1.0  # points added around located text, so antialiased glyph edges are covered too


def _char_box(textpage: Any, index: int) -> Box | None:
    """The union of pdfium's tight and loose boxes of a character; ``None`` for characters
    pdfium generated (inferred spaces and line breaks), which have no ink."""
    if int(pdfium_c.FPDFText_IsGenerated(textpage, index)) == 1:
        return None
    boxes: list[Box] = []
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
    return union(boxes)


def union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _same_line(a: Box, b: Box) -> bool:
    """Whether ``b`` continues the line ``a``: they overlap vertically by half the smaller
    height, and the horizontal gap (either way, for right-to-left text) is at most two line
    heights, so that a jump to another column is not bridged by one wide box."""
    low = min(a[3] - a[1], b[3] - b[1])
    if low <= 0:
        return False
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    gap = max(0.0, b[0] - a[2], a[0] - b[2])
    return overlap >= low / 2 and gap <= 2 * max(a[3] - a[1], b[3] - b[1])


def lines(boxes: Sequence[Box]) -> list[Box]:
    merged: list[Box] = []
    for box in boxes:
        if merged and _same_line(merged[-1], box):
            merged[-1] = union([merged[-1], box])
        else:
            merged.append(box)
    return merged


def pad(box: Box) -> Rect:
    return Rect(box[0] - _PAD, box[1] - _PAD, box[2] + _PAD, box[3] + _PAD)


def _whole_words(text: str, points: range) -> range:
    """``points`` widened to the word boundaries around them: a bar that stopped inside a word
    would show how much of the word it hides."""
    start, end = points.start, points.stop
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return range(start, end)


def locate(content: bytes, spans: Sequence[Span]) -> list[Area]:
    """The rectangles that cover each span's characters, widened to whole words: per page it
    touches, one per line (consecutive character boxes merged), padded by a point, with the
    span's category; in the order of ``spans``.

    ``InvalidInput`` if a span ends past ``document_text(content)``.
    """
    with open_pdfium(content) as document:
        return locate_in(document, texts(document), spans)


def locate_in(document: Any, pages: Sequence[PageText], spans: Sequence[Span]) -> list[Area]:
    starts: list[int] = []
    offset = 0
    for text in pages:
        starts.append(offset)
        offset += len(text.text) + 1  # the "\f" between pages
    total = max(offset - 1, 0)
    # page -> span -> the code points of that page's text the span covers
    wanted: dict[int, dict[int, range]] = {}
    for which, span in enumerate(spans):
        if span.end > total:
            raise InvalidInput("a span ends past the end of the document's text")
        for number, text in enumerate(pages, start=1):
            first = max(span.start - starts[number - 1], 0)
            last = min(span.end - starts[number - 1], len(text.text))
            if first < last:
                points = _whole_words(text.text, range(first, last))
                wanted.setdefault(number, {})[which] = points
    found: dict[int, list[Area]] = {}
    for number, by_span in sorted(wanted.items()):
        page = pages[number - 1]
        with open_textpage(document, number) as (_, textpage):
            for which, points in by_span.items():
                boxes = _boxes(page, textpage, points)
                category = spans[which].category
                found.setdefault(which, [])
                found[which] += [Area(number, pad(line), category) for line in lines(boxes)]
    return [area for which in range(len(spans)) for area in found.get(which, [])]


def _boxes(page: PageText, textpage: Any, points: range) -> list[Box]:
    if page.ocr_boxes is not None:
        boxes = [page.ocr_boxes[point] for point in points]
        return list(dict.fromkeys(box for box in boxes if box is not None))
    return [
        box
        for point in points
        for char in page.chars[point]
        if (box := _char_box(textpage, char)) is not None
    ]


def _centre(box: Box | None) -> tuple[float, float] | None:
    if box is None or not (box[2] > box[0] and box[3] > box[1]):
        return None
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _tight_centre(textpage: Any, index: int) -> tuple[float, float] | None:
    if int(pdfium_c.FPDFText_IsGenerated(textpage, index)) == 1:
        return None
    for loose in (False, True):  # the tight box if it has an extent, else the loose one
        try:
            box = tuple(float(v) for v in textpage.get_charbox(index, loose=loose))
        except pdfium.PdfiumError:
            continue
        if (centre := _centre((box[0], box[1], box[2], box[3]))) is not None:
            return centre
    return None


def region_text(content: bytes, areas: Sequence[Area]) -> list[str]:
    """The text whose characters' centres lie inside each area, in the order of ``areas``
    (what a region redaction hides, for the reviewer to see and the export check to search
    for). Characters out of reading order are joined by a space."""
    with open_pdfium(content) as document:
        check_pages(areas, len(document))
        found: dict[int, str] = {}
        for number in sorted({area.page for area in areas}):
            page = page_text(document, number)
            with open_textpage(document, number) as (_, textpage):
                if page.ocr_boxes is not None:
                    centres = [_centre(box) for box in page.ocr_boxes]
                else:
                    centres = [_tight_centre(textpage, chars[0]) for chars in page.chars]
            for which, area in enumerate(areas):
                if area.page == number:
                    found[which] = _text_inside(area.rect, page.text, centres)
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
