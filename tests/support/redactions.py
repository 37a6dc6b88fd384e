"""What the redaction API tests share: the second editor that four-eyes review needs, a statement
uploaded by the case's editor, and the redacted export of a document."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from vault.services.users import Actor
from vault.storage.models import Role

if TYPE_CHECKING:
    from tests.api.conftest import ApiWorld

__all__ = ["PROBLEM", "add_second_editor", "redacted_export", "upload_statement"]

PROBLEM = "application/problem+json"


def add_second_editor(api: ApiWorld) -> Actor:
    """``rosa``, an editor of the case besides ``erin``: the one who approves what erin asks."""
    return api.world.add_user("rosa", Role.EDITOR)


def upload_statement(api: ApiWorld, content: bytes, media_type: str = "text/plain") -> str:
    """The id of a document ``statement`` that ``erin`` uploads to the case."""
    response = api.client.post(
        "/v1/documents",
        headers=api.auth("erin"),
        data={"case": str(api.world.case_id), "title": "statement"},
        files={"file": ("statement", content, media_type)},
    )
    assert response.status_code == 201, response.text
    doc: str = response.json()["id"]
    return doc


def redacted_export(api: ApiWorld, doc: str) -> httpx.Response:
    """``erin``'s export of ``doc`` with its approved redactions applied (or the refusal)."""
    response: httpx.Response = api.client.get(
        f"/v1/documents/{doc}/export", headers=api.auth("erin"), params={"redacted": "true"}
    )
    return response
