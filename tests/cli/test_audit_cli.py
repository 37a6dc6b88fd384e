"""``vault audit verify`` (offline) and ``vault audit log`` against a data directory made with
``vault init``: every kind of tampering done directly in the database is caught, named in one
line on stderr, and exits 1 without a traceback."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import FAILED, run_vault, vault_env
from vault import crypto
from vault.audit import checkpoint, signer
from vault.instance import Vault
from vault.services.documents import NewDocument
from vault.settings import Settings
from vault.storage.models import Role

PASSPHRASE = "violet kettle marches quietly at 47 past nine"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``vault ARGS`` (in this process) with no ``VAULT_*`` setting but two-factor login off."""
    env = vault_env(VAULT_TOTP_REQUIRED_ROLES="")
    return run_vault(*args, cwd=cwd, env=env, in_process=True)


@dataclass(frozen=True)
class Prepared:
    data_dir: Path
    size: int
    checkpoint_sizes: tuple[int, ...]
    document_id: str
    editor_id: str


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    root = tmp_path_factory.mktemp("audit-cli")
    data_dir = root / "data"
    secret = root / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    made = run(
        "init", "--admin", "admin", "--data-dir", data_dir, "--passphrase-file", secret, cwd=root
    )
    assert made.returncode == 0, made.stderr
    vault = Vault.open(Settings(data_dir=data_dir, totp_required_roles=""))
    try:
        admin = vault.auth.login("admin", PASSPHRASE, None, address="127.0.0.1").actor
        editor, _, _ = vault.users.create_account(
            admin, username="erin", role=Role.EDITOR, passphrase=PASSPHRASE
        )
        case = vault.cases.create(admin, "harbour-contracts")
        first = _checkpoint(vault)  # one in the middle of the log
        vault.cases.add_member(admin, case.id, "erin")
        erin = vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").actor
        info = vault.documents.add(
            erin,
            case_id=case.id,
            content=[b"minutes of the harbour board"],
            document=NewDocument(title="minutes"),
        )
        _, stream = vault.documents.open(erin, info.id)
        assert b"".join(stream) == b"minutes of the harbour board"
        vault.cases.create(admin, "second-case")
        second = _checkpoint(vault)
    finally:
        vault.close()
    assert 0 < first.size < second.size
    return Prepared(data_dir, second.size, (first.size, second.size), str(info.id), str(editor.id))


def _checkpoint(vault: Vault) -> checkpoint.Checkpoint:
    """Store a signed checkpoint of the log as it is now, as the server does when asked."""
    with vault.session() as db:
        found = signer.load_signer(db, vault.settings)
        assert found is not None
        note = signer.latest_checkpoint(db, found, vault.clock)
    return checkpoint.open_checkpoint(note, name=found.name, public=found.public)


