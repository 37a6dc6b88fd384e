"""Rotating the access log's signing key (on SQLite and PostgreSQL): the rotation is an entry
in the log, the checkpoint that covers it is signed by both keys and later ones by the new key
alone, the old key's private half is gone, and ``rotation.follow`` leads a client that pinned
an old key to the current one, refusing every transition that was not made with the old key."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from tests.conftest import PASSPHRASE
from vault import crypto
from vault.audit import checkpoint, log, rotation, signer
from vault.audit.signer import verify_vault
from vault.clock import system_clock
from vault.errors import Conflict, IntegrityError
from vault.initialise import init_vault
from vault.instance import Vault
from vault.settings import Settings
from vault.storage.models import AuditCheckpoint, LogKey


@pytest.fixture
def vault(settings: Settings) -> Iterator[Vault]:
    init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    opened = Vault.open(settings)
    try:
        yield opened
    finally:
        opened.close()


def _key(vault: Vault) -> tuple[str, bytes]:
    return checkpoint.decode_vkey(vault.audit.verifier_key(None))  # type: ignore[arg-type]


def _latest(vault: Vault) -> str:
    return vault.audit.checkpoint(None)  # type: ignore[arg-type]


def _act(vault: Vault, count: int = 1) -> None:
    """``count`` entries that are not rotations."""
    with vault.session() as db:
        for _ in range(count):
            log.append(db, action="test.action", actor="system", time=system_clock())
        log.commit(db)


def _opens(note: str, key: tuple[str, bytes]) -> bool:
    try:
        checkpoint.open_checkpoint(note, name=key[0], public=key[1])
    except IntegrityError:
        return False
    return True


def test_rotation_hands_the_log_to_a_new_key(vault: Vault) -> None:
    _act(vault)
    before = _latest(vault)
    old = _key(vault)
    old_vkey = checkpoint.encode_vkey(*old)

    transition = vault.audit.rotate_key()
    new = _key(vault)
    assert new != old
    assert new[0] == old[0]  # the log keeps its name: it is the checkpoints' origin
    assert transition.old_key == old_vkey
    assert transition.new_key == checkpoint.encode_vkey(*new)

    # The rotation is an entry of the log naming both keys, the last of the transition's tree.
    entry = json.loads(transition.entry)
    assert entry["action"] == "log.key.rotate"
    assert (entry["old_key"], entry["new_key"]) == (transition.old_key, transition.new_key)
    with vault.session() as db:
        assert log.receipt(db, transition.index).leaf == transition.entry
        stored = db.get(AuditCheckpoint, transition.index + 1)
        assert stored is not None
        assert stored.note == transition.checkpoint

    # The transition verifies with both keys; the checkpoint served at its size is it.
    assert _opens(transition.checkpoint, old)
    assert _opens(transition.checkpoint, new)
    assert _latest(vault) == transition.checkpoint

    # Later checkpoints verify with the new key and not with the old one.
    _act(vault)
    after = _latest(vault)
    assert checkpoint.open_checkpoint(after, name=new[0], public=new[1]).size == (
        transition.index + 2
    )
    assert not _opens(after, old)
    # Earlier ones still verify with the old key, whose public half is kept.
    assert _opens(before, old)
    assert not _opens(before, new)

    with vault.session() as db:
        rows = {row.key_id: row for row in db.exec(select(LogKey))}
    old_id = checkpoint.key_id(*old).hex()
    new_id = checkpoint.key_id(*new).hex()
    assert set(rows) == {old_id, new_id}
    assert rows[old_id].public_key == old[1]
    assert rows[old_id].sealed_seed == b""  # the old private key is destroyed
    assert not rows[old_id].active
    assert rows[new_id].active
    assert rows[new_id].sealed_seed

    assert vault.audit.rotations(None) == [transition]  # type: ignore[arg-type]
    report = verify_vault(vault.engine)
    assert report.ok, report.problem


def test_another_process_on_the_same_vault_picks_up_the_new_key(
    vault: Vault, settings: Settings
) -> None:
    replica = Vault.open(settings)
    try:
        assert replica.audit.verifier_key(None) == vault.audit.verifier_key(None)  # type: ignore[arg-type]
        transition = vault.audit.rotate_key()
        assert replica.audit.verifier_key(None) == transition.new_key  # type: ignore[arg-type]
        _act(vault)
        note = replica.audit.checkpoint(None)  # type: ignore[arg-type]
        new = checkpoint.decode_vkey(transition.new_key)
        assert _opens(note, new)
        assert not _opens(note, checkpoint.decode_vkey(transition.old_key))
        # A third process opened after the rotation has the new key from the start.
        third = Vault.open(settings)
        try:
            assert third.audit.verifier_key(None) == transition.new_key  # type: ignore[arg-type]
        finally:
            third.close()
    finally:
        replica.close()


def test_a_key_loaded_before_the_rotation_does_not_sign_a_tree_after_it(vault: Vault) -> None:
    """A replica that unsealed the old key just before the rotation committed, and reads the
    head just after it, must not sign the new tree with the retired key."""
    with vault.session() as db:
        stale = signer.load_signer(db, vault.settings)
    assert stale is not None
    vault.audit.rotate_key()
    _act(vault)
    with vault.session() as db, pytest.raises(Conflict):
        signer.latest_checkpoint(db, stale, system_clock)
    with vault.session() as db:
        assert db.get(AuditCheckpoint, log.head(db)[0]) is None  # nothing stored by it


def test_two_rotations_in_a_row_are_found_among_many_checkpoints(vault: Vault) -> None:
    """The transitions are found by bisection over the stored checkpoints: with checkpoints
    at every size around them, exactly the dual-signed ones come back."""
    made = []
    for _ in range(3):
        for _ in range(5):
            _act(vault)
            _latest(vault)
        made.append(vault.audit.rotate_key())
        _latest(vault)
    _act(vault, 4)
    _latest(vault)
    found = vault.audit.rotations(None)  # type: ignore[arg-type]
    assert found == made
    first = made[0].old_key
    chain = rotation.follow(first, found)
    assert [t for t, _ in chain] == made
    assert chain[-1][0].new_key == vault.audit.verifier_key(None)  # type: ignore[arg-type]
    # From a key in the middle, only the rotations after it are followed.
    assert [t for t, _ in rotation.follow(made[1].old_key, found)] == made[1:]
    # From the current key there is nothing to follow.
    assert rotation.follow(made[-1].new_key, found) == []
    report = verify_vault(vault.engine)
    assert report.ok, report.problem


# -- forged transitions -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rotated(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Vault, rotation.Transition, crypto.SigningKey]]:
    """A vault after one rotation, with the new signing key (which a forger would hold). The
    checks here are of the client's side alone, so one SQLite vault serves them all."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("rotated") / "data")
    init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    vault = Vault.open(settings)
    try:
        transition = vault.audit.rotate_key()
        with vault.session() as db:
            new = signer.load_signer(db, vault.settings)
        assert new is not None
        yield vault, transition, new.key
    finally:
        vault.close()


