"""Fictional PDFs for the redaction tests, built in memory with reportlab and pypdf.

``agenda_pdf`` is the meeting notes of an invented newsroom in which a source is named: in the
body text of page 2 (with a phone number and a signature drawn from a form XObject) and by an
alias on page 4, and also in every place a naive redaction forgets: the document properties,
XMP, a sticky note, a free-text annotation, a form field, an attachment, an outline entry, the
structure tree's alternate text, page-piece data, a JavaScript open action, and an earlier
revision of the file that spells her name differently. Pages 1 and 3 are about something else
and must survive with their text. Every person and number here is made up.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from pypdf import PdfReader, PdfWriter
from pypdf.actions import JavaScript
from pypdf.annotations import FreeText, Text
from pypdf.generic import (
    ArrayObject,
    BooleanObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    PdfObject,
    RectangleObject,
    TextStringObject,
)
from reportlab.pdfgen.canvas import Canvas

NAME = "Marisol Quintero Vidal"
OLD_NAME = "M. Quintero"  # how the first revision of the notes named her
ALIAS = "la Golondrina"
PHONE = "+52 55 1234 5678"
PAGE1 = "Orden del día: presupuesto de la redacción y calendario de publicación."
PAGE3 = "Acuerdos: revisar las cifras con el área de datos antes del jueves."
ACCENTED = "¿Quién lo sabía? Nadie en Ñuñoa; Pérez tampoco."
LETTER = (612.0, 792.0)

XMP = f"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:creator><rdf:Seq><rdf:li>{NAME}</rdf:li></rdf:Seq></dc:creator>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def _canvas(buffer: io.BytesIO) -> Canvas:
    canvas = Canvas(buffer, pagesize=LETTER, invariant=True)
    # Fonts in a fixed order, so that /F1 and /F2 name the same fonts in every file built here
    # (page 2 of the second revision comes from another file and shares the first's fonts).
    canvas.setFont("Helvetica-Bold", 14)
    return canvas


def _heading_and_lines(canvas: Canvas, heading: str, lines: list[str]) -> None:
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(72, 720, heading)
    canvas.setFont("Helvetica", 11)
    for row, line in enumerate(lines):
        canvas.drawString(72, 690 - 18 * row, line)


def _first_revision() -> bytes:
    buffer = io.BytesIO()
    canvas = _canvas(buffer)
    canvas.setTitle(f"Entrevista con {NAME}")
    canvas.setAuthor(NAME)
    canvas.setSubject(f"Notas sobre {NAME}")
    canvas.setKeywords(f"fuente, {NAME}, {PHONE}")
    _heading_and_lines(canvas, "Reunión de redacción", [PAGE1, "Asistentes: equipo de datos."])
    canvas.showPage()
    _heading_and_lines(canvas, "Entrevista", [f"Nombre: {OLD_NAME}. Teléfono: pendiente."])
    canvas.acroForm.textfield(
        name="fuente", value=NAME, x=72, y=500, width=220, height=20, borderWidth=0
    )
    canvas.showPage()
    _heading_and_lines(canvas, "Cierre", [PAGE3])
    canvas.showPage()
    _heading_and_lines(canvas, "Anexo", [f"La fuente, conocida como {ALIAS}, pidió reserva."])
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _final_page_two() -> bytes:
    """Page 2 as the second revision has it: the full name, the phone, a signature drawn
    through a form XObject, and accented Spanish."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer)
    canvas.beginForm("firma")
    canvas.setFont("Helvetica-Oblique", 10)
    canvas.drawString(72, 420, f"Firma: {NAME}")
    canvas.endForm()
    lines = [
        "Entrevista del 14 de marzo con la fuente.",
        f"Nombre: {NAME}. Teléfono: {PHONE}.",
        ACCENTED,
    ]
    _heading_and_lines(canvas, "Entrevista", lines)
    canvas.doForm("firma")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _stream(writer: PdfWriter, data: bytes, entries: dict[str, PdfObject]) -> PdfObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    stream.update({NameObject(k): v for k, v in entries.items()})
    # pypdf has no public call to add a free-standing stream (thumbnails and page metadata
    # are not something it builds); the private one is fine in a fixture.
    return writer._add_object(stream)


def _thumbnail(writer: PdfWriter) -> PdfObject:
    return _stream(
        writer,
        bytes([200]) * 16,
        {
            "/Width": NumberObject(4),
            "/Height": NumberObject(4),
            "/ColorSpace": NameObject("/DeviceGray"),
            "/BitsPerComponent": NumberObject(8),
        },
    )


