"""Cases of class "stream" (the name inside page content or resource streams) and "name"
(the name spelled as a PDF name object). Most hide on page 2, which has no visible occurrence:
a redactor that keeps page 2 as it is carries the hidden bytes along."""

from __future__ import annotations

from pikepdf import Array, Dictionary, Name, String

from . import fonts
from .pdfkit import (
    FLATE,
    NAME,
    SURNAME,
    Doc,
    PdfSpec,
    literal,
    registrar,
    splice,
    text_ops,
    utf16be,
)
from .pictures import exif, gray_icc, harmless_image, jpeg, xmp

SPECS: list[PdfSpec] = []
case = registrar(SPECS)
LATIN = NAME.encode("latin-1")
OCTAL = b"(" + b"".join(b"\\%03o" % c for c in LATIN) + b")"  # every byte an octal escape


def _hex(data: bytes) -> bytes:
    return b"<" + data.hex().upper().encode() + b">"


# --- content streams


@case("stream-comment", "stream", "page 2 content stream: a comment line naming her (Flate)")
def _comment(doc: Doc) -> bytes:
    doc.add_content(2, b"% " + LATIN + b"\n0 0 m\n")
    return doc.save()


@case("stream-comment-hex-flate", "stream", "page 1 comment, filters ASCIIHex + Flate")
def _comment_chain(doc: Doc) -> bytes:
    doc.add_content(1, b"% revisado con " + LATIN + b"\n", ("/ASCIIHexDecode", "/FlateDecode"))
    return doc.save()


@case("stream-comment-utf16le", "stream", "page 1 comment in UTF-16LE bytes (RunLength)")
def _comment_utf16(doc: Doc) -> bytes:
    doc.add_content(1, b"% " + NAME.encode("utf-16-le") + b"\n", ("/RunLengthDecode",))
    return doc.save()


def _span(properties: bytes, shown: str, tag: bytes = b"/Span", y: int = 560) -> bytes:
    return tag + b" " + properties + b" BDC\n" + text_ops(72, y, shown) + b"EMC\n"


@case("mc-actualtext", "stream", "page 2 /Span <</ActualText (name)>> BDC, ASCII85 + Flate")
def _actual_text(doc: Doc) -> bytes:
    ops = _span(b"<< /ActualText " + literal(NAME) + b" >>", "Firma ilegible.")
    doc.add_content(2, ops, ("/ASCII85Decode", "/FlateDecode"))
    return doc.save()


@case("mc-actualtext-utf16", "stream", "page 1 ActualText as a UTF-16BE hex string with BOM")
def _actual_text_utf16(doc: Doc) -> bytes:
    doc.add_content(1, _span(b"<< /ActualText " + _hex(utf16be(NAME)) + b" >>", "Nota.", y=600))
    return doc.save()


@case("mc-alt", "stream", "page 2 /Figure <</Alt (...)>> BDC around a grey box (LZW)")
def _alt(doc: Doc) -> bytes:
    ops = (
        b"/Figure << /Alt "
        + literal(f"Foto de {NAME}")
        + b" >> BDC\n0.8 g 72 500 120 60 re f\nEMC\n"
    )
    doc.add_content(2, ops, ("/LZWDecode",))
    return doc.save()


@case("mc-expansion", "stream", "page 2 /Span <</E (name)>> expansion of the shown 'M. Q.'")
def _expansion(doc: Doc) -> bytes:
    doc.add_content(2, _span(b"<< /E " + literal(NAME) + b" >>", "M. Q."))
    return doc.save()


@case(
    "mc-named-properties",
    "stream",
    "page 2 /Span /MC0 BDC; /Resources /Properties /MC0 holds ActualText (object stream)",
)
def _named_properties(doc: Doc) -> bytes:
    doc.resource(2, "Properties", "MC0", Dictionary(ActualText=String(NAME)))
    doc.add_content(2, _span(b"/MC0", "Firma."))
    return doc.save(object_streams=True)


@case("bx-ex-operator", "stream", "page 2 BX (octal-escaped name) unknownop EX (Flate)")
def _compat(doc: Doc) -> bytes:
    doc.add_content(2, b"BX " + OCTAL + b" 0 mQ EX\n")
    return doc.save()


