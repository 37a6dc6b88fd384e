"""The fail-closed check on an export: does any redacted string still appear in it?

After an export is produced, an independent extractor reads its text back (``pdftotext`` for a
PDF, the bytes themselves for plain text) and :func:`find_leaks` looks in that text for every
string each redaction removed. Extractors mangle text: they insert or drop spaces ("Mari sol",
"MarisolQuintero"), split ligatures, hyphenate at line ends ("Quin-\\ntero") and turn accents into
separate marks. So the search is deliberately loose, erring towards reporting a leak:

* both sides are folded as for term matching (:func:`vault.redaction.match.normalise`: case,
  accents, ligatures, invisible characters);
* then every whitespace and every dash (Unicode category ``Pd``) is removed from both sides, which
  undoes extractor spacing and line-end hyphenation alike; a string found in the folded form is
  always found in this one too, so this one comparison covers both;
* the test is a plain substring search with no word boundaries: "Quintero" inside
  "Quinteros" counts.

Strings whose searched form is shorter than ``min_length`` characters are skipped: "Ana" or
"55" occur by chance in any long text, and a check that always fails is no check. Callers must
report such strings (see :func:`needles`) instead of treating them as verified.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from vault.redaction.match import fold

__all__ = ["find_leaks", "needles"]

K = TypeVar("K", bound=Hashable)


def needles(strings: Iterable[str], *, min_length: int = 4) -> list[str]:
    """The forms of ``strings`` that :func:`find_leaks` searches for: folded, with whitespace and
    dashes removed, without duplicates, in first-seen order.

    A string whose form is shorter than ``min_length`` characters is left out; an empty result
    for a redaction's strings means that redaction cannot be verified by search.
    """
    if min_length < 1:
        raise ValueError("min_length must be at least 1")
    found: dict[str, None] = {}  # a dict keeps first-seen order
    for string in strings:
        form = _compact(string)
        if len(form) >= min_length:
            found.setdefault(form)
    return list(found)


def find_leaks(
    extracted: str, strings: Mapping[K, Sequence[str]], *, min_length: int = 4
) -> list[K]:
    """The keys of ``strings`` (one per redaction) whose strings still appear in ``extracted``,
    in the mapping's order.

    A key is reported if any one of its strings is found. Keys whose strings are all too short to
    search are not reported: callers find them with :func:`needles` and report them apart.
    """
    haystack = _compact(extracted)
    return [
        key
        for key, removed in strings.items()
        if any(needle in haystack for needle in needles(removed, min_length=min_length))
    ]


def _compact(text: str) -> str:
    return "".join(c for c in fold(text) if c != " " and unicodedata.category(c) != "Pd")