def _copy(prepared: Prepared, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(prepared.data_dir, target)
    return target


def _sql(data_dir: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(data_dir / "vault.db")
    try:
        for sql, params in statements:
            changed = conn.execute(sql, params).rowcount
            assert changed != 0, sql
        conn.commit()
    finally:
        conn.close()


def _leaf(data_dir: Path, index: int) -> bytes:
    conn = sqlite3.connect(data_dir / "vault.db")
    try:
        (leaf,) = conn.execute("SELECT leaf FROM audit_entries WHERE idx = ?", (index,)).fetchone()
    finally:
        conn.close()
    return bytes(leaf)


def test_untouched_log_verifies(prepared: Prepared, tmp_path: Path) -> None:
    done = run("audit", "verify", "--data-dir", prepared.data_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok: {prepared.size} entries and 2 signed checkpoints verify")
    assert done.stderr == ""


def _edit_leaf(d: Path, p: Prepared) -> None:
    entry = json.loads(_leaf(d, 3))
    entry["actor"] = "system"
    leaf = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    _sql(d, ("UPDATE audit_entries SET leaf = ? WHERE idx = 3", (leaf,)))


def _delete(d: Path, p: Prepared) -> None:
    _sql(d, ("DELETE FROM audit_entries WHERE idx = 4", ()))


def _insert(d: Path, p: Prepared) -> None:
    entry = json.loads(_leaf(d, p.size - 1))
    entry["index"] = p.size
    leaf = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    _sql(
        d,
        (
            "INSERT INTO audit_entries (idx, leaf, created_at) "
            "SELECT ?, ?, created_at FROM audit_entries WHERE idx = ?",
            (p.size, leaf, p.size - 1),
        ),
    )


def _swap(d: Path, p: Prepared) -> None:
    two, five = _leaf(d, 2), _leaf(d, 5)
    _sql(
        d,
        ("UPDATE audit_entries SET leaf = ? WHERE idx = 2", (five,)),
        ("UPDATE audit_entries SET leaf = ? WHERE idx = 5", (two,)),
    )


def _swap_renumbered(d: Path, p: Prepared) -> None:
    """Swap two entries and fix up their "index" fields, so only the hashes can tell."""
    two, five = json.loads(_leaf(d, 2)), json.loads(_leaf(d, 5))
    two["index"], five["index"] = 5, 2

    def enc(e: dict[str, object]) -> bytes:
        return json.dumps(e, sort_keys=True, separators=(",", ":")).encode()

    _sql(
        d,
        ("UPDATE audit_entries SET leaf = ? WHERE idx = 2", (enc(five),)),
        ("UPDATE audit_entries SET leaf = ? WHERE idx = 5", (enc(two),)),
    )


def _truncate(d: Path, p: Prepared) -> None:
    _sql(d, ("DELETE FROM audit_entries WHERE idx >= ?", (p.size - 2,)))


def _foreign_checkpoint(d: Path, p: Prepared) -> None:
    conn = sqlite3.connect(d / "vault.db")
    try:
        (name,) = conn.execute("SELECT name FROM log_keys WHERE active").fetchone()
        (note,) = conn.execute(
            "SELECT note FROM audit_checkpoints WHERE size = ?", (p.checkpoint_sizes[0],)
        ).fetchone()
    finally:
        conn.close()
    origin, size, root = note.split("\n")[:3]
    opened = checkpoint.Checkpoint(origin, int(size), base64.b64decode(root))
    forged = checkpoint.sign(opened, name, crypto.generate_signing_key())
    _sql(
        d,
        (
            "UPDATE audit_checkpoints SET note = ? WHERE size = ?",
            (forged, p.checkpoint_sizes[0]),
        ),
    )


def _resized_checkpoint(d: Path, p: Prepared) -> None:
    _sql(
        d,
        (
            "UPDATE audit_checkpoints SET size = ? WHERE size = ?",
            (p.checkpoint_sizes[0] + 1, p.checkpoint_sizes[0]),
        ),
    )


def _head_root(d: Path, p: Prepared) -> None:
    _sql(d, ("UPDATE audit_head SET root = ?", (bytes(32),)))


TAMPERS: dict[str, tuple[Callable[[Path, Prepared], None], Callable[[Prepared], str]]] = {
    "edit-leaf": (_edit_leaf, lambda p: "entry 3"),
    "delete": (_delete, lambda p: "entry 4 is missing"),
    "insert": (_insert, lambda p: f"entry {p.size}"),
    "swap": (_swap, lambda p: "entry 2"),
    "swap-renumbered": (_swap_renumbered, lambda p: "entry 2"),
    "truncate": (_truncate, lambda p: f"should hold {p.size} entries but holds {p.size - 2}"),
    "foreign-key-checkpoint": (
        _foreign_checkpoint,
        lambda p: f"checkpoint at size {p.checkpoint_sizes[0]} is not signed by the log key",
    ),
    "resized-checkpoint": (
        _resized_checkpoint,
        lambda p: (
            f"stored at size {p.checkpoint_sizes[0] + 1} is signed for size {p.checkpoint_sizes[0]}"
        ),
    ),
    "head-root": (_head_root, lambda p: "stored root"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_is_named(prepared: Prepared, tmp_path: Path, tamper: str) -> None:
    data_dir = _copy(prepared, tmp_path)
    change, expected = TAMPERS[tamper]
    change(data_dir, prepared)
    done = run("audit", "verify", "--data-dir", data_dir, cwd=tmp_path)
    assert done.returncode == FAILED, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("vault: error: the access log does not verify: ")
    assert expected(prepared) in lines[0], lines[0]
    assert done.stdout == ""


def test_log_as_json_and_filters(prepared: Prepared, tmp_path: Path) -> None:
    every = run("audit", "log", "--data-dir", prepared.data_dir, "--json", cwd=tmp_path)
    assert every.returncode == 0, every.stderr
    entries = json.loads(every.stdout)["entries"]
    assert [e["index"] for e in entries] == list(range(prepared.size))
    assert entries[0]["action"] == "vault.init"
    assert {"document.upload", "document.content.read", "case.create"} <= {
        e["action"] for e in entries
    }

    doc = run(
        "audit", "log", "--data-dir", prepared.data_dir, "--json", "--doc", prepared.document_id,
        cwd=tmp_path,
    )  # fmt: skip
    assert doc.returncode == 0, doc.stderr
    about = json.loads(doc.stdout)["entries"]
    assert [e["action"] for e in about] == ["document.upload", "document.content.read"]
    assert all(e["targets"]["document"] == prepared.document_id for e in about)
    assert all(e["actor_name"] == "erin" for e in about)
    assert all(e["actor"] == prepared.editor_id for e in about)

    by = run(
        "audit", "log", "--data-dir", prepared.data_dir, "--json", "--actor", "admin",
        cwd=tmp_path,
    )  # fmt: skip
    assert by.returncode == 0, by.stderr
    mine = json.loads(by.stdout)["entries"]
    assert mine
    assert all(e["actor_name"] == "admin" for e in mine)
    assert len(mine) == sum(e["actor_name"] == "admin" for e in entries)
