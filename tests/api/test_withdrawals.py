"""Withdrawing an approved redaction: one editor asks, another approves, and until then it
applies. And region coordinates: finite, bounded and on the page, so that a region of 1e308 can
no longer be stored and break every export of its document for good."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest
from PIL import Image
from sqlmodel import col, select

from tests.api.conftest import ApiWorld
from tests.support.redactions import PROBLEM, add_second_editor, redacted_export, upload_statement
from tests.vault.redaction.pdfs import plain_pdf
from vault.redaction.model import Rect
from vault.services import keyring
from vault.services.redaction_records import seal, unseal
from vault.services.users import Actor
from vault.storage.models import AuditEntry, Redaction

NAME = "Teodora Abril Sandoval"
CLERK = "Anselmo Ruiz"
TEXT = f"Statement taken on 2 May. {NAME} saw it; the clerk, {CLERK}, was there too.\n"


@pytest.fixture
def rosa(api: ApiWorld) -> Actor:
    return add_second_editor(api)


def _post(api: ApiWorld, who: str, path: str, body: Any = None) -> Any:
    return api.client.post(path, headers=api.auth(who), json=body)


def _approved_term(api: ApiWorld, doc: str, term: str) -> str:
    made = _post(
        api,
        "erin",
        f"/v1/documents/{doc}/redactions",
        {"kind": "term", "term": term, "category": "third-party"},
    )
    assert made.status_code == 201, made.text
    rid: str = made.json()["id"]
    approved = _post(api, "rosa", f"/v1/redactions/{rid}/approve")
    assert approved.status_code == 200, approved.text
    return rid


def _actions(api: ApiWorld) -> list[str]:
    with api.world.db() as db:
        rows = db.exec(select(AuditEntry).order_by(col(AuditEntry.idx)))
        return [json.loads(row.leaf)["action"] for row in rows]


def test_a_withdrawal_applies_only_once_a_second_editor_approves_it(
    api: ApiWorld, rosa: Actor
) -> None:
    doc = upload_statement(api, TEXT.encode())
    _approved_term(api, doc, NAME)
    rid = _approved_term(api, doc, CLERK)

    asked = _post(
        api, "erin", f"/v1/redactions/{rid}/withdraw", {"note": "the clerk agreed to be named"}
    )
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["status"] == "withdrawing"
    assert body["withdrawal"]["status"] == "proposed"
    assert body["withdrawal"]["note"] == "the clerk agreed to be named"
    assert body["withdrawal"]["proposer"] == str(api.world.editor.user_id)
    # Until it is approved, it applies: the export still hides the clerk.
    before = redacted_export(api, doc)
    assert before.status_code == 200, before.text
    assert CLERK not in before.text
    assert NAME not in before.text
    assert before.headers["vault-redactions"] == "2"

    # Four eyes: not by the editor who asked.
    own = _post(api, "erin", f"/v1/redactions/{rid}/withdrawal/approve")
    assert own.status_code == 409
    assert own.headers["content-type"] == PROBLEM
    assert "another editor" in own.json()["detail"]

    done = _post(api, "rosa", f"/v1/redactions/{rid}/withdrawal/approve", {"note": "agreed"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "withdrawn"
    assert done.json()["withdrawal"]["status"] == "approved"
    assert done.json()["withdrawal"]["reviewer"] == str(rosa.user_id)
    assert done.json()["withdrawal"]["review_note"] == "agreed"
    after = redacted_export(api, doc)
    assert after.status_code == 200, after.text
    assert CLERK in after.text
    assert NAME not in after.text
    assert after.headers["vault-redactions"] == "1"

    listed = api.client.get(f"/v1/documents/{doc}/redactions", headers=api.auth("rosa"))
    assert [r["status"] for r in listed.json()["redactions"]] == ["approved", "withdrawn"]
    # A withdrawn redaction is done with: it cannot be withdrawn or reviewed again.
    again = _post(api, "rosa", f"/v1/redactions/{rid}/withdraw", {"note": "again"})
    assert again.status_code == 409
    assert (
        _post(api, "erin", f"/v1/redactions/{rid}/withdrawal/reject", {"note": "x"}).status_code
        == 409
    )
    actions = _actions(api)
    assert actions.count("redaction.withdraw") == 1
    assert actions.count("redaction.withdraw.approve") == 1


def test_a_rejected_withdrawal_leaves_the_redaction_approved(api: ApiWorld, rosa: Actor) -> None:
    doc = upload_statement(api, TEXT.encode())
    rid = _approved_term(api, doc, NAME)
    _post(api, "rosa", f"/v1/redactions/{rid}/withdraw", {"note": "published elsewhere"})
    no_note = _post(api, "erin", f"/v1/redactions/{rid}/withdrawal/reject", {"note": "  "})
    assert no_note.status_code == 422
    kept = _post(
        api, "erin", f"/v1/redactions/{rid}/withdrawal/reject", {"note": "she is still at risk"}
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["status"] == "approved"
    assert kept.json()["withdrawal"]["status"] == "rejected"
    assert kept.json()["withdrawal"]["review_note"] == "she is still at risk"
    assert NAME not in redacted_export(api, doc).text
    assert "redaction.withdraw.reject" in _actions(api)


def test_only_approved_redactions_are_withdrawn_and_only_by_editors(
    api: ApiWorld, rosa: Actor
) -> None:
    doc = upload_statement(api, TEXT.encode())
    proposed = _post(
        api,
        "erin",
        f"/v1/documents/{doc}/redactions",
        {"kind": "term", "term": NAME, "category": "other"},
    ).json()["id"]
    refused = _post(api, "rosa", f"/v1/redactions/{proposed}/withdraw", {"note": "why"})
    assert refused.status_code == 409
    assert "only an approved redaction" in refused.json()["detail"]
    no_pending = _post(api, "rosa", f"/v1/redactions/{proposed}/withdrawal/approve")
    assert no_pending.status_code == 409

    rid = _approved_term(api, doc, CLERK)
    # A journalist of the case sees no redactions at all: the same 404 as for no redaction.
    journalist = _post(api, "jules", f"/v1/redactions/{rid}/withdraw", {"note": "why"})
    assert journalist.status_code == 404
    missing = _post(api, "erin", f"/v1/redactions/{UUID(int=1)}/withdraw", {"note": "why"})
    assert missing.status_code == 404
    assert journalist.json()["detail"] == missing.json()["detail"]
    assert _post(api, "erin", f"/v1/redactions/{rid}/withdraw", {}).status_code == 422


def test_self_approval_of_a_withdrawal_is_allowed_only_by_the_setting(
    api: ApiWorld, rosa: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = upload_statement(api, TEXT.encode())
    rid = _approved_term(api, doc, NAME)
    _post(api, "erin", f"/v1/redactions/{rid}/withdraw", {"note": "one-editor team"})
    monkeypatch.setattr(api.world.vault.redactions, "_self_approval", True)
    done = _post(api, "erin", f"/v1/redactions/{rid}/withdrawal/approve")
    assert done.status_code == 200, done.text
    with api.world.db() as db:
        leaves = [json.loads(row.leaf) for row in db.exec(select(AuditEntry))]
    (entry,) = [e for e in leaves if e["action"] == "redaction.withdraw.approve"]
    assert entry["self_approved"] == "true"


def _data_key(api: ApiWorld, doc: str) -> bytes:
    with api.world.db() as db:
        key = keyring.open_data_key(
            db, kind=keyring.DOCUMENT, subject_id=UUID(doc), key=api.world.editor.require_key()
        )
    assert key is not None
    return key


def _rewrite(api: ApiWorld, doc: str, rid: str, **changes: Any) -> None:
    """Change a stored redaction behind the service's back (as an old version, or someone
    with the database alone, could have)."""
    with api.world.db() as db:
        row = db.get(Redaction, UUID(rid))
        assert row is not None
        if "status" in changes:
            row.status = changes.pop("status")
        if changes:
            key = _data_key(api, doc)
            sealed = unseal(key, row)
            proposal = replace(sealed.proposal, **changes)
            row.sealed = seal(key, row, replace(sealed, proposal=proposal))
        db.add(row)
        db.commit()


def test_a_status_changed_in_the_database_alone_does_not_withdraw(
    api: ApiWorld, rosa: Actor
) -> None:
    doc = upload_statement(api, TEXT.encode())
    rid = _approved_term(api, doc, NAME)
    _rewrite(api, doc, rid, status="withdrawn")
    refused = redacted_export(api, doc)
    assert refused.status_code == 500
    assert refused.json()["type"] == "urn:source-vault:problem:integrity-failure"
    assert NAME not in refused.text


def _png(width: int = 200, height: int = 100) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format="PNG")
    return out.getvalue()


def test_a_stored_region_of_1e308_is_refused_by_name_until_withdrawn(
    api: ApiWorld, rosa: Actor
) -> None:
    doc = upload_statement(api, _png(), "image/png")
    made = _post(
        api,
        "erin",
        f"/v1/documents/{doc}/redactions",
        {"kind": "region", "page": 1, "rect": [10, 10, 50, 50], "category": "other"},
    )
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    assert _post(api, "rosa", f"/v1/redactions/{rid}/approve").status_code == 200
    # As stored before coordinates were checked.
    _rewrite(api, doc, rid, rect=Rect(0, 0, 1e308, 1e308))
    refused = redacted_export(api, doc)
    assert refused.status_code == 409, refused.text
    assert refused.json()["redactions"] == [rid]
    assert "withdraw" in refused.json()["detail"]
    listed = api.client.get(f"/v1/documents/{doc}/redactions", headers=api.auth("erin"))
    assert listed.status_code == 200  # the record is still shown, to be withdrawn

    _post(api, "erin", f"/v1/redactions/{rid}/withdraw", {"note": "coordinates are broken"})
    assert _post(api, "rosa", f"/v1/redactions/{rid}/withdrawal/approve").status_code == 200
    released = redacted_export(api, doc)
    assert released.status_code == 200, released.text
    assert released.headers["vault-redactions"] == "0"


def test_a_stored_proposal_of_1e308_cannot_be_approved(api: ApiWorld, rosa: Actor) -> None:
    doc = upload_statement(api, _png(), "image/png")
    rid = _post(
        api,
        "erin",
        f"/v1/documents/{doc}/redactions",
        {"kind": "region", "page": 1, "rect": [10, 10, 50, 50], "category": "other"},
    ).json()["id"]
    _rewrite(api, doc, rid, rect=Rect(0, 0, 1e308, 1e308))
    refused = _post(api, "rosa", f"/v1/redactions/{rid}/approve")
    assert refused.status_code == 409
    assert "reject it" in refused.json()["detail"]


@pytest.mark.parametrize(
    "rect",
    [
        [0, 0, 1e308, 1e308],
        [0, 0, 65536, 10],
        [-1, 0, 10, 10],
        [0, 0, 10, 1e20],
    ],
    ids=["1e308", "over the bound", "negative", "huge"],
)
def test_region_coordinates_out_of_bounds_are_refused(api: ApiWorld, rect: list[float]) -> None:
    doc = upload_statement(api, plain_pdf([["a page"]]), "application/pdf")
    response = _post(
        api,
        "erin",
        f"/v1/documents/{doc}/redactions",
        {"kind": "region", "page": 1, "rect": rect, "category": "other"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_non_finite_json_numbers_are_refused(api: ApiWorld, literal: str) -> None:
    doc = upload_statement(api, plain_pdf([["a page"]]), "application/pdf")
    body = '{"kind": "region", "page": 1, "category": "other", "rect": [0, 0, 10, LITERAL]}'
    body = body.replace("LITERAL", literal)
    response = api.client.post(
        f"/v1/documents/{doc}/redactions",
        content=body.encode(),
        headers={"content-type": "application/json", **api.auth("erin")},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


def test_a_pdf_region_must_lie_on_its_page(api: ApiWorld) -> None:
    doc = upload_statement(api, plain_pdf([["a page"]], size=(300.0, 400.0)), "application/pdf")

    def propose(rect: list[float]) -> Any:
        return _post(
            api,
            "erin",
            f"/v1/documents/{doc}/redactions",
            {"kind": "region", "page": 1, "rect": rect, "category": "other"},
        )

    assert propose([10, 10, 300, 400]).status_code == 201
    off = propose([10, 10, 301, 50])
    assert off.status_code == 422
    assert "outside page 1" in off.json()["detail"]
    assert propose([10, 10, 50, 14400]).status_code == 422
