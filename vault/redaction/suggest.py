"""Proposals for what to redact in a document's text: where the source's names occur, and the
contact details and identity numbers that patterns can find.

Nothing here decides. Every :class:`Suggestion` is a proposal that an editor approves, rejects
or recategorises; a missed detail is still the editor's to catch, so the patterns aim at what
is common in English and Mexican Spanish newsroom material (see each detector for its limits).

Categories: occurrences of the source's recorded names and aliases are ``source-identity``;
every pattern hit is ``other``, because a pattern cannot tell the source's phone number from a
ministry's switchboard. A pattern hit that overlaps one of the source's names (the name inside
``marisol.quintero@...``) is promoted to ``source-identity``.

Names are matched whole, as recorded, with :func:`vault.redaction.match.find_terms` (any case,
accents or line breaks): "Marisol Quintero" does not propose "Quintero" alone. Editors add
partial names or nicknames as aliases or term redactions.

Overlaps: of two suggestions that overlap, the longer wins (it hides more); at equal length a
source name wins, then the recogniser that ran first (names, then :data:`DEFAULT_DETECTORS` in
order, then the caller's ``recognisers``), then the earlier start.

Every pattern is linear in the text: each can start only at a word boundary (a lookbehind) and
repetitions are bounded or possessive, so no input makes the regular expressions backtrack
catastrophically.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from vault.redaction.match import find_terms
from vault.redaction.model import Category

__all__ = ["DEFAULT_DETECTORS", "Recogniser", "Suggestion", "suggest"]


@dataclass(frozen=True)
class Suggestion:
    """A proposal to redact ``[start, end)`` (code points) of a document's text.

    ``reason`` says what was recognised: ``email``, ``phone``, ``url``, ``handle``,
    ``id-number``, ``source-name`` (or a plug-in recogniser's own word). ``text`` is the
    original text of the range; callers decide whether to show it.
    """

    start: int
    end: int
    category: Category
    reason: str
    text: str

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError("a suggestion needs 0 <= start < end")


class Recogniser(Protocol):
    """Anything that proposes redactions in a text: the pattern detectors here, or later a
    named-entity recogniser. ``name`` identifies it in errors and logs."""

    @property
    def name(self) -> str: ...

    def __call__(self, text: str) -> Iterable[Suggestion]: ...


def suggest(
    text: str, *, names: Sequence[str] = (), recognisers: Sequence[Recogniser] = ()
) -> list[Suggestion]:
    """Proposed redactions for ``text``, sorted by start and never overlapping.

    ``names`` are the recorded names and aliases of the document's source (blank ones are
    ignored); ``recognisers`` run after the default detectors. Raises ``ValueError`` if a
    recogniser returns a suggestion outside the text or whose ``text`` is not that range's.
    """
    candidates: list[Suggestion] = []
    visible = [name for name in names if name.strip()]
    for ranges in find_terms(text, visible) if visible else []:
        candidates.extend(
            Suggestion(start, end, Category.SOURCE_IDENTITY, "source-name", text[start:end])
            for start, end in ranges
        )
    ranks = [0] * len(candidates)
    for rank, recogniser in enumerate((*DEFAULT_DETECTORS, *recognisers), start=1):
        for found in recogniser(text):
            if found.end > len(text) or text[found.start : found.end] != found.text:
                raise ValueError(f"recogniser {recogniser.name!r} returned a bad suggestion")
            candidates.append(found)
            ranks.append(rank)
    return _resolve(candidates, ranks)


def _resolve(candidates: list[Suggestion], ranks: list[int]) -> list[Suggestion]:
    """Keep the winners of every overlap (see the module docstring), sorted by start."""
    order = sorted(
        range(len(candidates)),
        key=lambda i: (
            candidates[i].start - candidates[i].end,  # longest first
            candidates[i].category is not Category.SOURCE_IDENTITY,
            ranks[i],
            candidates[i].start,
        ),
    )
    starts: list[int] = []  # kept suggestions never overlap, so sorted by start is sorted by end
    kept: list[Suggestion] = []
    for i in order:
        candidate = candidates[i]
        hits = _overlapping(starts, kept, candidate)
        if not hits:
            at = bisect_right(starts, candidate.start)
            starts.insert(at, candidate.start)
            kept.insert(at, candidate)
        elif candidate.category is Category.SOURCE_IDENTITY:
            for at in hits:
                kept[at] = replace(kept[at], category=Category.SOURCE_IDENTITY)
    return kept


def _overlapping(starts: list[int], kept: list[Suggestion], candidate: Suggestion) -> list[int]:
    at = bisect_right(starts, candidate.end - 1)  # kept[:at] start before the candidate ends
    hits = []
    while at > 0 and kept[at - 1].end > candidate.start:
        at -= 1
        hits.append(at)
    return hits


# --- the pattern detectors -----------------------------------------------------------------


def _whole(match: re.Match[str]) -> int | None:
    return match.end()


@dataclass(frozen=True)
class _Detector:
    """A regular expression, and a check that accepts a match, trims it, or rejects it
    (``accept`` returns the end of the accepted text, or ``None``)."""

    name: str
    reason: str
    pattern: re.Pattern[str]
    accept: Callable[[re.Match[str]], int | None] = _whole

    def __call__(self, text: str) -> Iterable[Suggestion]:
        for match in self.pattern.finditer(text):
            end = self.accept(match)
            if end is not None and end > match.start():
                start = match.start()
                yield Suggestion(start, end, Category.OTHER, self.reason, text[start:end])


# A number starts where no word, sign or currency precedes it and no other number is glued to it
# by punctuation ("3.1415926535", "1,234,567"); it ends likewise.
_NUMBER_START = r"(?<![\w+$\u20ac\u00a3\u00a5])(?<!\d[.,/:\-])"
_NUMBER_END = r"(?!\w)(?![.,/:\-]\d)"
_SEP = r"[ \u00a0.\-]?"

# Ten digits as Mexican numbers are written since 2019 (2- or 3-digit area code, then 8 or 7
# digits), which also covers US numbers: "55 1234 5678", "(55) 1234-5678", "33-1234-5678",
# "5512345678", "(555) 010-4477". 044/045 (mobile) and 01 (long distance) are older prefixes.
_NATIONAL = (
    r"(?:(?:04[45]|01)~)?(?:\(\d{2}\)~\d{4}|\d{2}~\d{4}|\(\d{3}\)~\d{3}|\d{3}~\d{3})~\d{4}"
).replace("~", _SEP)
# "+" and a country code, then digit groups; the digit count is checked by _phone_end.
_INTERNATIONAL = r"\+\d{1,3}(?:~\(\d{1,4}\))?(?:~\d{1,4}+){1,6}+".replace("~", _SEP)
_DIGITS = re.compile(r"\d+")


def _phone_end(match: re.Match[str]) -> int | None:
    """National forms have ten digits by construction; an international one is cut back to the
    last digit group that keeps it within E.164's 15 digits (it may have run into a year)."""
    if not match.group().startswith("+"):
        return match.end()
    count = 0
    end = None
    for group in _DIGITS.finditer(match.group()):
        count += len(group.group())
        if count > 15:
            break
        if count >= 8:
            end = match.start() + group.end()
    return end


