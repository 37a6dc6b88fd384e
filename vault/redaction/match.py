"""Finding a term in a document's text the way a reader sees it: whatever the case, the accents
and the line breaks.

A redaction by term must catch every spelling a reader would take for the same words: "Pérez",
"PEREZ", "Pe\\u0301rez" (the accent as a separate combining mark) and a name broken over two
lines. Matching therefore runs on a *folded* copy of the text (:func:`normalise`) that remembers,
for each folded character, the code point of the original it came from, so that every match maps
back to an exact ``[start, end)`` of the original.

Folding, character by character: NFKD decomposition (so "ﬁ" becomes "fi" and a full-width
letter its ASCII form), nonspacing and enclosing marks dropped (accents), case folded ("ß"
becomes "ss"), format characters dropped (soft hyphens, zero-width spaces, byte order marks:
invisible to a reader, so they must not hide a name from the search), and every run of
whitespace collapsed to one space. Then look-alikes: each remaining character is replaced by its
Unicode TR39 confusable *skeleton* (ICU's ``SpoofChecker``), so that "Marisol" typed with
Cyrillic Em and O (U+041C, U+043E), a mathematical bold M (U+1D40C), or "0" for "o" fold like
the Latin letters a reader takes them for, and the result is folded again until it no longer
changes (a skeleton can be an upper-case or accented letter). For ASCII, case folding runs
before the skeleton: TR39 maps capital "I" to "l", which would stop "IVÁN" from matching
"iván"; the leak check (``leaks``) closes that gap from the other side by also treating "i" and
"l" alike.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import icu

__all__ = ["find_term", "find_terms", "fold", "merge", "normalise"]

# Nonspacing marks (accents), enclosing marks and format characters: they change no letter a
# reader would read, so folding drops them.
_INVISIBLE = frozenset({"Mn", "Me", "Cf"})
_SPACE_RUNS = re.compile(" {2,}")
# ICU's implementation of the TR39 skeleton, with Unicode's own confusables data: the mapping is
# large and revised with every Unicode release, so it is not ours to maintain by hand.
_SPOOF = icu.SpoofChecker()
_FOLD_ROUNDS = 4  # a skeleton of a skeleton settles after one or two rounds in practice


@lru_cache(maxsize=16384)
def _fold(char: str) -> str:
    """The folded form of one code point: empty for invisible ones, ``" "`` for whitespace."""
    # A non-ASCII character takes its skeleton before case folding, while the case still tells
    # Cyrillic capital Em (a Latin M's look-alike) from small em (which looks like no Latin letter);
    # ASCII letters fold case first, so that capital "I" stays "i" (see the module's notes).
    folded = _plain(char if char.isascii() else _skeleton(char))
    for _ in range(_FOLD_ROUNDS):
        again = "".join(map(_plain, _skeleton(folded)))
        if again == folded:
            break
        folded = again
    return folded


def _skeleton(text: str) -> str:
    # The skeleton of each character on its own: a match must map back to whole code points.
    return "".join(c if c == " " else _SPOOF.getSkeleton(0, c) for c in text)


@lru_cache(maxsize=16384)
def _plain(char: str) -> str:
    """Case, compatibility forms and accents folded; invisible characters dropped."""
    if char.isspace():
        return " "
    folded = []
    for part in unicodedata.normalize("NFKD", char):
        if unicodedata.category(part) in _INVISIBLE:
            continue
        # Case folding can produce decomposable or combining characters ("İ" folds to "i" and a
        # combining dot), so the result is decomposed and stripped once more.
        for piece in unicodedata.normalize("NFKD", part.casefold()):
            if piece.isspace():
                folded.append(" ")  # NFKD turns a few symbols into a space and a mark ("¨")
            elif unicodedata.category(piece) not in _INVISIBLE:
                folded.append(piece)
    return "".join(folded)


def normalise(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` for matching and map each folded character back to its origin.

    Returns the folded string and, for each of its characters, the index (in code points) of the
    character of ``text`` it came from. A character that folds to several ("ß" to "ss") maps all
    of them to the same index; a run of whitespace becomes one space that maps to the run's first
    character; invisible characters (combining accents, soft hyphens) produce nothing.
    """
    chars: list[str] = []
    origin: list[int] = []
    after_space = False
    for index, char in enumerate(text):
        for piece in _fold(char):
            if piece == " ":
                if after_space:
                    continue
                after_space = True
            else:
                after_space = False
            chars.append(piece)
            origin.append(index)
    return "".join(chars), origin


def fold(text: str) -> str:
    """The folded string of :func:`normalise` alone, for callers that compare and need no map
    back to the original (it is cheaper: no index per character)."""
    return _SPACE_RUNS.sub(" ", "".join(map(_fold, text)))


def find_term(text: str, term: str) -> list[tuple[int, int]]:
    """Every occurrence of ``term`` in ``text``, as sorted, non-overlapping ``[start, end)``
    ranges of the original text (leftmost match first).

    The match ignores case, accents and the length and kind of whitespace runs, and the term's
    own leading and trailing whitespace. It respects word boundaries: "Ana" does not match in
    "Banana" or "Anabel" (the folded neighbours must not be ``str.isalnum``). The boundary is
    checked only at an end of the term that is itself a letter or digit: "@ana" is found in
    "x@ana" but not in "@anabel". A match never starts or ends inside a character that folds to
    several ("ß"), and its end covers the combining marks and other invisible characters that
    follow its last character.

    Raises ``ValueError`` for a term with nothing visible in it.
    """
    return find_terms(text, [term])[0]