def _reason(pinned: str, transitions: list[rotation.Transition]) -> str:
    with pytest.raises(IntegrityError) as info:
        rotation.follow(pinned, transitions)
    assert info.value.reason == "rotation"
    return str(info.value)


def test_a_transition_signed_by_the_new_key_alone_is_refused(
    rotated: tuple[Vault, rotation.Transition, crypto.SigningKey],
) -> None:
    _, transition, new_key = rotated
    name, public = checkpoint.decode_vkey(transition.new_key)
    opened = checkpoint.open_checkpoint(transition.checkpoint, name=name, public=public)
    forged = dataclasses.replace(transition, checkpoint=checkpoint.sign(opened, name, new_key))
    assert "not signed by the old key" in _reason(transition.old_key, [forged])


def test_a_rotation_entry_naming_another_key_is_refused(
    rotated: tuple[Vault, rotation.Transition, crypto.SigningKey],
) -> None:
    _, transition, _ = rotated
    name, _ = checkpoint.decode_vkey(transition.old_key)
    other = checkpoint.encode_vkey(name, crypto.generate_signing_key().public_bytes())
    entry = json.loads(transition.entry)
    entry["new_key"] = other
    # The entry names another key than the transition introduces...
    renamed = dataclasses.replace(transition, entry=log.canonical(entry))
    assert "does not record this rotation" in _reason(transition.old_key, [renamed])
    # ...and a transition to that other key, with the genuine entry, is refused too.
    swapped = dataclasses.replace(transition, new_key=other)
    assert _reason(transition.old_key, [swapped])
    # An entry that claims the new key but is not the one the checkpoint's tree holds.
    entry = json.loads(transition.entry)
    entry["time"] = "2000-01-01T00:00:00.000000Z"
    moved = dataclasses.replace(transition, entry=log.canonical(entry))
    assert "not in the checkpoint's tree" in _reason(transition.old_key, [moved])


def test_a_transition_at_the_wrong_size_or_from_a_fork_is_refused(
    rotated: tuple[Vault, rotation.Transition, crypto.SigningKey],
) -> None:
    vault, transition, _ = rotated
    shifted = dataclasses.replace(transition, index=transition.index - 1)
    assert "not the tree that ends with the rotation entry" in _reason(
        transition.old_key, [shifted]
    )
    second = vault.audit.rotate_key()
    fork = dataclasses.replace(second, old_key=transition.old_key)
    assert "rotated twice" in _reason(transition.old_key, [transition, fork])


def test_offline_verification_refuses_a_checkpoint_signed_by_a_retired_key(
    vault: Vault, tmp_path: Path
) -> None:
    """Someone who kept the old key's seed (from a copy made before the rotation) signs a
    checkpoint after it: every key still verifies its own signature, but not for that time."""
    with vault.session() as db:
        old = signer.load_signer(db, vault.settings)
    assert old is not None
    vault.audit.rotate_key()
    _act(vault, 2)
    with Session(vault.engine) as db:
        size, root = log.head(db)
        note = checkpoint.sign(checkpoint.Checkpoint(old.name, size, root), old.name, old.key)
        db.add(AuditCheckpoint(size=size, note=note))
        db.commit()
    report = verify_vault(vault.engine)
    assert not report.ok
    assert report.problem == f"the checkpoint at size {size} is not signed by the log key"


def test_offline_verification_refuses_a_key_without_a_rotation(vault: Vault) -> None:
    """A key slipped into the table without a transition does not verify offline."""
    with Session(vault.engine) as db:
        row = db.exec(select(LogKey).where(col(LogKey.active).is_(True))).one()
        public = crypto.generate_signing_key().public_bytes()
        db.add(
            LogKey(
                key_id=checkpoint.key_id(row.name, public).hex(),
                name=row.name,
                public_key=public,
                sealed_seed=b"",
                active=False,
            )
        )
        db.commit()
    report = verify_vault(vault.engine)
    assert not report.ok
    assert report.problem is not None
    assert "rotation" in report.problem
