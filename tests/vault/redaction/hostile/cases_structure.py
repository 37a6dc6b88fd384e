"""Cases of class "structure": the name in document-level objects (annotations, forms,
attachments, outlines, name trees, metadata, layers, threads, thumbnails) and in text that is
on a page but not seen (outside the crop box, invisible, tiny, white, covered by a box)."""

from __future__ import annotations

import io

from pikepdf import Array, Dictionary, Encryption, Name, String

from .cases_text import image_xobject
from .pdfkit import FLATE, NAME, SURNAME, Doc, PdfSpec, literal, registrar, text_ops, utf16be
from .pictures import text_image, xmp

SPECS: list[PdfSpec] = []
case = registrar(SPECS)


def _annotate(doc: Doc, page: int, **entries: object) -> Dictionary:
    entries.setdefault("Rect", Array([400, 560, 540, 590]))
    annot = doc.pdf.make_indirect(
        Dictionary({"/Type": Name.Annot, **{"/" + k: v for k, v in entries.items()}})
    )
    annots = doc.page(page).get("/Annots", Array())
    doc.page(page).Annots = Array([*annots, annot])
    return annot


def _names(doc: Doc, tree: str, key: str | bytes, value: object) -> None:
    """One entry in a document-level name tree (/Root /Names /tree)."""
    if "/Names" not in doc.pdf.Root:
        doc.pdf.Root.Names = Dictionary()
    doc.pdf.Root.Names[Name("/" + tree)] = Dictionary(Names=Array([String(key), value]))


def _attach(doc: Doc, filename: str, data: bytes, desc: str = "Notas") -> None:
    embedded = doc.stream(data, FLATE, Type=Name.EmbeddedFile, Params=Dictionary(Size=len(data)))
    spec = Dictionary(
        Type=Name.Filespec,
        F=String(filename),
        UF=String(filename),
        Desc=String(desc),
        EF=Dictionary(F=embedded),
    )
    _names(doc, "EmbeddedFiles", filename, doc.pdf.make_indirect(spec))


# --- annotations and forms


@case("annot-contents", "structure", "page 2 sticky note: /Contents in UTF-16BE")
def _contents(doc: Doc) -> bytes:
    _annotate(
        doc,
        2,
        Subtype=Name.Text,
        Contents=String(utf16be(f"Llamar a {NAME}")),
        T=String("Redacción"),
    )
    return doc.save()


@case("annot-author", "structure", "page 2 highlight whose author /T names her, /Contents harmless")
def _author(doc: Doc) -> bytes:
    quad = Array([72, 705, 400, 705, 72, 690, 400, 690])
    _annotate(
        doc, 2, Subtype=Name.Highlight, QuadPoints=quad, T=String(NAME), Contents=String("Revisar")
    )
    return doc.save()


@case(
    "annot-hidden-appearance",
    "structure",
    "page 2 hidden (/F 2) FreeText whose appearance stream draws the name",
)
def _hidden_appearance(doc: Doc) -> bytes:
    appearance = doc.form(text_ops(2, 8, NAME), bbox=(0, 0, 140, 30))
    _annotate(
        doc,
        2,
        Subtype=Name.FreeText,
        F=2,
        Contents=String("Pendiente"),
        DA=String("/Helv 11 Tf 0 g"),
        AP=Dictionary(N=appearance),
    )
    return doc.save()


@case(
    "form-field-value",
    "structure",
    "AcroForm text field on page 2: /V and /DV, appearance draws it",
)
def _form_field(doc: Doc) -> bytes:
    appearance = doc.form(text_ops(2, 6, NAME), bbox=(0, 0, 200, 20))
    widget = _annotate(
        doc,
        2,
        Subtype=Name.Widget,
        FT=Name.Tx,
        T=String("fuente"),
        V=String(NAME),
        DV=String(NAME),
        Rect=Array([72, 540, 272, 560]),
        DA=String("/Helv 11 Tf 0 g"),
        AP=Dictionary(N=appearance),
        P=doc.page(2),
    )
    doc.pdf.Root.AcroForm = Dictionary(
        Fields=Array([widget]),
        DA=String("/Helv 11 Tf 0 g"),
        DR=Dictionary(Font=Dictionary(Helv=doc.helv)),
    )
    return doc.save()


@case("link-uri", "structure", "page 2 link annotation whose URI carries the name (%20-encoded)")
def _link(doc: Doc) -> bytes:
    action = Dictionary(S=Name.URI, URI=String("https://example.org/buscar?q=Marisol%20Quintero"))
    _annotate(doc, 2, Subtype=Name.Link, A=action, Border=Array([0, 0, 0]))
    return doc.save()


# --- document-level objects


@case("attachment", "structure", "embedded file notas.txt (Flate) whose text names her")
def _attachment(doc: Doc) -> bytes:
    _attach(doc, "notas.txt", f"Contacto: {NAME}, 5550 1234.".encode())
    return doc.save()


