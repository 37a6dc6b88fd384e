"""Canonical JSON: the one encoding of every JSON record the vault seals (docs/format.md §7).

A sealed record is compared, hashed and vectored as bytes, so two writers agree only if every
choice a JSON library may make is fixed: key order, separators, which characters are escaped and
how, and above all how a floating-point number is written (libraries differ on ``1e-07`` against
``1e-7``, ``1e+22`` against ``1e22``, ``2.0`` against ``2``, and ``-0.0`` against ``0``). This
module writes each of those by an explicit rule instead of leaving it to ``json.dumps``; the
rules are the ones ``json.dumps(value, sort_keys=True, separators=(",", ":"))`` has always
applied, so records sealed before this module existed are byte for byte what it writes now
(``tests/vault/test_vectors_canonical.py`` checks that on random values).

The access log's entries use another encoding (UTF-8 as is, not escaped): ``vault.audit.log``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

__all__ = ["dumps", "format_float"]

# The two-character escapes; every other character below U+0020 or above U+007E (DEL, and all
# non-ASCII) is written as \u and four lowercase hex digits, UTF-16 surrogate pairs beyond the BMP.
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}

# Fixed notation for a decimal point position ``-4 < point <= 16``, exponent notation outside it
# (the point position of 0.d1d2... x 10^point): Python's repr, and so json.dumps, since 3.1.
_FIXED_MIN_POINT = -3
_FIXED_MAX_POINT = 16


def dumps(value: object) -> bytes:
    """``value`` (``None``, ``bool``, ``int``, finite ``float``, ``str``, lists, tuples and
    ``str``-keyed mappings of these) as canonical JSON: ASCII bytes, keys sorted by code point,
    no whitespace. ``ValueError`` for anything else, including NaN and the infinities."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("ascii")


def _write(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(format_float(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping):
        keys = list(value)
        if not all(isinstance(k, str) for k in keys):
            raise ValueError("canonical JSON object keys are strings")
        out.append("{")
        for n, key in enumerate(sorted(keys)):
            if n:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise ValueError(f"canonical JSON cannot hold a {type(value).__name__}")


def _string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _SHORT:
            out.append(_SHORT[char])
        elif 0x20 <= code <= 0x7E:
            out.append(char)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
        else:
            # Includes a lone surrogate (which UTF-8 cannot carry): escaped like any other.
            out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


def format_float(value: float) -> str:
    """A finite float as canonical JSON: the shortest decimal digits that read back as the same
    float, laid out in fixed notation with at least one digit after the point (``2.0``,
    ``0.0001``, ``-0.0``) when its decimal point position is from -3 to 16, else as one digit,
    the rest after a point, ``e``, a sign and at least two exponent digits (``1e-07``,
    ``1e+22``, ``1.5e+17``)."""
    if not math.isfinite(value):
        raise ValueError("canonical JSON has no NaN or infinity")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    # repr gives the shortest round-tripping digits; only the layout is ours.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)  # noqa: S101 - finite, so never 'n', 'N' or 'F'
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # value = 0.<digits> x 10^point
    if _FIXED_MIN_POINT <= point <= _FIXED_MAX_POINT:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    power = point - 1
    return f"{sign}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
