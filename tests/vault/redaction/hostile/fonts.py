"""Fonts for the hostile cases, built with fontTools from reportlab's bundled Vera.

Fonts are where names hide best: in a TrueType ``name`` table, in CFF strings, in glyph names,
in Type 3 glyph procedures, or in the shapes themselves (outlines drawn as paths, so that no
text operator ever names the person). Vera ships inside reportlab, so these cases build
everywhere; a Cyrillic-capable font is looked for on the system and is optional.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from pathlib import Path

import pikepdf
import reportlab
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.basePen import BasePen
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.pens.transformPen import TransformPen
from fontTools.ttLib import TTFont
from pikepdf import Array, Dictionary, Name

from .pdfkit import FLATE, Doc

VERA = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path("/Library/Fonts"))


@functools.cache
def _vera_bytes() -> bytes:
    return VERA.read_bytes()


def vera() -> TTFont:
    """A fresh parsed copy of Vera (callers may change it)."""
    return TTFont(io.BytesIO(_vera_bytes()))


@functools.cache
def _vera_shared() -> TTFont:
    return vera()


def system_font(filename: str) -> Path | None:
    """A font file by name from the usual system directories, or None."""
    for folder in FONT_DIRS:
        if folder.is_dir():
            for found in sorted(folder.rglob(filename)):
                return found
    return None


class PdfPathPen(BasePen):  # type: ignore[misc]  # fontTools is untyped
    """Records glyph outlines as PDF path operators (quadratic curves become cubic)."""

    def __init__(self, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> None:
        super().__init__(glyphSet=None)
        self.ops: list[bytes] = []
        self._scale, self._dx, self._dy = scale, dx, dy

    def _xy(self, point: tuple[float, float]) -> bytes:
        x, y = point
        return b"%.2f %.2f" % (x * self._scale + self._dx, y * self._scale + self._dy)

    def _moveTo(self, pt: tuple[float, float]) -> None:
        self.ops.append(self._xy(pt) + b" m")

    def _lineTo(self, pt: tuple[float, float]) -> None:
        self.ops.append(self._xy(pt) + b" l")

    def _curveToOne(
        self, pt1: tuple[float, float], pt2: tuple[float, float], pt3: tuple[float, float]
    ) -> None:
        self.ops.append(b" ".join([self._xy(pt1), self._xy(pt2), self._xy(pt3)]) + b" c")

    def _closePath(self) -> None:
        self.ops.append(b"h")


def glyph_name(char: str) -> str:
    return str(_vera_shared().getBestCmap()[ord(char)])


def advance(name: str) -> int:
    """Advance width in Vera's font units (2048 per em)."""
    return int(_vera_shared()["hmtx"][name][0])


def outline_ops(text: str, x: float, y: float, size: float) -> bytes:
    """Path operators that fill the outlines of ``text`` set in Vera: letters, no text."""
    font = _vera_shared()
    glyphs, scale = font.getGlyphSet(), size / font["head"].unitsPerEm
    ops: list[bytes] = []
    for char in text:
        name = glyph_name(char)
        pen = PdfPathPen(scale, x, y)
        glyphs[name].draw(pen)
        ops += pen.ops
        x += advance(name) * scale
    return b"\n".join([*ops, b"f"]) + b"\n"


def glyph_proc(name: str, comment: bytes = b"") -> bytes:
    """A Type 3 glyph procedure that fills Vera's outline of ``name`` in font units."""
    font = _vera_shared()
    glyf = font["glyf"][name]
    box = [getattr(glyf, key, 0) for key in ("xMin", "yMin", "xMax", "yMax")]
    pen = PdfPathPen()
    font.getGlyphSet()[name].draw(pen)
    head = b"%d 0 %d %d %d %d d1\n" % (advance(name), *box)
    return comment + head + b"\n".join(pen.ops) + (b"\nf\n" if pen.ops else b"\n")


def type3_font(
    doc: Doc, procs: Mapping[int, tuple[str, bytes]], to_unicode: bytes | None = None
) -> pikepdf.Object:
    """A Type 3 font: code -> (glyph name, procedure). Glyph space is Vera's 2048 units."""
    first, last = min(procs), max(procs)
    widths: list[int] = []
    differences: list[object] = [first]
    for code in range(first, last + 1):
        name, proc = procs.get(code, (".notdef", b"0 0 0 0 0 0 d1\n"))
        widths.append(int(proc.split(b" d1")[0].split()[-6]))
        differences.append(Name("/" + name))
    font = Dictionary(
        Type=Name.Font,
        Subtype=Name.Type3,
        FontBBox=Array([-400, -500, 2400, 2000]),
        FontMatrix=Array([1 / 2048, 0, 0, 1 / 2048, 0, 0]),
        CharProcs=Dictionary({"/" + n: doc.stream(p, FLATE) for n, p in procs.values()}),
        Encoding=Dictionary(Type=Name.Encoding, Differences=Array(differences)),
        FirstChar=first,
        LastChar=last,
        Widths=Array(widths),
        Resources=Dictionary(),
    )
    if to_unicode is not None:
        font.ToUnicode = doc.stream(to_unicode, FLATE)
    return doc.pdf.make_indirect(font)


