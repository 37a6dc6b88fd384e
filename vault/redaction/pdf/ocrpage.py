"""What OCR does for a re-rendered page: finds redacted words that survived on the picture,
and writes the searchable text layer from what it reads on the *redacted* picture.

Healing. Text drawn as paths, inside images or through a font whose /ToUnicode lies has no place
in the text layer, so spans and terms cannot locate it; a person still reads it. After the bars
are painted, the page's picture is read by OCR, and every run of words that matches a redacted
string (within the edit distance the leak check allows) gets a bar too; the picture is read
again, up to ``_ROUNDS`` times. What is still legible after that is left for the export's check
to find and refuse.

The text layer is invisible text (render mode 3) in Helvetica with WinAnsiEncoding, one word
at a time, placed on the box OCR gave it and stretched (``Tz``) to its width, so that search,
selection and copying work like in the original. Characters WinAnsi cannot hold become "?".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from PIL import ImageDraw
from reportlab.pdfbase.pdfmetrics import stringWidth

from vault.redaction import ocr
from vault.redaction.leaks import Needles
from vault.redaction.pdf.source import Raster

__all__ = ["Read", "heal", "padding", "text_layer"]

_ROUNDS = 3
_FONT = "Helvetica"
# Bars over located text are widened on each side by a random share of the line's height,
# drawn anew for every bar: the bar's width then says little about the hidden word's width
# (see docs/redaction.md for what it cannot hide).
PAD_RANGE = (0.25, 0.75)
_random = secrets.SystemRandom()


def padding(height: float) -> tuple[float, float]:
    """Random widening (left, right) for a bar over text ``height`` units tall."""
    low, high = PAD_RANGE
    return _random.uniform(low, high) * height, _random.uniform(low, high) * height


@dataclass
class Read:
    """A page's picture after healing, and the words OCR read on it."""

    picture: Raster
    words: list[ocr.Word]
    healed: int  # bars added because OCR still read a redacted string


def heal(picture: Raster, needles: Needles[int]) -> Read:
    """Read ``picture`` (bars already painted), black out every run of words that still spells
    a redacted string, and read it again; the final reading."""
    healed = 0
    words = ocr.read(picture.upright())
    for _ in range(_ROUNDS):
        runs = ocr.spelled(words, needles) if needles.any else []
        if not runs:
            break
        draw = ImageDraw.Draw(picture.image)
        for run in runs:
            for line in ocr.line_boxes([words[i] for i in run]):
                left, top, right, bottom = picture.from_upright(line)
                pad_left, pad_right = padding(bottom - top)
                draw.rectangle(
                    (int(left - pad_left), top - 2, int(right + pad_right), bottom + 2), fill=0
                )
                healed += 1
        words = ocr.read(picture.upright())
    return Read(picture, words, healed)


def _literal(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_layer(read: Read) -> bytes:
    """Content-stream operators drawing ``read.words`` as invisible text at their places on
    the page (PDF user space, /F0 being Helvetica)."""
    picture = read.picture
    turn = {0: (1, 0, 0, 1), 90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}
    a, b, c, d = turn.get(picture.rotation, (1, 0, 0, 1))
    # Pixels of the upright picture per point: the page is upright there, so a word's box is
    # horizontal and its height is the font size.
    per_point = picture.dpi / 72
    out = [b"BT 3 Tr"]
    for word in read.words:
        text = word.text.strip()
        if not text:
            continue
        x0, y0, x1, y1 = word.box
        size = max((y1 - y0) / per_point, 1.0)
        natural = stringWidth(text, _FONT, size)
        if natural <= 0:
            continue
        stretch = 100 * ((x1 - x0) / per_point) / natural
        origin_x, origin_y = _upright_point(picture, x0, y1)
        place = f"{a} {b} {c} {d} {origin_x:.2f} {origin_y:.2f} Tm "
        out.append(f"/F0 {size:.2f} Tf {stretch:.2f} Tz {place}".encode() + _literal(text) + b" Tj")
    out.append(b"ET")
    return b"\n".join(out)


def _upright_point(picture: Raster, x: float, y: float) -> tuple[float, float]:
    """A point of the upright picture (pixels) in PDF points."""
    w, h = picture.image.size
    rotation = picture.rotation
    if rotation == 90:
        x, y = y, h - x
    elif rotation == 180:
        x, y = w - x, h - y
    elif rotation == 270:
        x, y = w - y, x
    sx, sy = picture.scale
    left, _, _, top = picture.box
    return left + x / sx, top - y / sy
