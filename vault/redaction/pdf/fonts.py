"""Fonts of a kept page rebuilt with neutral names and nothing a font can carry besides glyphs.

A font dictionary and its program can name a person in many places: the resource key, /BaseFont,
/FontName, /FontFamily, /CharSet, the TrueType or OpenType ``name`` table (family, full name,
designer, copyright, description), glyph names in the ``post`` table or the CFF charset, and the
CFF top dictionary's strings. The rebuilt font keeps the keys that draw and measure glyphs and
writes the rest afresh; programs are cleaned with fontTools, the maintained parser of every
font format a PDF embeds. Type 1 programs (FontFile) and Type 3 fonts raise :class:`Unsafe`.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from fontTools import cffLib
from fontTools.ttLib import TTFont, newTable
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    PdfObject,
    StreamObject,
    TextStringObject,
)

__all__ = ["Unsafe", "get", "number", "numbers", "rebuild"]

logger = logging.getLogger(__name__)

_STANDARD = frozenset(
    "/Courier /Courier-Bold /Courier-Oblique /Courier-BoldOblique /Helvetica /Helvetica-Bold "
    "/Helvetica-Oblique /Helvetica-BoldOblique /Times-Roman /Times-Bold /Times-Italic "
    "/Times-BoldItalic /Symbol /ZapfDingbats".split()
)
_STANDARD_ENCODINGS = frozenset({"/WinAnsiEncoding", "/MacRomanEncoding", "/MacExpertEncoding"})
_DESCRIPTOR_NUMBERS = frozenset(
    "/Flags /ItalicAngle /Ascent /Descent /Leading /CapHeight /XHeight /StemV /StemH "
    "/AvgWidth /MaxWidth /MissingWidth".split()
)
_CFF_STRINGS = ("Notice", "Copyright", "FullName", "FamilyName", "Weight", "version")
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_HEX = re.compile(rb"<([0-9A-Fa-f\s]*)>|\[|\]")


class Unsafe(Exception):
    """The page holds something the sanitiser does not rebuild; ``reason`` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def get(obj: Any, key: str) -> Any:
    value = obj.get(key) if isinstance(obj, DictionaryObject) else None
    return value.get_object() if isinstance(value, PdfObject) else value


def number(value: Any) -> NumberObject | FloatObject:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsafe("a number that is not a number")
    return NumberObject(value) if isinstance(value, int) else FloatObject(value)


def numbers(value: Any) -> ArrayObject:
    if not isinstance(value, ArrayObject):
        raise Unsafe("an array that is not an array")
    out = ArrayObject()
    for item in value:
        item = item.get_object()
        out.append(numbers(item) if isinstance(item, ArrayObject) else number(item))
    return out


def rebuild(font: Any, neutral: str) -> DictionaryObject:
    """A new font dictionary drawing what ``font`` draws, named ``neutral``."""
    if not isinstance(font, DictionaryObject):
        raise Unsafe("a missing font")
    subtype = get(font, "/Subtype")
    if subtype == "/Type0":
        return _type0(font, neutral)
    if subtype not in ("/Type1", "/TrueType", "/MMType1"):
        raise Unsafe("a Type 3 or unknown font")
    out = _common(font, subtype)
    descriptor = get(font, "/FontDescriptor")
    base = get(font, "/BaseFont")
    embedded = isinstance(descriptor, DictionaryObject) and any(
        k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")
    )
    # A viewer finds a standard font by its name: only those keep it.
    name = str(base) if base in _STANDARD and not embedded else f"/{neutral}"
    out[NameObject("/BaseFont")] = NameObject(name)
    for key in ("/FirstChar", "/LastChar"):
        if (value := get(font, key)) is not None:
            out[NameObject(key)] = number(value)
    if (widths := get(font, "/Widths")) is not None:
        out[NameObject("/Widths")] = numbers(widths)
    encoding = get(font, "/Encoding")
    if isinstance(encoding, NameObject) and encoding in _STANDARD_ENCODINGS:
        out[NameObject("/Encoding")] = NameObject(str(encoding))
    elif isinstance(encoding, DictionaryObject):
        out[NameObject("/Encoding")] = _differences(encoding)
    if isinstance(descriptor, DictionaryObject):
        out[NameObject("/FontDescriptor")] = _descriptor(descriptor, name)
    return out


