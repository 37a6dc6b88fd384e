"""PDF redaction: the redacted words are gone from every reading of the result, not hidden.

The fixture (``pdfs.agenda_pdf``) names an invented source in body text, metadata, annotations,
a form field, an attachment, an outline, the structure tree and an older revision; after
``render`` with spans over every occurrence, three extractors (pdfium, pypdf, poppler), the raw
bytes and every decoded stream must come up empty, while the pages that were not redacted keep
their text.
"""

from __future__ import annotations

import io
import re
import shutil
import unicodedata
import zlib
from collections.abc import Callable

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject
from reportlab.pdfgen.canvas import Canvas

from tests.conftest import needs_poppler
from tests.vault.redaction import pdfs
from vault.errors import InvalidInput
from vault.redaction import pdf
from vault.redaction.model import Area, Category, Rect, Span

POPPLER = needs_poppler
SECRETS = [pdfs.NAME, pdfs.OLD_NAME, pdfs.PHONE, pdfs.ALIAS, "Quintero", "Marisol", "Golondrina"]
PLANTED = {
    "acroform",
    "annotations",
    "attachments",
    "incremental-update",
    "info-dictionary",
    "javascript",
    "open-action",
    "outlines",
    "piece-info",
    "structure-tree",
    "thumbnails",
    "xmp-metadata",
}


def _render(content: bytes, spans: list[Span], areas: list[Area], **options: int) -> bytes:
    """The redacted PDF with pages without redactions kept as (sanitised) vector text, as
    these tests were written for; the default re-renders every page."""
    return pdf.render(content, spans, areas, keep_text_pages=True, **options).content  # type: ignore[arg-type]


def normalise(text: str) -> str:
    """Casefolded, accents stripped, whitespace collapsed: how a leak is searched for."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def spans_of(text: str, needle: str, category: Category = Category.SOURCE_IDENTITY) -> list[Span]:
    found = [m.start() for m in re.finditer(re.escape(needle), text)]
    assert found, f"{needle!r} is not in the text"
    return [Span(start, start + len(needle), category) for start in found]


@pytest.fixture(scope="module")
def agenda() -> bytes:
    return pdfs.agenda_pdf()


@pytest.fixture(scope="module")
def secret_spans(agenda: bytes) -> list[Span]:
    text = pdf.document_text(agenda)
    return [s for needle in (pdfs.NAME, pdfs.PHONE, pdfs.ALIAS) for s in spans_of(text, needle)]


@pytest.fixture(scope="module")
def redacted(agenda: bytes, secret_spans: list[Span]) -> bytes:
    return _render(agenda, secret_spans, [])


def pdfium_text(content: bytes) -> str:
    return pdf.document_text(content)


def poppler_text(content: bytes) -> str:
    text = pdf.extract_text_poppler(content)
    assert text is not None
    return text


EXTRACTORS: list[Callable[[bytes], str]] = [
    pdfium_text,
    pdf.extract_text_pypdf,
    pytest.param(poppler_text, marks=POPPLER),  # type: ignore[list-item]
]


def decoded_streams(content: bytes) -> list[bytes]:
    """Every stream in the file, decoded by pypdf and, independently, by zlib wherever a
    stream body inflates."""
    out = []
    reader = PdfReader(io.BytesIO(content))
    for generation, table in reader.xref.items():
        for number in table:
            obj = reader.get_object(IndirectObject(number, generation, reader))
            if isinstance(obj, StreamObject):
                out.append(obj.get_data())
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", content, re.DOTALL):
        try:
            out.append(zlib.decompress(match.group(1)))
        except zlib.error:
            pass
    return out


def strings_in(content: bytes) -> str:
    """Every string object in the file, as pypdf decodes it (escapes, UTF-16, hex)."""
    found: list[str] = []
    reader = PdfReader(io.BytesIO(content))

    def walk(obj: object) -> None:
        if isinstance(obj, DictionaryObject):
            for value in obj.values():
                walk(value)
        elif isinstance(obj, ArrayObject):
            for value in obj:
                walk(value)
        elif isinstance(obj, str):
            found.append(str(obj))

    for generation, table in reader.xref.items():
        for number in table:
            walk(reader.get_object(IndirectObject(number, generation, reader)))
    walk(reader.trailer)
    return "\n".join(found)


def byte_forms(secret: str) -> list[bytes]:
    return [
        secret.encode("latin-1", errors="ignore"),
        secret.encode("utf-8"),
        secret.encode("utf-16-be"),
        secret.encode("latin-1", errors="ignore").hex().encode(),
        secret.encode("latin-1", errors="ignore").hex().upper().encode(),
    ]


def render_page(content: bytes, index: int, scale: float = 1.0) -> Image.Image:
    """A page of ``content`` as a viewer shows it (rotation applied), in grey levels."""
    document = pdfium.PdfDocument(content)
    try:
        bitmap = document[index].render(scale=scale, draw_annots=False, may_draw_forms=False)
        return bitmap.to_pil().convert("L")
    finally:
        document.close()


def dark_box(image: Image.Image, threshold: int = 128) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom; exclusive) of pixels darker than
    ``threshold``."""
    return image.point(lambda v: 255 if v < threshold else 0).getbbox()