def _second_revision(first: bytes) -> bytes:
    """An incremental update of ``first``: new page 2 text, and every hiding place filled."""
    writer = PdfWriter(PdfReader(io.BytesIO(first)), incremental=True)
    page2 = PdfReader(io.BytesIO(_final_page_two())).pages[0]
    resources = page2["/Resources"].clone(writer)
    # One resource dictionary for pages 1 to 3, as many producers write: the kept pages then
    # carry page 2's signature form along unless the redactor narrows their resources.
    shared = writer._add_object(resources.get_object())
    for index in range(3):
        writer.pages[index][NameObject("/Resources")] = shared
    writer.pages[1][NameObject("/Contents")] = page2.raw_get("/Contents").clone(writer)

    writer.add_annotation(0, Text(rect=(400, 700, 420, 720), text=f"Llamar a {NAME}"))
    writer.add_annotation(2, FreeText(text=f"Confirmar con {NAME}", rect=(72, 500, 300, 530)))
    writer.add_attachment("notas.txt", f"Contacto: {NAME}, {PHONE}".encode())
    writer.add_open_action(JavaScript(f"app.alert('{NAME}');"))  # the /Names /JavaScript tree
    writer.root_object[NameObject("/OpenAction")] = writer._add_object(
        DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject(f"app.alert('{NAME}');"),
            }
        )
    )
    writer.add_outline_item(title=f"Entrevista con {NAME}", page_number=1)
    writer.xmp_metadata = XMP
    writer.pages[0][NameObject("/Thumb")] = _thumbnail(writer)
    writer.pages[1][NameObject("/Thumb")] = _thumbnail(writer)
    writer.pages[0][NameObject("/PieceInfo")] = DictionaryObject(
        {
            NameObject("/Redaccion"): DictionaryObject(
                {NameObject("/Private"): TextStringObject(f"fuente: {NAME}")}
            )
        }
    )
    writer.pages[2][NameObject("/Metadata")] = _stream(
        writer, XMP, {"/Type": NameObject("/Metadata"), "/Subtype": NameObject("/XML")}
    )
    writer.pages[1][NameObject("/StructParents")] = NumberObject(0)
    element = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/StructElem"),
            NameObject("/S"): NameObject("/Figure"),
            NameObject("/Alt"): TextStringObject(f"Firma de {NAME}"),
            NameObject("/ActualText"): TextStringObject(NAME),
        }
    )
    writer.root_object[NameObject("/StructTreeRoot")] = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/StructTreeRoot"),
                NameObject("/K"): ArrayObject([writer._add_object(element)]),
            }
        )
    )
    writer.root_object[NameObject("/MarkInfo")] = DictionaryObject(
        {NameObject("/Marked"): BooleanObject(True)}
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def agenda_pdf() -> bytes:
    """Four pages of meeting notes in two revisions; see the module docstring."""
    return _second_revision(_first_revision())


def plain_pdf(pages: list[list[str]], *, size: tuple[float, float] = LETTER) -> bytes:
    """A simple PDF with one line of text per entry, from the top of each page."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=size, invariant=True)
    for lines in pages:
        canvas.setFont("Helvetica", 12)
        for row, line in enumerate(lines):
            canvas.drawString(72, size[1] - 100 - 20 * row, line)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def with_pages_changed(content: bytes, change: Callable[[PdfWriter], None]) -> bytes:
    """``content`` rewritten with ``change`` applied to a pypdf writer (a fresh file)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(content)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def geometry_pdf() -> bytes:
    """Three pages with the same line "XXXX" at (72, 700): upright, /Rotate 90, and one whose
    MediaBox starts at (100, 200) with a smaller CropBox (the text drawn 100/200 further)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=LETTER, invariant=True)
    for dx, dy in ((0, 0), (0, 0), (100, 200)):
        canvas.translate(dx, dy)
        canvas.setFont("Helvetica", 24)
        canvas.drawString(72, 700, "XXXX")
        canvas.showPage()
    canvas.save()

    def change(writer: PdfWriter) -> None:
        writer.pages[1][NameObject("/Rotate")] = NumberObject(90)
        writer.pages[2].mediabox = RectangleObject((100, 200, 712, 992))
        writer.pages[2].cropbox = RectangleObject((150, 250, 700, 990))

    return with_pages_changed(buffer.getvalue(), change)


def non_bmp_pdf() -> bytes:
    """One line "x?y?z" in which each "?" is U+1D400 MATHEMATICAL BOLD CAPITAL A (outside the
    BMP), mapped from Courier's "A" by a ToUnicode CMap: no system font needed."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=LETTER, invariant=True)
    canvas.setFont("Courier", 24)
    canvas.drawString(72, 700, "xAyAz")
    canvas.showPage()
    canvas.save()
    cmap = b"""/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def /CMapType 2 def
1 begincodespacerange <00> <FF> endcodespacerange
4 beginbfchar <41> <D835DC00> <78> <0078> <79> <0079> <7A> <007A> endbfchar
endcmap CMapName currentdict /CMap defineresource pop end end"""

    def change(writer: PdfWriter) -> None:
        fonts = writer.pages[0]["/Resources"]["/Font"]
        for font in fonts.values():
            font = font.get_object()
            if font["/BaseFont"] == "/Courier":
                font[NameObject("/ToUnicode")] = _stream(writer, cmap, {})

    return with_pages_changed(buffer.getvalue(), change)
