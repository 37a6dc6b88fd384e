"""Cases of class "string" (the name in string objects, odd encodings and dead parts of the
file), "confusable" (look-alike spellings) and "visual" (text only a human or OCR can read)."""

from __future__ import annotations

import io

import pikepdf
from pikepdf import Array, Dictionary, Name, String
from PIL import Image
from reportlab.pdfbase.pdfmetrics import stringWidth

from . import fonts
from .pdfkit import (
    FLATE,
    NAME,
    SURNAME,
    Doc,
    PdfSpec,
    append_revision,
    literal,
    raw_stream,
    registrar,
    splice,
    text_ops,
    trailer_value,
    utf16be,
)
from .pictures import text_image, xmp

SPECS: list[PdfSpec] = []
case = registrar(SPECS)
LATIN = NAME.encode("latin-1")
# Look-alike letters are written as escapes, so that the source shows what they are.
CYRILLIC = "\u041caris\u043el Quint\u0435ro"  # Cyrillic capital em, small o and ie
GREEK = "\u039c\u03b1r\u03b9s\u03bfl Q\u03c5\u03b9nt\u03b5r\u03bf"  # Mu, alpha, iota, ...
FULLWIDTH = "".join(chr(ord(c) + 0xFEE0) if c != " " else "\u3000" for c in NAME)
MATH_BOLD = "".join(
    chr(0x1D400 + ord(c) - 65) if c.isupper() else chr(0x1D41A + ord(c) - 97) if c.islower() else c
    for c in NAME
)


def image_xobject(doc: Doc, image: Image.Image, **entries: object) -> pikepdf.Stream:
    """A Flate-compressed image XObject (8-bit gray, or a 1-bit stencil mask)."""
    if image.mode == "1":
        entries.update(ImageMask=True)
    else:
        image = image.convert("L")
        entries.update(ColorSpace=Name.DeviceGray, BitsPerComponent=8)
    entries.setdefault("Type", Name.XObject)
    entries.setdefault("Subtype", Name.Image)
    return doc.stream(image.tobytes(), FLATE, Width=image.width, Height=image.height, **entries)


def draw_image(
    doc: Doc, page: int, key: str, image: pikepdf.Stream, x: float, y: float, scale: float
) -> None:
    doc.resource(page, "XObject", key, image)
    width, height = int(image.Width) * scale, int(image.Height) * scale
    doc.add_content(page, b"%g 0 0 %g %g %g cm /%s Do\n" % (width, height, x, y, key.encode()))


def _span_utf16(text: str, shown: str) -> bytes:
    actual = b"<" + utf16be(text).hex().upper().encode() + b">"
    return b"/Span << /ActualText " + actual + b" >> BDC\n" + text_ops(72, 560, shown) + b"EMC\n"


# --- strings


@case(
    "string-soft-hyphen",
    "string",
    "page 2 custom key /VaultNota: 0xAD + Latin-1 name, not valid text (object stream)",
)
def _soft_hyphen(doc: Doc) -> bytes:
    doc.page(2).VaultNota = String(b"\xad" + LATIN)
    return doc.save(object_streams=True)


@case(
    "string-utf16be-odd",
    "string",
    "catalog /Notas: BOM + UTF-16BE name + one stray byte (object stream)",
)
def _utf16_odd(doc: Doc) -> bytes:
    doc.pdf.Root.Notas = String(utf16be(NAME) + b"!")
    return doc.save(object_streams=True)


@case(
    "string-utf16le",
    "string",
    "page 2 /Resources custom key /Memo: UTF-16LE without BOM (hex string)",
)
def _utf16le(doc: Doc) -> bytes:
    doc.page(2).Resources.Memo = String(NAME.encode("utf-16-le"))
    return doc.save()


@case("string-hex", "string", "catalog /Resumen written as a hex string <4D61...>")
def _hex_string(doc: Doc) -> bytes:
    doc.pdf.Root.Resumen = String("Z" * 2 * len(LATIN))
    hex_token = b"<" + LATIN.hex().upper().encode() + b">"
    return splice(doc.save(), b"(" + b"Z" * 2 * len(LATIN) + b")", hex_token)


@case(
    "string-octal", "string", "page 1 custom key /Nota: every byte an octal escape (\\115\\141...)"
)
def _octal_string(doc: Doc) -> bytes:
    octal = b"(" + b"".join(b"\\%03o" % c for c in LATIN) + b")"
    doc.page(1).Nota = String("Z" * (len(octal) - 2))
    return splice(doc.save(), b"(" + b"Z" * (len(octal) - 2) + b")", octal)


@case("string-trailer", "string", "trailer dictionary custom key /Nota (UTF-16BE)")
def _trailer(doc: Doc) -> bytes:
    doc.pdf.trailer.Nota = String(utf16be(NAME))
    return doc.save()


