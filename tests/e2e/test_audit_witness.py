"""``vault audit verify --server``: an outside witness keeps the last checkpoint it saw and the
log key it pinned, and catches a server whose history was rewritten (even with every hash and
the head root recomputed to match) or whose key changed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from tests.e2e.conftest import LiveVault
from tests.support.cli import run_vault, vault_env
from vault import crypto
from vault.audit import checkpoint, log, merkle
from vault.audit.verify import verify_log
from vault.cli.errors import AUTH, INTEGRITY
from vault.settings import Settings
from vault.storage.database import connect
from vault.storage.models import AuditEntry, AuditHead, AuditNode

pytestmark = pytest.mark.slow  # end to end: a live server and the `vault` command in processes


def _witness(live: LiveVault, saved: Path, token: str) -> subprocess.CompletedProcess[str]:
    env = vault_env(columns=None, VAULT_TOKEN=token)
    return run_vault(
        "audit", "verify", "--server", live.base_url, "--checkpoint", saved,
        cwd=live.data_dir.parent, env=env,
    )  # fmt: skip


def _act(live: LiveVault) -> None:
    """A few logged actions: an upload by the journalist and a case listing."""
    with live.client(headers=live.auth("jules")) as client:
        uploaded = client.post(
            "/v1/documents",
            data={"case": live.case_id, "title": "harbour minutes"},
            files={"file": ("m.txt", b"minutes of the harbour board", "text/plain")},
        )
        assert uploaded.status_code == 201, uploaded.text
        read = client.get(f"/v1/documents/{uploaded.json()['id']}/content")
        assert read.status_code == 200


def _engine(live: LiveVault) -> Engine:
    settings = Settings(data_dir=live.data_dir, database_url=live.env.get("VAULT_DATABASE_URL"))
    return connect(settings.resolved_database_url)


def _rewrite_history(engine: Engine, index: int) -> None:
    """Change entry ``index`` and recompute every stored node and the head root from the edited
    entries, so that the database is self-consistent: only an outside witness can tell."""
    with Session(engine) as db:
        leaves = list(db.execute(select(col(AuditEntry.leaf)).order_by(col(AuditEntry.idx))))
        entries = [bytes(leaf) for (leaf,) in leaves]
        edited = json.loads(entries[index])
        edited["actor"] = "00000000-0000-4000-8000-000000000000"
        assert log.canonical(edited) != entries[index]
        entries[index] = log.canonical(edited)
        nodes = merkle.MemoryNodes()
        for leaf in entries:
            nodes.append(merkle.leaf_hash(leaf))
        db.execute(
            update(AuditEntry).where(col(AuditEntry.idx) == index).values(leaf=entries[index])
        )
        db.execute(delete(AuditNode))
        db.add_all(
            AuditNode(level=level, idx=idx, hash=value)
            for (level, idx), value in nodes.nodes.items()
        )
        frontier = [nodes.node(level, i) for level, i in merkle.frontier_nodes(len(entries))]
        db.execute(
            update(AuditHead).values(
                root=merkle.root(nodes, len(entries)), frontier=b"".join(frontier)
            )
        )
        db.commit()
    assert verify_log(engine).ok  # the database alone no longer shows the rewrite


def test_witness_catches_rewritten_history_and_a_new_key(
    live_vault: LiveVault, tmp_path: Path
) -> None:
    token = live_vault.login("admin")
    saved = tmp_path / "witness" / "checkpoint"
    saved.parent.mkdir()
    pin = saved.with_name("checkpoint.key")

    first = _witness(live_vault, saved, token)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("ok: checkpoint at size ")
    assert saved.is_file()
    assert pin.is_file()
    first_note = saved.read_text()

    _act(live_vault)
    second = _witness(live_vault, saved, token)
    assert second.returncode == 0, second.stderr
    assert saved.read_text() != first_note  # the newer checkpoint replaced the saved one
    assert int(saved.read_text().split("\n")[1]) > int(first_note.split("\n")[1])

    engine = _engine(live_vault)
    try:
        _rewrite_history(engine, 2)
    finally:
        engine.dispose()
    # An attacker who rewrites the database alone is refused by the server itself (its pinned
    # checkpoint, tests/vault/audit/test_rollback.py). One who also controls the server's
    # files removes the pin, so that it signs the rewritten tree: what the outside witness is
    # for.
    (live_vault.data_dir / "log-checkpoint").unlink()
    _act(live_vault)  # the server signs a checkpoint of the rewritten tree
    kept = saved.read_text()
    third = _witness(live_vault, saved, token)
    # IntegrityError's status (the offline `vault audit verify` exits 1 instead).
    assert third.returncode == INTEGRITY, (third.returncode, third.stdout, third.stderr)
    lines = third.stderr.splitlines()
    assert len(lines) == 1, third.stderr
    assert "rewritten" in lines[0]
    assert saved.read_text() == kept  # a failed run keeps the last good checkpoint

    # A key that differs from the pinned one is an integrity failure.
    name, _ = checkpoint.decode_vkey(pin.read_text().strip())
    other = checkpoint.encode_vkey(name, crypto.generate_signing_key().public_bytes())
    pin.write_text(other + "\n")
    changed = _witness(live_vault, saved, token)
    assert changed.returncode == INTEGRITY, changed.stderr
    assert len(changed.stderr.splitlines()) == 1
    assert "pinned key" in changed.stderr


def test_witness_needs_a_token(live_vault: LiveVault, tmp_path: Path) -> None:
    saved = tmp_path / "checkpoint"
    refused = _witness(live_vault, saved, "not-a-token")
    assert refused.returncode == AUTH, refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert not saved.exists()
