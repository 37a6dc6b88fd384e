"""A database rolled back under the vault is refused (on SQLite and PostgreSQL): the newest
checkpoint the vault signed is pinned in a file outside the database, and the log must extend
it before the vault opens for writing or signs again. An earlier copy put back, the newest
entries cut and everything edited to match, a fork at the pinned size: each is internally
consistent and signed, each is refused, and ``verify_vault`` names it. Accepting a deliberate
restore is logged; the pinned file only ever moves forward, also with signers racing; a vault
without one pins what it has on first use."""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, delete, select

from tests.conftest import World
from tests.support import postgres
from tests.support.rollback import restore, rewrite_log, snapshot
from tests.support.world import PG_ENV
from vault import crypto
from vault.audit import checkpoint, log, pin, signer
from vault.audit.rollback import accept_rollback
from vault.audit.signer import verify_vault
from vault.backup.create import create_backup
from vault.backup.restore import restore_backup
from vault.clock import system_clock
from vault.errors import Conflict, IntegrityError
from vault.instance import Vault
from vault.settings import Settings
from vault.storage.models import AuditCheckpoint, AuditEntry, AuditNode


def _act(vault: Vault, count: int = 1) -> None:
    with vault.session() as db:
        for _ in range(count):
            log.append(db, action="test.action", actor="system", time=system_clock())
        log.commit(db)


def _sign(world: World) -> int:
    """What a server does when asked for the checkpoint: sign it, store it, pin it."""
    note = world.vault.audit.checkpoint(world.admin)
    return int(note.split("\n")[1])


def _head(vault: Vault) -> int:
    with vault.session() as db:
        return log.head(db)[0]


def _pinned(vault: Vault) -> checkpoint.Checkpoint:
    data = pin.read(vault.settings.checkpoint_pin_path)
    assert data is not None
    with vault.session() as db:
        return pin.open_pinned(data, pin.log_keys(db))


def _refused_everywhere(world: World, pinned: int, size: int) -> str:
    """Opening for writing, signing and rotating refuse, naming both sizes; the pinned file
    stays as it was. Returns the refusal."""
    vault = world.vault
    path = vault.settings.checkpoint_pin_path
    before = path.read_bytes()
    with pytest.raises(IntegrityError) as opened:
        Vault.open(vault.settings)
    assert opened.value.reason == "log-rollback"
    assert f"pinned size {pinned}, database size {size}" in str(opened.value)
    assert "vault audit accept-rollback --yes" in str(opened.value)
    assert "\n" not in str(opened.value)
    with pytest.raises(IntegrityError) as signing:
        world.vault.audit.checkpoint(world.admin)
    assert signing.value.reason == "log-rollback"
    with pytest.raises(IntegrityError) as rotating:
        world.vault.audit.rotate_key()
    assert rotating.value.reason == "log-rollback"
    assert path.read_bytes() == before
    report = verify_vault(vault.engine, path)
    assert not report.ok
    assert report.problem is not None
    assert f"pinned size {pinned}, database size {size}" in report.problem
    return str(opened.value)


def test_the_pinned_file_is_the_signed_note_of_the_newest_checkpoint(world: World) -> None:
    _act(world.vault, 2)
    size = _sign(world)
    path = world.vault.settings.checkpoint_pin_path
    assert path == world.vault.settings.data_dir / "log-checkpoint"
    assert path.stat().st_mode & 0o777 == 0o600
    with world.vault.session() as db:
        stored = db.get(AuditCheckpoint, size)
        assert stored is not None
    assert path.read_bytes() == stored.note.encode("utf-8")
    assert _pinned(world.vault).size == size == _head(world.vault)
    report = verify_vault(world.vault.engine, path)
    assert report.ok, report.problem
    assert report.pinned == size


def test_an_earlier_copy_of_the_database_put_back_is_refused(world: World) -> None:
    _sign(world)
    earlier = snapshot(world.vault.engine)
    old_size = _head(world.vault)
    _act(world.vault, 3)
    pinned = _sign(world)
    restore(world.vault.engine, earlier)
    assert _head(world.vault) == old_size < pinned
    # The copy is a log that verifies on its own, signed checkpoints and all.
    assert verify_vault(world.vault.engine).ok
    message = _refused_everywhere(world, pinned, old_size)
    assert "older than the access log this server last signed" in message


def test_newest_entries_cut_and_the_log_edited_to_match_is_refused(world: World) -> None:
    cut = _sign(world)
    _act(world.vault, 5)
    pinned = _sign(world)
    rewrite_log(world.vault.engine, cut)
    assert verify_vault(world.vault.engine).ok  # consistent: only the pinned file tells
    _refused_everywhere(world, pinned, cut)


