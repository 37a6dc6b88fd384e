"""The text of a photograph or a scan, as OCR reads it, and where each character is.

Images have no text layer, but most of what sources hand over is a photographed or scanned page:
to find a name there (suggestions, terms, spans) the pixels are read by OCR (``ocr``), upright
as displayed. The text is the words joined by spaces, lines by newlines; each code point maps to
the box of the word it belongs to, in pixels of the displayed image, so that a span or a term
becomes a bar over whole words. The same pixels always give the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

from vault.redaction import image, ocr
from vault.redaction.model import Area, Category, Rect

__all__ = ["Reading", "read"]

_PAD = 2  # pixels around a word's box: OCR boxes are tight to the ink


@dataclass(frozen=True)
class Reading:
    text: str
    boxes: tuple[tuple[int, int, int, int] | None, ...]  # per code point; None between words
    size: tuple[int, int]

    def areas(self, start: int, end: int, category: Category) -> list[Area]:
        """Bars over the words of ``[start, end)``: one per word, padded."""
        width, height = self.size
        boxes = dict.fromkeys(b for b in self.boxes[start:end] if b is not None)
        return [
            Area(
                1,
                Rect(
                    max(box[0] - _PAD, 0),
                    max(box[1] - _PAD, 0),
                    min(box[2] + _PAD, width),
                    min(box[3] + _PAD, height),
                ),
                category,
            )
            for box in boxes
        ]

    def inside(self, area: Area) -> str:
        """The words whose centres lie in ``area``."""
        rect = area.rect
        words: list[str] = []
        current: list[str] = []
        for char, box in zip(self.text, self.boxes, strict=True):
            if box is None:
                if current:
                    words.append("".join(current))
                    current = []
                continue
            x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if rect.x0 <= x <= rect.x1 and rect.y0 <= y <= rect.y1:
                current.append(char)
        if current:
            words.append("".join(current))
        return " ".join(words)


def read(content: bytes) -> Reading:
    """What OCR reads in a JPEG or PNG; ``InvalidInput`` if it cannot be decoded."""
    pixels = image.upright_pixels(content)
    words = ocr.read(pixels)
    parts: list[str] = []
    boxes: list[tuple[int, int, int, int] | None] = []
    line = None
    for word in words:
        if parts:
            parts.append("\n" if word.line != line else " ")
            boxes.append(None)
        line = word.line
        parts.append(word.text)
        boxes += [word.box] * len(word.text)
    return Reading("".join(parts), tuple(boxes), pixels.size)
