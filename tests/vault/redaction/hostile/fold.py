# ruff: noqa: RUF001 - the look-alike table is made of ambiguous characters on purpose
"""How the oracle compares text with the redacted terms. Written apart from the product's own
matching on purpose: if both shared a bug, the product's tests could not notice it.

Both sides are folded: NFKD (fullwidth and mathematical letters become ASCII), look-alike
Cyrillic and Greek letters become Latin (a table kept here), casefold, combining marks,
whitespace, dashes and invisible format characters (soft hyphen, zero-width joiners) dropped.
A term is searched whole and, separately, by each of its words of five letters or more, so a
surname on its own is found too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

import regex

# Letters that look like Latin ones. Keyed on the original case, because Greek capital Nu
# looks like N while small nu looks like v; applied after NFKD and before casefolding.
LOOKALIKES = {
    # Cyrillic capitals and smalls
    "А": "A", "а": "a", "В": "B", "в": "b", "Е": "E", "е": "e", "К": "K", "к": "k",
    "М": "M", "м": "m", "Н": "H", "н": "h", "О": "O", "о": "o", "Р": "P", "р": "p",
    "С": "C", "с": "c", "Т": "T", "т": "t", "У": "Y", "у": "y", "Х": "X", "х": "x",
    "І": "I", "і": "i", "Ј": "J", "ј": "j", "Ѕ": "S", "ѕ": "s", "Ԛ": "Q", "ԛ": "q",
    "Ԝ": "W", "ԝ": "w", "Ӏ": "I", "ӏ": "l", "Ү": "Y", "ү": "y", "Һ": "h", "һ": "h",
    # Greek capitals and smalls
    "Α": "A", "α": "a", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "ι": "i",
    "Κ": "K", "κ": "k", "ε": "e", "Μ": "M", "Ν": "N", "ν": "v", "Ο": "O", "ο": "o", "Ρ": "P",
    "ρ": "p", "Τ": "T", "Υ": "Y", "υ": "u", "Χ": "X", "χ": "x", "ϲ": "c", "ϳ": "j",
    # Latin letters that only look like plain ones
    "ı": "i", "ɑ": "a", "ɡ": "g", "ȷ": "j", "ℓ": "l", "ſ": "s",
}  # fmt: skip
_TABLE = str.maketrans(LOOKALIKES)
# Marks, separators, whitespace, dashes, format characters (U+00AD, U+200B..U+200D, BOM).
_DROP = regex.compile(r"[\p{M}\p{Z}\s\p{Pd}\p{Cf}]+")
_SEPARATORS = r"[\p{M}\p{Z}\s\p{Pd}\p{Cf}]*"
_WORD = regex.compile(r"[\s\p{Pd}]+")
ENCODINGS = ("latin-1", "utf-8", "utf-16-be", "utf-16-le")


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).translate(_TABLE).casefold()
    return str(_DROP.sub("", text))


def needles(terms: Iterable[str]) -> list[str]:
    """Folded search strings: each term, then each of its words of 5 letters or more."""
    out: list[str] = []
    for term in terms:
        words = [fold(word) for word in _WORD.split(term)]
        for needle in [fold(term), *(w for w in words if len(w) >= 5)]:
            if needle and needle not in out:
                out.append(needle)
    return out


def decodings(data: bytes) -> Iterable[tuple[str, str]]:
    """``data`` read in every encoding the oracle knows, UTF-16 at both byte alignments
    (a stray leading byte must not hide a UTF-16 name)."""
    for encoding in ENCODINGS:
        yield encoding, data.decode(encoding, errors="replace")
        if encoding.startswith("utf-16"):
            yield encoding + "@1", data[1:].decode(encoding, errors="replace")


def _letter(char: str) -> str:
    """A regex class of every character that folds to ``char`` (itself, its capital, and
    the look-alikes that map to either)."""
    chars = {char, *(c for c in (char.upper(),) if len(c) == 1)}
    chars |= {key for key, value in LOOKALIKES.items() if value.casefold() == char}
    return "[" + "".join(regex.escape(c) for c in sorted(chars)) + "]"


def _pattern(needle: str) -> str:
    """``needle`` as a pattern over NFKD text: what ``fold`` would turn into ``needle``.
    Matching this way avoids folding megabytes of decoded binary data character by
    character, which is what makes the byte searches affordable."""
    return _SEPARATORS.join(_letter(char) for char in needle)


class Matcher:
    def __init__(self, terms: Sequence[str]) -> None:
        self.needles = needles(terms)
        if not self.needles:
            raise ValueError("no searchable term")
        self._exact = [regex.compile(_pattern(n)) for n in self.needles]
        self._any = regex.compile("|".join(f"(?:{_pattern(n)})" for n in self.needles))
        # Fuzzy patterns for OCR output: 1 edit from 6 letters, 2 edits from 12.
        self._fuzzy = [
            regex.compile(
                f"(?:{regex.escape(n)}){{e<={2 if len(n) >= 12 else 1 if len(n) >= 6 else 0}}}"
            )
            for n in self.needles
        ]

    def text(self, text: str) -> str | None:
        """The first needle found in ``text`` (exactly, after folding), or None."""
        normalized = unicodedata.normalize("NFKD", text)
        if not self._any.search(normalized):
            return None
        return next(
            n for n, p in zip(self.needles, self._exact, strict=True) if p.search(normalized)
        )

    def ocr(self, text: str) -> str | None:
        """Like ``text`` but tolerant of OCR misreadings."""
        folded = fold(text)
        for needle, pattern in zip(self.needles, self._fuzzy, strict=True):
            if pattern.search(folded):
                return needle
        return None

    def data(self, data: bytes) -> list[str]:
        """``encoding:needle`` for each encoding in which ``data`` holds a needle."""
        if not data:
            return []
        hits = []
        for encoding, text in decodings(data):
            needle = self.text(text)
            if needle is not None:
                hits.append(f"{encoding}:{needle}")
        return hits