def _common(font: DictionaryObject, subtype: str) -> DictionaryObject:
    out = DictionaryObject(
        {NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject(subtype)}
    )
    to_unicode = get(font, "/ToUnicode")
    if isinstance(to_unicode, StreamObject):
        out[NameObject("/ToUnicode")] = _cmap(to_unicode.get_data())
    return out


def _differences(encoding: DictionaryObject) -> DictionaryObject:
    out = DictionaryObject({NameObject("/Type"): NameObject("/Encoding")})
    base = get(encoding, "/BaseEncoding")
    if isinstance(base, NameObject) and base in _STANDARD_ENCODINGS:
        out[NameObject("/BaseEncoding")] = NameObject(str(base))
    differences = get(encoding, "/Differences")
    if isinstance(differences, ArrayObject):
        # Glyph names select glyphs in the program; they stay, and the release check refuses
        # the export if one of them spells a redacted name.
        out[NameObject("/Differences")] = ArrayObject(
            NameObject(str(v)) if isinstance(v, NameObject) else number(v.get_object())
            for v in differences
        )
    return out


def _type0(font: DictionaryObject, neutral: str) -> DictionaryObject:
    encoding = get(font, "/Encoding")
    if encoding not in ("/Identity-H", "/Identity-V"):
        raise Unsafe("a CID font with a custom encoding")
    descendants = get(font, "/DescendantFonts")
    if not isinstance(descendants, ArrayObject) or len(descendants) != 1:
        raise Unsafe("a CID font without one descendant")
    cid = descendants[0].get_object()
    cid_type = get(cid, "/Subtype")
    if cid_type not in ("/CIDFontType0", "/CIDFontType2"):
        raise Unsafe("an unknown CID font")
    name = f"/{neutral}"
    out_cid = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject(str(cid_type)),
            NameObject("/BaseFont"): NameObject(name),
            NameObject("/CIDSystemInfo"): DictionaryObject(
                {
                    NameObject("/Registry"): TextStringObject("Adobe"),
                    NameObject("/Ordering"): TextStringObject("Identity"),
                    NameObject("/Supplement"): NumberObject(0),
                }
            ),
        }
    )
    for key in ("/DW", "/DW2"):
        if (value := get(cid, key)) is not None:
            out_cid[NameObject(key)] = numbers(value) if key == "/DW2" else number(value)
    for key in ("/W", "/W2"):
        if (value := get(cid, key)) is not None:
            out_cid[NameObject(key)] = numbers(value)
    gid_map = get(cid, "/CIDToGIDMap")
    if isinstance(gid_map, StreamObject):
        stream = DecodedStreamObject()
        stream.set_data(gid_map.get_data())
        out_cid[NameObject("/CIDToGIDMap")] = stream.flate_encode()
    elif gid_map is not None:
        out_cid[NameObject("/CIDToGIDMap")] = NameObject("/Identity")
    descriptor = get(cid, "/FontDescriptor")
    if isinstance(descriptor, DictionaryObject):
        out_cid[NameObject("/FontDescriptor")] = _descriptor(descriptor, name)
    out = _common(font, "/Type0")
    out[NameObject("/BaseFont")] = NameObject(name)
    out[NameObject("/Encoding")] = NameObject(str(encoding))
    out[NameObject("/DescendantFonts")] = ArrayObject([out_cid])
    return out


def _descriptor(descriptor: DictionaryObject, name: str) -> DictionaryObject:
    out = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/FontDescriptor"),
            NameObject("/FontName"): NameObject(name),
        }
    )
    for key in _DESCRIPTOR_NUMBERS:
        if (value := get(descriptor, key)) is not None:
            out[NameObject(key)] = number(value)
    if (bbox := get(descriptor, "/FontBBox")) is not None:
        out[NameObject("/FontBBox")] = numbers(bbox)
    if "/FontFile" in descriptor:
        raise Unsafe("a Type 1 font program")
    if isinstance(program := get(descriptor, "/FontFile2"), StreamObject):
        out[NameObject("/FontFile2")] = _stream(_clean_sfnt(program.get_data()), {})
    if isinstance(program := get(descriptor, "/FontFile3"), StreamObject):
        subtype = get(program, "/Subtype")
        if subtype == "/OpenType":
            data = _clean_sfnt(program.get_data())
        elif subtype in ("/Type1C", "/CIDFontType0C"):
            data = _clean_cff(program.get_data())
        else:
            raise Unsafe("an unknown font program")
        out[NameObject("/FontFile3")] = _stream(data, {"/Subtype": NameObject(str(subtype))})
    return out


