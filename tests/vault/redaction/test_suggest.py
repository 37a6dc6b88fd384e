"""Redaction proposals (``vault.redaction.suggest``): every detector on what it must find and
what it must leave alone, the source's names, overlaps, plug-in recognisers and running time.
All people, numbers and addresses here are invented."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import pytest

from vault.redaction.model import Category
from vault.redaction.suggest import DEFAULT_DETECTORS, Recogniser, Suggestion, suggest

SOURCE = Category.SOURCE_IDENTITY
OTHER = Category.OTHER


def found(text: str, names: Sequence[str] = ()) -> list[tuple[str, str]]:
    return [(s.reason, s.text) for s in suggest(text, names=names)]


# (text, the suggestions expected as (reason, text)); an empty list is a negative case.
CASES = {
    "email": [
        ("escríbeme a marisol.qv@protonmail.com.", [("email", "marisol.qv@protonmail.com")]),
        (
            "tips: j.smith+tips@news.example.co.uk, ok",
            [("email", "j.smith+tips@news.example.co.uk")],
        ),
        ("correo josé.pérez@correo.mx", [("email", "josé.pérez@correo.mx")]),
        ("ana@localhost", []),
        ("ana@example.c1", []),
        ("user@ example.com", []),
    ],
    "phone": [
        ("Call +44 20 7946 0958 today", [("phone", "+44 20 7946 0958")]),
        ("or +1 (555) 010-4477.", [("phone", "+1 (555) 010-4477")]),
        ("Tel. +52 55 1234 5678", [("phone", "+52 55 1234 5678")]),
        ("cel. +52 1 55 1234 5678", [("phone", "+52 1 55 1234 5678")]),
        ("Handy +4915123456789", [("phone", "+4915123456789")]),
        ("mi número es 55 1234 5678", [("phone", "55 1234 5678")]),
        ("(55) 1234-5678", [("phone", "(55) 1234-5678")]),
        ("marca 044 55 1234 5678", [("phone", "044 55 1234 5678")]),
        ("marca 045 33 1234 5678", [("phone", "045 33 1234 5678")]),
        ("lada sin costo 01 800 123 4567", [("phone", "01 800 123 4567")]),
        ("whatsapp 5512345678", [("phone", "5512345678")]),
        ("Guadalajara: 33-1234-5678", [("phone", "33-1234-5678")]),
        ("(555) 010-4477", [("phone", "(555) 010-4477")]),
        ("en 2024 55 1234 5678", [("phone", "55 1234 5678")]),
        ("+44 20 7946 0958 2024", [("phone", "+44 20 7946 0958")]),  # cut back to 15 digits
        ("el 2024-03-14", []),
        ("el 14/03/2024", []),
        ("el 14.03.2024 a las 10:30:15", []),
        ("pagó $1,234,567.89", []),
        ("en 1984 y 12345", []),
        ("pi es 3.1415926535", []),
        ("+52 55", []),
        ("1 234 567", []),
    ],
    "url": [
        ("Visita https://example.org/notas?id=7.", [("url", "https://example.org/notas?id=7")]),
        ("(ver www.ejemplo.mx)", [("url", "www.ejemplo.mx")]),
        (
            "https://es.wikipedia.org/wiki/Ciudad_(desambiguación), dijo",
            [("url", "https://es.wikipedia.org/wiki/Ciudad_(desambiguación)")],
        ),
        ("HTTP://EXAMPLE.ORG!", [("url", "HTTP://EXAMPLE.ORG")]),
        ("el prefijo http:// solo", []),
        ("www. no", []),
        ("wwwexample.org", []),
    ],
    "handle": [
        ("sígueme en @marisol_qv.", [("handle", "@marisol_qv")]),
        ("(@Periodista.MX)", [("handle", "@Periodista.MX")]),
        ("en @marisol@periodistas.social", [("handle", "@marisol@periodistas.social")]),
        ("nos vemos @ 5pm", []),
        ("nos vemos @5pm o @10:30", []),
        ("en @2024", []),
        ("ana@example.org", [("email", "ana@example.org")]),  # not a handle
    ],
    "id-number": [
        ("CURP QUPM850314MDFNRR09", [("id-number", "QUPM850314MDFNRR09")]),
        ("curp qupm850314mdfnrr09", [("id-number", "qupm850314mdfnrr09")]),
        ("CURP QUPM851314MDFNRR09", []),  # month 13
        ("RFC QUPM850314AB1", [("id-number", "QUPM850314AB1")]),
        ("RFC ABC850314XY9", [("id-number", "ABC850314XY9")]),
        ("RFC QUPM850399AB1", []),  # day 99
        ("INE QNPRMR85031409M100", [("id-number", "QNPRMR85031409M100")]),
        ("pasaporte G12345678", [("id-number", "G12345678")]),
        ("pasaporte G1234567", []),
        ("IBAN ES91 2100 0418 4502 0005 1332", [("id-number", "ES91 2100 0418 4502 0005 1332")]),
        (
            "IBAN ES91 2100 0418 4502 0005 1332 EN EFECTIVO",
            [("id-number", "ES91 2100 0418 4502 0005 1332")],
        ),
        ("GB82WEST12345698765432", [("id-number", "GB82WEST12345698765432")]),
        ("IBAN ES92 2100 0418 4502 0005 1332", []),  # bad check digits
        ("Visa 4111 1111 1111 1111", [("id-number", "4111 1111 1111 1111")]),
        ("4111-1111-1111-1111", [("id-number", "4111-1111-1111-1111")]),
        ("Amex 3782 822463 10005", [("id-number", "3782 822463 10005")]),
        ("Visa 4111 1111 1111 1112", []),  # fails the Luhn check
        ("SSN 123-45-6789", [("id-number", "123-45-6789")]),
        ("CLABE 002180700012345678", [("id-number", "002180700012345678")]),
        ("folio 123456789", [("id-number", "123456789")]),
        ("folio 12345678", []),
        ("ISBN 978-3-16-148410-0", []),
        ("v2.10.3, € 12.500,00", []),
    ],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(t, e, id=f"{kind}-{i}")
        for kind, cases in CASES.items()
        for i, (t, e) in enumerate(cases)
    ],
)
def test_detector(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_pattern_hits_are_category_other() -> None:
    assert {s.category for s in suggest("a@b.org 55 1234 5678 @ana_b 123-45-6789")} == {OTHER}


def test_detectors_have_distinct_names() -> None:
    names = [d.name for d in DEFAULT_DETECTORS]
    assert len(set(names)) == len(names)
    assert {"email", "phone", "url", "handle", "curp", "iban", "card", "digits"} <= set(names)


SPANISH = """Me llamo Marisol Quintero Ávila y trabajé doce años en la Secretaría. Mi número es
55 1234 5678 (también +52 1 33 9876 5432 por WhatsApp); escríbeme a mquintero.denuncias@proton.me
o por Signal. En Twitter soy @marisol_qv. Mi CURP es QUAM850314MDFNVR05 y el pago llegó el
14/03/2024 a la cuenta 002180700012345678 por $1,234,567.89. Más en https://ejemplo.mx/caso-7.
"""


def test_a_spanish_testimony() -> None:
    assert found(SPANISH, names=["Marisol Quintero Ávila", "Marisol"]) == [
        ("source-name", "Marisol Quintero Ávila"),
        ("phone", "55 1234 5678"),
        ("phone", "+52 1 33 9876 5432"),
        ("email", "mquintero.denuncias@proton.me"),
        ("handle", "@marisol_qv"),
        ("id-number", "QUAM850314MDFNVR05"),
        ("id-number", "002180700012345678"),
        ("url", "https://ejemplo.mx/caso-7"),
    ]


ENGLISH = """Notes, call with "Robin" (Robin Ashdown-Feld), 14 March 2024, 10:30.
Robin can be reached on +44 20 7946 0958 or robin.af@example.co.uk; their old handle was
@r_ashdown. The payment of $12,500.00 went to GB82 WEST 1234 5698 7654 32 on 2024-03-14.
Reference SSN-like number on the form: 123-45-6789. See www.example.org/leak.
"""


def test_an_english_interview_note() -> None:
    suggestions = suggest(ENGLISH, names=["Robin Ashdown-Feld", "Robin"])
    assert [(s.reason, s.text, s.category) for s in suggestions] == [
        ("source-name", "Robin", SOURCE),
        ("source-name", "Robin Ashdown-Feld", SOURCE),
        ("source-name", "Robin", SOURCE),
        ("phone", "+44 20 7946 0958", OTHER),
        ("email", "robin.af@example.co.uk", SOURCE),  # contains "Robin": promoted
        ("handle", "@r_ashdown", OTHER),
        ("id-number", "GB82 WEST 1234 5698 7654 32", OTHER),
        ("id-number", "123-45-6789", OTHER),
        ("url", "www.example.org/leak", OTHER),
    ]
    for s in suggestions:
        assert ENGLISH[s.start : s.end] == s.text


def test_source_names_match_any_case_accents_and_line_breaks() -> None:
    text = "MARISOL QUINTERO avila, Marisol\nQuintero Ávila, marisol quintero ávila"
    assert found(text, names=["Marisol Quintero Ávila"]) == [
        ("source-name", "MARISOL QUINTERO avila"),
        ("source-name", "Marisol\nQuintero Ávila"),
        ("source-name", "marisol quintero ávila"),
    ]


def test_only_whole_names_are_proposed() -> None:
    # Neither "Quintero" alone nor "Marisolita": editors add partial names as aliases.
    assert found("Quintero habló con Marisolita", names=["Marisol Quintero", "Marisol"]) == []


def test_blank_names_are_ignored() -> None:
    assert found("Marisol", names=["", "   ", "Marisol"]) == [("source-name", "Marisol")]


def test_a_longer_pattern_hit_wins_over_a_name_inside_it_and_becomes_source_identity() -> None:
    [hit] = suggest("escribe a marisol@example.org", names=["Marisol"])
    assert (hit.reason, hit.text, hit.category) == ("email", "marisol@example.org", SOURCE)


def test_at_equal_length_a_source_name_wins() -> None:
    [hit] = suggest("soy @marisol_qv", names=["@marisol_qv"])
    assert (hit.reason, hit.category) == ("source-name", SOURCE)


def test_the_longer_name_wins_over_an_alias_inside_it() -> None:
    assert found("Marisol Quintero", names=["Marisol", "Marisol Quintero"]) == [
        ("source-name", "Marisol Quintero")
    ]


@dataclass(frozen=True)
class TitledPeople:
    """A stand-in for a named-entity recogniser: "Sra. Robles", "Dr. Ibarra"."""

    name: str = "titled-people"

    def __call__(self, text: str) -> Iterator[Suggestion]:
        for m in re.finditer(r"\b(?:Sra?|Dr)\. [A-ZÁÉÍÓÚÑ]\w+", text):
            yield Suggestion(m.start(), m.end(), Category.THIRD_PARTY, "person", m.group())


def test_a_plugged_in_recogniser_is_used() -> None:
    recognisers: list[Recogniser] = [TitledPeople()]
    out = suggest("La Sra. Robles (55 1234 5678) y el Dr. Ibarra", recognisers=recognisers)
    assert [(s.reason, s.text, s.category) for s in out] == [
        ("person", "Sra. Robles", Category.THIRD_PARTY),
        ("phone", "55 1234 5678", OTHER),
        ("person", "Dr. Ibarra", Category.THIRD_PARTY),
    ]


@dataclass(frozen=True)
class Broken:
    name: str
    suggestion: Suggestion

    def __call__(self, text: str) -> list[Suggestion]:
        return [self.suggestion]


@pytest.mark.parametrize(
    "bad",
    [
        Suggestion(0, 99, OTHER, "x", "abc"),  # beyond the text
        Suggestion(0, 2, OTHER, "x", "xy"),  # not the text of that range
    ],
)
def test_a_recogniser_returning_a_bad_suggestion_is_an_error(bad: Suggestion) -> None:
    with pytest.raises(ValueError, match="'broken'"):
        suggest("abc", recognisers=[Broken("broken", bad)])


@pytest.mark.parametrize(("start", "end"), [(3, 3), (4, 3), (-1, 2)])
def test_a_suggestion_needs_a_non_empty_range(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="start < end"):
        Suggestion(start, end, OTHER, "x", "")


def test_suggestions_are_sorted_and_never_overlap() -> None:
    out = suggest(SPANISH + ENGLISH, names=["Marisol", "Robin", "Quintero"])
    assert all(a.end <= b.start for a, b in pairwise(out))


SIZE = 100_000
ADVERSARIAL = {
    "letters": "a" * SIZE,
    "dotted words": "a." * (SIZE // 2),
    "local parts": "a-" * (SIZE // 2) + "@",
    "at signs": "a@" * (SIZE // 2),
    "domains without a top level": "a@b." * (SIZE // 4),
    "digits": "1" * SIZE,
    "spaced digits": "1 " * (SIZE // 2),
    "dashed digits": "12-" * (SIZE // 3),
    "plus signs": "+1 " * (SIZE // 3),
    "schemes": "http://" * (SIZE // 7),
    "iban groups": "AB12 " * (SIZE // 5),
    "capitals and digits": "ABCD123456" * (SIZE // 10),
    "mixture": "+52 (55) 1234-5678 a@b.c @x http://x ES91 4111 " * (SIZE // 50),
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_input_takes_linear_time(text: str) -> None:
    began = time.perf_counter()
    suggest(text, names=["Marisol Quintero"])
    assert time.perf_counter() - began < 1.5
