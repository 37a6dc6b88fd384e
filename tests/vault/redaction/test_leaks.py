"""The fail-closed leak search (``vault.redaction.leaks``): a redacted string is found again
however an extractor mangled it, and too-short strings are reported as unsearchable."""

from __future__ import annotations

import uuid

import pytest

from vault.redaction.leaks import find_leaks, needles

NAME = "Marisol Quintero"


def test_needles_are_folded_without_whitespace_or_dashes() -> None:
    # Folded to TR39 skeletons ("m" is "rn", "1" is "l"), with "i" and "l" alike.
    assert needles(["Marisol  Quintero", "Pérez-Ávila", "55 1234-5678"]) == [
        "rnarlsolqulntero",
        "perezavlla",
        "55l2345678",
    ]


def test_needles_drop_duplicates_in_first_seen_order() -> None:
    assert needles(["Quintero", "QUINTERO", "Marisol", "quin tero"]) == ["qulntero", "rnarlsol"]


def test_needles_skip_strings_too_short_to_search() -> None:
    assert needles(["Ana", "A n a", "55", " - ", "Luis"]) == ["luls"]
    assert needles(["Ana", "Luis"], min_length=3) == ["ana", "luls"]
    assert needles(["Luis"], min_length=5) == []


def test_min_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_length"):
        needles(["Luis"], min_length=0)


@pytest.mark.parametrize(
    "extracted",
    [
        "la fuente, Marisol Quintero, dijo",
        "MARISOL QUINTERO",
        "Mari sol Quin tero",  # spaces inserted
        "MarisolQuintero",  # spaces dropped
        "Marisol\nQuintero",
        "Marisol Quin-\ntero",  # hyphenated at a line end
        "Marisol Quin-\r\n   tero",
        "Marisol Quin\u2010\ntero",  # a Unicode hyphen
        "Marisol Quin\u00adtero",  # soft hyphen
        "M a r i s o l Q u i n t e r o",  # letters spaced out
        "xxMarisolQuinteroxx",  # no word boundary needed: we fail closed
        "Marisol\u00a0Quintero",
    ],
)
def test_a_mangled_string_is_still_found(extracted: str) -> None:
    assert find_leaks(extracted, {"r1": [NAME]}) == ["r1"]


@pytest.mark.parametrize(
    ("removed", "extracted"),
    [
        ("José Pérez", "JOSE PE\u0301REZ"),  # accents, decomposed by the extractor
        ("Delfina Ruiz", "Del\ufb01na Ruiz"),  # a ligature
        ("Delfina Ruiz", "Del\ufb01-\nna Ruiz"),
        ("55 1234 5678", "Tel. 55-1234-5678"),
        ("marisol.qv@protonmail.com", "MARISOL.QV@PROTONMAIL.COM"),
    ],
)
def test_folding_applies_to_both_sides(removed: str, extracted: str) -> None:
    assert find_leaks(extracted, {"r": [removed]}) == ["r"]


@pytest.mark.parametrize(
    "extracted",
    [
        "",
        "la fuente, [REDACTED], dijo",
        "Marisol [REDACTED]",
        "Marisol Quinteiro",
    ],
)
def test_nothing_is_reported_when_the_string_is_absent(extracted: str) -> None:
    assert find_leaks(extracted, {"r1": [NAME]}) == []


def test_a_key_leaks_if_any_one_of_its_strings_is_found() -> None:
    strings = {"term": ["Quintero", "Marisol Quintero", "QUINTERO"]}
    assert find_leaks("... Quintero ...", strings) == ["term"]


def test_short_strings_are_skipped_even_when_present() -> None:
    # "Ana" appears, but a three-letter search is meaningless; the caller reports it instead.
    strings = {"short": ["Ana"], "long": ["Iztapalapa"]}
    assert find_leaks("Ana vive en Iztapalapa", strings) == ["long"]
    assert find_leaks("Ana vive en Iztapalapa", strings, min_length=3) == ["short", "long"]
    assert [key for key, removed in strings.items() if not needles(removed)] == ["short"]


def test_keys_are_returned_as_given_in_the_mapping_order() -> None:
    first, second, absent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    strings = {second: ["Iztapalapa"], absent: ["Coyoacán"], first: [NAME]}
    assert find_leaks(f"{NAME} en Iztapalapa", strings) == [second, first]
    assert find_leaks("nada", {}) == []
