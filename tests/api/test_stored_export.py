"""A stored redacted export is checked before any work, written, and only then logged: the
access log once said ``document.export: ok`` for a copy that was then refused (a title too long
once " (redacted)" was added) and never stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import col, select

from tests.api.conftest import ApiWorld
from vault.errors import StorageError
from vault.services.users import Actor
from vault.storage.models import AuditEntry, Role

NAME = "Teodora Abril Sandoval"
TEXT = f"Statement taken on 2 May. {NAME} saw it.\n"


@pytest.fixture
def rosa(api: ApiWorld) -> Actor:
    return api.world.add_user("rosa", Role.EDITOR)


def _document_with_approved_term(api: ApiWorld, title: str) -> str:
    uploaded = api.client.post(
        "/v1/documents",
        headers=api.auth("erin"),
        data={"case": str(api.world.case_id), "title": title},
        files={"file": ("statement.txt", TEXT.encode(), "text/plain")},
    )
    assert uploaded.status_code == 201, uploaded.text
    doc: str = uploaded.json()["id"]
    made = api.client.post(
        f"/v1/documents/{doc}/redactions",
        headers=api.auth("erin"),
        json={"kind": "term", "term": NAME, "category": "source-identity"},
    ).json()["id"]
    approved = api.client.post(f"/v1/redactions/{made}/approve", headers=api.auth("rosa"))
    assert approved.status_code == 200, approved.text
    return doc


def _entries(api: ApiWorld, action: str) -> list[dict[str, Any]]:
    with api.world.db() as db:
        rows = db.exec(select(AuditEntry).order_by(col(AuditEntry.idx)))
        leaves = [json.loads(row.leaf) for row in rows]
    return [e for e in leaves if e["action"] == action]


def test_a_title_at_the_limit_still_gives_a_stored_copy(api: ApiWorld, rosa: Actor) -> None:
    title = "Declaración " + "x" * 488  # 500 characters, the most a title may have
    doc = _document_with_approved_term(api, title)
    stored = api.client.post(f"/v1/documents/{doc}/export", headers=api.auth("erin"))
    assert stored.status_code == 201, stored.text
    copy = stored.json()["document"]
    meta = api.client.get(f"/v1/documents/{copy}", headers=api.auth("erin")).json()
    assert len(meta["title"]) <= 500
    assert meta["title"].startswith("Declaración xxx")
    assert meta["title"].endswith("… (redacted)")
    assert meta["derived_from"] == doc
    (entry,) = _entries(api, "document.export")
    assert entry["outcome"] == "ok"
    assert entry["stored"] == copy
    # Logged after the copy was written: its upload entry comes first.
    (upload,) = [
        e for e in _entries(api, "document.upload") if e["targets"].get("document") == copy
    ]
    assert upload["index"] < entry["index"]


def test_a_copy_that_cannot_be_stored_is_not_logged_as_exported(
    api: ApiWorld, rosa: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _document_with_approved_term(api, "statement")

    def full(*args: Any, **kwargs: Any) -> Any:
        raise StorageError("the blob store is full")

    monkeypatch.setattr(api.world.vault.documents, "add", full)
    refused = api.client.post(f"/v1/documents/{doc}/export", headers=api.auth("erin"))
    assert refused.status_code == 503, refused.text
    assert _entries(api, "document.export") == []


def test_a_title_with_control_characters_stored_long_ago_gives_a_clean_copy(
    api: ApiWorld, rosa: Actor
) -> None:
    from vault.services.documents import NewDocument

    # Stored through the library before titles were checked for control characters.
    info = api.world.vault.documents.add(
        api.world.editor,
        case_id=api.world.case_id,
        content=iter([TEXT.encode()]),
        document=NewDocument(title="ok", media_type="text/plain"),
    )
    doc = str(info.id)
    _rename(api, doc, "two\tcolumns\x1b[31m")
    made = api.client.post(
        f"/v1/documents/{doc}/redactions",
        headers=api.auth("erin"),
        json={"kind": "term", "term": NAME, "category": "other"},
    ).json()["id"]
    api.client.post(f"/v1/redactions/{made}/approve", headers=api.auth("rosa"))
    stored = api.client.post(f"/v1/documents/{doc}/export", headers=api.auth("erin"))
    assert stored.status_code == 201, stored.text
    meta = api.client.get(f"/v1/documents/{stored.json()['document']}", headers=api.auth("erin"))
    assert meta.json()["title"] == "two columns [31m (redacted)"


def _rename(api: ApiWorld, doc: str, title: str) -> None:
    """Reseal a document's metadata with another title, as an old version could have stored."""
    from dataclasses import replace
    from uuid import UUID

    from vault.services import keyring
    from vault.services.document_records import open_metadata, seal_metadata
    from vault.storage.models import Document

    with api.world.db() as db:
        row = db.get(Document, UUID(doc))
        assert row is not None
        key = keyring.open_data_key(
            db, kind=keyring.DOCUMENT, subject_id=row.id, key=api.world.editor.require_key()
        )
        assert key is not None
        meta = replace(open_metadata(row, key), title=title)
        row.sealed_metadata = seal_metadata(key, row, meta)
        db.add(row)
        db.commit()