def _email_end(match: re.Match[str]) -> int | None:
    top = match.group().rpartition(".")[2]
    return match.end() if len(top) >= 2 and top.isalpha() else None


_URL_TRAILING = ".,;:!?'\"\u00bb\u201d\u2019\u2026"
_URL_CLOSERS = {")": "(", "]": "[", "}": "{"}
_SCHEME = re.compile(r"https?://|www\.", re.IGNORECASE)


def _url_end(match: re.Match[str]) -> int | None:
    """Trailing punctuation belongs to the sentence, and a closing bracket too unless the URL
    opened it ("https://es.wikipedia.org/wiki/Ciudad_(desambiguación)")."""
    url = match.group()
    while url:
        last = url[-1]
        if last in _URL_TRAILING:
            url = url[:-1]
        elif last in _URL_CLOSERS and url.count(last) > url.count(_URL_CLOSERS[last]):
            url = url[:-1]
        else:
            break
    scheme = _SCHEME.match(url)
    if scheme is None or len(url) == scheme.end():
        return None
    return match.start() + len(url)


_TIME = re.compile(r"\d{1,2}(?:[:.h]\d{2})?(?:[ap]m|h|hrs)?", re.IGNORECASE)


def _handle_end(match: re.Match[str]) -> int | None:
    """Not "@5pm" or "@10:30", not "@2024"; a trailing full stop ends the sentence."""
    handle = match.group()
    if "@" not in handle[1:]:
        handle = handle.rstrip(".")
    body = handle[1:].partition("@")[0]
    if _TIME.fullmatch(body) or body.replace(".", "").isdigit():
        return None
    return match.start() + len(handle)


