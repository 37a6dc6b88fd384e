"""Over HTTP, a record edited in SQL outside the vault is answered with the integrity problem
(RFC 9457, the status api/errors.py gives ``IntegrityError``) naming the record by id: never an
unexpected-error answer, and never the document's content or title. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from api.errors import ProblemType
from tests.api.conftest import ApiWorld
from tests.api.test_documents_api import assert_problem
from tests.support.redactions import add_second_editor, redacted_export, upload_statement
from tests.vault.test_tampered_rows import sql, stored
from vault.services.users import Actor

NAME = "Teodora Abril Sandoval"
TEXT = f"Statement taken on 2 May. The witness, {NAME}, can be reached by the harbour.\n"
TITLE = "harbour-dredging-minutes"
INTEGRITY = ProblemType.INTEGRITY_FAILURE


@pytest.fixture
def rosa(api: ApiWorld) -> Actor:
    return add_second_editor(api)


def _refused(
    response: httpx.Response, table: str | None, record: object, *secrets: str
) -> dict[str, Any]:
    """The integrity problem, naming ``record`` (of ``table``, in the members a row seal's
    refusal adds), and none of ``secrets`` anywhere in it."""
    body = assert_problem(response, INTEGRITY.status, INTEGRITY.slug)
    assert body["type"] != ProblemType.INTERNAL.uri
    assert str(record) in body["detail"]
    if table is not None:
        assert (body["table"], body["record"]) == (table, str(record))
    for secret in secrets:
        assert secret not in response.text
    return body


def test_a_document_moved_into_another_case_is_answered_as_tampered(api: ApiWorld) -> None:
    world = api.world
    doc = uuid.UUID(str(api.upload("erin", TEXT.encode(), title=TITLE)["id"]))
    other = world.vault.cases.create(world.admin, "other").id
    world.vault.cases.add_member(world.admin, other, "erin")  # erin may read in both cases
    sql(
        world,
        "UPDATE documents SET case_id = :c WHERE id = :d",
        c=stored(other, world),
        d=stored(doc, world),
    )
    for path in (f"/v1/documents/{doc}", f"/v1/documents/{doc}/content"):
        _refused(api.client.get(path, headers=api.auth("erin")), "documents", doc, TITLE, NAME)


def test_an_export_after_an_approved_redaction_was_deleted_is_refused(
    api: ApiWorld, rosa: Actor
) -> None:
    world = api.world
    doc = upload_statement(api, TEXT.encode())
    proposed = api.client.post(
        f"/v1/documents/{doc}/redactions",
        headers=api.auth("erin"),
        json={"category": "source-identity", "kind": "term", "term": NAME},
    )
    assert proposed.status_code == 201, proposed.text
    rid = proposed.json()["id"]
    approved = api.client.post(f"/v1/redactions/{rid}/approve", headers=api.auth("rosa"))
    assert approved.status_code == 200, approved.text
    assert NAME not in redacted_export(api, doc).text
    sql(world, "DELETE FROM redactions WHERE id = :r", r=stored(uuid.UUID(rid), world))
    _refused(redacted_export(api, doc), None, rid, NAME, "statement")


def test_a_token_with_widened_scopes_is_answered_as_tampered(api: ApiWorld) -> None:
    world = api.world
    created = api.client.post(
        "/v1/tokens",
        headers=api.auth("erin"),
        json={"name": "scanner", "scopes": ["upload"], "expires_in": 3600},
    )
    assert created.status_code == 201, created.text
    token, credential = created.json()["token"], created.json()["id"]
    bearer = {"Authorization": f"Bearer {token}"}
    doc = api.upload("erin", TEXT.encode(), title=TITLE)["id"]
    # Without the read scope the document is not there for this token.
    assert_problem(api.client.get(f"/v1/documents/{doc}", headers=bearer), 404)
    sql(
        world,
        "UPDATE credentials SET scopes = 'read,upload' WHERE id = :i",
        i=stored(uuid.UUID(credential), world),
    )
    for path in (f"/v1/documents/{doc}", f"/v1/documents/{doc}/content"):
        refusal = api.client.get(path, headers=bearer)
        _refused(refusal, "credentials", credential, TITLE, NAME, token)


def test_a_self_made_administrator_is_answered_as_tampered(api: ApiWorld) -> None:
    world = api.world
    sql(
        world,
        "UPDATE users SET role = 'admin' WHERE id = :u",
        u=stored(world.journalist.user_id, world),
    )
    response = api.client.get("/v1/auth/me", headers=api.auth("jules"))
    _refused(response, "users", world.journalist.user_id, "jules")
