"""Reading pixels as a person would: Tesseract OCR for word boxes, text layers and the check.

Tesseract runs in child processes (Debian's ``tesseract-ocr`` with the English and Spanish
data), fed through pipes, like poppler's ``pdftotext``: no image or text of a document is ever
written to disk, and a crash in the engine cannot take the server with it. The children stay
loaded between pictures (``ocr_engine``); where they cannot, each picture runs the
``tesseract`` program, given a binary PGM on standard input.

Thresholding: Leptonica's Otsu (``thresholding_method=1``) rather than Tesseract's default,
which drops very light text (grey 215 on white, legible to a person) as background; on ordinary
pages the two read the same words.

``OMP_THREAD_LIMIT=1``: Tesseract's OpenMP threads spin while they wait, and on a small machine
two of them fighting over two cores made one page take 15 s instead of under 2. Pages are read
in parallel by the callers instead, one worker per core.

Results are deterministic for the same pixels, Tesseract version and settings, which is what
lets span offsets on a scanned page (counted in OCR text) mean the same thing at every call.
A small in-memory cache keyed by the SHA-256 of the pixels keeps one export from reading the
same raster twice; it lives only in this process's memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from vault.errors import Unavailable
from vault.redaction import filters, ocr_engine
from vault.redaction.leaks import Needles, compact

__all__ = [
    "LANGUAGES",
    "Word",
    "available",
    "line_boxes",
    "read",
    "require",
    "spelled",
    "text_of",
    "workers",
]

logger = logging.getLogger(__name__)

LANGUAGES = "eng+spa"
_TIMEOUT = 120  # seconds for one page; a dense page at 300 dpi takes a few
_CACHE_PAGES = 256  # about 100 KiB of words a page: a long scan is read once per export
_ENV = {"OMP_THREAD_LIMIT": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
_MISSING = "the OCR engine (tesseract) is not installed on the server; redacted exports need it"
_FAILED = "the OCR engine could not read a page"
_SETTINGS = ("thresholding_method=1",)
# The kept-loaded engine; the tests turn it off to compare it with the program.
_USE_ENGINE = True


@dataclass(frozen=True)
class Word:
    """One word Tesseract read: its text, its box in pixels (left, top, right, bottom; origin
    top-left) and which line it belongs to (words of one line share ``line``)."""

    text: str
    box: tuple[int, int, int, int]
    line: tuple[int, int, int]
    confidence: float


def available() -> bool:
    return shutil.which("tesseract") is not None


def require() -> None:
    """``Unavailable`` unless Tesseract is installed: exports refuse before doing any work."""
    if not available():
        raise Unavailable(_MISSING, retry_after=3600)


def workers() -> int:
    """How many pages to read at once: one Tesseract process per core."""
    return max(1, min(os.cpu_count() or 1, 4))


_cache: OrderedDict[str, list[Word]] = OrderedDict()
_cache_lock = threading.Lock()
# One Tesseract process per core in this whole process, however many exports run at once: a
# server answering several exports together queues their pages instead of thrashing.
_slots = threading.BoundedSemaphore(workers())


def _grey(image: Image.Image) -> tuple[int, int, bytes]:
    grey = image if image.mode == "L" else image.convert("L")
    width, height = grey.size
    return width, height, grey.tobytes()


def _tsv(image: tuple[int, int, bytes]) -> bytes:
    """Tesseract's TSV for the pixels: from a kept-loaded worker (``ocr_engine``), or from the
    ``tesseract`` program where the library cannot be loaded. Both read with the same
    settings and give the same bytes (``tests/vault/redaction/test_ocr_engine.py``)."""
    executable = shutil.which("tesseract")
    if executable is None:
        raise Unavailable(_MISSING, retry_after=3600)
    with _slots:
        if _USE_ENGINE:
            tsv = ocr_engine.read_tsv(
                [LANGUAGES, *_SETTINGS], image, env=_ENV, timeout=_TIMEOUT, failure=_FAILED
            )
            if tsv is not None:
                return tsv
        width, height, pixels = image
        pgm = f"P5 {width} {height} 255\n".encode() + pixels  # no compression to spend time on
        arguments = ["stdin", "stdout", "-l", LANGUAGES]
        arguments += [part for setting in _SETTINGS for part in ("-c", setting)]
        return filters.run(
            executable, [*arguments, "tsv"], pgm, timeout=_TIMEOUT, failure=_FAILED, env=_ENV
        )


def read(image: Image.Image) -> list[Word]:
    """Every word Tesseract finds in ``image``, in reading order."""
    grey = _grey(image)
    key = hashlib.sha256(b"%d %d " % grey[:2] + grey[2]).hexdigest()
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    words = _parse_tsv(_tsv(grey))
    with _cache_lock:
        _cache[key] = words
        while len(_cache) > _CACHE_PAGES:
            _cache.popitem(last=False)
    return words


def _parse_tsv(raw: bytes) -> list[Word]:
    words: list[Word] = []
    for row in raw.decode("utf-8", errors="replace").splitlines()[1:]:
        fields = row.split("\t")
        # level, page, block, paragraph, line, word, left, top, width, height, conf, text
        if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
            continue
        try:
            block, par, line = int(fields[2]), int(fields[3]), int(fields[4])
            left, top, width, height = (int(v) for v in fields[6:10])
            confidence = float(fields[10])
        except ValueError:
            continue
        box = (left, top, left + width, top + height)
        words.append(Word(fields[11], box, (block, par, line), confidence))
    return words


def text_of(words: Sequence[Word]) -> str:
    """The words as text: one line per OCR line, words separated by spaces."""
    lines: list[str] = []
    current: tuple[int, int, int] | None = None
    for word in words:
        if word.line != current:
            lines.append(word.text)
            current = word.line
        else:
            lines[-1] += " " + word.text
    return "\n".join(lines)


def spelled(words: Sequence[Word], needles: Needles[Any]) -> list[list[int]]:
    """Runs of consecutive words (indices) whose joined text holds a redacted string, within
    the edit distance OCR is allowed: what healing blacks out."""
    forms = [compact(word.text) for word in words]
    runs: list[list[int]] = []
    longest = needles.longest + 4
    start = 0
    while start < len(words):
        joined = ""
        for end in range(start, len(words)):
            joined += forms[end]
            if needles.fuzzy_in_compact(joined):
                # The shortest run from ``start``: drop words from the left while it matches.
                first = start
                while first < end and needles.fuzzy_in_compact("".join(forms[first + 1 : end + 1])):
                    first += 1
                runs.append(list(range(first, end + 1)))
                start = end
                break
            if len(joined) > longest:
                break
        start += 1
    return runs


def line_boxes(words: Sequence[Word]) -> list[tuple[int, int, int, int]]:
    """One box per OCR line around ``words`` (pixels: left, top, right, bottom)."""
    boxes: dict[tuple[int, int, int], tuple[int, int, int, int]] = {}
    for word in words:
        box = boxes.get(word.line)
        boxes[word.line] = (
            word.box
            if box is None
            else (
                min(box[0], word.box[0]),
                min(box[1], word.box[1]),
                max(box[2], word.box[2]),
                max(box[3], word.box[3]),
            )
        )
    return list(boxes.values())
