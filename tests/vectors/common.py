"""What every vector generator shares: the fixed ids, the checks that stop a wrong vector from
being written, and the one way a vector file is laid out (``render``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from vault.errors import IntegrityError

# The format version these files pin (content stream version 1, ``source-vault/v1`` labels).
FORMAT_VERSION = 1
GENERATOR = "tests/vectors/generate.py"

DOCUMENT_ID = UUID("2c5ea4c0-4067-11e9-8bad-9b1deb4d3b7d")
OTHER_DOCUMENT_ID = UUID("7d444840-9dc0-11d1-b245-5ffdce74fad2")
SOURCE_ID = UUID("9b2f0c1e-3d4a-4b5c-8d6e-7f8091a2b3c4")
USER_ID = UUID("5e1f0000-1111-4222-8333-944455556666")
OTHER_USER_ID = UUID("5e1f0000-1111-4222-8333-944455556667")
CREDENTIAL_ID = UUID("c4ed0000-aaaa-4bbb-8ccc-dddd0000eeee")
REDACTION_ID = UUID("4ed0c7ed-0000-4000-8000-00000000000a")

RECIPIENT_SEED = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf")
OTHER_RECIPIENT_SEED = bytes.fromhex(
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
)
NONCE = bytes.fromhex("0102030405060708090a0b0c")
OTHER_NONCE = bytes.fromhex("f1f2f3f4f5f6f7f8f9fafbfc")


def pattern(size: int) -> bytes:
    """Byte ``i`` is ``i mod 251`` (a prime, so the pattern lines up with no segment size)."""
    return bytes(i % 251 for i in range(size))


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def check(condition: bool, message: str) -> None:
    """Stop the script (even under ``python -O``) when a vector would be wrong."""
    if not condition:
        raise SystemExit(f"vector generation failed: {message}")


def expect_failure(
    family: str,
    vector: dict[str, Any],
    action: Callable[[dict[str, Any]], object],
    error: type[Exception] = IntegrityError,
) -> None:
    """Check that an invalid vector really fails, with the reason it records (for an
    ``IntegrityError``) or with the error class it names."""
    try:
        action(vector)
    except error as exc:
        if isinstance(exc, IntegrityError):
            check(
                exc.reason == vector["reason"],
                f"{family} vector {vector['id']}: reason {exc.reason!r}, "
                f"expected {vector['reason']!r}",
            )
    else:
        check(False, f"{family} vector {vector['id']} did not fail")


def header(fmt: str) -> dict[str, Any]:
    """The members every vector file starts with."""
    return {"format": fmt, "version": FORMAT_VERSION, "generator": GENERATOR}


def render(data: dict[str, Any]) -> str:
    """A vector file's text: two-space indent, UTF-8 as is, one final newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
