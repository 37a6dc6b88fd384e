"""Retention and legal hold over HTTP: ``PATCH /v1/cases/{id}`` sets and checks a retention
period and closes a case, a held document cannot be deleted (409 ``legal-hold``), and
``vault serve`` with ``VAULT_RETENTION_INTERVAL_MINUTES`` shreds what is due by itself.
(Who may call each route is in ``test_authorization.py``.)"""

from __future__ import annotations

import time
import uuid

from fastapi.testclient import TestClient
from sqlmodel import select

from api import create_app
from tests.api.conftest import ApiWorld
from vault.storage.models import AuditEntry, Document

PROBLEM = "application/problem+json"


def _exists(api: ApiWorld, doc_id: str) -> bool:
    with api.world.db() as db:
        return db.get(Document, uuid.UUID(doc_id)) is not None


def test_patch_sets_retention_closes_and_answers_what_is_due(api: ApiWorld) -> None:
    url = f"/v1/cases/{api.world.case_id}"
    admin = api.auth("admin")
    api.upload("jules", b"minutes")
    set_ = api.client.patch(url, headers=admin, json={"retain_days": 30})
    assert set_.status_code == 200, set_.text
    body = set_.json()
    assert body["retention"] == {"days": 30, "start": "upload"}
    assert (body["closed_at"], body["held_at"], body["due_now"]) == (None, None, 0)
    closed = api.client.patch(
        url, headers=admin, json={"retain_days": 0, "retain_from": "close", "closed": True}
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["closed_at"] is not None
    assert closed.json()["due_now"] == 1  # closed with no grace: due at once
    shown = api.client.get(url, headers=api.auth("erin")).json()
    assert shown["retention"] == {"days": 0, "start": "close"}
    cleared = api.client.patch(url, headers=admin, json={"retain_days": None, "closed": False})
    assert cleared.json()["retention"] is None
    assert cleared.json()["closed_at"] is None


def test_patch_refuses_bad_periods_with_a_problem(api: ApiWorld) -> None:
    url = f"/v1/cases/{api.world.case_id}"
    admin = api.auth("admin")
    for body in (
        {},  # nothing to change
        {"retain_days": 0},  # from the upload: at least a day
        {"retain_days": -1},
        {"retain_days": 36_501},
        {"retain_from": "close"},  # needs retain_days
        {"retain_days": 3, "retain_from": "whenever"},
        {"closed": "perhaps"},
        {"retain_days": 3, "unknown": 1},
    ):
        answer = api.client.patch(url, headers=admin, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == PROBLEM
    with api.world.db() as db:
        assert db.exec(select(AuditEntry.idx)).all()  # the log is intact
    assert api.client.get(url, headers=admin).json()["retention"] is None


def test_a_held_document_is_not_deleted_and_the_answer_says_why(api: ApiWorld) -> None:
    editor = api.auth("erin")
    doc = str(api.upload("jules", b"minutes")["id"])
    held = api.client.put(f"/v1/documents/{doc}/hold", headers=editor)
    assert held.status_code == 200, held.text
    assert held.json()["changed"] is True
    refused = api.client.delete(f"/v1/documents/{doc}", headers=editor)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert problem["type"] == "urn:source-vault:problem:legal-hold"
    assert problem["hold"] == "document"
    assert _exists(api, doc)
    case_hold = api.client.put(f"/v1/cases/{api.world.case_id}/hold", headers=api.auth("admin"))
    assert case_hold.status_code == 200
    api.client.delete(f"/v1/documents/{doc}/hold", headers=editor)
    still = api.client.delete(f"/v1/documents/{doc}", headers=editor)
    assert (still.status_code, still.json()["hold"]) == (409, "case")
    api.client.delete(f"/v1/cases/{api.world.case_id}/hold", headers=editor)
    assert api.client.delete(f"/v1/documents/{doc}", headers=editor).status_code == 204


def test_serve_runs_retention_periodically_when_configured(api: ApiWorld) -> None:
    doc = str(api.upload("jules", b"minutes")["id"])
    answer = api.client.patch(
        f"/v1/cases/{api.world.case_id}",
        headers=api.auth("admin"),
        json={"retain_days": 0, "retain_from": "close", "closed": True},
    )
    assert answer.json()["due_now"] == 1
    assert _exists(api, doc)  # not without a schedule
    settings = api.world.vault.settings.with_overrides(retention_interval_minutes=1)
    app = create_app(settings, vault=api.world.vault)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        # The run at start: the counter moves once the run has finished, a moment after its
        # deletion is visible, so wait for the counter rather than for the document.
        deadline = time.monotonic() + 10
        while app.state.retention.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.retention.runs >= 1
        assert not _exists(api, doc)
    # Stopped with the app: the thread is gone.
    assert not app.state.retention._thread.is_alive()
