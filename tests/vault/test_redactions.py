"""The redaction service: four eyes, stale and pending redactions, fail-closed exports, what is
logged and what is at rest."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
import zlib
from dataclasses import replace
from typing import Any

import pytest
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlmodel import col, select

from tests.conftest import World
from tests.vault.test_at_rest import _rows_as_bytes
from vault.errors import Conflict, NotFound, RedactionLeak, UnsupportedType
from vault.redaction import match, pdf
from vault.redaction.export import ExportOptions
from vault.redaction.model import Category, Kind, Markers, Rect, Status
from vault.services.documents import NewDocument
from vault.services.redaction_records import Proposal, seal, unseal
from vault.services.users import Actor
from vault.storage.models import AuditEntry, Redaction, Role

NAME = "Marisol Quintero Vidal"
PHONE = "+52 55 1234 5678"
TESTIMONY = (
    "Testimonio recogido el 14 de marzo.\n"
    f"La asistente, {NAME}, tomó notas durante la sesión cerrada.\n"
    f"Su teléfono es {PHONE}. Dijo que MARISOL QUINTERO VIDAL no firmó nada.\n"
    "El punto 4 del orden del día no se votó.\n"
)


@pytest.fixture
def rosa(world: World) -> Actor:
    return world.add_user("rosa", Role.EDITOR)


def _upload(
    world: World, content: bytes, media_type: str = "text/plain", **extra: Any
) -> uuid.UUID:
    info = world.vault.documents.add(
        world.editor,
        case_id=world.case_id,
        content=[content],
        document=NewDocument(title="testimonio", media_type=media_type, **extra),
    )
    return info.id


def _term(term: str, category: Category = Category.SOURCE_IDENTITY) -> Proposal:
    return Proposal(Kind.TERM, category, term=term)


def zlib_inflated(pdf_bytes: bytes) -> bytes:
    """The file with every Flate stream inflated next to it: what a reader of the bytes sees."""
    out = [pdf_bytes]
    for match_ in re.finditer(rb"stream\r?\n", pdf_bytes):
        try:
            out.append(zlib.decompressobj().decompress(pdf_bytes[match_.end() :]))
        except zlib.error:
            continue
    return b"".join(out)


def _entries(world: World, action: str) -> list[dict[str, Any]]:
    with world.db() as db:
        rows = db.exec(select(AuditEntry).order_by(col(AuditEntry.idx)))
        entries = [json.loads(row.leaf) for row in rows]
    return [e for e in entries if e["action"] == action]


def test_four_eyes_then_export_removes_every_occurrence(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    name = service.propose(world.editor, doc, _term(NAME))
    phone = service.propose(world.editor, doc, _term(PHONE, Category.OTHER))
    assert name.status is Status.PROPOSED
    assert name.current

    with pytest.raises(Conflict, match="another editor"):
        service.approve(world.editor, name.id)
    for redaction in (name, phone):
        approved = service.approve(rosa, redaction.id, note="checked")
        assert approved.status is Status.APPROVED
        assert approved.reviewer_id == rosa.user_id

    released = service.export(world.editor, doc)
    text = released.content.decode()
    assert NAME.lower() not in text.lower()
    assert "5678" not in text
    assert text.count("[REDACTED]") == 3
    assert "El punto 4 del orden del día no se votó." in text
    assert released.sha256 == hashlib.sha256(released.content).hexdigest()
    (entry,) = _entries(world, "document.export")
    assert entry["sha256"] == released.sha256
    assert entry["outcome"] == "ok"


def test_markers_are_fixed_length_or_per_category(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    for proposal in (_term(NAME), _term(PHONE, Category.THIRD_PARTY)):
        service.approve(rosa, service.propose(world.editor, doc, proposal).id)
    plain = service.export(world.editor, doc).content.decode()
    assert "[REDACTED]" in plain
    assert "source-identity" not in plain
    labelled = service.export(
        world.editor, doc, ExportOptions(markers=Markers(per_category=True))
    ).content.decode()
    assert "[REDACTED: source-identity]" in labelled
    assert "[REDACTED: third-party]" in labelled


def test_a_proposed_redaction_blocks_export(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    pending = service.propose(world.editor, doc, _term(NAME))
    with pytest.raises(Conflict) as caught:
        service.export(world.editor, doc)
    assert caught.value.details["redactions"] == [str(pending.id)]
    service.reject(rosa, pending.id, note="not identifying")
    assert NAME in service.export(world.editor, doc).content.decode()


def test_stale_redactions_are_refused(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    with pytest.raises(Conflict, match="stale"):
        service.propose(world.editor, doc, _term(NAME), content_sha256="0" * 64)
    current = hashlib.sha256(TESTIMONY.encode()).hexdigest()
    made = service.propose(world.editor, doc, _term(NAME), content_sha256=current)
    approved = service.propose(world.editor, doc, _term("Harbour"), content_sha256=current)
    service.approve(rosa, approved.id)

    def made_on_other_content(rid: uuid.UUID) -> None:
        # The record says it was made on other content (as after the document was replaced).
        with world.db() as db:
            row = db.get(Redaction, rid)
            assert row is not None
            data_key = _data_key(world, doc)
            sealed = unseal(data_key, row)
            row.sealed = seal(data_key, row, replace(sealed, content_sha256="1" * 64))
            db.add(row)
            db.commit()

    made_on_other_content(made.id)
    listed = service.of_document(world.editor, doc)
    assert [r.current for r in listed] == [False, True]
    with pytest.raises(Conflict, match="stale"):
        service.approve(rosa, made.id)
    service.reject(rosa, made.id, note="stale")
    made_on_other_content(approved.id)
    with pytest.raises(Conflict, match="other content"):
        service.export(world.editor, doc)


def _data_key(world: World, doc: uuid.UUID) -> bytes:
    from vault.services import keyring

    with world.db() as db:
        key = keyring.open_data_key(
            db, kind=keyring.DOCUMENT, subject_id=doc, key=world.editor.require_key()
        )
    assert key is not None
    return key


def test_self_approval_only_when_allowed_and_then_logged(world: World) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    made = service.propose(world.editor, doc, _term(NAME))
    with pytest.raises(Conflict):
        service.approve(world.editor, made.id)
    service._self_approval = True  # what `redaction_self_approval = true` configures
    service.approve(world.editor, made.id)
    (entry,) = _entries(world, "redaction.approve")
    assert entry["self_approved"] == "true"


def test_reviewed_redactions_cannot_be_reviewed_again(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    made = service.propose(world.editor, doc, _term(NAME))
    service.reject(rosa, made.id, note="a public figure")
    with pytest.raises(Conflict, match="already rejected"):
        service.approve(rosa, made.id)


def test_journalists_and_outsiders_see_no_redactions(world: World) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    made = service.propose(world.editor, doc, _term(NAME))
    outsider = world.add_user("otto", Role.EDITOR, member=False)
    for who in (world.journalist, outsider):
        with pytest.raises(NotFound):
            service.of_document(who, doc)
        with pytest.raises(NotFound):
            service.export(who, doc)
        with pytest.raises(NotFound):
            service.approve(who, made.id)


def test_span_region_and_shape_checks(world: World) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    start = TESTIMONY.index(NAME)
    span = service.propose(
        world.editor, doc, Proposal(Kind.SPAN, Category.OTHER, start=start, end=start + 7)
    )
    assert span.text == "Marisol"
    from vault.errors import InvalidInput

    with pytest.raises(InvalidInput, match="past the document"):
        service.propose(world.editor, doc, Proposal(Kind.SPAN, Category.OTHER, start=0, end=10**6))
    with pytest.raises(InvalidInput, match="no pages"):
        service.propose(
            world.editor,
            doc,
            Proposal(Kind.REGION, Category.OTHER, page=1, rect=Rect(0, 0, 10, 10)),
        )
    with pytest.raises(InvalidInput, match="exactly one"):
        service.propose(world.editor, doc, Proposal(Kind.TERM, Category.OTHER, start=1, end=2))


def test_unsupported_types_are_refused_with_the_list(world: World) -> None:
    doc = _upload(world, b"PK\x03\x04 not really a zip", "application/zip")
    with pytest.raises(UnsupportedType) as caught:
        world.vault.redactions.export(world.editor, doc)
    assert "application/pdf" in caught.value.supported


def _agenda_pdf() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"Programa - notas de {NAME}")
    pdf.setAuthor(NAME)
    pages = [
        ["Junta del Puerto de Vellan", "Sesion cerrada, martes 14 de marzo"],
        ["Asistentes por invitacion:", f"Nota tomada por {NAME}, tel. {PHONE}"],
        ["Punto 4: mantenimiento del muelle norte", "Documentos entregados en la sesion"],
    ]
    for lines in pages:
        for i, line in enumerate(lines):
            pdf.drawString(72, 760 - 20 * i, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


def test_pdf_export_removes_the_name_and_keeps_other_pages(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    doc = _upload(world, _agenda_pdf(), "application/pdf")
    for proposal in (_term(NAME), _term(PHONE, Category.OTHER)):
        service.approve(rosa, service.propose(world.editor, doc, proposal).id)
    released = service.export(world.editor, doc)
    assert released.media_type == "application/pdf"
    text = _pdf_text(released.content)
    folded = match.normalise(text)[0]
    assert "quintero" not in folded
    assert "5678" not in folded
    assert match.fold("muelle norte") in folded
    assert match.fold("sesion cerrada") in folded
    assert NAME.encode() not in released.content


def test_a_renderer_that_leaves_text_behind_is_caught(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    doc = _upload(world, _agenda_pdf(), "application/pdf")
    service.approve(rosa, service.propose(world.editor, doc, _term(NAME)).id)
    made = service.of_document(world.editor, doc)[0]

    def broken(content: bytes, *args: Any, **kwargs: Any) -> pdf.Rendered:
        return pdf.Rendered(content)  # draws nothing, removes nothing

    service.render_pdf = broken
    with pytest.raises(RedactionLeak) as caught:
        service.export(world.editor, doc)
    assert caught.value.details["redactions"] == [str(made.id)]
    assert "info-dictionary" in caught.value.details["problems"]
    assert NAME not in str(caught.value)
    (entry,) = _entries(world, "document.export")
    assert entry["outcome"] == "refused"
    assert "sha256" not in entry
    # The log names the readers, the classes of find and the pages, never the text.
    assert "pypdf (text) on page 2" in entry["found"]
    assert "ocr (ocr) on page 2" in entry["found"]
    assert NAME.split()[-1].lower() not in json.dumps(entry).lower()


def test_stored_export_is_a_new_linked_document(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    service.approve(rosa, service.propose(world.editor, doc, _term(NAME)).id)
    released = service.export(world.editor, doc, store=True)
    assert released.stored is not None
    info = world.vault.documents.get(rosa, released.stored.id)
    assert info.metadata is not None
    assert info.metadata.derived_from == doc
    assert info.metadata.kind == "redacted-export"
    assert info.metadata.sha256 == released.sha256


def test_suggestions_use_source_names_for_the_handler_only(world: World, rosa: Actor) -> None:
    source = world.vault.sources.create(world.editor, world.case_id, None, [NAME, "La Tesorera"])
    doc = _upload(world, TESTIMONY.encode(), source_id=source.id)
    service = world.vault.redactions
    found = service.suggest(world.editor, doc)
    assert found.source_names_used
    reasons = {(s.reason, s.text) for s in found.items}
    assert ("source-name", NAME) in reasons
    assert ("source-name", "MARISOL QUINTERO VIDAL") in reasons
    assert any(reason == "phone" for reason, _ in reasons)

    other = service.suggest(rosa, doc)
    assert not other.source_names_used
    assert all(s.reason != "source-name" for s in other.items)

    accepted = service.suggest(world.editor, doc, accept_all=True)
    assert len(accepted.created) == len(accepted.items)
    assert all(r.status is Status.PROPOSED for r in accepted.created)


MARKER = "ZQXJ-redaction-marker"


def test_nothing_a_redaction_says_is_at_rest_in_the_clear(world: World, rosa: Actor) -> None:
    service = world.vault.redactions
    content = f"El nombre es {MARKER} y nada más.".encode()
    doc = _upload(world, content)
    made = service.propose(world.editor, doc, replace(_term(MARKER), note=f"note {MARKER}"))
    service.reject(rosa, made.id, note=f"because {MARKER}")
    service.propose(world.editor, doc, _term(MARKER))
    needles = [MARKER.encode(), MARKER.lower().encode(), b"source-identity"]
    for value in _rows_as_bytes(world):
        assert not any(n in value for n in needles)
    for path in world.vault.settings.data_dir.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            assert not any(n in raw for n in needles), path


def test_deleting_a_document_deletes_its_redactions(world: World) -> None:
    service = world.vault.redactions
    doc = _upload(world, TESTIMONY.encode())
    service.propose(world.editor, doc, _term(NAME))
    world.vault.documents.delete(world.editor, doc)
    with world.db() as db:
        assert db.exec(select(Redaction)).first() is None


def _with_layer_named(content: bytes, name: str) -> bytes:
    """``content`` with an optional-content layer called ``name`` in the last page's resources:
    a string no text extractor reads, on a page that carries nothing to redact."""
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=io.BytesIO(content))
    layer = DictionaryObject(
        {NameObject("/Type"): NameObject("/OCG"), NameObject("/Name"): TextStringObject(name)}
    )
    page = writer.pages[-1]
    resources = page["/Resources"].get_object()
    resources[NameObject("/Properties")] = DictionaryObject(
        {NameObject("/OC1"): writer._add_object(layer)}
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("keep_text_pages", [False, True])
def test_a_name_in_a_kept_pages_resources_does_not_come_out(
    world: World, rosa: Actor, keep_text_pages: bool
) -> None:
    # Re-rendered by default, rebuilt from what it draws with keep_text_pages: either way the
    # layer's name has nowhere to go.
    service = world.vault.redactions
    doc = _upload(world, _with_layer_named(_agenda_pdf(), NAME), "application/pdf")
    service.approve(rosa, service.propose(world.editor, doc, _term(NAME)).id)
    released = service.export(world.editor, doc, ExportOptions(keep_text_pages=keep_text_pages))
    raw = zlib_inflated(released.content)
    for encoding in ("latin-1", "utf-16-be"):
        assert NAME.split()[-1].encode(encoding) not in raw
