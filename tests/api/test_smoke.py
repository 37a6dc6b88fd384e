"""The main journalist path through the API, once."""

from __future__ import annotations

import hashlib

from tests.api.conftest import ApiWorld


def test_upload_list_read_delete(api: ApiWorld) -> None:
    content = b"anonymous attendee testimony " * 2000
    created = api.upload(api.world.journalist, content, title="Testimony A")
    assert created["sha256"] == hashlib.sha256(content).hexdigest()
    assert created["size"] == len(content)
    listing = api.client.get(
        "/v1/documents", params={"case": str(api.world.case_id)}, headers=api.auth("erin")
    )
    assert listing.status_code == 200, listing.text
    assert [d["title"] for d in listing.json()["documents"]] == ["Testimony A"]
    got = api.client.get(f"/v1/documents/{created['id']}/content", headers=api.auth("erin"))
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["repr-digest"].startswith("sha-256=:")
    assert "testimony.txt" in got.headers["content-disposition"]
    gone = api.client.delete(f"/v1/documents/{created['id']}", headers=api.auth("erin"))
    assert gone.status_code == 204
    missing = api.client.get(f"/v1/documents/{created['id']}", headers=api.auth("erin"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
