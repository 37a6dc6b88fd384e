"""The base document every PDF case starts from, and the byte-level tools the cases need.

``Doc`` is a two-page letter PDF built with pikepdf: page 1 names the source in ordinary
Helvetica body text (unless ``visible`` is false: the *bare* variant, which proves the oracle
sees the hiding place itself), page 2 has harmless text only. A case adds its hiding place and
calls ``save``. Filters are applied here by hand, so a case decides exactly which bytes end up
in the file (pikepdf would otherwise recompress them).
"""

from __future__ import annotations

import base64
import io
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pikepdf
from pikepdf import Array, Dictionary, Name

NAME = "Marisol Quintero"
SURNAME = "Quintero"
LETTER = (612, 792)

PAGE1_HEADING = "Reunión de redacción"
PAGE1_NAMED = f"Entrevista con {NAME} sobre los contratos del municipio."
PAGE1_BARE = "Entrevista con la fuente sobre los contratos del municipio."
PAGE1_LINES = (
    "Orden del día: presupuesto de la redacción y calendario de publicación.",
    "La fuente pidió revisar las facturas de 2021 antes de publicar.",
)
PAGE2_HEADING = "Cierre"
PAGE2_LINES = (
    "Acuerdos: revisar las cifras con el área de datos antes del jueves.",
    "Próxima reunión: lunes a las diez, en la sala pequeña.",
)

FLATE = ("/FlateDecode",)


# --- filters: each returns the bytes that the named decode filter turns back into ``data``


def _run_length(data: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(data), 128):  # literal runs only: simplest valid encoding
        chunk = data[start : start + 128]
        out += bytes([len(chunk) - 1]) + chunk
    return bytes(out) + b"\x80"


def _lzw(data: bytes) -> bytes:
    """LZW as PDF decodes it (EarlyChange 1). The table is cleared before codes would need
    10 bits, so every code is 9 bits wide and the width rules cannot be got wrong."""
    codes = [256]
    table = {bytes([i]): i for i in range(256)}
    next_code, word = 258, b""
    for value in data:
        longer = word + bytes([value])
        if longer in table:
            word = longer
            continue
        codes.append(table[word])
        if next_code < 500:
            table[longer], next_code = next_code, next_code + 1
        else:
            codes.append(256)
            table, next_code = {bytes([i]): i for i in range(256)}, 258
        word = bytes([value])
    if word:
        codes.append(table[word])
    codes.append(257)
    bits = "".join(f"{code:09b}" for code in codes)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "/FlateDecode": zlib.compress,
    "/ASCIIHexDecode": lambda data: data.hex().upper().encode() + b">",
    "/ASCII85Decode": lambda data: base64.a85encode(data) + b"~>",
    "/RunLengthDecode": _run_length,
    "/LZWDecode": _lzw,
}


def encode(data: bytes, filters: Sequence[str]) -> bytes:
    """Encode for ``/Filter [filters...]``: the first filter listed is the last applied."""
    for name in reversed(filters):
        data = ENCODERS[name](data)
    return data


# --- content-stream text


def literal(text: str | bytes, encoding: str = "cp1252") -> bytes:
    """A PDF literal string; WinAnsi (cp1252) by default, as Helvetica is set up here."""
    raw = text.encode(encoding) if isinstance(text, str) else text
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_ops(x: float, y: float, text: str | bytes, size: float = 11, font: str = "/Helv") -> bytes:
    """One line of text: ``BT /Helv 11 Tf x y Td (text) Tj ET``."""
    shown = literal(text)
    return b"BT %s %g Tf %g %g Td %s Tj ET\n" % (font.encode(), size, x, y, shown)


def utf16be(text: str) -> bytes:
    return b"\xfe\xff" + text.encode("utf-16-be")


# --- the document