@case("inline-image-data", "stream", "page 2 inline image whose sample bytes are the ASCII name")
def _inline_image(doc: Doc) -> bytes:
    head = b"BI /W %d /H 1 /BPC 8 /CS /G ID " % len(LATIN)
    doc.add_content(2, b"160 0 0 8 72 540 cm\n" + head + LATIN + b"\nEI\n")
    return doc.save()


def _name_pattern(doc: Doc) -> object:
    return doc.form(
        text_ops(2, 6, NAME, 10),
        bbox=(0, 0, 110, 20),
        Type=Name.Pattern,
        PatternType=1,
        PaintType=1,
        TilingType=1,
        XStep=110,
        YStep=20,
    )


@case(
    "pattern-unused",
    "stream",
    "page 2 /Resources /Pattern: an unused tiling pattern drawing the name",
)
def _pattern_unused(doc: Doc) -> bytes:
    doc.resource(2, "Pattern", "P0", _name_pattern(doc))
    return doc.save()


@case(
    "pattern-visible",
    "stream",
    "page 2 rectangle filled with a tiling pattern whose cell is the name",
)
def _pattern_visible(doc: Doc) -> bytes:
    doc.resource(2, "Pattern", "P1", _name_pattern(doc))
    doc.add_content(2, b"/Pattern cs /P1 scn 72 440 440 60 re f\n")
    return doc.save()


@case("smask-group", "stream", "page 2 ExtGState soft mask whose /G group draws the name")
def _smask(doc: Doc) -> bytes:
    group = doc.form(
        text_ops(72, 400, NAME, 24), Group=Dictionary(S=Name.Transparency, CS=Name.DeviceGray)
    )
    mask = Dictionary(Type=Name.Mask, S=Name.Luminosity, G=group)
    doc.resource(2, "ExtGState", "GS0", Dictionary(Type=Name.ExtGState, SMask=mask))
    doc.add_content(2, b"/GS0 gs 0.9 g 72 380 300 40 re f\n")
    return doc.save()


@case("form-unused", "stream", "page 1 /XObject: a form never drawn, naming her (ASCII85 + Flate)")
def _form_unused(doc: Doc) -> bytes:
    form = doc.form(text_ops(72, 300, NAME), ("/ASCII85Decode", "/FlateDecode"))
    doc.resource(1, "XObject", "Fm0", form)
    return doc.save()


@case("form-clipped", "stream", "page 2 form drawn, but its /BBox clips the name away")
def _form_clipped(doc: Doc) -> bytes:
    doc.draw_form(2, "Fm1", doc.form(text_ops(72, 300, NAME), bbox=(0, 0, 10, 10)))
    return doc.save()


@case("type3-comment", "stream", "page 2 Type 3 font: glyph procedures carry a comment naming her")
def _type3_comment(doc: Doc) -> bytes:
    box = b"%% %s\n900 0 0 0 800 800 d1\n0 0 800 800 re f\n" % LATIN
    doc.resource(2, "Font", "T3", fonts.type3_font(doc, {65: ("box", box)}))
    doc.add_content(2, b"BT /T3 11 Tf 72 560 Td (AAA) Tj ET\n")
    return doc.save()


@case(
    "font-name-table", "stream", "page 2 embedded TrueType (FontFile2): name table entries name her"
)
def _font_name_table(doc: Doc) -> bytes:
    program = fonts.renamed_vera({1: NAME, 3: NAME, 4: NAME, 6: "VeraNotas"})
    doc.resource(2, "Font", "FV", fonts.truetype_font(doc, program, "VeraNotas"))
    doc.add_content(2, text_ops(72, 560, "Firmado y sellado.", font="/FV"))
    return doc.save()


@case("font-cff-strings", "stream", "page 2 FontFile3/Type1C: CFF FullName and Notice name her")
def _font_cff(doc: Doc) -> bytes:
    shown = "Firmado y sellado."
    info = {"FullName": NAME, "Notice": f"Trazada para {NAME}", "FamilyName": "Vera Notas"}
    doc.resource(2, "Font", "FC", fonts.cff_font(doc, shown, "VeraNotas", info))
    doc.add_content(2, text_ops(72, 560, shown, font="/FC"))
    return doc.save()