def test_a_fork_at_the_pinned_size_is_refused(world: World) -> None:
    _act(world.vault, 2)
    pinned = _sign(world)
    rewrite_log(world.vault.engine, pinned, forge_last=True)
    assert verify_vault(world.vault.engine).ok
    message = _refused_everywhere(world, pinned, pinned)
    assert "does not extend" in message


def test_a_fork_that_grew_past_the_pinned_size_is_refused(world: World) -> None:
    _act(world.vault, 2)
    pinned = _sign(world)
    rewrite_log(world.vault.engine, pinned - 1)
    _act(world.vault, 4)  # a different history, longer than the pinned one
    assert verify_vault(world.vault.engine).ok
    _refused_everywhere(world, pinned, pinned + 3)


def test_a_log_whose_stored_nodes_were_cut_is_refused(world: World) -> None:
    """Deleting the stored subtree hashes leaves no consistency proof to check: that fails
    closed, as a rollback, rather than letting the database's head stand unproven."""
    _act(world.vault, 6)
    pinned = _sign(world)
    _act(world.vault, 9)
    size = _head(world.vault)
    with world.vault.session() as db:
        db.exec(delete(AuditNode))
        db.commit()
    with pytest.raises(IntegrityError) as opened:
        Vault.open(world.vault.settings)
    assert opened.value.reason == "log-rollback"
    assert "does not extend" in str(opened.value)
    assert f"pinned size {pinned}, database size {size}" in str(opened.value)
    with pytest.raises(IntegrityError) as signing:
        world.vault.audit.checkpoint(world.admin)
    assert signing.value.reason == "log-rollback"
    # The verifier, which recomputes every hash from the entries, finds the nodes gone.
    report = verify_vault(world.vault.engine, world.vault.settings.checkpoint_pin_path)
    assert not report.ok


def test_a_pinned_file_no_key_of_the_log_opens_is_refused(world: World) -> None:
    _sign(world)
    path = world.vault.settings.checkpoint_pin_path
    with world.vault.session() as db:
        size, root = log.head(db)
        name = pin.log_keys(db)[0][0]
    # The same tree, signed by a key that is not the log's (another log of the same name).
    other = checkpoint.sign(
        checkpoint.Checkpoint(name, size, root), name, crypto.generate_signing_key()
    )
    path.write_text(other)
    with pytest.raises(IntegrityError) as opened:
        Vault.open(world.vault.settings)
    assert opened.value.reason == "log-rollback"
    assert "not signed by any key" in str(opened.value)


def test_accepting_a_rollback_is_logged_and_repins(world: World) -> None:
    _sign(world)
    earlier = snapshot(world.vault.engine)
    old_size = _head(world.vault)
    _act(world.vault, 3)
    pinned_size = _sign(world)
    pinned = _pinned(world.vault)
    restore(world.vault.engine, earlier)
    with world.vault.session() as db:
        old_root = log.head(db)[1]

    accepted = accept_rollback(world.vault.engine, world.vault.settings, system_clock)
    assert (accepted.pinned_size, accepted.database_size, accepted.index) == (
        pinned_size,
        old_size,
        old_size,
    )
    with world.vault.session() as db:
        row = db.exec(select(AuditEntry).where(col(AuditEntry.idx) == accepted.index)).one()
    entry = json.loads(row.leaf)
    assert entry["action"] == "audit.rollback.accepted"
    assert entry["actor"] == "system"
    assert (entry["pinned_size"], entry["pinned_root"]) == (str(pinned_size), pinned.root.hex())
    assert (entry["database_size"], entry["database_root"]) == (str(old_size), old_root.hex())
    # The tree that ends with the entry is signed, stored and pinned; the vault opens again.
    assert _pinned(world.vault).size == old_size + 1 == _head(world.vault)
    reopened = Vault.open(world.vault.settings)
    reopened.close()
    report = verify_vault(world.vault.engine, world.vault.settings.checkpoint_pin_path)
    assert report.ok, report.problem
    assert report.pinned == old_size + 1
    # With nothing rolled back there is nothing to accept, and nothing is logged.
    with pytest.raises(Conflict):
        accept_rollback(world.vault.engine, world.vault.settings, system_clock)
    assert _head(world.vault) == old_size + 1


