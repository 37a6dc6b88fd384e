"""The fail-closed search on an export: does any redacted string still appear in what a reader
of the result can get out of it?

Readers mangle text: extractors insert or drop spaces ("Mari sol", "MarisolQuintero"), split
ligatures, hyphenate at line ends ("Quin-\\ntero"), turn accents into separate marks; a hostile
file spells the name with look-alike letters; OCR misreads a letter or two. So the search is
deliberately loose, erring towards reporting a leak:

* both sides are folded as for term matching (:func:`vault.redaction.match.fold`: case, accents,
  ligatures, invisible characters, TR39 confusable skeletons), and then "i" and "l" are treated
  alike (capital "I" and small "l" are one glyph in many fonts, which the matcher's fold keeps
  apart so that case-insensitive matching still works);
* every whitespace and every dash (Unicode category ``Pd``) is removed from both sides, which
  undoes extractor spacing and line-end hyphenation alike;
* the test is a substring search with no word boundaries: "Quintero" inside "Quinteros" counts;
* text read by OCR (:meth:`Needles.fuzzy_in`) is also searched with a small edit distance:
  none below 6 characters, at most 1 edit for 6 to 11 characters, at most 2 from 12 on.

Strings whose searched form is shorter than ``min_length`` characters are skipped: "Ana" or
"55" occur by chance in any long text, and a check that always fails is no check. Callers must
report such strings (see :func:`needles`) instead of treating them as verified.

Bytes (:meth:`Needles.in_bytes`) are searched in every encoding a PDF or an image can hold text
in: Latin-1 (which also reads PDFDocEncoding's letters and any ASCII), UTF-8, and UTF-16 in both
byte orders and at both alignments.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Generic, TypeVar

import regex

from vault.redaction.match import fold

__all__ = ["Needles", "compact", "find_leaks", "needles"]

K = TypeVar("K", bound=Hashable)

# Planes 0 and 1 hold every letter a name can be typed or disguised with (the BMP, and the
# mathematical and enclosed alphanumerics); anything beyond folds one character at a time.
_TABLE_END = 0x20000
_ENCODINGS = ("latin-1", "utf-8", "utf-16-be", "utf-16-le")


def _compact_char(char: str) -> str:
    folded = fold(char)
    kept = "".join(c for c in folded if c != " " and unicodedata.category(c) != "Pd")
    return kept.replace("i", "l")


@lru_cache(maxsize=1)
def _table() -> dict[int, str]:
    # str.translate runs in C: a megabyte of decoded stream folds in tens of milliseconds, where
    # a Python loop over the characters would take seconds (exports search whole page images).
    table: dict[int, str] = {}
    for point in range(_TABLE_END):
        if 0xD800 <= point < 0xE000:
            continue
        char = chr(point)
        form = _compact_char(char)
        if form != char:
            table[point] = form
    return table


@lru_cache(maxsize=1)
def _byte_table() -> tuple[bytes, bytes]:
    """A byte-to-byte fold for :meth:`Needles.in_samples`: each Latin-1 byte to the one byte its
    compact form starts with (or itself), and the bytes to delete (separators and NUL, so that
    ASCII stored as UTF-16 reads as ASCII)."""
    table = bytearray(range(256))
    delete = bytearray([0])
    for value in range(1, 256):
        form = _compact_char(chr(value))
        if not form:
            delete.append(value)
        elif len(form) == 1 and ord(form) < 256:
            table[value] = ord(form)
        else:
            table[value] = ord(chr(value).lower()) if ord(chr(value).lower()) < 256 else value
    return bytes(table), bytes(delete)


def _byte_fold(data: bytes) -> bytes:
    table, delete = _byte_table()
    return data.translate(table, delete)


def compact(text: str) -> str:
    """``text`` in the form that is searched: folded, "i" as "l", no whitespace or dashes."""
    out = text.translate(_table())
    if any(ord(c) >= _TABLE_END for c in out):
        out = "".join(_compact_char(c) if ord(c) >= _TABLE_END else c for c in out)
    return out


def needles(strings: Iterable[str], *, min_length: int = 4) -> list[str]:
    """The forms of ``strings`` that are searched for, without duplicates, in first-seen order.

    A string whose form is shorter than ``min_length`` characters is left out; an empty result
    for a redaction's strings means that redaction cannot be verified by search.
    """
    if min_length < 1:
        raise ValueError("min_length must be at least 1")
    found: dict[str, None] = {}  # a dict keeps first-seen order
    for string in strings:
        form = compact(string)
        if len(form) >= min_length:
            found.setdefault(form)
    return list(found)


def edits_allowed(needle: str) -> int:
    """How many edits an OCR reading may differ from ``needle`` by and still count."""
    if len(needle) >= 12:
        return 2
    return 1 if len(needle) >= 6 else 0


class Needles(Generic[K]):
    """Every redaction's searchable forms, compiled once and searched in many readings."""

    def __init__(self, strings: Mapping[K, Sequence[str]], *, min_length: int = 4) -> None:
        self._forms = {
            key: needles(values, min_length=min_length) for key, values in strings.items()
        }
        # The redacted strings as Latin-1 bytes folded byte by byte, for in_samples.
        self._samples = {
            key: list(
                dict.fromkeys(
                    form
                    for value in values
                    if len(form := _byte_fold(value.encode("latin-1", errors="ignore")))
                    >= min_length
                )
            )
            for key, values in strings.items()
        }
        self._fuzzy = {
            key: [
                regex.compile(f"(?:{regex.escape(form)}){{e<={edits_allowed(form)}}}")
                for form in forms
            ]
            for key, forms in self._forms.items()
        }

    @property
    def any(self) -> bool:
        """Whether there is anything to search for."""
        return any(self._forms.values())

    @property
    def longest(self) -> int:
        return max((len(f) for forms in self._forms.values() for f in forms), default=0)

    def fuzzy_in_compact(self, haystack: str) -> bool:
        """Whether an already :func:`compact` ``haystack`` holds any string, OCR-tolerantly."""
        return any(p.search(haystack) for patterns in self._fuzzy.values() for p in patterns)

    def needles_of(self, key: K) -> list[str]:
        return list(self._forms.get(key, []))

    @property
    def unsearchable(self) -> list[K]:
        """Keys none of whose strings can be searched for (all too short)."""
        return [key for key, forms in self._forms.items() if not forms]

    def in_text(self, text: str) -> list[K]:
        """The keys with a string in ``text``, in the mapping's order."""
        haystack = compact(text)
        return self._in(haystack)

    def _in(self, haystack: str) -> list[K]:
        return [key for key, forms in self._forms.items() if any(f in haystack for f in forms)]

    def fuzzy_in(self, text: str) -> list[K]:
        """The keys with a string in ``text`` within the edit distance OCR is allowed."""
        haystack = compact(text)
        return [
            key
            for key, patterns in self._fuzzy.items()
            if any(pattern.search(haystack) for pattern in patterns)
        ]

    def in_samples(self, data: bytes) -> list[K]:
        """A quick search of bulk binary data (image samples, a whole file): ``data`` folded a
        byte at a time (Latin-1 case and accents, separators and NUL dropped) and searched for the
        strings folded the same way. Runs at memory speed; it does not read UTF-8 or look-alikes,
        which :meth:`in_bytes` does for everything that is not bulk data."""
        haystack = _byte_fold(data)
        return [key for key, forms in self._samples.items() if any(f in haystack for f in forms)]

    def in_bytes(self, data: bytes) -> list[K]:
        """The keys with a string in ``data`` read in any of the encodings text hides in."""
        found: dict[K, None] = {}
        for text in decodings(data):
            for key in self._in(compact(text)):
                found.setdefault(key)
        return [key for key in self._forms if key in found]


def decodings(data: bytes) -> Iterable[str]:
    """``data`` as Latin-1, as UTF-8 (undecodable bytes dropped, so a stray 0xAD cannot split a
    name), and as UTF-16 big- and little-endian from both the first and the second byte."""
    yield data.decode("latin-1")
    yield data.decode("utf-8", errors="ignore")
    if len(data) >= 2:
        for encoding in _ENCODINGS[2:]:
            for start in (0, 1):
                chunk = data[start : start + (len(data) - start) // 2 * 2]
                yield chunk.decode(encoding, errors="ignore")


def find_leaks(
    extracted: str, strings: Mapping[K, Sequence[str]], *, min_length: int = 4
) -> list[K]:
    """The keys of ``strings`` (one per redaction) whose strings still appear in ``extracted``,
    in the mapping's order. Keys whose strings are all too short to search are not reported:
    callers find them with :func:`needles` (or ``Needles.unsearchable``) and report them apart.
    """
    return Needles(strings, min_length=min_length).in_text(extracted)