class Doc:
    """The two-page base document; see the module docstring."""

    def __init__(self, visible: bool = True) -> None:
        self.visible = visible
        self.pdf = pikepdf.new()
        self._foreign: list[pikepdf.Pdf] = []  # copied-from files must stay open until save
        self.helv = self._standard_font("/Helvetica")
        helv_bold = self._standard_font("/Helvetica-Bold")
        first = (PAGE1_NAMED if visible else PAGE1_BARE, *PAGE1_LINES)
        for heading, lines in ((PAGE1_HEADING, first), (PAGE2_HEADING, PAGE2_LINES)):
            ops = text_ops(72, 720, heading, 14, "/HelvB")
            ops += b"".join(text_ops(72, 690 - 18 * row, line) for row, line in enumerate(lines))
            page = self.pdf.add_blank_page(page_size=LETTER)
            page.obj.Resources = Dictionary(Font=Dictionary(Helv=self.helv, HelvB=helv_bold))
            page.obj.Contents = self.stream(ops)

    def _standard_font(self, base: str) -> pikepdf.Object:
        font = Dictionary(
            Type=Name.Font, Subtype=Name.Type1, BaseFont=Name(base), Encoding=Name.WinAnsiEncoding
        )
        return self.pdf.make_indirect(font)

    def page(self, number: int) -> pikepdf.Dictionary:
        """The page dictionary, 1-based."""
        return self.pdf.pages[number - 1].obj

    def stream(self, data: bytes, filters: Sequence[str] = (), **entries: object) -> pikepdf.Stream:
        """An indirect stream whose file bytes are ``data`` encoded with ``filters``."""
        stream = pikepdf.Stream(self.pdf, encode(data, filters))
        for key, value in entries.items():
            stream[Name("/" + key)] = value
        if filters:
            stream.Filter = Array([Name(f) for f in filters])
        return self.pdf.make_indirect(stream)

    def add_content(self, number: int, ops: bytes, filters: Sequence[str] = FLATE) -> None:
        """Append a content stream to a page, wrapped in q/Q so it cannot disturb the rest."""
        page = self.page(number)
        contents = page.Contents
        streams = list(contents) if isinstance(contents, Array) else [contents]
        page.Contents = Array([*streams, self.stream(b"q\n" + ops + b"\nQ\n", filters)])

    def resource(self, number: int, category: str, key: str, value: object) -> None:
        """Put ``value`` under ``/Resources /category /key`` of a page."""
        resources = self.page(number).Resources
        if Name("/" + category) not in resources:
            resources[Name("/" + category)] = Dictionary()
        resources[Name("/" + category)][Name("/" + key)] = value

    def copy_page(self, other: bytes) -> pikepdf.Object:
        """Page 1 of another PDF (say, drawn with reportlab) as a form XObject of this one."""
        source = pikepdf.open(io.BytesIO(other))
        self._foreign.append(source)
        return self.pdf.copy_foreign(source.pages[0].as_form_xobject())

    def form(
        self,
        ops: bytes,
        filters: Sequence[str] = FLATE,
        bbox: tuple[float, float, float, float] = (0, 0, *LETTER),
        **entries: object,
    ) -> pikepdf.Stream:
        """A form XObject (or, with Type/PatternType entries, a pattern) that can use /Helv."""
        entries.setdefault("Type", Name.XObject)
        if entries["Type"] == Name.XObject:
            entries.setdefault("Subtype", Name.Form)
        entries.setdefault("Resources", Dictionary(Font=Dictionary(Helv=self.helv)))
        return self.stream(ops, filters, BBox=Array(bbox), **entries)

    def draw_form(
        self, number: int, key: str, form: pikepdf.Object, filters: Sequence[str] = FLATE
    ) -> None:
        self.resource(number, "XObject", key, form)
        self.add_content(number, b"/%s Do" % key.encode(), filters)

    def save(self, object_streams: bool = False) -> bytes:
        """Bytes of the file. Without object streams the xref is a classic table and every
        unfiltered stream is written as is; with them, dictionaries and every stream are
        Flate-compressed, so nothing is left for a plain byte search."""
        mode = pikepdf.ObjectStreamMode
        buffer = io.BytesIO()
        self.pdf.save(
            buffer,
            static_id=True,
            compress_streams=object_streams,  # object streams themselves must be compressed
            object_stream_mode=mode.generate if object_streams else mode.disable,
        )
        for source in self._foreign:
            source.close()
        return buffer.getvalue()


