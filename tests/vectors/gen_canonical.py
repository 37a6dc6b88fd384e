"""``canonical.json``: how canonical JSON (docs/format.md §7) writes strings and numbers, by
``vault.canonical``, the writer every sealed JSON record goes through."""

from __future__ import annotations

from typing import Any

from tests.vectors.common import check, header
from vault import canonical

# Each string is given as its code points: a lone surrogate cannot be written in a UTF-8 file.
STRINGS: list[tuple[str, str]] = [
    ("ascii", "plain text / with a slash"),
    ("short-escapes", 'quote " backslash \\ \b \f \n \r \t'),
    ("control", "\x00\x01\x1f"),
    ("del-and-c1", "\x7f\x80\x9f"),
    ("latin-and-cjk", "Łódź 東京"),
    ("beyond-the-bmp", "📎𝄞"),
    ("line-separators", "\u2028\u2029"),
    ("lone-surrogate", "\ud800x\udfff"),
    ("noncharacter", "\ufffe\uffff"),
]
FLOATS: list[tuple[str, float]] = [
    ("one-tenth", 0.1),
    ("integral", 2.0),
    ("negative-zero", -0.0),
    ("zero", 0.0),
    ("small-fixed", 0.0001),
    ("small-exponent", 1e-05),
    ("one-e-minus-seven", 1e-7),
    ("largest-fixed", 1e16 - 2),
    ("smallest-exponent-above", 1e16),
    ("one-e-twenty-two", 1e22),
    ("many-digits", 1.2345678901234567e17),
    ("max-coordinate", 65535.0),
    ("negative", -12.5),
    ("subnormal", 5e-324),
    ("largest", 1.7976931348623157e308),
]
INTEGERS = [0, -1, 48213, 2**53 + 1, -(2**63)]


def canonical_vectors() -> dict[str, Any]:
    strings = []
    for name, text in STRINGS:
        strings.append(
            {
                "id": name,
                "code_points": [ord(c) for c in text],
                "json": canonical.dumps(text).decode("ascii"),
            }
        )
    numbers = [
        {"id": name, "float_hex": value.hex(), "json": canonical.dumps(value).decode("ascii")}
        for name, value in FLOATS
    ]
    numbers += [
        {"id": f"integer-{value}", "integer": value, "json": canonical.dumps(value).decode()}
        for value in INTEGERS
    ]
    obj = {"b": [1, 2.5, None, True, False], "a": {"é": "e", "Z": "z", "z": ""}, "": 0}
    objects = [
        {
            "id": "key-order-and-separators",
            "value": obj,
            "json": canonical.dumps(obj).decode("ascii"),
        }
    ]
    check(objects[0]["json"].startswith('{"":0,"a":{"Z"'), "keys are not in code point order")
    return {
        **header("canonical JSON of sealed records, docs/format.md section 7"),
        "strings": strings,
        "numbers": numbers,
        "objects": objects,
        "refused": ["NaN", "Infinity", "-Infinity"],
    }
