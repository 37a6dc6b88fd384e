"""Term matching (``vault.redaction.match``): any case, accents and whitespace, whole words, and
ranges that map back exactly to the original text."""

from __future__ import annotations

import unicodedata
from itertools import pairwise

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vault.redaction.match import find_term, find_terms, fold, merge, normalise


def test_normalise_folds_and_maps_each_character_to_its_origin() -> None:
    assert normalise("Pe\u0301rez") == ("perez", [0, 1, 3, 4, 5])
    assert normalise("PÉREZ") == ("perez", [0, 1, 2, 3, 4])


def test_expansions_map_every_folded_character_to_the_same_origin() -> None:
    # "M" folds to its TR39 skeleton "rn": two folded characters, one origin.
    assert normalise("Maß") == ("rnass", [0, 0, 1, 2, 2])
    assert normalise("\ufb01n") == ("fin", [0, 0, 1])  # the "fi" ligature


def test_whitespace_runs_collapse_to_one_space_at_the_first_of_the_run() -> None:
    assert normalise("a \u00a0\n\f\u2003b") == ("a b", [0, 1, 6])
    assert normalise("a\r\nb") == ("a b", [0, 1, 3])


def test_invisible_characters_fold_to_nothing() -> None:
    # Soft hyphen, zero-width space, byte order mark: nothing a reader sees.
    assert normalise("Quin\u00adte\u200bro\ufeff")[0] == "quintero"


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        ("Dijo PEREZ, no Pérez ni pérez.", "Pérez", ["PEREZ", "Pérez", "pérez"]),
        ("la señora Pe\u0301rez", "Perez", ["Pe\u0301rez"]),
        ("Marisol  Quintero", "Marisol Quintero", ["Marisol  Quintero"]),
        ("Marisol\nQuintero", "marisol quintero", ["Marisol\nQuintero"]),
        ("Marisol\u00a0\r\n Quintero", "Marisol Quintero", ["Marisol\u00a0\r\n Quintero"]),
        ("Ana, (Ana) y ANA.", "  Ana \n", ["Ana", "Ana", "ANA"]),
        ("Banana, Anabel, Mariana", "Ana", []),
        ("Ana_Robles", "Ana", ["Ana"]),  # "_" is not alphanumeric: a boundary
        ("escribe a x@marisol_qv o @marisol_qv2", "@marisol_qv", ["@marisol_qv"]),
        ("llama al +52 55 1234 o +52 551", "+52 55", ["+52 55"]),
        ("Straße und STRASSE", "strasse", ["Straße", "STRASSE"]),
        ("Jose\u0301 Jose\u0301\u0327!", "jose", ["Jose\u0301", "Jose\u0301\u0327"]),
        ("el \ufb01n, La Fin, \ufb01nca", "fin", ["\ufb01n", "Fin"]),
        ("aa aa aa", "aa aa", ["aa aa"]),  # leftmost first, never overlapping
    ],
)
def test_find_term(text: str, term: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in find_term(text, term)] == expected


def test_a_match_never_splits_a_character_that_folds_to_several() -> None:
    assert find_term("Maß", "mas") == []
    assert find_term("\u00bd", "1") == []  # "½" folds to "1", a fraction slash, "2"


@pytest.mark.parametrize("term", ["", "   ", "\n\t", "\u0301", "\u00ad"])
def test_a_term_with_nothing_visible_is_refused(term: str) -> None:
    with pytest.raises(ValueError, match="visible"):
        find_term("anything", term)


def test_find_terms_folds_once_and_agrees_with_find_term() -> None:
    text = "Marisol Quintero, Mari y QUINTERO"
    terms = ["Quintero", "Mari", "Marisol Quintero"]
    assert find_terms(text, terms) == [find_term(text, t) for t in terms]
    assert find_terms(text, []) == []


def test_merge_sorts_and_joins_overlapping_and_touching_ranges() -> None:
    assert merge([(5, 7), (1, 3), (3, 4), (6, 9), (12, 12)]) == [(1, 4), (5, 9)]
    assert merge([]) == []


@pytest.mark.parametrize("bad", [(3, 2), (-1, 2)])
def test_merge_refuses_malformed_ranges(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="range"):
        merge([bad])


# --- properties ---------------------------------------------------------------------------

