"""Sources recorded and revealed end to end (``POST /v1/sealed-sources``, ``GET
/v1/sources/{id}/sealed-identity``): what a client seals opens for a server-side reading and
the other way round, the server refuses what it can check, and every reading is logged with
its reason."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from sqlmodel import col, select

from tests.api.conftest import ApiWorld
from vault import crypto, source_record
from vault.storage.models import AuditEntry, Source

NOTES = "Deck officer on the night ferry; met twice at the quay."
NAMES = ["Ottilie Brandvold", "the night officer"]


def _key(api: ApiWorld, path: str) -> crypto.PublicKey:
    answer = api.client.get(path, headers=api.auth("erin"))
    assert answer.status_code == 200, answer.text
    return crypto.PublicKey(base64.b64decode(answer.json()["public_key"]))


def _body(api: ApiWorld, who: str = "jules") -> dict[str, Any]:
    source_id = uuid.uuid4()
    data_key = crypto.new_data_key()
    commitment = crypto.key_commitment(data_key, kind=source_record.KIND, subject_id=source_id)
    where = {"source_id": source_id, "case_id": api.world.case_id, "commitment": commitment}
    keys = {}
    for recipient in (_key(api, f"/v1/users/{who}/key"), _key(api, "/v1/recovery-key")):
        wrapped = crypto.wrap_key(
            data_key,
            recipient,
            kind=source_record.KIND,
            subject_id=source_id,
            commitment=commitment,
        )
        keys[recipient.key_id] = base64.b64encode(wrapped).decode()
    return {
        "case": str(api.world.case_id),
        "id": str(source_id),
        "key_commitment": base64.b64encode(commitment).decode(),
        "sealed_notes": base64.b64encode(
            source_record.seal_notes(data_key, NOTES, **where)  # type: ignore[arg-type]
        ).decode(),
        "sealed_names": base64.b64encode(
            source_record.seal_names(data_key, NAMES, **where)  # type: ignore[arg-type]
        ).decode(),
        "keys": keys,
    }


def _open(api: ApiWorld, body: dict[str, Any], who: str) -> tuple[str | None, list[str]]:
    actor = api.world.journalist if who == "jules" else api.world.editor
    assert actor.key is not None
    source_id = UUID(body["id"])
    commitment = base64.b64decode(body["key_commitment"])
    data_key = crypto.unwrap_key(
        base64.b64decode(body["wrapped_key"]),
        actor.key,
        kind=source_record.KIND,
        subject_id=source_id,
        commitment=commitment,
    )
    where = {"source_id": source_id, "case_id": UUID(body["case"]), "commitment": commitment}
    notes = source_record.open_notes(
        data_key,
        base64.b64decode(body["sealed_notes"]),
        **where,  # type: ignore[arg-type]
    )
    names = source_record.open_names(
        data_key,
        base64.b64decode(body["sealed_names"]),
        **where,  # type: ignore[arg-type]
    )
    return notes, names


def test_a_sealed_source_opens_server_side_and_a_server_side_one_opens_here(
    api: ApiWorld,
) -> None:
    made = api.client.post("/v1/sealed-sources", headers=api.auth("jules"), json=_body(api))
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["has_identity_notes"] is True
    reason = {"reason": "checking a quote"}
    shown = api.client.get(
        f"/v1/sources/{created['id']}/identity", headers=api.auth("jules"), params=reason
    ).json()
    assert (shown["notes"], shown["names"]) == (NOTES, NAMES)
    # The other way: a source recorded server-side, opened from its sealed records.
    server_side = api.client.post(
        "/v1/sources",
        headers=api.auth("jules"),
        json={"case": str(api.world.case_id), "notes": NOTES, "names": NAMES},
    ).json()
    sealed = api.client.get(
        f"/v1/sources/{server_side['id']}/sealed-identity",
        headers=api.auth("jules"),
        params=reason,
    )
    assert sealed.status_code == 200, sealed.text
    assert NOTES not in sealed.text
    assert _open(api, sealed.json(), "jules") == (NOTES, NAMES)
    with api.world.db() as db:
        leaf = db.exec(select(AuditEntry.leaf).order_by(col(AuditEntry.idx).desc())).first()
    entry = json.loads(leaf or b"{}")
    assert (entry["action"], entry["reason"], entry["mode"]) == (
        "source.identity.read",
        "checking a quote",
        "end-to-end",
    )


def test_only_the_handler_gets_the_sealed_records(api: ApiWorld) -> None:
    made = api.client.post("/v1/sealed-sources", headers=api.auth("jules"), json=_body(api))
    url = f"/v1/sources/{made.json()['id']}/sealed-identity"
    other = api.client.get(url, headers=api.auth("erin"), params={"reason": "curious"})
    assert other.status_code == 404
    missing = api.client.get(url, headers=api.auth("jules"), params={"reason": "x"})
    assert missing.status_code == 422


def _only_mine(body: dict[str, Any]) -> None:
    body["keys"] = dict(list(body["keys"].items())[:1])


def _a_stranger(body: dict[str, Any]) -> None:
    """The recovery key's copy handed to a key of the server's choosing instead."""
    stranger = crypto.generate_private_key().public_key()
    mine, recovery = body["keys"].items()
    body["keys"] = {mine[0]: mine[1], stranger.key_id: recovery[1]}


def _three_keys(body: dict[str, Any]) -> None:
    stranger = crypto.generate_private_key().public_key()
    body["keys"][stranger.key_id] = next(iter(body["keys"].values()))


def _short_key(body: dict[str, Any]) -> None:
    first = next(iter(body["keys"]))
    body["keys"][first] = base64.b64encode(os.urandom(100)).decode()


def _huge_notes(body: dict[str, Any]) -> None:
    body["sealed_notes"] = base64.b64encode(os.urandom(97 * 1024)).decode()


def _short_commitment(body: dict[str, Any]) -> None:
    body["key_commitment"] = base64.b64encode(os.urandom(31)).decode()


def _not_random(body: dict[str, Any]) -> None:
    body["id"] = str(UUID(int=5))


def _keys_without_records(body: dict[str, Any]) -> None:
    del body["sealed_notes"], body["sealed_names"]


def _not_base64(body: dict[str, Any]) -> None:
    body["sealed_notes"] = "***"


@pytest.mark.parametrize(
    ("tamper", "status"),
    [
        (_only_mine, 409),
        (_a_stranger, 409),
        (_three_keys, 422),
        (_short_key, 422),
        (_huge_notes, 422),
        (_short_commitment, 422),
        (_not_random, 422),
        (_keys_without_records, 422),
        (_not_base64, 422),
    ],
)
def test_what_the_server_can_check_is_refused_and_nothing_is_recorded(
    api: ApiWorld, tamper: Callable[[dict[str, Any]], None], status: int
) -> None:
    body = _body(api)
    tamper(body)
    with api.world.db() as db:
        before = len(db.exec(select(Source)).all())
    answer = api.client.post("/v1/sealed-sources", headers=api.auth("jules"), json=body)
    assert answer.status_code == status, answer.text
    with api.world.db() as db:
        assert len(db.exec(select(Source)).all()) == before


def test_an_id_is_used_once_and_outside_the_case_is_404(api: ApiWorld) -> None:
    body = _body(api)
    assert api.client.post("/v1/sealed-sources", headers=api.auth("jules"), json=body).is_success
    again = api.client.post("/v1/sealed-sources", headers=api.auth("jules"), json=body)
    assert again.status_code == 409
    elsewhere = {**_body(api), "case": str(uuid.uuid4())}
    outside = api.client.post("/v1/sealed-sources", headers=api.auth("jules"), json=elsewhere)
    assert outside.status_code == 404


def _handover_body(api: ApiWorld, source_id: str, to: str = "erin") -> dict[str, Any]:
    """jules's client: his copy opened with his key, wrapped for ``to``'s key."""
    mine = api.client.get(f"/v1/sources/{source_id}/key", headers=api.auth("jules"))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    key = api.world.journalist.key
    assert key is not None
    commitment = base64.b64decode(body["key_commitment"])
    data_key = crypto.unwrap_key(
        base64.b64decode(body["wrapped_key"]),
        key,
        kind="source",
        subject_id=UUID(source_id),
        commitment=commitment,
    )
    theirs = _key(api, f"/v1/users/{to}/key")
    wrapped = crypto.wrap_key(
        data_key, theirs, kind="source", subject_id=UUID(source_id), commitment=commitment
    )
    return {"to": to, "key_id": theirs.key_id, "wrapped_key": base64.b64encode(wrapped).decode()}


def test_a_handover_from_the_client_gives_the_new_handler_the_key(api: ApiWorld) -> None:
    made = api.client.post("/v1/sealed-sources", headers=api.auth("jules"), json=_body(api))
    source_id = made.json()["id"]
    url = f"/v1/sources/{source_id}/handover"
    handed = api.client.post(url, headers=api.auth("jules"), json=_handover_body(api, source_id))
    assert handed.status_code == 200, handed.text
    assert handed.json()["handler"] == str(api.world.editor.user_id)
    reason = {"reason": "taking the source over"}
    shown = api.client.get(
        f"/v1/sources/{source_id}/identity", headers=api.auth("erin"), params=reason
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["notes"] == NOTES
    gone = api.client.get(f"/v1/sources/{source_id}/key", headers=api.auth("jules"))
    assert gone.status_code == 404
    with api.world.db() as db:
        entries = [json.loads(e.leaf) for e in db.exec(select(AuditEntry)).all()]
    handovers = [e for e in entries if e["action"] == "source.handover"]
    assert handovers[-1]["mode"] == "end-to-end"
    assert handovers[-1]["targets"]["user"] == str(api.world.editor.user_id)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"key_id": "0" * 64}, 409),  # not the new handler's key (any more)
        ({"wrapped_key": None}, 422),  # a source with records needs the new copy
        ({"wrapped_key": base64.b64encode(b"short").decode()}, 422),
        ({"wrapped_key": "abc"}, 422),  # not base64
        ({"to": "jules"}, 422),  # to oneself
    ],
)
def test_a_handover_the_server_can_check_is_refused_and_changes_nothing(
    api: ApiWorld, change: dict[str, Any], status: int
) -> None:
    made = api.client.post("/v1/sealed-sources", headers=api.auth("jules"), json=_body(api))
    source_id = made.json()["id"]
    body = {**_handover_body(api, source_id), **change}
    url = f"/v1/sources/{source_id}/handover"
    refused = api.client.post(url, headers=api.auth("jules"), json=body)
    assert refused.status_code == status, refused.text
    if "key_id" in change:  # said as what it is, not as a stale list of recipients
        assert "new handler's key is another one" in refused.json()["detail"]
    assert api.client.get(f"/v1/sources/{source_id}/key", headers=api.auth("jules")).is_success