def _stream(data: bytes, entries: dict[str, PdfObject]) -> StreamObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    for key, value in entries.items():
        stream[NameObject(key)] = value
    return stream.flate_encode()


def _clean_sfnt(data: bytes) -> bytes:
    """A TrueType or OpenType program with an empty naming table and no glyph names."""
    try:
        font = TTFont(io.BytesIO(data), lazy=False)
        font["name"] = newTable("name")
        font["name"].names = []
        if "post" in font:
            font["post"].formatType = 3.0  # no glyph names stored
        for table in ("DSIG", "meta", "ltag", "feat", "Zapf"):
            if table in font:
                del font[table]
        if "CFF " in font:
            _strip_cff(font["CFF "].cff)
        out = io.BytesIO()
        font.save(out)
    except Unsafe:
        raise
    except Exception as error:  # fontTools raises many types on malformed programs
        logger.debug("could not clean a font program: %s", type(error).__name__)
        raise Unsafe("a font program that does not parse") from None
    return out.getvalue()


def _clean_cff(data: bytes) -> bytes:
    try:
        cff = cffLib.CFFFontSet()
        cff.decompile(io.BytesIO(data), None)
        _strip_cff(cff)
        out = io.BytesIO()
        cff.compile(out, None)
    except Exception as error:  # fontTools raises many types on malformed programs
        logger.debug("could not clean a CFF program: %s", type(error).__name__)
        raise Unsafe("a font program that does not parse") from None
    return out.getvalue()


def _strip_cff(cff: Any) -> None:
    # Glyph names in the charset select glyphs by name from /Differences: they stay, and the
    # release check refuses an export whose glyph names spell a redacted name.
    cff.fontNames = ["F" for _ in cff.fontNames]
    for top in cff.topDictIndex:
        for key in _CFF_STRINGS:
            if hasattr(top, key):
                delattr(top, key)
        top.rawDict = {k: v for k, v in top.rawDict.items() if k not in _CFF_STRINGS}


def _cmap(data: bytes) -> StreamObject:
    """A ToUnicode CMap written afresh from the mappings ``data`` holds: nothing of the old
    stream (comments, names, PostScript) but its code-to-text pairs is carried over."""
    chars: list[bytes] = []
    for block in _BFCHAR.findall(data):
        tokens = [t for t in _HEX.findall(block) if t]
        for i in range(0, len(tokens) - 1, 2):
            chars.append(b"<%s> <%s>" % (_hex(tokens[i]), _hex(tokens[i + 1])))
    ranges: list[bytes] = []
    for block in _BFRANGE.findall(data):
        for line in re.findall(rb"<[^>]*>\s*<[^>]*>\s*(?:<[^>]*>|\[[^\]]*\])", block):
            parts = re.findall(rb"<([0-9A-Fa-f\s]*)>", line)
            if b"[" in line:
                ranges.append(
                    b"<%s> <%s> [%s]"
                    % (
                        _hex(parts[0]),
                        _hex(parts[1]),
                        b" ".join(b"<%s>" % _hex(p) for p in parts[2:]),
                    )
                )
            elif len(parts) == 3:
                ranges.append(b"<%s> <%s> <%s>" % tuple(_hex(p) for p in parts))
    body = [
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
    ]
    wide = any(len(entry.split(b">")[0]) > 3 for entry in chars + ranges)
    body.append(
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange"
        if wide
        else b"1 begincodespacerange <00> <FF> endcodespacerange"
    )
    for i in range(0, len(chars), 100):
        group = chars[i : i + 100]
        body += [b"%d beginbfchar" % len(group), *group, b"endbfchar"]
    for i in range(0, len(ranges), 100):
        group = ranges[i : i + 100]
        body += [b"%d beginbfrange" % len(group), *group, b"endbfrange"]
    body.append(b"endcmap CMapName currentdict /CMap defineresource pop end end")
    return _stream(b"\n".join(body), {})


def _hex(token: bytes) -> bytes:
    digits = re.sub(rb"\s", b"", token)
    if not re.fullmatch(rb"[0-9A-Fa-f]*", digits) or len(digits) % 2:
        raise Unsafe("a ToUnicode map that does not parse")
    return digits.upper()