INTERESTING = [
    *"aAeEéÉnñÑoO \n\t.-@+1_",
    "\u0301",  # combining acute
    "\u0327",  # combining cedilla
    "\u00a0",  # no-break space
    "\u2003",  # em space
    "\u00ad",  # soft hyphen
    "\u200b",  # zero-width space
    "ß",
    "\ufb01",  # "fi" ligature
    "\u00bd",  # one half
    "\u0130",  # capital I with dot above
    "\u00a8",  # diaeresis, which NFKD turns into a space and a mark
]
chars = st.one_of(st.sampled_from(INTERESTING), st.characters(codec="utf-8"))
texts = st.text(chars, max_size=60)
terms = st.text(chars, min_size=1, max_size=8)


def _joined(folded: str) -> str:
    return "".join(c for c in folded if unicodedata.category(c) != "Pd" and c != " ")


def _folded_term(term: str) -> str:
    folded = normalise(term)[0].strip(" ")
    assume(folded)
    return folded


@settings(max_examples=300, deadline=None)
@given(text=texts, term=terms)
def test_every_range_maps_back_to_the_term(text: str, term: str) -> None:
    needle = _folded_term(term)
    ranges = find_term(text + term + text, term)
    for start, end in ranges:
        folded = normalise((text + term + text)[start:end])[0]
        # Or a word hyphenated at a line end, which reads as one word.
        assert folded == needle or _joined(folded) in (needle, _joined(needle.replace(" ", "")))
    assert ranges == sorted(ranges)
    assert all(a[1] <= b[0] for a, b in pairwise(ranges))


@settings(max_examples=300, deadline=None)
@given(before=texts, term=terms, after=texts)
def test_a_term_between_spaces_is_always_found(before: str, term: str, after: str) -> None:
    _folded_term(term)
    text = f"{before} {term} {after}"
    inserted = (len(before) + 1, len(before) + 1 + len(term))
    # Found there, or hidden by an earlier overlapping match (matches never overlap).
    assert any(a < inserted[1] and inserted[0] < b for a, b in find_term(text, term))


@settings(max_examples=300, deadline=None)
@given(text=texts, term=terms)
def test_no_match_inside_a_word(text: str, term: str) -> None:
    needle = _folded_term(term)
    for start, end in find_term(text, term):
        left, right = normalise(text[:start])[0], normalise(text[end:])[0]
        if needle[0].isalnum() and left:
            assert not left[-1].isalnum()
        if needle[-1].isalnum() and right:
            assert not right[0].isalnum()


@settings(max_examples=300, deadline=None)
@given(texts)
def test_fold_is_the_string_half_of_normalise(text: str) -> None:
    folded, origin = normalise(text)
    assert fold(text) == folded
    assert len(origin) == len(folded)
    assert origin == sorted(origin)
    assert all(0 <= i < len(text) for i in origin)


ranges = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 10)).map(lambda p: (p[0], p[0] + p[1])),
    max_size=20,
)


@settings(max_examples=300, deadline=None)
@given(ranges)
def test_merge_is_idempotent_and_covers_the_same_points(
    given_ranges: list[tuple[int, int]],
) -> None:
    merged = merge(given_ranges)
    assert merge(merged) == merged
    assert all(a[1] < b[0] for a, b in pairwise(merged))  # not touching
    points = {p for a, b in given_ranges for p in range(a, b)}
    assert {p for a, b in merged for p in range(a, b)} == points


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        ("con Marisol Quin-\ntero ayer", "Marisol Quintero", ["Marisol Quin-\ntero"]),
        ("la señora Quin-\r\n  tero", "Quintero", ["Quin-\r\n  tero"]),
        ("Ana Pérez-\nÁvila y Pérez-Ávila", "Pérez-Ávila", ["Pérez-\nÁvila", "Pérez-Ávila"]),
        # A dash inside a line is not a line-end hyphenation: "Quin-tero" is another word.
        ("Quin-tero", "Quintero", []),
        ("Quin- tero", "Quintero", []),
    ],
)
def test_a_word_hyphenated_at_a_line_end_is_one_word(
    text: str, term: str, expected: list[str]
) -> None:
    assert [text[a:b] for a, b in find_term(text, term)] == expected


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        (
            "Firma: M a r i s o l   Q u i n t e r o.",
            "Marisol Quintero",
            ["M a r i s o l   Q u i n t e r o"],
        ),
        ("visto por Q U I N T E R O ayer", "Quintero", ["Q U I N T E R O"]),
        # Three letters are not a letter-spaced run, and a run is one word: no match inside it.
        ("A n a", "Ana", []),
        ("B a n a n a", "Ana", []),
    ],
)
def test_a_letter_spaced_word_is_one_word(text: str, term: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in find_term(text, term)] == expected