def _type1_program() -> tuple[bytes, bytes, bytes]:
    """A tiny Type 1 font whose eexec-encrypted CharStrings have a glyph named after her:
    its clear-text, encrypted and trailer parts."""

    def crypt(plain: bytes, key: int) -> bytes:
        out = bytearray()
        for byte in plain:
            cipher = byte ^ (key >> 8)
            out.append(cipher)
            key = ((cipher + key) * 52845 + 22719) & 0xFFFF
        return bytes(out)

    glyph = crypt(b"\x00\x00\x00\x00" + bytes([139, 248, 136, 13, 14]), 4330)  # 0 500 hsbw endchar
    glyph_name = NAME.replace(" ", "").encode()
    private = b"".join(
        [
            b"dup /Private 8 dict dup begin\n",
            b"/RD {string currentfile exch readstring pop} executeonly def\n",
            b"/ND {noaccess def} executeonly def\n/NP {noaccess put} executeonly def\n",
            b"/BlueValues [] ND\n/MinFeature {16 16} ND\n/password 5839 def\n/lenIV 4 def\n",
            b"2 index /CharStrings 2 dict dup begin\n",
            b"/.notdef %d RD %s ND\n/%s %d RD %s ND\n"
            % (len(glyph), glyph, glyph_name, len(glyph), glyph),
            b"end\nend\nreadonly put\nnoaccess put\ndup /FontName get exch definefont pop\n",
            b"mark currentfile closefile\n",
        ]
    )
    clear = (
        b"%!PS-AdobeFont-1.0: Notas 001.000\n11 dict begin\n/FontName /Notas def\n"
        b"/Encoding StandardEncoding def\n/PaintType 0 def\n/FontType 1 def\n"
        b"/FontMatrix [0.001 0 0 0.001 0 0] readonly def\n/FontBBox {0 0 500 700} readonly def\n"
        b"currentdict end\ncurrentfile eexec\n"
    )
    return (
        clear,
        crypt(b"\x00\x00\x00\x00" + private, 55665),
        b"\n" + b"0" * 512 + b"\ncleartomark\n",
    )


@case("font-type1-eexec", "stream", "page 2 unused Type 1 font (FontFile): glyph name inside eexec")
def _font_type1(doc: Doc) -> bytes:
    clear, private, trailer = _type1_program()
    program = clear + private + trailer
    file1 = doc.stream(
        program, FLATE, Length1=len(clear), Length2=len(private), Length3=len(trailer)
    )
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name.Notas,
        Flags=32,
        FontBBox=Array([0, 0, 500, 700]),
        ItalicAngle=0,
        Ascent=700,
        Descent=0,
        CapHeight=700,
        StemV=80,
        FontFile=file1,
    )
    font = Dictionary(
        Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Notas, FontDescriptor=descriptor
    )
    doc.resource(2, "Font", "F1n", doc.pdf.make_indirect(font))
    return doc.save()


def _gray_image(doc: Doc, colour_space: object) -> object:
    pixels = bytes(range(0, 256, 4)) * 16
    return doc.stream(
        pixels,
        FLATE,
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=64,
        Height=16,
        BitsPerComponent=8,
        ColorSpace=colour_space,
    )


@case(
    "icc-image",
    "stream",
    "page 2 image in ICCBased gray space; the profile's Unicode desc is her name",
)
def _icc_image(doc: Doc) -> bytes:
    icc = doc.stream(gray_icc("Gris 2.2", NAME), FLATE, N=1)
    doc.resource(2, "XObject", "Im0", _gray_image(doc, Array([Name.ICCBased, icc])))
    doc.add_content(2, b"128 0 0 32 72 520 cm /Im0 Do\n")
    return doc.save()


@case(
    "icc-page-colorspace",
    "stream",
    "page 1 /ColorSpace /CS0 ICCBased fill; ASCII desc names her (A85+Flate)",
)
def _icc_colour_space(doc: Doc) -> bytes:
    profile = gray_icc(f"Perfil de {NAME}", "Gris")
    icc = doc.stream(profile, ("/ASCII85Decode", "/FlateDecode"), N=1)
    doc.resource(1, "ColorSpace", "CS0", Array([Name.ICCBased, icc]))
    doc.add_content(1, b"/CS0 cs 0.85 sc 72 560 200 20 re f\n")
    return doc.save()