# -- the fixture is what it claims to be -------------------------------------------------------


def test_the_fixture_hides_the_name_in_every_usual_place(agenda: bytes) -> None:
    assert PLANTED <= set(pdf.structural_problems(agenda))
    streams = b"\n".join(decoded_streams(agenda))
    assert pdfs.OLD_NAME.encode() in streams  # only the first revision's page 2 has it
    assert pdfs.OLD_NAME not in pdf.document_text(agenda)
    assert pdfs.NAME in strings_in(agenda)  # properties, annotations, outline, ...
    assert pdf.page_count(agenda) == 4


# -- nothing of the redacted words is left -----------------------------------------------------


@pytest.mark.parametrize("extract", EXTRACTORS)
def test_no_extractor_finds_the_redacted_words(redacted: bytes, extract: Callable) -> None:
    text = normalise(extract(redacted))
    for secret in SECRETS:
        assert normalise(secret) not in text


@pytest.mark.parametrize("extract", EXTRACTORS)
def test_the_original_is_read_the_same_by_every_extractor(agenda: bytes, extract: Callable) -> None:
    # Guards the test above: each extractor does see the name in the original.
    assert normalise(pdfs.NAME) in normalise(extract(agenda))


def test_the_result_is_structurally_clean(redacted: bytes) -> None:
    assert pdf.structural_problems(redacted) == []


def test_the_result_is_one_fresh_revision(redacted: bytes) -> None:
    assert redacted.count(b"%%EOF") == 1
    assert redacted.count(b"startxref") == 1
    assert "/Prev" not in PdfReader(io.BytesIO(redacted)).trailer


def test_no_byte_of_the_file_holds_a_redacted_word(redacted: bytes) -> None:
    blobs = [redacted, *decoded_streams(redacted)]
    for secret in [*SECRETS, "Firma"]:
        for form in byte_forms(secret):
            assert not any(form in blob for blob in blobs), secret
    assert not any(normalise(s) in normalise(strings_in(redacted)) for s in SECRETS)


def test_kept_pages_do_not_carry_the_redacted_pages_resources(redacted: bytes) -> None:
    # Pages 1 to 3 of the original share one resource dictionary that holds page 2's
    # signature form; the kept pages 1 and 3 must not bring it along.
    reader = PdfReader(io.BytesIO(redacted))
    for index in (0, 2):
        resources = reader.pages[index]["/Resources"]
        assert not resources.get("/XObject"), index


# -- what was not redacted survives ------------------------------------------------------------


@pytest.mark.parametrize("extract", EXTRACTORS)
def test_pages_without_redactions_keep_their_text(redacted: bytes, extract: Callable) -> None:
    text = normalise(extract(redacted))
    assert normalise(pdfs.PAGE1) in text
    assert normalise(pdfs.PAGE3) in text


def test_page_count_sizes_and_boxes_are_preserved(agenda: bytes, redacted: bytes) -> None:
    assert pdf.page_count(redacted) == pdf.page_count(agenda)
    before, after = pdfium.PdfDocument(agenda), pdfium.PdfDocument(redacted)
    try:
        for index in range(len(before)):
            assert after[index].get_size() == pytest.approx(before[index].get_size())
    finally:
        before.close()
        after.close()
    original, result = PdfReader(io.BytesIO(agenda)), PdfReader(io.BytesIO(redacted))
    for a, b in zip(original.pages, result.pages, strict=True):
        assert list(map(float, b.mediabox)) == list(map(float, a.mediabox))