# --- registries of cases


@dataclass(frozen=True)
class PdfSpec:
    """A PDF case before ``corpus`` turns it into a ``HostileCase``: ``make`` adds the hiding
    place to a base ``Doc`` and returns the file's bytes."""

    id: str
    klass: str
    make: Callable[[Doc], bytes]
    note: str
    terms: tuple[str, ...] = (NAME,)


def registrar(
    registry: list[PdfSpec],
) -> Callable[..., Callable[[Callable[[Doc], bytes]], Callable[[Doc], bytes]]]:
    """``@case(id, klass, note, terms=...)`` appends the decorated builder to ``registry``."""

    def case(
        id: str, klass: str, note: str, terms: tuple[str, ...] = (NAME,)
    ) -> Callable[[Callable[[Doc], bytes]], Callable[[Doc], bytes]]:
        def register(make: Callable[[Doc], bytes]) -> Callable[[Doc], bytes]:
            registry.append(PdfSpec(id, klass, make, note, terms))
            return make

        return register

    return case


# --- byte surgery on saved files


def splice(data: bytes, placeholder: bytes, replacement: bytes) -> bytes:
    """Swap a placeholder token for hand-written bytes of the same length, so that every
    offset in the xref table stays right. Used for tokens pikepdf would re-spell (hex
    strings, octal escapes, ``#xx`` in names)."""
    if len(placeholder) != len(replacement):
        raise ValueError(f"{placeholder!r} and {replacement!r} differ in length")
    if data.count(placeholder) != 1:
        raise ValueError(f"{placeholder!r} occurs {data.count(placeholder)} times")
    return data.replace(placeholder, replacement)


def raw_stream(data: bytes, filters: Sequence[str] = FLATE, extra: bytes = b"") -> bytes:
    """A stream object body (between ``N 0 obj`` and ``endobj``) written by hand."""
    encoded = encode(data, filters)
    names = b" ".join(f.encode() for f in filters)
    head = b"<< /Length %d /Filter [%s] %s>>" % (len(encoded), names, extra)
    return head + b"\nstream\n" + encoded + b"\nendstream"


def trailer_value(data: bytes, key: bytes) -> bytes:
    trailer = re.findall(rb"trailer\s*<<(.*?)>>\s*startxref", data, re.S)[-1]
    found = re.search(rb"/" + key + rb"\s*(\d+ \d+ R|\d+|\[[^\]]*\])", trailer)
    if found is None:
        raise ValueError(f"no /{key.decode()} in the trailer")
    return found.group(1)


def append_revision(data: bytes, objects: dict[int, bytes]) -> bytes:
    """An incremental update: ``objects`` (number -> body) appended with their own xref
    section and a trailer whose /Prev points at the previous one. ``data`` must have been
    saved by ``Doc.save()`` without object streams (a classic xref table)."""
    prev = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    xref = b""
    for number, body in sorted(objects.items()):
        xref += b"%d 1\n%010d 00000 n \n" % (number, len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    size = max(int(trailer_value(data, b"Size")), max(objects) + 1)
    keys = b"".join(
        b"/%s %s " % (key, trailer_value(data, key))
        for key in (b"Root", b"Info", b"ID")
        if re.search(rb"/" + key + rb"\b", data[prev:])
    )
    start = len(out)
    out += b"xref\n" + xref
    out += b"trailer\n<< /Size %d %s/Prev %d >>\n" % (size, keys, prev)
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)