def to_unicode_cmap(mapping: Mapping[int, str]) -> bytes:
    """A ToUnicode CMap for one-byte codes."""
    lines = [
        b"<%02X> <%s>" % (code, text.encode("utf-16-be").hex().upper().encode())
        for code, text in sorted(mapping.items())
    ]
    return b"\n".join(
        [
            b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
            b"1 begincodespacerange <00> <FF> endcodespacerange",
            b"%d beginbfchar" % len(lines),
            *lines,
            b"endbfchar endcmap CMapName currentdict /CMap defineresource pop end end",
        ]
    )


def renamed_vera(names: Mapping[int, str]) -> bytes:
    """Vera with some ``name`` table entries (name ID -> text) replaced on every platform."""
    font = vera()
    for record in font["name"].names:
        if record.nameID in names:
            record.string = names[record.nameID]
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def _descriptor(doc: Doc, base_font: str, key: str, program: pikepdf.Object) -> Dictionary:
    return Dictionary(
        {
            "/Type": Name.FontDescriptor,
            "/FontName": Name("/" + base_font),
            "/Flags": 32,  # nonsymbolic: codes go through the encoding's glyph names
            "/FontBBox": Array([-183, -236, 1288, 929]),
            "/ItalicAngle": 0,
            "/Ascent": 760,
            "/Descent": -240,
            "/CapHeight": 730,
            "/StemV": 80,
            key: program,
        }
    )


def _widths(first: int, last: int, encoding: Mapping[int, str], units: float) -> Array:
    font = _vera_shared()
    names = font.getGlyphOrder()
    out = []
    for code in range(first, last + 1):
        name = encoding.get(code) or font.getBestCmap().get(code)
        out.append(round(advance(name) * units) if name in names else 0)
    return Array(out)


def truetype_font(
    doc: Doc,
    program: bytes,
    base_font: str,
    differences: Mapping[int, str] | None = None,
    to_unicode: bytes | None = None,
) -> pikepdf.Object:
    """A simple TrueType font embedding a whole Vera-derived program (FontFile2, Flate).
    Without ``differences`` it is WinAnsi; with them, the listed codes draw the named glyphs."""
    codes = dict(differences or {})
    first, last = (min(codes), max(codes)) if codes else (32, 126)
    encoding: object = Name.WinAnsiEncoding
    if codes:
        diff = [x for code in sorted(codes) for x in (code, Name("/" + codes[code]))]
        encoding = Dictionary(BaseEncoding=Name.WinAnsiEncoding, Differences=Array(diff))
    file2 = doc.stream(program, FLATE, Length1=len(program))
    font = Dictionary(
        Type=Name.Font,
        Subtype=Name.TrueType,
        BaseFont=Name("/" + base_font),
        FirstChar=first,
        LastChar=last,
        Widths=_widths(first, last, codes, 1000 / 2048),
        Encoding=encoding,
        FontDescriptor=_descriptor(doc, base_font, "/FontFile2", file2),
    )
    if to_unicode is not None:
        font.ToUnicode = doc.stream(to_unicode, FLATE)
    return doc.pdf.make_indirect(font)


def cff_font(doc: Doc, text: str, ps_name: str, info: Mapping[str, str]) -> pikepdf.Object:
    """A Type 1 font whose program is a bare CFF (FontFile3 /Type1C) holding the glyphs of
    ``text``; ``info`` fills CFF top-dict strings such as FullName and Notice."""
    source = _vera_shared()
    cmap = source.getBestCmap()
    order = [".notdef", *sorted({cmap[ord(c)] for c in text})]
    charstrings, metrics = {}, {}
    for name in order:
        width = round(advance(name) * 1000 / 2048)
        pen = T2CharStringPen(width, None)
        if name != ".notdef":
            source.getGlyphSet()[name].draw(
                TransformPen(pen, (1000 / 2048, 0, 0, 1000 / 2048, 0, 0))
            )
        charstrings[name], metrics[name] = pen.getCharString(), (width, 0)
    builder = FontBuilder(1000, isTTF=False)
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap({ord(c): cmap[ord(c)] for c in text})
    builder.setupCFF(ps_name, dict(info), charstrings, {})
    builder.setupHorizontalMetrics(metrics)
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    program = builder.font.getTableData("CFF ")
    file3 = doc.stream(program, FLATE, Subtype=Name.Type1C)
    font = Dictionary(
        Type=Name.Font,
        Subtype=Name.Type1,
        BaseFont=Name("/" + ps_name),
        FirstChar=32,
        LastChar=126,
        Widths=_widths(32, 126, {}, 1000 / 2048),
        Encoding=Name.WinAnsiEncoding,
        FontDescriptor=_descriptor(doc, ps_name, "/FontFile3", file3),
    )
    return doc.pdf.make_indirect(font)


def reportlab_line(font_file: Path, text: str, x: float, y: float, size: float) -> bytes:
    """A one-page PDF (letter) drawn by reportlab: ``text`` in an embedded subset of
    ``font_file`` with a ToUnicode map, as an ordinary producer would write Unicode text."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont as ReportlabTTFont
    from reportlab.pdfgen.canvas import Canvas

    alias = "Hostile-" + font_file.stem
    if alias not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(ReportlabTTFont(alias, str(font_file)))
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(612, 792), invariant=True)
    canvas.setFont(alias, size)
    canvas.drawString(x, y, text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
