"""The release check that reads every byte a redacted PDF carries.

Text extractors read what a page shows; a hostile file hides a name where none of them look: a
comment in a content stream, an /ActualText property, a font's naming table, an ICC profile's
description, a string that does not decode as text, a dictionary *key*. This scan opens the file
with qpdf (through pikepdf: a third parser, independent of the pypdf that wrote it and the pdfium
that rendered it) and searches:

* the raw file, front to back (bytes between and after objects included), with the quick
  byte-level fold of ``Needles.in_samples``;
* every object in the cross-reference table, reachable or not: every name, keys and values alike
  (qpdf undoes ``#xx`` escapes), every string's raw bytes whether or not they decode as text;
* every stream, decoded with every filter qpdf supports (JPEG included); where a filter cannot be
  undone, its raw bytes; and inside each decoded stream the PDF tokens it holds: literal strings
  with their escapes undone, hex strings and names;

each in Latin-1/PDFDocEncoding, UTF-8 and UTF-16 (both byte orders, both alignments), after the
folding the leak check uses (``vault.redaction.leaks``). Image samples are the exception: a
page's pixels are megabytes, so they get the quick byte-level fold (Latin-1 and ASCII stored as
UTF-16), which is what text disguised as pixels would be.

A find is reported by class (``stream``, ``string``, ``name``, ``structure`` for the raw file)
and by the page whose resources reach the object (``None`` when no page does), never by what
was found.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pikepdf

from vault.errors import InvalidInput
from vault.redaction.leaks import Needles

__all__ = ["Find", "scan"]

logger = logging.getLogger(__name__)

_UNCHECKABLE = "the PDF could not be checked"
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_TOKENS = re.compile(rb"<([0-9A-Fa-f\s]+)>|/([^\s/<>\[\]\(\)\{\}%]+)|\(")
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Find:
    key: str  # the redaction whose string was found
    klass: str
    page: int | None


def scan(pdf: bytes, needles: Needles[str]) -> list[Find]:
    """Every redaction whose strings are somewhere in ``pdf``'s bytes, with where."""
    finds: dict[tuple[str, str, int | None], None] = {}

    def add(keys: list[str], klass: str, page: int | None) -> None:
        for key in keys:
            finds.setdefault((key, klass, page))

    if not needles.any:
        return []
    add(needles.in_samples(pdf), "structure", None)
    try:
        with pikepdf.open(io.BytesIO(pdf)) as document:
            pages = _pages(document)
            for obj in document.objects:
                page = pages.get(obj.objgen) if obj.is_indirect else None
                _object(obj, needles, page, add, 0)
            _object(document.trailer, needles, None, add, 0)
    except InvalidInput:
        raise
    except Exception as error:  # qpdf raises many types on malformed input
        logger.debug("qpdf could not walk a PDF: %s", type(error).__name__)
        raise InvalidInput(_UNCHECKABLE) from None
    return [Find(key, klass, page) for key, klass, page in finds]


def _pages(document: pikepdf.Pdf) -> dict[tuple[int, int], int]:
    """Which page first reaches each indirect object (not through /Parent)."""
    owner: dict[tuple[int, int], int] = {}
    for number, page in enumerate(document.pages, start=1):
        stack: list[Any] = [page.obj]
        while stack:
            obj = stack.pop()
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                if obj.is_indirect:
                    if obj.objgen in owner and obj.objgen != page.obj.objgen:
                        continue
                    owner.setdefault(obj.objgen, number)
                stack += [v for k, v in obj.items() if k != "/Parent"]
            elif isinstance(obj, pikepdf.Array):
                if obj.is_indirect:
                    if obj.objgen in owner:
                        continue
                    owner[obj.objgen] = number
                stack += list(obj)
    return owner


def _object(obj: Any, needles: Needles[str], page: int | None, add: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidInput(_UNCHECKABLE)  # nesting no real file has
    if isinstance(obj, pikepdf.Stream):
        _stream(obj, needles, page, add)
    if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
        for key, value in obj.items():
            add(_name(key, needles), "name", page)
            if not (isinstance(value, pikepdf.Object) and value.is_indirect):
                _object(value, needles, page, add, depth + 1)
    elif isinstance(obj, pikepdf.Array):
        for value in obj:
            if not (isinstance(value, pikepdf.Object) and value.is_indirect):
                _object(value, needles, page, add, depth + 1)
    elif isinstance(obj, pikepdf.Name):
        add(_name(str(obj), needles), "name", page)
    elif isinstance(obj, pikepdf.String):
        add(needles.in_bytes(bytes(obj)), "string", page)


def _name(name: str, needles: Needles[str]) -> list[str]:
    raw = name.encode("utf-8", errors="surrogateescape")
    found = needles.in_bytes(raw)
    # A name qpdf left escaped (or escaped twice) is searched unescaped once more.
    unescaped = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    return found + [k for k in needles.in_bytes(unescaped) if k not in found]


def _stream(stream: pikepdf.Stream, needles: Needles[str], page: int | None, add: Any) -> None:
    try:
        data = stream.read_bytes(decode_level=pikepdf.StreamDecodeLevel.all)
    except Exception:  # a filter qpdf cannot undo: search what is there
        data = stream.read_raw_bytes()
    if stream.get("/Subtype") == "/Image":
        add(needles.in_samples(data), "stream", page)
        return
    add(needles.in_bytes(data), "stream", page)
    for token in _tokens(data):
        add(needles.in_bytes(token), "stream", page)


def _tokens(data: bytes) -> Iterator[bytes]:
    """The strings and names in ``data`` read as PDF syntax: hex strings decoded, literal
    strings with their escapes undone, names with ``#xx`` undone."""
    at = 0
    while (match := _TOKENS.search(data, at)) is not None:
        if match.group(1) is not None:
            digits = re.sub(rb"\s", b"", match.group(1))
            yield bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())
            at = match.end()
        elif match.group(2) is not None:
            yield _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(2))
            at = match.end()
        else:
            literal, at = _literal(data, match.end())
            yield literal


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}


def _literal(data: bytes, at: int) -> tuple[bytes, int]:
    """The literal string whose body starts at ``at`` (after its opening parenthesis), and
    where it ends; balanced parentheses nest, as in PDF."""
    out = bytearray()
    depth = 1
    while at < len(data):
        byte = data[at]
        at += 1
        if byte == 0x5C and at < len(data):  # backslash
            nxt = data[at]
            if 0x30 <= nxt <= 0x37:
                digits = re.match(rb"[0-7]{1,3}", data[at : at + 3])
                assert digits is not None  # noqa: S101 - nxt is an octal digit
                out.append(int(digits.group(), 8) & 0xFF)
                at += len(digits.group())
            elif nxt in (0x0A, 0x0D):
                at += 1  # a line continuation
            else:
                out += _ESCAPES.get(nxt, bytes([nxt]))
                at += 1
            continue
        if byte == 0x28:
            depth += 1
        elif byte == 0x29:
            depth -= 1
            if depth == 0:
                break
        out.append(byte)
    return bytes(out), at
