"""Scans and photographs: pages without a text layer, and images, are read by OCR, so that
spans, terms and suggestions work on them and their bars land on the words OCR found."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from tests.vault.redaction.hostile.oracle import findings
from vault.errors import Conflict
from vault.redaction import export, imagetext, match, suggest
from vault.redaction.model import Category, Kind, Rect

pytestmark = pytest.mark.slow
NAME = "Marisol Quintero"
LINES = [
    "Acta de la reunion del comite de obras",
    f"Entrevista con {NAME} en el puerto",
    "Telefono de contacto: +52 55 1234 5678",
    "Acuerdos: revisar las cifras el jueves",
]


def _scan(lines: list[str]) -> Image.Image:
    """A page of print as a scanner would hand it over: pixels only, 200 dpi, slightly grey."""
    font = ImageFont.truetype("Vera.ttf", 34) if _has_vera() else ImageFont.load_default(34)
    image = Image.new("L", (1700, 900), 245)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((120, 120 + i * 90), line, font=font, fill=20)
    return image


def _has_vera() -> bool:
    try:
        ImageFont.truetype("Vera.ttf", 10)
    except OSError:
        return False
    return True


def _scan_pdf() -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(612, 324), invariant=True)
    canvas.drawImage(ImageReader(_scan(LINES)), 0, 0, 612, 324)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    _scan(LINES).convert("RGB").save(out, "JPEG", quality=92)
    return out.getvalue()


def _term(term: str) -> export.Target:
    return export.Target("r1", Kind.TERM, Category.SOURCE_IDENTITY, term=term)


@pytest.mark.parametrize(
    ("content", "media_type"), [(_scan_pdf(), "application/pdf"), (_jpeg(), "image/jpeg")]
)
def test_a_scan_has_the_text_ocr_reads(content: bytes, media_type: str) -> None:
    text = export.document_text(content, media_type)
    assert match.find_term(text, NAME)
    assert match.find_term(text, "revisar las cifras")
    # The same pixels give the same text: span offsets mean the same thing at every call.
    assert export.document_text(content, media_type) == text


@pytest.mark.parametrize(
    ("content", "media_type"), [(_scan_pdf(), "application/pdf"), (_jpeg(), "image/jpeg")]
)
def test_a_term_on_a_scan_is_blacked_out_and_the_rest_stays_readable(
    content: bytes, media_type: str
) -> None:
    result = export.produce(content, media_type, [_term(NAME)])
    assert findings(result.content, media_type, [NAME]) == []
    after = export.document_text(result.content, media_type)
    assert match.find_term(after, "revisar las cifras")
    assert not match.find_term(after, "Quintero")


def test_suggestions_find_the_phone_on_a_scan() -> None:
    text = export.document_text(_scan_pdf(), "application/pdf")
    found = suggest.suggest(text, names=[NAME])
    reasons = {s.reason for s in found}
    assert {"phone", "source-name"} <= reasons


def test_a_span_on_a_scan_covers_the_words_ocr_placed() -> None:
    content = _scan_pdf()
    text = export.document_text(content, "application/pdf")
    [(start, end)] = match.find_term(text, "+52 55 1234 5678")
    target = export.Target("s", Kind.SPAN, Category.OTHER, start=start, end=end)
    result = export.produce(content, "application/pdf", [target])
    assert findings(result.content, "application/pdf", ["1234 5678"]) == []


def test_a_region_on_an_image_is_searched_for_what_ocr_read_under_it() -> None:
    content = _jpeg()
    reading = export.document_text(content, "image/jpeg")
    assert NAME.split()[0] in reading
    # A region over the name's line: its text is what OCR read there, searched for after.
    region = export.Target(
        "g", Kind.REGION, Category.SOURCE_IDENTITY, page=1, rect=Rect(100, 200, 1600, 290)
    )
    covered = export.check_target(content, "image/jpeg", region, None)
    assert "Quintero" in covered
    result = export.produce(content, "image/jpeg", [region])
    assert findings(result.content, "image/jpeg", [NAME]) == []


def test_a_span_whose_words_ocr_now_reads_differently_is_stale() -> None:
    # Same bytes, other text under the span (as after an OCR engine upgrade): refused as
    # stale rather than blacking out whatever words now sit at those offsets.
    content = _scan_pdf()
    text = export.document_text(content, "application/pdf")
    [(start, end)] = match.find_term(text, NAME)
    target = export.Target(
        "s", Kind.SPAN, Category.SOURCE_IDENTITY, start=start, end=end, text="Marisa Quintana"
    )
    with pytest.raises(Conflict, match="stale"):
        export.produce(content, "application/pdf", [target])


def test_very_light_text_is_read_too() -> None:
    # Pale grey on white is legible to a person; OCR must not drop it as background.
    image = Image.new("L", (1600, 300), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("DejaVuSans.ttf", 40)
    draw.text((50, 50), f"Entrevista con {NAME}", font=font, fill=215)
    draw.text((50, 150), "Acuerdos: revisar las cifras", font=font, fill=0)
    out = io.BytesIO()
    image.save(out, "PNG")
    assert match.find_term(export.document_text(out.getvalue(), "image/png"), NAME)


def test_an_image_heals_what_locating_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Locating finds nothing (as for a name OCR first read as part of another line); reading the
    # redacted pixels again finds the name, and a bar goes over it before the check.
    monkeypatch.setattr(imagetext.Reading, "areas", lambda *_: [])
    result = export.produce(_jpeg(), "image/jpeg", [_term(NAME)])
    assert result.healed >= 1
    assert findings(result.content, "image/jpeg", [NAME]) == []


def test_a_scan_with_keep_text_pages_is_re_rendered_with_an_ocr_layer() -> None:
    # Nothing to keep as text on a scanned page: it is re-rendered (and says why), so that it
    # gains a searchable layer, even on a page without redactions.
    content = _scan_pdf()
    options = export.ExportOptions(keep_text_pages=True)
    result = export.produce(content, "application/pdf", [_term("Acuerdos")], options)
    assert result.unsafe == {}  # the page had a bar, so it was never a candidate
    result = export.produce(content, "application/pdf", [_term("Zacarias")], options)
    assert result.unsafe == {1: "no text layer to keep (a scan)"}
    assert result.pictures == [1]
    assert match.find_term(export.document_text(result.content, "application/pdf"), NAME)