def find_terms(text: str, terms: Sequence[str]) -> list[list[tuple[int, int]]]:
    """:func:`find_term` for several terms, folding ``text`` once; one list of ranges per term."""
    needles = [_fold_term(term) for term in terms]
    folded, origin = normalise(text)
    joined, joined_origin = _dehyphenated(text, folded, origin)
    spaced, spaced_origin = _letters_joined(folded, origin)
    found = []
    for needle in needles:
        ranges = _find(text, folded, origin, needle)
        if joined != folded:
            # A word hyphenated at a line end ("Quin-\ntero") reads as one word; a hyphenated
            # name broken at its own hyphen ("Pérez-\nÁvila") reads as "Pérez-Ávila".
            for variant in dict.fromkeys([needle, _without_dashes(needle)]):
                if variant:
                    ranges += _find(text, joined, joined_origin, variant)
        if spaced != folded and (solid := _without_dashes(needle).replace(" ", "")):
            # Letter-spaced ("M a r i s o l  Q u i n t e r o"): a reader reads the words.
            ranges += _find(text, spaced, spaced_origin, solid)
        found.append(_disjoint(ranges))
    return found


_MIN_SPACED = 4  # single letters in a row before a run counts as letter-spaced
_ALNUM_RUN = re.compile(r"[^\W_]+")


def _letters_joined(folded: str, origin: list[int]) -> tuple[str, list[int]]:
    """``folded`` with the spaces removed inside letter-spaced runs: four or more single
    characters of the original (each may fold to several, "M" to "rn"), each a letter or digit,
    separated by single spaces."""
    # [start, end) of each run of letters and digits in folded
    tokens = [m.span() for m in _ALNUM_RUN.finditer(folded)]

    def single(token: tuple[int, int]) -> bool:
        a, b = token
        return len({origin[i] for i in range(a, b)}) == 1

    drop: set[int] = set()
    run: list[tuple[int, int]] = []
    for token in [*tokens, (-1, -1)]:
        follows = run and token[0] == run[-1][1] + 1 and folded[run[-1][1]] == " "
        if token[0] >= 0 and single(token) and (not run or follows):
            run.append(token)
            continue
        if len(run) >= _MIN_SPACED:
            drop.update(t[1] for t in run[:-1])  # the space after each but the last
        run = [token] if token[0] >= 0 and single(token) else []
    if not drop:
        return folded, origin
    chars = [c for i, c in enumerate(folded) if i not in drop]
    return "".join(chars), [o for i, o in enumerate(origin) if i not in drop]


def _disjoint(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges sorted, each dropped that overlaps one kept before it (touching is fine:
    "::" holds two matches of ":")."""
    kept: list[tuple[int, int]] = []
    for start, end in sorted(dict.fromkeys(ranges)):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


def _without_dashes(needle: str) -> str:
    return "".join(c for c in needle if unicodedata.category(c) != "Pd")


def _dehyphenated(text: str, folded: str, origin: list[int]) -> tuple[str, list[int]]:
    """``folded`` without each dash that ends a line inside a word, and the line break after it:
    a letter, a dash, whitespace with a line break in it, a letter."""
    keep = [True] * len(folded)
    for i in range(1, len(folded) - 2):
        if (
            unicodedata.category(folded[i]) == "Pd"
            and folded[i - 1].isalnum()
            and folded[i + 1] == " "
            and folded[i + 2].isalnum()
            and _breaks_line(text, origin[i + 1], origin[i + 2])
        ):
            keep[i] = keep[i + 1] = False
    if all(keep):
        return folded, origin
    chars = [c for c, k in zip(folded, keep, strict=True) if k]
    return "".join(chars), [o for o, k in zip(origin, keep, strict=True) if k]


def _breaks_line(text: str, start: int, end: int) -> bool:
    return any(c in "\n\r\f\v\u2028\u2029\x85" for c in text[start:end])


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort ``[start, end)`` ranges and merge those that overlap or touch; empty ones vanish.

    Raises ``ValueError`` for a range with a negative start or an end before its start.
    """
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if start < 0 or end < start:
            raise ValueError("a range needs 0 <= start <= end")
        if start == end:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _fold_term(term: str) -> str:
    needle = normalise(term)[0].strip(" ")
    if not needle:
        raise ValueError("a term needs at least one visible character")
    return needle


def _find(text: str, folded: str, origin: list[int], needle: str) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    bound_left = needle[0].isalnum()
    bound_right = needle[-1].isalnum()
    start = folded.find(needle)
    while start != -1:
        end = start + len(needle)
        if _whole(folded, origin, start, end, bound_left=bound_left, bound_right=bound_right):
            ranges.append((origin[start], _past_invisible(text, origin[end - 1] + 1)))
            start = folded.find(needle, end)
        else:
            start = folded.find(needle, start + 1)
    return ranges


def _whole(
    folded: str, origin: list[int], start: int, end: int, *, bound_left: bool, bound_right: bool
) -> bool:
    """Whether ``folded[start:end]`` covers whole original characters and whole words."""
    if start > 0:
        if origin[start - 1] == origin[start]:  # starts inside the expansion of one character
            return False
        if bound_left and folded[start - 1].isalnum():
            return False
    if end < len(folded):
        if origin[end] == origin[end - 1]:
            return False
        if bound_right and folded[end].isalnum():
            return False
    return True


def _past_invisible(text: str, end: int) -> int:
    # A combining accent after the last matched letter belongs to it: leaving it outside the
    # range would leave a stray accent in the export, hinting at the hidden letter.
    while end < len(text) and not _fold(text[end]):
        end += 1
    return end