def test_redacted_pages_are_images_without_text(agenda: bytes, redacted: bytes) -> None:
    pages = pdf.document_text(redacted).split("\f")
    for page in (pages[1], pages[3]):  # only what OCR read on the redacted picture
        assert normalise(pdfs.NAME) not in normalise(page)
    reader = PdfReader(io.BytesIO(redacted))
    xobjects = reader.pages[1]["/Resources"]["/XObject"]
    assert [x.get_object()["/Subtype"] for x in xobjects.values()] == ["/Image"]


def test_located_areas_are_black_in_a_rendering_of_the_result(
    agenda: bytes, redacted: bytes, secret_spans: list[Span]
) -> None:
    scale = 2.0
    image = render_page(redacted, 1, scale)
    areas = [a for a in pdf.locate(agenda, secret_spans) if a.page == 2]
    assert len(areas) == 3  # the name and the phone on one line, and the signature
    height = image.size[1]
    for area in areas:
        # Inset by a pixel: the edges of the black box are antialiased by this rendering.
        box = (
            int(area.rect.x0 * scale) + 1,
            int(height - area.rect.y1 * scale) + 1,
            int(area.rect.x1 * scale) - 1,
            int(height - area.rect.y0 * scale) - 1,
        )
        assert image.crop(box).getextrema() == (0, 0)
    # ... and the rest of the page is not black: the accented line is still there to read.
    assert sum(image.histogram()[250:]) > 0.9 * image.size[0] * image.size[1]


def test_by_default_every_page_is_a_picture_with_an_ocr_text_layer(
    agenda: bytes, secret_spans: list[Span]
) -> None:
    # The default: every page a picture, its only text what OCR read on the redacted picture.
    result = pdf.render(agenda, secret_spans, [])
    out = result.content
    assert result.pictures == [1, 2, 3, 4]
    assert result.kept == []
    for reading in (pdf.document_text(out), pdf.extract_text_pypdf(out)):
        assert not any(
            normalise(s).replace(" ", "") in normalise(reading).replace(" ", "") for s in SECRETS
        )
    assert "presupuesto" in normalise(pdf.document_text(out))  # OCR kept page 1 searchable
    assert pdf.structural_problems(out) == []
    assert pdf.page_count(out) == 4


def test_a_region_alone_rasterises_its_page(agenda: bytes) -> None:
    text = pdf.document_text(agenda)
    [sentence] = spans_of(text, pdfs.PAGE3)
    [area] = pdf.locate(agenda, [sentence])
    out = _render(agenda, [], [area])
    assert pdf.region_text(out, [area]) == [""]
    assert normalise(pdfs.PAGE3) not in normalise(pdf.extract_text_pypdf(out))
    assert normalise(pdfs.PAGE1) in normalise(pdf.extract_text_pypdf(out))


# -- text coordinates --------------------------------------------------------------------------


def test_document_text_is_pdfiums_text_pages_joined_by_form_feeds(agenda: bytes) -> None:
    document = pdfium.PdfDocument(agenda)
    try:
        expected = "\f".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
    assert pdf.document_text(agenda) == expected
    assert pdf.document_text(agenda) == pdf.document_text(agenda)


@pytest.mark.parametrize(
    "needle", [pdfs.NAME, pdfs.PHONE, pdfs.ALIAS, "Ñuñoa", "¿Quién", "Pérez", "sabía?", "día:"]
)
def test_located_boxes_hold_exactly_the_spans_text(agenda: bytes, needle: str) -> None:
    text = pdf.document_text(agenda)
    for span in spans_of(text, needle):
        assert text[span.start : span.end] == needle
        areas = pdf.locate(agenda, [span])
        assert areas
        assert {a.category for a in areas} == {Category.SOURCE_IDENTITY}
        assert " ".join(pdf.region_text(agenda, areas)).split() == needle.split()


def test_a_span_across_a_line_break_gets_one_box_per_line(agenda: bytes) -> None:
    text = pdf.document_text(agenda)
    start = text.index("Entrevista del")
    end = text.index("Teléfono")
    areas = pdf.locate(agenda, [Span(start, end)])
    assert len(areas) == 2
    assert {a.page for a in areas} == {2}
    assert areas[0].rect.y0 > areas[1].rect.y1 - 2  # one line above the other


