"""Look-alike letters: a name typed with Cyrillic, Greek, mathematical or full-width letters that
a reader takes for Latin ones is the same name, for the matcher and for the leak check alike.

The disguises are drawn from a table of characters that Unicode's TR39 confusables data maps to
Latin letters; the properties say that whatever letters of a name are swapped for look-alikes,
``find_term`` finds the disguised name whole, and the leak check's needles find it too.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.redaction.leaks import Needles, find_leaks
from vault.redaction.match import find_term, fold

# Latin letter -> look-alikes a reader takes for it (escaped: the source must not itself be a
# confusable). Cyrillic, Greek, full-width, mathematical bold and sans-serif.
LOOKALIKES: dict[str, list[str]] = {
    "a": ["\u0430", "\u03b1", "\uff41", "\U0001d41a"],
    "c": ["\u0441", "\u03f2", "\uff43"],
    "e": ["\u0435", "\uff45", "\U0001d41e"],
    "i": ["\u0456", "\uff49", "\U0001d422"],
    "j": ["\u0458", "\uff4a"],
    "o": ["\u043e", "\u03bf", "\uff4f", "\U0001d428", "0"],
    "p": ["\u0440", "\u03c1", "\uff50"],
    "s": ["\u0455", "\uff53", "\U0001d42c"],
    "x": ["\u0445", "\uff58"],
    "y": ["\u0443", "\uff59"],
    "M": ["\u041c", "\u039c", "\uff2d", "\U0001d40c"],
    "Q": ["\uff31", "\U0001d410"],
    "T": ["\u0422", "\u03a4", "\uff34"],
    "K": ["\u041a", "\u039a", "\uff2b"],
    "H": ["\u041d", "\u0397", "\uff28"],
}
NAMES = ["Marisol Quintero", "Joaquin Pesca", "Tomas Kyxo", "Helena Marcos", "Cosme Tejo"]


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(NAMES))
    out = []
    for char in name:
        choices = LOOKALIKES.get(char, [])
        if choices and draw(st.booleans()):
            out.append(draw(st.sampled_from(choices)))
        else:
            out.append(char)
    return name, "".join(out)


@given(disguised(), st.sampled_from(["", "Acta: ", "reunión con "]), st.sampled_from(["", "."]))
@settings(max_examples=300, deadline=None)
def test_a_disguised_name_is_found_whole(pair: tuple[str, str], before: str, after: str) -> None:
    name, disguise = pair
    text = before + disguise + after
    assert find_term(text, name) == [(len(before), len(before) + len(disguise))]


@given(disguised())
@settings(max_examples=300, deadline=None)
def test_the_leak_check_finds_a_disguised_name(pair: tuple[str, str]) -> None:
    name, disguise = pair
    assert find_leaks(f"en la sala: {disguise}!", {"r": [name]}) == ["r"]
    needles: Needles[str] = Needles({"r": [name]})
    assert needles.in_bytes(disguise.encode("utf-16-be")) == ["r"]
    assert needles.in_bytes(disguise.encode("utf-8")) == ["r"]


@pytest.mark.parametrize(
    ("other", "name"),
    [("Marisol Quinteros", "Marisol Quintero"), ("Marisela Quintero", "Marisol Quintero")],
)
def test_different_names_stay_different(other: str, name: str) -> None:
    # Words boundaries still hold, and folding does not make every name alike.
    assert find_term(other, name) == []
    assert fold(other) != fold(name)


def test_capital_i_and_small_l_are_one_letter_to_the_leak_check() -> None:
    # One glyph in many sans-serif fonts: "IVAN" typed as "lVAN" is still found.
    assert find_leaks("firma: lvan Ruiz", {"r": ["Ivan Ruiz"]}) == ["r"]