@case("string-document-id", "string", "first /ID string in the trailer: the 16 name bytes as hex")
def _document_id(doc: Doc) -> bytes:
    data = doc.save()  # a fixed 16-byte ID, which the 16 bytes of the name replace
    ident = trailer_value(data, b"ID")
    first = ident[1 : ident.index(b">") + 1]
    return splice(data, ident, ident.replace(first, b"<" + LATIN.hex().upper().encode() + b">", 1))


def _next_number(data: bytes) -> int:
    return int(trailer_value(data, b"Size"))


@case(
    "orphan-object",
    "string",
    "an annotation dict nothing points at, in an appended xref section (UTF-16LE)",
)
def _orphan_object(doc: Doc) -> bytes:
    data = doc.save()
    body = (
        b"<< /Type /Annot /Subtype /Text /Contents <%s> >>"
        % NAME.encode("utf-16-le").hex().encode()
    )
    return append_revision(data, {_next_number(data): body})


@case("orphan-stream", "string", "an unreachable Flate stream, listed in an appended xref section")
def _orphan_stream(doc: Doc) -> bytes:
    data = doc.save()
    return append_revision(data, {_next_number(data): raw_stream(b"Contacto: " + LATIN)})


@case(
    "incremental-old-content",
    "string",
    "revision 1's page 2 stream (Flate) named her; revision 2 replaced it",
)
def _old_content(doc: Doc) -> bytes:
    doc.add_content(2, text_ops(72, 560, f"Fuente: {NAME}."))
    data = doc.save()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        number = pdf.pages[1].Contents[-1].objgen[0]
    fresh = raw_stream(b"q\n" + text_ops(72, 560, "Fuente: reservada.") + b"Q\n")
    return append_revision(data, {number: fresh})


@case(
    "incremental-old-info",
    "string",
    "revision 1's /Info /Author (UTF-16BE) named her; revision 2 replaced /Info",
)
def _old_info(doc: Doc) -> bytes:
    doc.pdf.docinfo.Author = String(utf16be(NAME))
    doc.pdf.docinfo.Title = "Notas de la reunión"
    data = doc.save()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        number = pdf.trailer.Info.objgen[0]
    return append_revision(data, {number: b"<< /Author (Redaccion) /Title (Notas) >>"})


@case("trailing-bytes", "string", "the name in UTF-16LE after the final %%EOF")
def _trailing(doc: Doc) -> bytes:
    return doc.save() + NAME.encode("utf-16-le") + b"\n"


# --- confusables


@case(
    "confusable-cyrillic-visible",
    "confusable",
    "page 1 visible line with Cyrillic em, o, ie in embedded DejaVu Sans"
    " (ActualText if the font is missing)",
)
def _cyrillic(doc: Doc) -> bytes:
    font = fonts.system_font("DejaVuSans.ttf")
    if font is None:  # no Cyrillic font here: the look-alike spelling lives in ActualText only
        doc.add_content(1, _span_utf16(CYRILLIC, "Firma."))
    else:
        doc.draw_form(
            1, "Fr0", doc.copy_page(fonts.reportlab_line(font, f"Firma: {CYRILLIC}", 72, 600, 12))
        )
    return doc.save()


@case(
    "confusable-greek",
    "confusable",
    "page 2 sticky note /Contents: the name with Greek Mu, alpha, iota, omicron, upsilon, epsilon",
)
def _greek(doc: Doc) -> bytes:
    note = Dictionary(
        Type=Name.Annot, Subtype=Name.Text, Rect=Array([500, 700, 520, 720]), Contents=String(GREEK)
    )
    doc.page(2).Annots = Array([doc.pdf.make_indirect(note)])
    return doc.save()


@case("confusable-fullwidth", "confusable", "/Info /Title in fullwidth letters (UTF-16BE)")
def _fullwidth(doc: Doc) -> bytes:
    doc.pdf.docinfo.Title = String(FULLWIDTH)
    return doc.save()


@case(
    "confusable-math-bold",
    "confusable",
    "page 2 ActualText in mathematical bold letters (UTF-16BE surrogates)",
)
def _math_bold(doc: Doc) -> bytes:
    doc.add_content(2, _span_utf16(MATH_BOLD, "Firma."))
    return doc.save()


@case("confusable-accents", "confusable", "/Info /Subject 'Marisól Quíntero' in PDFDocEncoding")
def _accents(doc: Doc) -> bytes:
    doc.pdf.docinfo.Subject = String("Marisól Quíntero".encode("latin-1"))
    return doc.save()


@case(
    "confusable-zero-width",
    "confusable",
    "XMP dc:creator with a zero-width space and a soft hyphen inside the name (Flate)",
)
def _zero_width(doc: Doc) -> bytes:
    packet = xmp("Mari\u200bsol Quin\u00adtero")
    doc.pdf.Root.Metadata = doc.stream(packet, FLATE, Type=Name.Metadata, Subtype=Name.XML)
    return doc.save()


@case(
    "confusable-letterspaced",
    "confusable",
    "page 2 visible 'M a r i s o l   Q u i n t e r o' (Helvetica 11)",
)
def _letterspaced(doc: Doc) -> bytes:
    doc.add_content(2, text_ops(72, 560, " ".join(NAME)))
    return doc.save()


