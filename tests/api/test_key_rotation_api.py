"""The access log's key rotations over HTTP: ``GET /v1/audit/key/rotations`` publishes each
transition, and ``vault audit verify --server`` (its checks, run here against the ASGI app)
follows one rotation or several from the key it pinned, and refuses a forged transition."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from sqlmodel import Session

from tests.api.conftest import ApiWorld
from vault import crypto
from vault.audit import checkpoint, signer
from vault.cli.local import audit as audit_cli
from vault.errors import IntegrityError
from vault.storage.models import AuditCheckpoint


def _auditor(api: ApiWorld) -> None:
    api.client.headers.update(api.auth(api.world.editor))


def _witness(api: ApiWorld, saved: Path | None, key: str | None = None) -> None:
    audit_cli._witness_with(api.client, saved, key)


def _act(api: ApiWorld) -> None:
    """A logged action, so the log grows past a transition."""
    assert api.client.get("/v1/documents", params={"case": str(api.world.case_id)}).status_code


def test_rotations_route_lists_each_transition(api: ApiWorld) -> None:
    _auditor(api)
    empty = api.client.get("/v1/audit/key/rotations")
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"rotations": []}

    old_key = api.client.get("/v1/audit/key").text.strip()
    transition = api.world.vault.audit.rotate_key()
    assert api.client.get("/v1/audit/key").text.strip() == transition.new_key
    body = api.client.get("/v1/audit/key/rotations").json()
    assert body == {
        "rotations": [
            {
                "index": transition.index,
                "old_key": old_key,
                "new_key": transition.new_key,
                "entry": base64.b64encode(transition.entry).decode(),
                "checkpoint": transition.checkpoint,
                "proof": [base64.b64encode(p).decode() for p in transition.proof],
            }
        ]
    }


def test_witness_follows_one_rotation_then_two(
    api: ApiWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _auditor(api)
    saved = tmp_path / "checkpoint"
    pin = tmp_path / "checkpoint.key"
    _witness(api, saved)
    original = pin.read_text().strip()
    capsys.readouterr()

    first = api.world.vault.audit.rotate_key()
    _act(api)
    _witness(api, saved)
    out = capsys.readouterr().out
    assert f"followed a key rotation at entry {first.index}" in out
    assert f"pin the new key: {first.new_key}" in out
    assert out.rstrip().splitlines()[-1].startswith("ok: checkpoint at size ")
    assert pin.read_text().strip() == first.new_key  # pinned from now on
    name, public = checkpoint.decode_vkey(first.new_key)
    assert checkpoint.open_checkpoint(saved.read_text(), name=name, public=public)

    _witness(api, saved)  # nothing more to follow
    assert "followed" not in capsys.readouterr().out

    second = api.world.vault.audit.rotate_key()
    _act(api)
    third = api.world.vault.audit.rotate_key()
    _witness(api, saved)
    out = capsys.readouterr().out
    followed = re.findall(r"followed a key rotation at entry (\d+)", out)
    assert followed == [str(second.index), str(third.index)]
    assert pin.read_text().strip() == third.new_key

    # A client that only knows the original key (no saved checkpoint) follows all three.
    _witness(api, None, key=original)
    out = capsys.readouterr().out
    assert len(re.findall("followed a key rotation", out)) == 3
    assert f"pin the new key: {third.new_key}" in out


def test_witness_refuses_a_transition_signed_by_the_new_key_alone(
    api: ApiWorld, tmp_path: Path
) -> None:
    """A server that lost (or never had) the old key publishes a transition that only the new
    key signed: a witness that pinned the old key keeps it and fails."""
    _auditor(api)
    saved = tmp_path / "checkpoint"
    _witness(api, saved)
    kept = saved.read_text()
    transition = api.world.vault.audit.rotate_key()
    vault = api.world.vault
    with Session(vault.engine) as db:
        new = signer.load_signer(db, vault.settings)
        assert new is not None
        stored = db.get(AuditCheckpoint, transition.index + 1)
        assert stored is not None
        head = checkpoint.open_checkpoint(stored.note, name=new.name, public=new.public)
        stored.note = checkpoint.sign(head, new.name, new.key)
        db.add(stored)
        db.commit()
    with pytest.raises(IntegrityError) as info:
        _witness(api, saved)
    assert info.value.reason == "rotation"
    assert "not signed by the old key" in str(info.value)
    assert saved.read_text() == kept
    assert (tmp_path / "checkpoint.key").read_text().strip() == transition.old_key


def test_witness_with_a_key_never_rotated_to_the_servers_fails(
    api: ApiWorld, tmp_path: Path
) -> None:
    _auditor(api)
    api.world.vault.audit.rotate_key()
    served = api.client.get("/v1/audit/key").text.strip()
    name, _ = checkpoint.decode_vkey(served)
    stranger = checkpoint.encode_vkey(name, crypto.generate_signing_key().public_bytes())
    with pytest.raises(IntegrityError) as info:
        _witness(api, None, key=stranger)
    assert info.value.reason == "key"
    assert "pinned key" in str(info.value)