def test_a_slow_signer_never_moves_the_pinned_file_back(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signer A signs a tree and is slow to pin it; meanwhile the log grows and signer B signs
    the larger tree. B waits for A's lock, so the file goes A's size, then B's: never back."""
    written: list[int] = []
    original = pin.write
    a_pinning = threading.Event()
    b_done = threading.Event()

    def slow_write(path: Path, note: str) -> None:
        if threading.current_thread().name == "A":
            a_pinning.set()
            b_done.wait(1.0)  # B would finish meanwhile, were it not for the lock
        written.append(int(note.split("\n")[1]))
        original(path, note)

    monkeypatch.setattr(pin, "write", slow_write)
    _act(world.vault)
    errors: list[BaseException] = []

    def sign() -> None:
        try:
            _sign(world)
        except BaseException as exc:
            errors.append(exc)

    a = threading.Thread(target=sign, name="A")
    a.start()
    assert a_pinning.wait(30)
    _act(world.vault, 2)
    b = threading.Thread(target=sign, name="B")
    b.start()
    b.join(30)
    b_done.set()
    a.join(30)
    assert not errors, errors
    assert len(written) == 2
    assert written == sorted(written), written
    assert _pinned(world.vault).size == _head(world.vault) == max(written)


def test_racing_signers_only_move_the_pinned_file_forward(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several signers (each its own session and connection, as replicas are) append and sign
    at once: every write of the pinned file is a larger tree than the last."""
    written: list[int] = []
    original = pin.write

    def recording(path: Path, note: str) -> None:
        written.append(int(note.split("\n")[1]))
        original(path, note)

    monkeypatch.setattr(pin, "write", recording)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            for _ in range(6):
                _act(world.vault)
                _sign(world)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert written, "nothing was pinned"
    assert all(a < b for a, b in itertools.pairwise(written)), written
    assert _pinned(world.vault).size == max(written)


def test_a_missing_pinned_file_is_pinned_on_first_open(world: World) -> None:
    path = world.vault.settings.checkpoint_pin_path
    _act(world.vault, 2)
    path.unlink()  # a vault from before the pinned file
    size = _head(world.vault)
    opened = Vault.open(world.vault.settings)
    opened.close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert _pinned(world.vault).size == size
    # Trusted from then on: a rollback below it is refused.
    rewrite_log(world.vault.engine, size - 1)
    with pytest.raises(IntegrityError) as refused:
        Vault.open(world.vault.settings)
    assert refused.value.reason == "log-rollback"


def test_the_pinned_file_follows_the_seal_key_or_its_own_setting(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "log-seal.key"
    assert Settings(data_dir=tmp_path).checkpoint_pin_path == tmp_path / "log-checkpoint"
    assert Settings(log_seal_key_file=str(shared)).checkpoint_pin_path == (
        shared.parent / "log-checkpoint"
    )
    own = tmp_path / "elsewhere" / "pinned"
    assert Settings(log_checkpoint_file=str(own)).checkpoint_pin_path == own
    assert Settings.from_environ({"VAULT_LOG_CHECKPOINT_FILE": str(own)}).checkpoint_pin_path == own


def test_a_key_rotation_pins_the_tree_both_keys_signed(world: World) -> None:
    _sign(world)
    transition = world.vault.audit.rotate_key()
    pinned = _pinned(world.vault)
    assert pinned.size == transition.index + 1
    assert world.vault.settings.checkpoint_pin_path.read_text() == transition.checkpoint


@pytest.fixture
def target_url(database_url: str | None) -> Iterator[str | None]:
    if database_url is None:
        yield None
        return
    with postgres.schema(os.environ[PG_ENV], "r") as url:
        yield url


def test_a_restored_backup_comes_with_its_own_pinned_file(
    world: World, tmp_path: Path, target_url: str | None
) -> None:
    _act(world.vault, 2)
    _sign(world)
    archive = tmp_path / "vault.backup"
    create_backup(world.vault.settings, archive, include_log_key=True)
    target = Settings(
        data_dir=tmp_path / "restored",
        database_url=target_url,
        segment_size=4096,
        totp_required_roles="",
    )
    done = restore_backup(archive, target)
    restored = Vault.open(target)
    try:
        assert _pinned(restored).size == done.log_size == _head(restored)
        with restored.session() as db:
            stored = db.get(AuditCheckpoint, done.log_size)
        assert stored is not None
        assert target.checkpoint_pin_path.read_text() == stored.note
    finally:
        restored.close()


def test_world_copies_carry_a_coherent_pinned_file(world: World) -> None:
    """The template's data directory is copied with its pinned file: it opens."""
    assert world.vault.settings.checkpoint_pin_path.exists()
    Vault.open(world.vault.settings).close()
    assert (
        signer.pin_problem(world.vault.engine, world.vault.settings.checkpoint_pin_path)[1] is None
    )