def test_a_span_across_pages_is_split_by_page(agenda: bytes) -> None:
    text = pdf.document_text(agenda)
    start = text.index("equipo de datos")
    end = text.index("Entrevista del")
    areas = pdf.locate(agenda, [Span(start, end)])
    assert {a.page for a in areas} == {1, 2}


def test_characters_outside_the_bmp_are_one_code_point() -> None:
    content = pdfs.non_bmp_pdf()
    text = pdf.document_text(content)
    assert text == "x\U0001d400y\U0001d400z"
    document = pdfium.PdfDocument(content)
    try:
        textpage = document[0].get_textpage()
        assert textpage.count_chars() == 7  # pdfium keeps each U+1D400 as two surrogates
        assert textpage.get_text_range() == text
    finally:
        document.close()
    areas = pdf.locate(content, [Span(3, 5)])  # U+1D400 and "z", after the "y"
    # Widened to the whole word: a bar that stopped inside a word would show how much it hides.
    assert pdf.region_text(content, areas) == ["x\U0001d400y\U0001d400z"]


def test_a_span_past_the_end_is_refused(agenda: bytes) -> None:
    length = len(pdf.document_text(agenda))
    with pytest.raises(InvalidInput, match="past the end"):
        pdf.locate(agenda, [Span(length - 2, length + 1)])


def test_region_text_reads_what_lies_under_a_rectangle(agenda: bytes) -> None:
    [span] = spans_of(pdf.document_text(agenda), pdfs.PHONE)
    [area] = pdf.locate(agenda, [span])
    wider = Area(2, Rect(area.rect.x0 - 60, area.rect.y0, area.rect.x1 + 4, area.rect.y1))
    exact, wide = pdf.region_text(agenda, [area, wider])
    assert exact == pdfs.PHONE
    assert wide.endswith(f"Teléfono: {pdfs.PHONE}.")  # and the end of the name before it


# -- geometry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "rotation"), [(0, 0), (1, 90), (2, 0)])
def test_regions_land_on_the_text_whatever_the_page_geometry(index: int, rotation: int) -> None:
    content = pdfs.geometry_pdf()
    text = pdf.document_text(content)
    span = spans_of(text, "XXXX")[index]
    out = _render(content, [span], [], dpi=100)
    before, after = render_page(content, index), render_page(out, index)
    assert before.size == after.size  # same displayed size, rotation included
    ink = dark_box(before)
    black = dark_box(after, threshold=8)
    assert ink is not None
    assert black is not None
    # The black box covers all the ink, and not much more: the loose glyph box, 1 pt, and along
    # the line a random widening of at most three quarters of a line height on each side.
    left, top, right, bottom = black
    slack = 10 + 1.05 * min(ink[2] - ink[0], ink[3] - ink[1])
    assert left <= ink[0]
    assert top <= ink[1]
    assert right >= ink[2]
    assert bottom >= ink[3]
    assert all(abs(b - i) <= slack for b, i in zip(black, ink, strict=True))
    assert after.crop(ink).getextrema()[1] < 8  # solid black over the glyphs
    reader = PdfReader(io.BytesIO(out))
    assert reader.pages[index].rotation == rotation
    original = PdfReader(io.BytesIO(content)).pages[index]
    assert list(map(float, reader.pages[index].mediabox)) == list(map(float, original.mediabox))
    assert list(map(float, reader.pages[index].cropbox)) == list(map(float, original.cropbox))


# -- refusals ----------------------------------------------------------------------------------

