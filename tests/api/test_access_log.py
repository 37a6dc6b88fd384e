"""Every security-relevant action leaves an entry (ids only, with the request id), and an
action whose entry cannot be written does not happen."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import delete
from sqlmodel import Session, col, select

from tests.api.conftest import ApiWorld
from vault.audit.verify import verify_log
from vault.storage.models import AuditEntry, AuditHead, Document


def entries(api: ApiWorld) -> list[dict[str, object]]:
    with Session(api.world.vault.engine) as db:
        leaves = db.exec(select(AuditEntry.leaf).order_by(col(AuditEntry.idx))).all()
    return [json.loads(leaf) for leaf in leaves]


def test_document_life_is_logged_by_id_with_request_ids(api: ApiWorld) -> None:
    before = len(entries(api))
    api.login("jules")  # fresh sessions, so that their logins are in this part of the log
    api.login("erin")
    content = b"the attendee's testimony " * 500
    created = api.upload("jules", content, title="Testimony of Ana Ruiz")
    doc = str(created["id"])
    read = api.client.get(f"/v1/documents/{doc}/content", headers=api.auth("erin"))
    assert read.status_code == 200
    assert api.client.delete(f"/v1/documents/{doc}", headers=api.auth("erin")).status_code == 204
    new = entries(api)[before:]
    actions = [e["action"] for e in new]
    assert "document.upload" in actions
    assert "document.content.read" in actions
    assert "document.delete" in actions
    assert actions.count("auth.login") == 2
    upload = next(e for e in new if e["action"] == "document.upload")
    assert upload["targets"] == {"document": doc, "case": str(api.world.case_id)}
    assert upload["actor"] == str(api.world.journalist.user_id)
    assert isinstance(upload["request_id"], str)
    # The hash of what was stored, never of the plaintext.
    assert upload["ciphertext_sha256"] != hashlib.sha256(content).hexdigest()
    assert len(str(upload["ciphertext_sha256"])) == 64
    text = json.dumps(new)
    for secret in ("Ana Ruiz", "Testimony", "testimony.txt", "attendee"):
        assert secret not in text
    assert verify_log(api.world.vault.engine).ok


def test_failed_login_is_logged_without_the_username(api: ApiWorld) -> None:
    response = api.client.post(
        "/v1/auth/login", json={"username": "no-such-person", "passphrase": "wrong wrong wrong"}
    )
    assert response.status_code == 401
    last = entries(api)[-1]
    assert last["action"] == "auth.login.failed"
    assert last["outcome"] == "denied"
    assert last["targets"] == {"user": "unknown"}
    assert "no-such-person" not in json.dumps(last)


def test_identity_read_records_the_reason(api: ApiWorld) -> None:
    created = api.client.post(
        "/v1/sources",
        json={"case": str(api.world.case_id), "notes": "Ana Ruiz, +52 55 1234 5678"},
        headers=api.auth("jules"),
    )
    source = created.json()["id"]
    revealed = api.client.get(
        f"/v1/sources/{source}/identity",
        params={"reason": "confirm the quote before publication"},
        headers=api.auth("jules"),
    )
    assert revealed.status_code == 200
    last = entries(api)[-1]
    assert last["action"] == "source.identity.read"
    assert last["reason"] == "confirm the quote before publication"
    assert "Ana Ruiz" not in json.dumps(entries(api))


def test_no_entry_no_action(api: ApiWorld) -> None:
    created = api.upload("jules", b"agenda of the programme")
    headers = api.auth("erin")
    api.auth("jules")
    with Session(api.world.vault.engine) as db:
        db.execute(delete(AuditHead))  # the log can no longer be appended to
        db.commit()
        documents_before = len(db.exec(select(Document)).all())
    read = api.client.get(f"/v1/documents/{created['id']}/content", headers=headers)
    assert read.status_code == 503
    assert read.headers["content-type"] == "application/problem+json"
    assert b"agenda" not in read.content
    gone = api.client.delete(f"/v1/documents/{created['id']}", headers=headers)
    assert gone.status_code == 503
    upload = api.client.post(
        "/v1/documents",
        headers=api.auth("jules"),
        data={"case": str(api.world.case_id), "title": "second"},
        files={"file": ("b.txt", b"second document", "text/plain")},
    )
    assert upload.status_code == 503
    with Session(api.world.vault.engine) as db:
        assert len(db.exec(select(Document)).all()) == documents_before
    assert len(list(api.world.vault.blobs.blob_ids())) == documents_before
