"""Your own account over HTTP: changing the passphrase (the current one is required, even at a
live session) and rotating the key pair at a login."""

from __future__ import annotations

import json

from sqlmodel import select

from tests.api.conftest import ApiWorld
from tests.conftest import PASSPHRASE
from vault.services import throttle
from vault.storage.models import AuditEntry, Throttle, User, WrappedKey

NEW = "amber ledger crosses the quay at dawn"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(api: ApiWorld, username: str, passphrase: str = PASSPHRASE, **extra: object) -> str:
    answer = api.client.post(
        "/v1/auth/login", json={"username": username, "passphrase": passphrase, **extra}
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


def actions(api: ApiWorld) -> list[dict[str, object]]:
    with api.world.db() as db:
        return [json.loads(e.leaf) for e in db.exec(select(AuditEntry))]


def test_a_passphrase_change_needs_the_current_one_and_ends_other_sessions(api: ApiWorld) -> None:
    document = api.upload("jules", b"still readable")
    here, elsewhere = login(api, "jules"), login(api, "jules")
    token = api.client.post(
        "/v1/tokens", headers=bearer(here), json={"name": "nightly", "scopes": ["read"]}
    ).json()["token"]
    change = {"current_passphrase": "not the passphrase at all", "new_passphrase": NEW}
    wrong = api.client.post("/v1/me/passphrase", headers=bearer(here), json=change)
    assert wrong.status_code == 401
    with api.world.db() as db:  # counted like a failed login
        row = db.get(Throttle, throttle.account_key("jules"))
        assert row is not None
        assert row.failures == 1
    for new in (PASSPHRASE, "short"):
        refused = api.client.post(
            "/v1/me/passphrase",
            headers=bearer(here),
            json={"current_passphrase": PASSPHRASE, "new_passphrase": new},
        )
        assert refused.status_code == 422, refused.text
    done = api.client.post(
        "/v1/me/passphrase",
        headers=bearer(here),
        json={"current_passphrase": PASSPHRASE, "new_passphrase": NEW},
    )
    assert done.status_code == 200, done.text
    # The world's own login of jules, the upload's session and `elsewhere`.
    assert done.json() == {"sessions_ended": 3}
    assert api.client.get("/v1/auth/me", headers=bearer(here)).status_code == 200
    assert api.client.get("/v1/auth/me", headers=bearer(elsewhere)).status_code == 401
    assert api.client.get("/v1/auth/me", headers=bearer(token)).status_code == 200
    old = api.client.post("/v1/auth/login", json={"username": "jules", "passphrase": PASSPHRASE})
    assert old.status_code == 401
    fresh = login(api, "jules", NEW)
    content = api.client.get(f"/v1/documents/{document['id']}/content", headers=bearer(fresh))
    assert content.content == b"still readable"
    entry = next(e for e in actions(api) if e["action"] == "auth.passphrase.change")
    assert entry["sessions_ended"] == "3"
    assert PASSPHRASE not in json.dumps(actions(api))
    assert NEW not in json.dumps(actions(api))


def test_an_api_token_cannot_change_the_passphrase(api: ApiWorld) -> None:
    session = login(api, "jules")
    token = api.client.post(
        "/v1/tokens", headers=bearer(session), json={"name": "nightly", "scopes": ["read"]}
    ).json()["token"]
    body = {"current_passphrase": PASSPHRASE, "new_passphrase": NEW}
    assert api.client.post("/v1/me/passphrase", headers=bearer(token), json=body).status_code == 404


def test_rotating_the_key_rewraps_everything_and_ends_every_credential(api: ApiWorld) -> None:
    documents = [api.upload("jules", f"page {n}".encode())["id"] for n in range(3)]
    before = login(api, "jules")
    source = api.client.post(
        "/v1/sources", headers=bearer(before), json={"case": str(api.world.case_id), "notes": "n"}
    ).json()["id"]
    token = api.client.post(
        "/v1/tokens", headers=bearer(before), json={"name": "nightly", "scopes": ["read"]}
    ).json()["token"]
    with api.world.db() as db:
        old_key = db.exec(select(User.key_id).where(User.username == "jules")).one()
    refused = api.client.post(
        "/v1/auth/login",
        json={"username": "jules", "passphrase": "not the passphrase", "rotate_key": True},
    )
    assert refused.status_code == 401
    with api.world.db() as db:
        assert db.exec(select(User.key_id).where(User.username == "jules")).one() == old_key
    after = login(api, "jules", rotate_key=True)
    for stale in (before, token):
        assert api.client.get("/v1/auth/me", headers=bearer(stale)).status_code == 401
    for n, doc in enumerate(documents):
        got = api.client.get(f"/v1/documents/{doc}/content", headers=bearer(after))
        assert got.content == f"page {n}".encode()
    identity = api.client.get(
        f"/v1/sources/{source}/identity", headers=bearer(after), params={"reason": "a check"}
    )
    assert identity.json()["notes"] == "n"
    with api.world.db() as db:
        new_key = db.exec(select(User.key_id).where(User.username == "jules")).one()
        assert new_key != old_key
        left = db.exec(select(WrappedKey).where(WrappedKey.recipient_key_id == old_key)).all()
        assert left == []
    entry = next(e for e in actions(api) if e["action"] == "user.key.rotate")
    assert (entry["old_key"], entry["new_key"], entry["rewrapped"]) == (old_key, new_key, "4")


def test_an_administrator_can_require_a_rotation_at_the_next_login(api: ApiWorld) -> None:
    before = login(api, "jules")
    with api.world.db() as db:
        old_key = db.exec(select(User.key_id).where(User.username == "jules")).one()
    api.world.vault.users.require_rotation("jules")
    after = login(api, "jules")
    assert api.client.get("/v1/auth/me", headers=bearer(before)).status_code == 401
    with api.world.db() as db:
        user = db.exec(select(User).where(User.username == "jules")).one()
        assert user.key_id != old_key
        assert user.key_rotation_required is False
    assert api.client.get("/v1/auth/me", headers=bearer(after)).status_code == 200
    names = [e["action"] for e in actions(api)]
    assert names.index("user.key.rotation.required") < names.index("user.key.rotate")