@case(
    "attachment-filename",
    "structure",
    "embedded file named after her; harmless content",
    (NAME, SURNAME),
)
def _attachment_name(doc: Doc) -> bytes:
    _attach(doc, "Quintero_notas.txt", b"Sin novedades.")
    return doc.save()


@case(
    "attachment-nested-pdf",
    "structure",
    "embedded PDF whose page 2 content (object streams) names her",
)
def _nested(doc: Doc) -> bytes:
    inner = Doc(visible=False)
    inner.add_content(2, text_ops(72, 560, f"Fuente: {NAME}"))
    _attach(doc, "anexo.pdf", inner.save(object_streams=True), "Anexo")
    return doc.save()


@case("outline-title", "structure", "outline (bookmark) title in UTF-16BE")
def _outline(doc: Doc) -> bytes:
    outlines = doc.pdf.make_indirect(Dictionary(Type=Name.Outlines, Count=1))
    item = Dictionary(
        Title=String(utf16be(f"Entrevista con {NAME}")),
        Parent=outlines,
        Dest=Array([doc.page(2), Name.Fit]),
    )
    outlines.First = outlines.Last = doc.pdf.make_indirect(item)
    doc.pdf.Root.Outlines = outlines
    return doc.save()


@case("page-labels", "structure", "/PageLabels prefix /P names her")
def _page_labels(doc: Doc) -> bytes:
    doc.pdf.Root.PageLabels = Dictionary(
        Nums=Array([0, Dictionary(S=Name.D, P=String(f"{NAME} - "))])
    )
    return doc.save()


@case("named-dests", "structure", "/Names /Dests name tree key is her name")
def _named_dests(doc: Doc) -> bytes:
    _names(doc, "Dests", NAME, Array([doc.page(2), Name.Fit]))
    return doc.save()


@case(
    "dests-dict", "structure", "old-style catalog /Dests with key /MarisolQuintero (object stream)"
)
def _dests(doc: Doc) -> bytes:
    doc.pdf.Root.Dests = Dictionary(MarisolQuintero=Array([doc.page(2), Name.Fit]))
    return doc.save(object_streams=True)


@case("javascript", "structure", "/Names /JavaScript action whose script stream (Flate) names her")
def _javascript(doc: Doc) -> bytes:
    script = doc.stream(f"app.alert('Entrevista con {NAME}');".encode(), FLATE)
    _names(doc, "JavaScript", "abrir", Dictionary(S=Name.JavaScript, JS=script))
    return doc.save()


@case("names-ap-tree", "structure", "/Names /AP appearance name tree keyed by her name (UTF-16BE)")
def _ap_tree(doc: Doc) -> bytes:
    _names(doc, "AP", utf16be(NAME), doc.form(b"0 0 m\n", bbox=(0, 0, 10, 10)))
    return doc.save()


@case("article-thread", "structure", "article thread /I /Title names her; bead on page 2")
def _thread(doc: Doc) -> bytes:
    thread = doc.pdf.make_indirect(Dictionary(Type=Name.Thread, I=Dictionary(Title=String(NAME))))
    bead = doc.pdf.make_indirect(
        Dictionary(Type=Name.Bead, T=thread, P=doc.page(2), R=Array([72, 400, 540, 700]))
    )
    bead.N = bead.V = bead
    thread.F = bead
    doc.page(2).B = Array([bead])
    doc.pdf.Root.Threads = Array([thread])
    return doc.save()


@case("info-and-xmp", "structure", "/Info /Author and an XMP metadata stream (Flate) both name her")
def _info_xmp(doc: Doc) -> bytes:
    doc.pdf.docinfo.Author = NAME
    doc.pdf.docinfo.Title = "Notas de la reunión"
    doc.pdf.Root.Metadata = doc.stream(xmp(NAME), FLATE, Type=Name.Metadata, Subtype=Name.XML)
    return doc.save()


@case("page-metadata-utf16", "structure", "page 2 /Metadata XMP encoded in UTF-16BE (Flate)")
def _page_metadata(doc: Doc) -> bytes:
    packet = b"\xfe\xff" + xmp(NAME).decode().encode("utf-16-be")
    doc.page(2).Metadata = doc.stream(packet, FLATE, Type=Name.Metadata, Subtype=Name.XML)
    return doc.save()


@case(
    "struct-tree-alt",
    "structure",
    "structure tree /Figure element: /Alt and /T name her (object stream)",
)
def _struct_tree(doc: Doc) -> bytes:
    root = doc.pdf.make_indirect(Dictionary(Type=Name.StructTreeRoot))
    element = Dictionary(
        Type=Name.StructElem,
        S=Name.Figure,
        P=root,
        Pg=doc.page(2),
        Alt=String(f"Firma de {NAME}"),
        T=String(NAME),
    )
    root.K = Array([doc.pdf.make_indirect(element)])
    doc.pdf.Root.StructTreeRoot = root
    doc.pdf.Root.MarkInfo = Dictionary(Marked=True)
    return doc.save(object_streams=True)