def _jpeg_xobject(doc: Doc, data: bytes, filters: tuple[str, ...]) -> None:
    """A JPEG image XObject; ``filters`` ends with /DCTDecode (the JPEG bytes themselves)."""
    width, height = harmless_image().size
    image = doc.stream(
        data,
        filters[:-1],
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=width,
        Height=height,
        BitsPerComponent=8,
        ColorSpace=Name.DeviceGray,
    )
    image.Filter = Array([Name(f) for f in filters])
    doc.resource(2, "XObject", "Jp0", image)
    doc.add_content(2, b"180 0 0 60 72 500 cm /Jp0 Do\n")


@case(
    "jpeg-xobject-metadata",
    "stream",
    "page 2 DCT image; the JPEG has EXIF Artist, XMP and a COM naming her",
)
def _jpeg_metadata(doc: Doc) -> bytes:
    data = jpeg(harmless_image(), exif=exif({0x013B: NAME}), xmp=xmp(NAME), comment=LATIN)
    _jpeg_xobject(doc, data, ("/DCTDecode",))
    return doc.save()


@case(
    "jpeg-xobject-flate",
    "stream",
    "page 2 image with [/FlateDecode /DCTDecode]: JPEG COM (UTF-16LE) inside",
)
def _jpeg_flate(doc: Doc) -> bytes:
    data = jpeg(harmless_image(), comment=NAME.encode("utf-16-le"))
    _jpeg_xobject(doc, data, ("/FlateDecode", "/DCTDecode"))
    return doc.save()


# --- names


@case(
    "name-font-key", "name", "page 2 /Font << /MarisolQuintero >> used by Tf (object stream, Flate)"
)
def _font_key(doc: Doc) -> bytes:
    doc.resource(2, "Font", "MarisolQuintero", doc.helv)
    doc.add_content(2, text_ops(72, 560, "Visto bueno.", font="/MarisolQuintero"))
    return doc.save(object_streams=True)


@case(
    "name-font-key-escaped",
    "name",
    "page 2 font key /Marisol#20Quintero, used as /#4D#61risol#20Quin#74ero Tf",
)
def _font_key_escaped(doc: Doc) -> bytes:
    doc.resource(2, "Font", NAME, doc.helv)
    doc.add_content(2, text_ops(72, 560, "Visto bueno.", font="/#4D#61risol#20Quin#74ero"))
    return doc.save()


@case(
    "name-basefont",
    "name",
    "page 2 embedded Vera whose /BaseFont and /FontName name her (object stream)",
)
def _base_font(doc: Doc) -> bytes:
    font = fonts.truetype_font(doc, fonts.VERA.read_bytes(), "MarisolQuintero-Regular")
    doc.resource(2, "Font", "FB", font)
    doc.add_content(2, text_ops(72, 560, "Visto bueno.", font="/FB"))
    return doc.save(object_streams=True)


@case(
    "name-differences",
    "name",
    "page 2 font /Encoding /Differences [128 /MarisolQuintero] (object stream)",
)
def _differences(doc: Doc) -> bytes:
    encoding = Dictionary(
        BaseEncoding=Name.WinAnsiEncoding, Differences=Array([128, Name.MarisolQuintero])
    )
    font = Dictionary(
        Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica, Encoding=encoding
    )
    doc.resource(2, "Font", "FD", doc.pdf.make_indirect(font))
    doc.add_content(2, text_ops(72, 560, "Visto bueno.", font="/FD"))
    return doc.save(object_streams=True)


@case(
    "name-extgstate-surname",
    "name",
    "page 2 /ExtGState /Quintero used by gs (object stream)",
    (NAME, SURNAME),
)
def _ext_g_state(doc: Doc) -> bytes:
    doc.resource(2, "ExtGState", SURNAME, Dictionary(Type=Name.ExtGState, CA=1))
    doc.add_content(2, b"/Quintero gs 0 0 m\n")
    return doc.save(object_streams=True)


@case(
    "name-escaped-surname",
    "name",
    "catalog key written /#51uin#74ero (hex escapes in the file)",
    (NAME, SURNAME),
)
def _escaped_key(doc: Doc) -> bytes:
    placeholder = b"/" + b"Z" * 12
    doc.pdf.Root[Name(placeholder.decode())] = True
    return splice(doc.save(), placeholder, b"/#51uin#74ero")
