"""Redactions proposed and reviewed with records the client sealed
(``/v1/documents/{id}/sealed-redactions``, ``/v1/redactions/{id}/sealed-review``): the server
keeps every rule it can keep without the key, and a record sealed for another state than the
one it is stored in stops every reader, exports included, instead of being applied wrongly."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from uuid import UUID

from sqlmodel import select

from tests.api.conftest import ApiWorld
from vault.redaction import record
from vault.redaction.model import Category, Kind
from vault.roles import Role
from vault.services.document_records import open_metadata
from vault.storage.models import AuditEntry

TEXT = b"Minutes. Present: Marisol Quenneville, the clerk.\n"


def _document(api: ApiWorld) -> tuple[str, bytes, str]:
    doc = str(api.upload("jules", TEXT, title="minutes")["id"])
    with api.world.db() as db:
        row, data_key = api.world.vault.documents.readable(db, api.world.editor, UUID(doc))
        return doc, data_key, open_metadata(row, data_key).sha256


def _sealed(
    api: ApiWorld,
    doc: str,
    data_key: bytes,
    sha256: str,
    rid: UUID,
    *,
    proposer: UUID,
    reviewer: UUID | None = None,
    status: str = "proposed",
) -> str:
    proposal = record.Proposal(kind=Kind.TERM, category=Category.SOURCE_IDENTITY, term="Marisol")
    bound = record.binding(
        document_id=UUID(doc), proposer_id=proposer, reviewer_id=reviewer, status=status
    )
    box = record.seal(data_key, rid, bound, record.SealedRedaction(proposal, sha256, "marisol"))
    return base64.b64encode(box).decode()


def _propose(api: ApiWorld) -> tuple[str, UUID, bytes, str, Any]:
    doc, data_key, sha256 = _document(api)
    rid = uuid.uuid4()
    proposer = api.world.editor.user_id
    body = {"id": str(rid), "sealed": _sealed(api, doc, data_key, sha256, rid, proposer=proposer)}
    answer = api.client.post(
        f"/v1/documents/{doc}/sealed-redactions", headers=api.auth("erin"), json=body
    )
    return doc, rid, data_key, sha256, answer


def test_a_sealed_proposal_is_stored_as_sent_and_logged(api: ApiWorld) -> None:
    doc, rid, _, _, answer = _propose(api)
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "proposed"
    listed = api.client.get(f"/v1/documents/{doc}/redactions", headers=api.auth("erin"))
    assert listed.status_code == 200, listed.text  # a server-side reader opens it
    assert listed.json()["redactions"][0]["term"] == "Marisol"
    with api.world.db() as db:
        entries = [json.loads(e.leaf) for e in db.exec(select(AuditEntry)).all()]
    proposed = [e for e in entries if e["action"] == "redaction.propose"]
    assert proposed[-1]["mode"] == "end-to-end"
    assert proposed[-1]["targets"]["redaction"] == str(rid)
    assert b"Marisol" not in json.dumps(entries).encode()


def test_who_may_propose_and_what_is_refused(api: ApiWorld) -> None:
    doc, data_key, sha256 = _document(api)
    url = f"/v1/documents/{doc}/sealed-redactions"
    rid = uuid.uuid4()
    good = _sealed(api, doc, data_key, sha256, rid, proposer=api.world.editor.user_id)
    journalist = api.client.post(
        url, headers=api.auth("jules"), json={"id": str(rid), "sealed": good}
    )
    assert journalist.status_code == 404
    for body, status in (
        ({"id": str(UUID(int=7)), "sealed": good}, 422),  # not a random id
        ({"id": str(uuid.uuid4()), "sealed": ""}, 422),  # empty
        ({"id": str(uuid.uuid4()), "sealed": "abc"}, 422),  # not base64
    ):
        refused = api.client.post(url, headers=api.auth("erin"), json=body)
        assert refused.status_code == status, (body, refused.text)
    first = api.client.post(url, headers=api.auth("erin"), json={"id": str(rid), "sealed": good})
    assert first.status_code == 201
    again = api.client.post(url, headers=api.auth("erin"), json={"id": str(rid), "sealed": good})
    assert again.status_code == 409


def test_reviews_keep_four_eyes_and_happen_once(api: ApiWorld) -> None:
    doc, rid, data_key, sha256, _ = _propose(api)
    url = f"/v1/redactions/{rid}/sealed-review"
    erin, admin = api.world.editor.user_id, api.world.add_user("rosa", Role.EDITOR).user_id

    def review(who: str, reviewer: UUID, status: str) -> Any:
        sealed = _sealed(
            api, doc, data_key, sha256, rid, proposer=erin, reviewer=reviewer, status=status
        )
        return api.client.post(
            url, headers=api.auth(who), json={"status": status, "sealed": sealed}
        )

    own = review("erin", erin, "approved")
    assert own.status_code == 409
    assert "another editor" in own.json()["detail"]
    done = review("rosa", admin, "approved")
    assert done.status_code == 200, done.text
    assert done.json()["reviewer"] == str(admin)
    twice = review("rosa", admin, "rejected")
    assert twice.status_code == 409
    exported = api.client.get(
        f"/v1/documents/{doc}/export", headers=api.auth("erin"), params={"redacted": "true"}
    )
    assert exported.status_code == 200, exported.text
    assert b"Marisol" not in exported.content


def _reviewed_by_rosa(
    api: ApiWorld, doc: str, rid: UUID, data_key: bytes, sha256: str, *, sealed_as: str
) -> Any:
    """rosa (a second editor) approves ``rid`` with a record sealed for ``sealed_as``."""
    rosa = api.world.add_user("rosa", Role.EDITOR).user_id
    sealed = _sealed(
        api,
        doc,
        data_key,
        sha256,
        rid,
        proposer=api.world.editor.user_id,
        reviewer=rosa,
        status=sealed_as,
    )
    return api.client.post(
        f"/v1/redactions/{rid}/sealed-review",
        headers=api.auth("rosa"),
        json={"status": "approved", "sealed": sealed},
    )


def test_a_record_sealed_for_another_state_stops_the_export(api: ApiWorld) -> None:
    """A client that approves with a record sealed for "rejected": the server cannot tell,
    and every reader refuses the record, so the export stops rather than leave the name in."""
    doc, rid, data_key, sha256, _ = _propose(api)
    stored = _reviewed_by_rosa(api, doc, rid, data_key, sha256, sealed_as="rejected")
    assert stored.status_code == 200
    exported = api.client.get(
        f"/v1/documents/{doc}/export", headers=api.auth("erin"), params={"redacted": "true"}
    )
    assert exported.status_code == 500
    assert exported.json()["type"].endswith("integrity-failure")
    assert b"Marisol" not in exported.content


def test_an_export_is_logged_only_if_it_applied_what_applies(api: ApiWorld) -> None:
    doc, rid, data_key, sha256, _ = _propose(api)
    url = f"/v1/documents/{doc}/sealed-export"

    def log(who: str, **body: Any) -> Any:
        sent = {"sha256": "a" * 64, **body}
        return api.client.post(url, headers=api.auth(who), json=sent)

    assert log("erin", ok=True, redactions=[]).status_code == 409  # one is still proposed
    refused = log("erin", ok=False, redactions=[], reason="redaction-leak")
    assert refused.status_code == 201  # a refusal is recorded whatever is pending
    assert json.loads(base64.b64decode(refused.json()["log_entry"]))["outcome"] == "refused"
    review = _reviewed_by_rosa(api, doc, rid, data_key, sha256, sealed_as="approved")
    assert review.status_code == 200, review.text
    assert log("erin", ok=True, redactions=[]).status_code == 409  # left the approved one out
    stranger = str(uuid.uuid4())
    assert log("erin", ok=True, redactions=[str(rid), stranger]).status_code == 409
    assert log("jules", ok=True, redactions=[str(rid)]).status_code == 404
    assert log("erin", ok=True, redactions=[str(rid)], sha256="nothex").status_code == 422
    done = log("erin", ok=True, redactions=[str(rid)])
    assert done.status_code == 201, done.text
    entry = json.loads(base64.b64decode(done.json()["log_entry"]))
    assert (entry["action"], entry["outcome"], entry["mode"], entry["sha256"]) == (
        "document.export",
        "ok",
        "end-to-end",
        "a" * 64,
    )