@case("piece-info", "structure", "page 2 /PieceInfo private data names her (object stream)")
def _piece_info(doc: Doc) -> bytes:
    private = Dictionary(
        LastModified=String("D:20240314100000Z"), Private=String(f"fuente: {NAME}")
    )
    doc.page(2).PieceInfo = Dictionary(Redaccion=private)
    return doc.save(object_streams=True)


@case(
    "ocg-hidden-layer",
    "structure",
    "page 2 text in an optional-content layer that is OFF by default",
)
def _hidden_layer(doc: Doc) -> bytes:
    layer = doc.pdf.make_indirect(Dictionary(Type=Name.OCG, Name=String("Notas")))
    doc.pdf.Root.OCProperties = Dictionary(
        OCGs=Array([layer]), D=Dictionary(OFF=Array([layer]), Order=Array([layer]))
    )
    doc.resource(2, "Properties", "oc1", layer)
    doc.add_content(2, b"/OC /oc1 BDC\n" + text_ops(72, 560, NAME) + b"EMC\n")
    return doc.save()


@case(
    "ocg-name-surname",
    "structure",
    "optional-content layer named 'Quintero' (object stream)",
    (NAME, SURNAME),
)
def _layer_name(doc: Doc) -> bytes:
    layer = doc.pdf.make_indirect(Dictionary(Type=Name.OCG, Name=String(SURNAME)))
    doc.pdf.Root.OCProperties = Dictionary(OCGs=Array([layer]), D=Dictionary(Order=Array([layer])))
    doc.resource(2, "Properties", "oc1", layer)
    doc.add_content(2, b"/OC /oc1 BDC\n" + text_ops(72, 560, "Capa de notas.") + b"EMC\n")
    return doc.save(object_streams=True)


@case("page-thumbnail", "structure", "page 2 /Thumb: a thumbnail image showing the name in pixels")
def _thumbnail(doc: Doc) -> bytes:
    thumbnail = image_xobject(doc, text_image(NAME, 40))
    del thumbnail.Type, thumbnail.Subtype  # a thumbnail is a bare image stream
    doc.page(2).Thumb = thumbnail
    return doc.save()


@case(
    "image-unused-xobject", "structure", "page 1 /XObject: an image of the name that is never drawn"
)
def _unused_image(doc: Doc) -> bytes:
    doc.resource(1, "XObject", "ImU", image_xobject(doc, text_image(NAME, 40)))
    return doc.save()


# --- text on a page that nobody sees


@case("text-outside-cropbox", "structure", "page 1 text above the CropBox but inside the MediaBox")
def _outside_crop(doc: Doc) -> bytes:
    doc.page(1).MediaBox = Array([0, 0, 612, 900])
    doc.page(1).CropBox = Array([0, 0, 612, 792])
    doc.add_content(1, text_ops(72, 850, NAME))
    return doc.save()


@case("text-outside-mediabox", "structure", "page 2 text drawn far left of the MediaBox")
def _outside_media(doc: Doc) -> bytes:
    doc.add_content(2, text_ops(-900, 560, NAME))
    return doc.save()


@case(
    "text-invisible-3tr",
    "structure",
    "page 2 text in rendering mode 3 (invisible, like an OCR layer)",
)
def _invisible(doc: Doc) -> bytes:
    doc.add_content(2, b"BT 3 Tr /Helv 11 Tf 72 560 Td " + literal(NAME) + b" Tj ET\n")
    return doc.save()


@case("text-tiny", "structure", "page 2 text at 0.1 pt")
def _tiny(doc: Doc) -> bytes:
    doc.add_content(2, text_ops(72, 560, NAME, 0.1))
    return doc.save()


@case("text-white-on-white", "structure", "page 2 white text on the white page")
def _white(doc: Doc) -> bytes:
    doc.add_content(2, b"1 g\n" + text_ops(72, 560, NAME))
    return doc.save()


@case("text-under-black-box", "structure", "page 2 text covered by a black rectangle drawn over it")
def _covered(doc: Doc) -> bytes:
    doc.add_content(2, text_ops(72, 560, NAME) + b"0 g 68 554 100 18 re f\n")
    return doc.save()


@case(
    "encrypted-rc4",
    "structure",
    "RC4-encrypted file (empty user password): page 2 stream names her",
)
def _encrypted(doc: Doc) -> bytes:
    doc.add_content(2, text_ops(72, 560, f"Fuente: {NAME}"))
    buffer = io.BytesIO()
    encryption = Encryption(owner="propietario", user="", R=4, aes=False, metadata=False)
    doc.pdf.save(buffer, static_id=True, encryption=encryption)
    return buffer.getvalue()