CALLS: dict[str, Callable[[bytes], object]] = {
    "document_text": pdf.document_text,
    "page_count": pdf.page_count,
    "locate": lambda c: pdf.locate(c, [Span(0, 1)]),
    "region_text": lambda c: pdf.region_text(c, [Area(1, Rect(0, 0, 10, 10))]),
    "render": lambda c: _render(c, [], [Area(1, Rect(0, 0, 10, 10))]),
    "extract_text_pypdf": pdf.extract_text_pypdf,
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("content", [b"", b"not a pdf at all", b"%PDF-1.7\n1 0 obj\n<<"])
def test_unreadable_input_is_invalid_input(call: Callable[[bytes], object], content: bytes) -> None:
    with pytest.raises(InvalidInput, match="could not be read") as raised:
        call(content)
    assert raised.value.__cause__ is None  # no library message chained on


def test_a_password_protected_pdf_is_invalid_input() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdfs.plain_pdf([["Hola"]]))))
    writer.encrypt(user_password="contraseña-de-prueba", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    for call in CALLS.values():
        with pytest.raises(InvalidInput, match="could not be read"):
            call(out.getvalue())


def test_an_owner_password_only_pdf_is_redacted() -> None:
    # Permissions-only encryption (empty user password) is common and every viewer opens it.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdfs.plain_pdf([["Hola Marisol"]]))))
    writer.encrypt(user_password="", owner_password="propietario", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    content = out.getvalue()
    result = _render(content, spans_of(pdf.document_text(content), "Marisol"), [])
    assert "marisol" not in normalise(pdf.extract_text_pypdf(result))
    assert pdf.structural_problems(result) == []


def test_a_pdf_the_two_libraries_read_differently_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pdfium finds the name on page 2; a pypdf that (say, after repairing a broken cross-
    # reference table) sees the pages in another order would hand over that page as page 1,
    # to be kept as it is. Reading the result back catches the swap.
    content = pdfs.plain_pdf([["Uno"], ["Dos: Marisol"], ["Tres"]])
    swapped = pdfs.plain_pdf([["Dos: Marisol"], ["Uno"], ["Tres"]])
    from vault.redaction.pdf import source

    read = source.open_pypdf
    monkeypatch.setattr(source, "open_pypdf", lambda _: read(swapped))
    with pytest.raises(InvalidInput, match="read differently"):
        _render(content, spans_of(pdf.document_text(content), "Marisol"), [])


def test_a_page_out_of_range_is_named(agenda: bytes) -> None:
    area = Area(9, Rect(0, 0, 10, 10))
    with pytest.raises(InvalidInput, match="page 9 does not exist"):
        _render(agenda, [], [area])
    with pytest.raises(InvalidInput, match="page 9 does not exist"):
        pdf.region_text(agenda, [area])


@pytest.mark.parametrize("dpi", [10, 5000])
def test_an_absurd_resolution_is_refused(dpi: int) -> None:
    with pytest.raises(InvalidInput, match="dpi"):
        _render(pdfs.plain_pdf([["Hola"]]), [], [], dpi=dpi)


def test_structural_problems_of_garbage_say_unreadable() -> None:
    assert pdf.structural_problems(b"not a pdf") == ["unreadable"]


def test_poppler_missing_reads_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    assert pdf.extract_text_poppler(pdfs.plain_pdf([["Hola"]])) is None


@POPPLER
def test_poppler_failing_is_invalid_input_without_content() -> None:
    with pytest.raises(InvalidInput, match="could not be checked"):
        pdf.extract_text_poppler(b"not a pdf")


def test_without_ocr_an_export_refuses_before_any_work(
    agenda: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No text layer and no fourth reader without Tesseract: refused (503), nothing rendered.
    from vault.errors import Unavailable
    from vault.redaction import ocr

    monkeypatch.setattr(ocr.shutil, "which", lambda _: None)
    with pytest.raises(Unavailable, match="tesseract"):
        pdf.render(agenda, [], [])


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_the_ocr_text_layer_of_a_turned_page_reads_in_order(turn: int) -> None:
    # The words are drawn turned against /Rotate, so that the page shows them upright; the text
    # layer must then run along the displayed line, or copying gives letters in the wrong order.
    sentence = "Acuerdos: revisar las cifras con el area de datos antes del jueves"
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(612, 792))
    canvas.saveState()
    canvas.translate(306, 396)
    canvas.rotate(turn)
    canvas.setFont("Helvetica", 14)
    canvas.drawCentredString(0, 0, sentence)
    canvas.restoreState()
    canvas.showPage()
    canvas.save()
    writer = PdfWriter()
    page = PdfReader(io.BytesIO(out.getvalue())).pages[0]
    page.rotate(turn)
    writer.add_page(page)
    turned = io.BytesIO()
    writer.write(turned)
    result = pdf.render(turned.getvalue(), [], []).content
    for reading in (pdf.document_text(result), pdf.extract_text_poppler(result) or sentence):
        assert sentence in " ".join(reading.split())  # in order; a line may break anywhere
