"""Redactions over HTTP: the review flow, the problem documents an export can answer with, and
the headers of a released export."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.api.conftest import ApiWorld
from tests.support.redactions import PROBLEM, add_second_editor, redacted_export, upload_statement
from vault.services.users import Actor

NAME = "Teodora Abril Sandoval"
TEXT = f"Statement taken on 2 May. The witness, {NAME}, can be reached at teo.abril@example.org.\n"


@pytest.fixture
def rosa(api: ApiWorld) -> Actor:
    return add_second_editor(api)


def _propose(api: ApiWorld, doc: str, **body: Any) -> dict[str, Any]:
    response = api.client.post(
        f"/v1/documents/{doc}/redactions",
        headers=api.auth("erin"),
        json={"category": "source-identity", **body},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_review_flow_and_released_export(api: ApiWorld, rosa: Actor) -> None:
    doc = upload_statement(api, TEXT.encode())
    text = api.client.get(f"/v1/documents/{doc}/text", headers=api.auth("erin")).json()
    assert text == {
        "text": TEXT,
        "sha256": hashlib.sha256(TEXT.encode()).hexdigest(),
        "ocr_pages": [],
    }
    start = TEXT.index(NAME)
    span = _propose(
        api, doc, kind="span", start=start, end=start + len(NAME), content_sha256=text["sha256"]
    )
    assert span["text"] == NAME
    assert span["status"] == "proposed"

    suggested = api.client.post(
        f"/v1/documents/{doc}/redactions/suggest",
        headers=api.auth("erin"),
        params={"accept_all": "true"},
    ).json()
    assert [(s["reason"], s["text"]) for s in suggested["suggestions"]] == [
        ("email", "teo.abril@example.org")
    ]
    assert not suggested["source_names_used"]

    blocked = redacted_export(api, doc)
    assert blocked.status_code == 409
    assert blocked.headers["content-type"] == PROBLEM
    pending = {span["id"], suggested["created"][0]["id"]}
    assert set(blocked.json()["redactions"]) == pending

    own = api.client.post(f"/v1/redactions/{span['id']}/approve", headers=api.auth("erin"))
    assert own.status_code == 409
    assert "another editor" in own.json()["detail"]
    for rid in pending:
        approved = api.client.post(
            f"/v1/redactions/{rid}/approve", headers=api.auth("rosa"), json={"note": "ok"}
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["reviewer"] == str(rosa.user_id)

    released = redacted_export(api, doc)
    assert released.status_code == 200, released.text
    assert released.headers["content-type"].startswith("text/plain")
    body = released.content
    assert body.decode() == (
        "Statement taken on 2 May. The witness, [REDACTED], can be reached at [REDACTED].\n"
    )
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert released.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert released.headers["vault-redactions"] == "2"
    assert "attachment" in released.headers["content-disposition"]
    assert NAME not in released.headers["content-disposition"]

    listed = api.client.get(f"/v1/documents/{doc}/redactions", headers=api.auth("erin")).json()
    assert [r["status"] for r in listed["redactions"]] == ["approved", "approved"]


def test_export_problems(api: ApiWorld, rosa: Actor) -> None:
    zipped = upload_statement(api, b"PK\x03\x04 zip bytes", "application/zip")
    unsupported = redacted_export(api, zipped)
    assert unsupported.status_code == 415
    problem = unsupported.json()
    assert problem["type"] == "urn:source-vault:problem:unsupported-media-type"
    assert "application/pdf" in problem["supported"]

    doc = upload_statement(api, TEXT.encode())
    original = api.client.get(
        f"/v1/documents/{doc}/export", headers=api.auth("erin"), params={"redacted": "false"}
    )
    assert original.status_code == 422
    assert "/content" in original.json()["detail"]

    bad_shape = api.client.post(
        f"/v1/documents/{doc}/redactions",
        headers=api.auth("erin"),
        json={"kind": "region", "page": 1, "rect": [10, 10, 5, 5], "category": "other"},
    )
    assert bad_shape.status_code == 422
    assert bad_shape.headers["content-type"] == PROBLEM

    stale = api.client.post(
        f"/v1/documents/{doc}/redactions",
        headers=api.auth("erin"),
        json={"kind": "term", "term": NAME, "category": "other", "content_sha256": "ab" * 32},
    )
    assert stale.status_code == 409
    assert "stale" in stale.json()["detail"]


def test_a_failed_check_releases_nothing(api: ApiWorld, rosa: Actor) -> None:
    """The text path has no renderer to break, so break the reading back: a marker that is the
    redacted term itself puts it back into the output, and the check must catch it."""
    doc = upload_statement(api, TEXT.encode())
    made = _propose(api, doc, kind="term", term="witness")
    api.client.post(f"/v1/redactions/{made['id']}/approve", headers=api.auth("rosa"))
    refused = api.client.get(
        f"/v1/documents/{doc}/export",
        headers=api.auth("erin"),
        params={"redacted": "true", "marker": "[witness]"},
    )
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"] == "urn:source-vault:problem:redaction-leak"
    assert problem["redactions"] == [made["id"]]
    assert "witness" not in problem["detail"]
    # Which reader found what class of thing, and where: never the text.
    assert problem["findings"] == [
        {"redaction": made["id"], "reader": "text", "class": "text", "page": None}
    ]
    assert "found by text (text)" in problem["detail"]


def _photo(text: str) -> bytes:
    image = Image.new("L", (1400, 300), 250)
    draw = ImageDraw.Draw(image)
    draw.text((60, 110), text, font=ImageFont.load_default(48), fill=10)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_photo_has_the_text_ocr_reads_and_says_so(api: ApiWorld, rosa: Actor) -> None:
    doc = upload_statement(api, _photo(f"Witness: {NAME}"), "image/png")
    shown = api.client.get(f"/v1/documents/{doc}/text", headers=api.auth("erin")).json()
    assert shown["ocr_pages"] == [1]
    assert "Sandoval" in shown["text"]
    # A term on a photograph: OCR places it, the bar covers it, OCR reads the result again.
    made = _propose(api, doc, kind="term", term=NAME)
    api.client.post(f"/v1/redactions/{made['id']}/approve", headers=api.auth("rosa"))
    released = redacted_export(api, doc)
    assert released.status_code == 200, released.text
    assert released.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(released.content))
    assert picture.convert("L").getextrema()[0] == 0  # a bar was painted


def test_reject_needs_a_note_and_export_can_be_stored(api: ApiWorld, rosa: Actor) -> None:
    doc = upload_statement(api, TEXT.encode())
    made = _propose(api, doc, kind="term", term=NAME)
    no_note = api.client.post(
        f"/v1/redactions/{made['id']}/reject", headers=api.auth("rosa"), json={}
    )
    assert no_note.status_code == 422
    rejected = api.client.post(
        f"/v1/redactions/{made['id']}/reject",
        headers=api.auth("rosa"),
        json={"note": "already public"},
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["review_note"] == "already public"

    stored = api.client.post(f"/v1/documents/{doc}/export", headers=api.auth("erin"))
    assert stored.status_code == 201, stored.text
    new = api.client.get(f"/v1/documents/{stored.json()['document']}", headers=api.auth("rosa"))
    assert new.json()["derived_from"] == doc
    assert new.json()["sha256"] == stored.json()["sha256"]


def test_keep_text_pages_says_which_pages_stayed_text(api: ApiWorld, rosa: Actor) -> None:
    from tests.vault.redaction.hostile.corpus import by_id

    # Page 1 names her (a bar, so a picture); page 2 draws with a Type 3 font, which the
    # sanitiser does not rebuild: re-rendered too, and the answer says why.
    doc = upload_statement(api, by_id("visual-type3-letters").build(), "application/pdf")
    made = _propose(api, doc, kind="term", term="Marisol Quintero")
    api.client.post(f"/v1/redactions/{made['id']}/approve", headers=api.auth("rosa"))
    released = api.client.get(
        f"/v1/documents/{doc}/export",
        headers=api.auth("erin"),
        params={"redacted": "true", "keep_text_pages": "true"},
    )
    assert released.status_code == 200, released.text
    assert "vault-pages-kept" not in released.headers
    assert released.headers["vault-pages-rendered-instead"] == "2: a Type 3 or unknown font"
    plain = upload_statement(api, _two_pages(), "application/pdf")
    kept = api.client.get(
        f"/v1/documents/{plain}/export",
        headers=api.auth("erin"),
        params={"redacted": "true", "keep_text_pages": "true"},
    )
    assert kept.status_code == 200, kept.text
    assert kept.headers["vault-pages-kept"] == "1,2"


def _two_pages() -> bytes:
    from tests.vault.redaction import pdfs

    return pdfs.plain_pdf([["Orden del dia"], ["Acuerdos del jueves"]])
