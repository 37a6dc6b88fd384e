"""``GET /v1/users/{name}/key``: a user's public key with the access-log entry that gives it,
a signed checkpoint and the proofs a client checks (``vault.audit.transparency``)."""

from __future__ import annotations

import base64
from uuid import UUID

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests.api.conftest import ApiWorld
from tests.conftest import PASSPHRASE
from vault.audit import checkpoint, merkle, transparency
from vault.audit.actions import Action
from vault.errors import IntegrityError
from vault.storage.models import AuditEntry, Role


def _record(body: dict[str, object]) -> transparency.KeyRecord:
    return transparency.KeyRecord(
        username=str(body["username"]),
        user_id=UUID(str(body["user_id"])),
        public_key=base64.b64decode(str(body["public_key"])),
        index=int(str(body["index"])),
        leaf=base64.b64decode(str(body["entry"])),
        checkpoint=str(body["checkpoint"]),
        inclusion=tuple(base64.b64decode(p) for p in body["inclusion"]),  # type: ignore[attr-defined]
    )


def _log_key(api: ApiWorld, who: str) -> str:
    answer = api.client.get("/v1/audit/key", headers=api.auth(who))
    assert answer.status_code == 200, answer.text
    return answer.text.strip()


def _key(api: ApiWorld, who: str, name: str, **params: int) -> dict[str, object]:
    answer = api.client.get(f"/v1/users/{name}/key", headers=api.auth(who), params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_journalist_checks_an_editors_key_against_the_log(api: ApiWorld) -> None:
    world = api.world
    body = _key(api, world.journalist.username, world.editor.username)
    entry = transparency.check_key_record(
        _record(body), log_key=_log_key(api, world.journalist.username)
    )
    assert world.editor.key is not None
    assert entry.key_id == world.editor.key.public_key().key_id == body["key_id"]
    assert entry.user_id == world.editor.user_id
    assert body["enabled"] is True
    assert body["consistency"] == []


def test_unknown_users_and_users_without_a_key_get_the_same_404(api: ApiWorld) -> None:
    world = api.world
    # An account that was never enrolled has no key.
    world.vault.users.create_account(
        None, username="never-enrolled", role=Role.EDITOR, passphrase=None
    )
    answers = [
        api.client.get(f"/v1/users/{name}/key", headers=api.auth(world.editor))
        for name in ("nobody-here", "never-enrolled")
    ]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json()["detail"] == answers[1].json()["detail"]
    assert api.client.get(f"/v1/users/{world.editor.username}/key").status_code == 401


def test_a_rotated_key_is_served_with_its_rotation_entry(api: ApiWorld) -> None:
    world = api.world
    name = world.journalist.username
    before = _key(api, world.editor.username, name)
    answer = api.client.post(
        "/v1/auth/login",
        json={"username": name, "passphrase": PASSPHRASE, "rotate_key": True},
    )
    assert answer.status_code == 200, answer.text
    after = _key(api, world.editor.username, name)
    assert after["key_id"] != before["key_id"]
    entry = transparency.check_key_record(
        _record(after), log_key=_log_key(api, world.editor.username)
    )
    assert entry.action == Action.USER_KEY_ROTATE
    # The old entry names the old key: served with the new key, a client refuses it.
    stale = _record({**before, "public_key": after["public_key"]})
    with pytest.raises(IntegrityError, match="another key") as refused:
        transparency.check_key_record(stale, log_key=_log_key(api, world.editor.username))
    assert refused.value.reason == "key"


def test_a_key_logged_before_entries_were_indexed_is_logged_once_on_demand(api: ApiWorld) -> None:
    world = api.world
    with world.db() as db:
        db.execute(update(AuditEntry).values(key_id=None))
        db.commit()
        size = len(db.exec(select(AuditEntry.idx)).all())
    first = _key(api, world.journalist.username, world.editor.username)
    second = _key(api, world.journalist.username, world.editor.username)
    assert first["index"] == second["index"]
    entry = transparency.check_key_record(
        _record(first), log_key=_log_key(api, world.journalist.username)
    )
    assert entry.action == Action.USER_KEY_LOGGED
    with world.db() as db:
        logged = db.exec(select(AuditEntry.idx).where(col(AuditEntry.idx) >= size)).all()
    assert int(str(first["index"])) in logged


def test_an_index_pointing_at_another_users_entry_is_not_served(api: ApiWorld) -> None:
    world = api.world
    assert world.editor.key is not None
    editor_key = world.editor.key.public_key().key_id
    genuine = _key(api, world.journalist.username, world.editor.username)
    with world.db() as db:
        other = db.exec(
            select(AuditEntry.idx)
            .where(col(AuditEntry.key_id).is_not(None))
            .where(col(AuditEntry.idx) != genuine["index"])
        ).first()
        assert other is not None
        db.execute(update(AuditEntry).where(col(AuditEntry.idx) == other).values(key_id=editor_key))
        db.execute(
            update(AuditEntry).where(col(AuditEntry.idx) == genuine["index"]).values(key_id=None)
        )
        db.commit()
    served = _key(api, world.journalist.username, world.editor.username)
    assert served["index"] != other
    transparency.check_key_record(_record(served), log_key=_log_key(api, world.editor.username))


def test_since_proves_the_served_tree_extends_the_one_seen(api: ApiWorld) -> None:
    world = api.world
    who = world.editor.username
    log_key = _log_key(api, who)
    name, public = checkpoint.decode_vkey(log_key)
    seen = checkpoint.open_checkpoint(
        api.client.get("/v1/audit/checkpoint", headers=api.auth(who)).text, name=name, public=public
    )
    api.upload(world.journalist, b"more entries")
    body = _key(api, who, world.journalist.username, since=seen.size)
    head = checkpoint.open_checkpoint(str(body["checkpoint"]), name=name, public=public)
    assert head.size > seen.size
    proof = [base64.b64decode(p) for p in body["consistency"]]  # type: ignore[attr-defined]
    assert merkle.verify_consistency(seen.size, head.size, seen.root, head.root, proof)
    too_far = api.client.get(
        f"/v1/users/{world.journalist.username}/key",
        headers=api.auth(who),
        params={"since": head.size + 1000},
    )
    assert too_far.status_code == 422
    assert too_far.headers["content-type"].startswith("application/problem+json")