def _dated(offset: int) -> Callable[[re.Match[str]], int | None]:
    """Accept an identity number whose digits at ``offset`` (from the end if negative) are a
    plausible YYMMDD date, as in CURP, RFC and INE keys."""

    def accept(match: re.Match[str]) -> int | None:
        date = match.group()[offset : offset + 6 or None]
        month, day = int(date[2:4]), int(date[4:6])
        return match.end() if 1 <= month <= 12 and 1 <= day <= 31 else None

    return accept


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card_end(match: re.Match[str]) -> int | None:
    digits = "".join(c for c in match.group() if c.isdigit())
    return match.end() if 13 <= len(digits) <= 19 and _luhn(digits) else None


def _iban_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)  # ISO 13616: A=10 ... Z=35
    return int(number) % 97 == 1


def _iban_end(match: re.Match[str]) -> int | None:
    """The longest prefix, ending at a group boundary, that is a valid IBAN: the pattern may
    have run on into a following word in capitals ("... 1332 EN EFECTIVO")."""
    text, candidate = match.string, match.group()
    ends = [i for i, c in enumerate(candidate) if c == " "] + [len(candidate)]
    for end in reversed(ends):
        compact = candidate[:end].replace(" ", "")
        after = match.start() + end
        if after < len(text) and text[after].isalnum():
            continue
        if 15 <= len(compact) <= 34 and _iban_valid(compact):
            return after
    return None


def _detector(
    name: str,
    reason: str,
    pattern: str,
    accept: Callable[[re.Match[str]], int | None] = _whole,
    flags: re.RegexFlag = re.NOFLAG,
) -> _Detector:
    return _Detector(name, reason, re.compile(pattern, flags), accept)


_ID = "id-number"
DEFAULT_DETECTORS: tuple[Recogniser, ...] = (
    _detector(
        "email",
        "email",
        r"(?<![\w.%+\-])[\w.%+\-]+@[^\W_][\w\-]*+(?:\.[^\W_][\w\-]*+)+",
        _email_end,
    ),
    _detector("url", "url", r"(?<![\w@.])(?:https?://|www\.)[^\s<>\"]*+", _url_end, re.I),
    # "@marisol_qv", and the fediverse's "@marisol@periodistas.social"; not "ana@example.org".
    _detector(
        "handle",
        "handle",
        r"(?<![\w@./+\-])@[A-Za-z0-9_][A-Za-z0-9_.]*+(?:@[^\W_][\w\-]*+(?:\.[^\W_][\w\-]*+)+)?",
        _handle_end,
    ),
    _detector(
        "phone",
        "phone",
        _NUMBER_START + f"(?:{_INTERNATIONAL}|{_NATIONAL})" + _NUMBER_END,
        _phone_end,
    ),
    # Mexican CURP (18), RFC (12 or 13) and INE clave de elector (18), each with a birth date.
    _detector("curp", _ID, r"(?<!\w)[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d(?!\w)", _dated(4), re.I),
    _detector("rfc", _ID, r"(?<![\w&])[A-Z\u00d1&]{3,4}\d{6}[A-Z0-9]{3}(?!\w)", _dated(-9), re.I),
    _detector("ine", _ID, r"(?<!\w)[A-Z]{6}\d{8}[HMX]\d{3}(?!\w)", _dated(6), re.I),
    _detector("iban", _ID, r"(?<!\w)[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}+", _iban_end),
    # 13 to 19 digits, run together or in the groups cards print (4-4-4-4, Amex's 4-6-5).
    _detector(
        "card",
        _ID,
        _NUMBER_START
        + r"(?:\d{13,19}"
        + r"|\d{4}(?P<s>[ \-])\d{4}(?P=s)\d{4}(?P=s)\d{1,4}(?:(?P=s)\d{1,3})?"
        + r"|\d{4}(?P<t>[ \-])\d{6}(?P=t)\d{4,5})"
        + _NUMBER_END,
        _card_end,
    ),
    _detector("ssn", _ID, r"(?<![\w\-])\d{3}-\d{2}-\d{4}(?![\w\-])"),
    _detector("passport", _ID, r"(?<!\w)[A-Z]\d{8}(?!\w)", flags=re.I),
    # Anything else with nine or more digits in a row: accounts (CLABE), policy numbers, ...
    _detector("digits", _ID, r"(?<!\d)(?<!\d[.,])\d{9,}+"),
)