@case(
    "confusable-cyrillic-surname",
    "confusable",
    "outline title: the surname with Cyrillic i, ie, o",
    (NAME, SURNAME),
)
def _cyrillic_surname(doc: Doc) -> bytes:
    outlines = doc.pdf.make_indirect(Dictionary(Type=Name.Outlines, Count=1))
    title = "Entrevista Qu\u0456nt\u0435r\u043e"
    item = Dictionary(Title=String(title), Parent=outlines, Dest=Array([doc.page(2), Name.Fit]))
    outlines.First = outlines.Last = doc.pdf.make_indirect(item)
    doc.pdf.Root.Outlines = outlines
    return doc.save()


# --- visual


@case(
    "visual-vector-outlines",
    "visual",
    "page 2 the name as filled Vera glyph outlines: paths, no text",
)
def _outlines(doc: Doc) -> bytes:
    doc.add_content(2, fonts.outline_ops(NAME, 72, 520, 24))
    return doc.save()


@case(
    "visual-raster-image",
    "visual",
    "the name in pixels (Vera 40 px), one image XObject drawn on pages 1 and 2",
)
def _raster(doc: Doc) -> bytes:
    image = image_xobject(doc, text_image(NAME, 40))
    for page in (1, 2):
        draw_image(doc, page, "ImN", image, 72, 480, 0.6)
    return doc.save()


def _scrambled(chars: str) -> list[str]:
    unique = sorted(set(chars))
    return unique[1::2] + unique[0::2]  # a fixed shuffle: codes must not follow the spelling


@case(
    "visual-lying-tounicode",
    "visual",
    "page 2 Vera TrueType: codes remapped by /Differences, ToUnicode maps every glyph to 'x'",
)
def _lying(doc: Doc) -> bytes:
    codes = {char: 0xC0 + i for i, char in enumerate(_scrambled(NAME))}
    differences = {code: fonts.glyph_name(char) for char, code in codes.items()}
    cmap = fonts.to_unicode_cmap(dict.fromkeys(codes.values(), "x"))
    font = fonts.truetype_font(doc, fonts.VERA.read_bytes(), "VeraNotas", differences, cmap)
    doc.resource(2, "Font", "FL", font)
    shown = bytes(codes[char] for char in NAME)
    doc.add_content(2, b"BT /FL 20 Tf 72 520 Td " + literal(shown) + b" Tj ET\n")
    return doc.save()


@case(
    "visual-type3-letters",
    "visual",
    "page 2 Type 3 font whose procedures draw the letters; glyphs named g0.., no ToUnicode",
)
def _type3_letters(doc: Doc) -> bytes:
    codes = {char: 0x21 + i for i, char in enumerate(_scrambled(NAME))}
    procs = {
        code: (f"g{code - 0x21}", fonts.glyph_proc(fonts.glyph_name(char)))
        for char, code in codes.items()
    }
    doc.resource(2, "Font", "T3L", fonts.type3_font(doc, procs))
    shown = bytes(codes[char] for char in NAME)
    doc.add_content(2, b"BT /T3L 20 Tf 72 520 Td " + literal(shown) + b" Tj ET\n")
    return doc.save()


@case("visual-inverted-image", "visual", "page 2 image: the name white on black")
def _inverted(doc: Doc) -> bytes:
    draw_image(doc, 2, "ImI", image_xobject(doc, text_image(NAME, 40, invert=True)), 72, 480, 0.6)
    return doc.save()


@case(
    "visual-image-mask",
    "visual",
    "page 2 1-bit stencil /ImageMask shaped like the name, painted black",
)
def _image_mask(doc: Doc) -> bytes:
    mask = text_image(NAME, 40).point(lambda v: 255 if v > 128 else 0).convert("1")
    draw_image(doc, 2, "ImM", image_xobject(doc, mask), 72, 480, 0.6)
    return doc.save()


@case(
    "visual-shuffled-letters",
    "visual",
    "page 2 one Tj per letter, drawn in scrambled order at the right places",
)
def _shuffled(doc: Doc) -> bytes:
    order = sorted(range(len(NAME)), key=lambda i: (i * 7) % len(NAME))
    ops = b"".join(
        text_ops(72 + stringWidth(NAME[:i], "Helvetica", 14), 540, NAME[i], 14) for i in order
    )
    doc.add_content(2, ops)
    return doc.save()


@case(
    "visual-tj-kerning",
    "visual",
    "page 2 the name split across a TJ array with kerning: [(Ma) 20 (ri) ...]",
)
def _kerning(doc: Doc) -> bytes:
    pieces = [NAME[i : i + 2] for i in range(0, len(NAME), 2)]
    array = b" 20 ".join(literal(piece) for piece in pieces)
    doc.add_content(2, b"BT /Helv 14 Tf 72 540 Td [" + array + b"] TJ ET\n")
    return doc.save()
