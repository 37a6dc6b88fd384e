"""Grants completed by an end-to-end client (``GET/POST /v1/grants``): the server names what is
pending and stores the copies the client wrapped, after checking who each is for."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from sqlmodel import select

from tests.api.conftest import ApiWorld
from tests.conftest import PASSPHRASE
from vault import crypto
from vault.cli.client import error_from
from vault.cli.remote import sealed_read
from vault.cli.remote.e2e_login import log_in
from vault.crypto import PrivateKey
from vault.storage.models import AuditEntry, CaseMember, Role


def _e2e(api: ApiWorld, username: str) -> tuple[dict[str, str], PrivateKey]:
    def post(path: str, body: Mapping[str, Any]) -> Any:
        response = api.client.post(path, json=dict(body))
        if response.status_code != 200:
            raise error_from(response)
        return response.json()

    opened = log_in(post, username, PASSPHRASE, None)
    return {"Authorization": f"Bearer {opened.answer['token']}"}, opened.key


def _wrap_all(api: ApiWorld, headers: dict[str, str], key: PrivateKey) -> list[dict[str, str]]:
    """What the client sends for every pending grant (trusting the server's keys: the CLI
    checks them against the log first, tests/cli/test_e2e_cli.py)."""
    pending = api.client.get("/v1/grants", headers=headers)
    assert pending.status_code == 200, pending.text
    copies = []
    for grant in pending.json()["grants"]:
        opened = sealed_read.open_stored(grant["document"], key)
        assert opened is not None
        member = api.client.get(f"/v1/users/{grant['username']}/key", headers=headers).json()
        wrapped = crypto.wrap_key(
            opened.data_key,
            crypto.PublicKey(base64.b64decode(member["public_key"])),
            kind="document",
            subject_id=opened.id,
            commitment=opened.commitment,
        )
        copies.append(
            {
                "document_id": str(opened.id),
                "user_id": grant["user_id"],
                "key_id": grant["key_id"],
                "wrapped_key": base64.b64encode(wrapped).decode(),
            }
        )
    return copies


def _newcomer(api: ApiWorld, headers: dict[str, str]) -> str:
    """A journalist added to the case and approved by the end-to-end editor, whose server
    holds no key to wrap with: every document of the case waits for them."""
    world = api.world
    rory = world.add_user("rory", Role.JOURNALIST, member=False)
    world.vault.cases.add_member(world.admin, world.case_id, rory.username)
    answer = api.client.post(
        f"/v1/cases/{world.case_id}/approvals", headers=headers, json={"username": "rory"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["keys_wrapped"] == 0
    return rory.username


def test_an_end_to_end_member_completes_a_newcomers_grants(api: ApiWorld) -> None:
    docs = [str(api.upload("jules", b"statement %d" % i)["id"]) for i in range(3)]
    headers, key = _e2e(api, "erin")
    rory = _newcomer(api, headers)
    assert (
        api.client.get(f"/v1/documents/{docs[0]}/content", headers=api.auth(rory)).status_code
        == 409
    )
    copies = _wrap_all(api, headers, key)
    assert {c["document_id"] for c in copies} >= set(docs)
    done = api.client.post("/v1/grants", headers=headers, json={"grants": copies})
    assert done.status_code == 200, done.text
    assert done.json()["completed"] == len(copies)
    for i, doc in enumerate(docs):
        read = api.client.get(f"/v1/documents/{doc}/content", headers=api.auth(rory))
        assert read.status_code == 200, read.text
        assert read.content == b"statement %d" % i
    assert api.client.get("/v1/grants", headers=headers).json()["grants"] == []
    again = api.client.post("/v1/grants", headers=headers, json={"grants": copies})
    assert again.json() == {"completed": 0}  # completed already: skipped
    with api.world.db() as db:
        leaves = [bytes(e.leaf) for e in db.exec(select(AuditEntry)).all()]
        member = db.get(CaseMember, (api.world.case_id, api.world.vault.users.account(rory).id))
    assert sum(b'"grant.complete"' in leaf for leaf in leaves) == len(copies)
    assert member is not None
    assert not member.keys_pending


def test_copies_for_another_key_or_someone_out_of_reach_are_refused(api: ApiWorld) -> None:
    doc = str(api.upload("jules", b"statement")["id"])
    headers, key = _e2e(api, "erin")
    _newcomer(api, headers)
    copy = next(c for c in _wrap_all(api, headers, key) if c["document_id"] == doc)
    wrong_key = {**copy, "key_id": "ab" * 32}
    not_member = {**copy, "user_id": str(api.world.admin.user_id)}
    for bad in (wrong_key, not_member):
        answer = api.client.post("/v1/grants", headers=headers, json={"grants": [bad]})
        assert answer.status_code == 404, answer.text
    # The uploader is a journalist of the case, not someone who can give keys away for erin.
    outsider = api.world.add_user("olga", Role.EDITOR, member=False)
    answer = api.client.post("/v1/grants", headers=api.auth(outsider), json={"grants": [copy]})
    assert answer.status_code == 404, answer.text
    bad64 = {**copy, "wrapped_key": "not base64!"}
    answer = api.client.post("/v1/grants", headers=headers, json={"grants": [bad64]})
    assert answer.status_code == 422


def test_a_copy_that_does_not_open_is_the_recipients_integrity_failure(api: ApiWorld) -> None:
    """The server cannot check what a copy holds: one a member wrapped wrongly is stored, and
    refused at the recipient's first read as stored data that failed verification."""
    doc = str(api.upload("jules", b"statement")["id"])
    headers, key = _e2e(api, "erin")
    rory = _newcomer(api, headers)
    copy = next(c for c in _wrap_all(api, headers, key) if c["document_id"] == doc)
    garbage = {**copy, "wrapped_key": base64.b64encode(b"\x00" * 1200).decode()}
    assert api.client.post("/v1/grants", headers=headers, json={"grants": [garbage]}).json() == {
        "completed": 1
    }
    read = api.client.get(f"/v1/documents/{doc}/content", headers=api.auth(rory))
    assert read.status_code == 500
    assert read.json()["type"] == "urn:source-vault:problem:integrity-failure"
