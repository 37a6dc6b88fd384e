"""Verified backups (issue 14): an online backup restores into a vault whose documents read back
byte-identical, whose log verifies and which fsck finds clean; every kind of damage to an
archive is refused before anything is written to the target. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest
from sqlmodel import select

from tests.conftest import PASSPHRASE, PG_ENV, World
from tests.support import postgres
from vault.audit import signer
from vault.audit.signer import verify_vault
from vault.backup import manifest as mf
from vault.backup.create import create_backup
from vault.backup.restore import restore_backup
from vault.backup.verify import check_archive
from vault.errors import Conflict, IntegrityError, InvalidInput, NotFound
from vault.initialise import init_vault
from vault.instance import Vault
from vault.services import fsck
from vault.services.documents import NewDocument
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import AuditEntry, Role

TITLE = "Harbour-Board-marker-title-7c1e"
NOTES = "source-notes-marker-Quay-4b2d"


@pytest.fixture
def target_url(database_url: str | None) -> Iterator[str | None]:
    """Where a PostgreSQL vault is restored to: a second, empty schema; SQLite: none."""
    if database_url is None:
        yield None
        return
    with postgres.schema(os.environ[PG_ENV], "r") as url:
        yield url


def _target(tmp_path: Path, url: str | None = None, name: str = "restored") -> Settings:
    return Settings(
        data_dir=tmp_path / name, database_url=url, segment_size=4096, totp_required_roles=""
    )


def _vkey(vault: Vault) -> str:
    with vault.session() as db:
        found = signer.load_signer(db, vault.settings)
    assert found is not None
    return found.vkey


def _upload(world: World | Made, content: bytes, title: str = TITLE) -> uuid.UUID:
    info = world.vault.documents.add(
        world.editor,
        case_id=world.case_id,
        content=[content],
        document=NewDocument(title=title, notes=NOTES),
    )
    return info.id


def _contents(vault: Vault, case_id: uuid.UUID) -> dict[uuid.UUID, bytes]:
    editor = vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").actor
    found = {}
    for info in vault.documents.list(editor, case_id):
        _, stream = vault.documents.open(editor, info.id)
        found[info.id] = b"".join(stream)
    return found


def _assert_sound(vault: Vault) -> None:
    assert verify_vault(vault.engine).ok
    report = fsck.check(vault.engine, vault.blobs)
    assert report.clean, report


def _nothing_written(target: Path) -> None:
    assert not target.exists()
    assert not [p.name for p in target.parent.iterdir() if ".partial-" in p.name]


def test_an_online_backup_restores_every_document_byte_identical(
    world: World, tmp_path: Path, target_url: str | None
) -> None:
    before = {_upload(world, os.urandom(9000 + n)): b"" for n in range(3)}
    expected: dict[uuid.UUID, bytes] = {}
    for doc_id in list(before):
        _, stream = world.vault.documents.open(world.editor, doc_id)
        expected[doc_id] = b"".join(stream)
    stop = threading.Event()
    uploaded = threading.Semaphore(0)
    failures: list[BaseException] = []

    def uploads() -> None:
        try:
            while not stop.is_set():
                content = os.urandom(20_000)
                expected[_upload(world, content)] = content
                uploaded.release()
        except BaseException as exc:
            failures.append(exc)
            uploaded.release()

    thread = threading.Thread(target=uploads)
    thread.start()
    try:
        assert uploaded.acquire(timeout=30)  # uploads are running as the snapshot is taken
        archive = tmp_path / "vault.backup"
        result = create_backup(
            world.vault.settings,
            archive,
            # ...and go on after it: their blobs must not make the archive inconsistent.
            after_snapshot=lambda: [uploaded.acquire(timeout=30) for _ in range(2)],
        )
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
    assert result.documents >= 4
    assert not result.shredded

    target = _target(tmp_path, target_url)
    done = restore_backup(
        archive,
        target,
        log_key_file=world.vault.settings.seal_key_path,
        pinned_vkey=_vkey(world.vault),
    )
    assert done.pinned
    assert done.documents == result.documents
    restored = Vault.open(target)
    try:
        found = _contents(restored, world.case_id)
        _assert_sound(restored)
    finally:
        restored.close()
    assert set(before) <= set(found)
    assert len(found) == result.documents
    assert all(found[doc_id] == expected[doc_id] for doc_id in found)
    # The live log records the backup, after the snapshot its archive holds.
    with world.vault.session() as db:
        entries = [orjson.loads(row.leaf) for row in db.exec(select(AuditEntry))]
    created = [e for e in entries if e["action"] == "backup.create"]
    assert [e["manifest_sha256"] for e in created] == [result.manifest_sha256]
    assert created[0]["index"] >= result.log_size


def test_a_document_shredded_during_the_backup_is_deleted_by_the_restore(
    world: World, tmp_path: Path, target_url: str | None
) -> None:
    kept = _upload(world, b"kept" * 3000)
    gone = _upload(world, b"gone" * 3000)
    archive = tmp_path / "vault.backup"
    result = create_backup(
        world.vault.settings,
        archive,
        include_log_key=True,
        after_snapshot=lambda: world.vault.documents.delete(world.editor, gone),
    )
    assert result.shredded == (str(gone),)
    assert result.documents == 1
    target = _target(tmp_path, target_url)
    restore_backup(archive, target)  # the key is in the archive
    restored = Vault.open(target)
    try:
        assert set(_contents(restored, world.case_id)) == {kept}
        editor = restored.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").actor
        with pytest.raises(NotFound):
            restored.documents.open(editor, gone)
        _assert_sound(restored)
        with restored.session() as db:
            leaves = [orjson.loads(r.leaf) for r in db.exec(select(AuditEntry))]
    finally:
        restored.close()
    shredded = [e for e in leaves if e.get("cause") == "shredded-during-backup"]
    assert [(e["action"], e["targets"]["document"]) for e in shredded] == [
        ("document.delete", str(gone))
    ]
    assert leaves[shredded[0]["index"] + 1]["action"] == "backup.restore"


# -- refusals --------------------------------------------------------------------------------


@dataclass
class Made:
    """A vault (with the ``erin`` editor of a case) and its backup, made once per module on
    SQLite: checks of the archive itself do not depend on the database the vault ran on."""

    vault: Vault
    editor: Actor
    case_id: uuid.UUID
    archive: Path


def _fill(owner: World | Made, archive: Path) -> None:
    _upload(owner, b"minutes of the harbour board " * 500)
    owner.vault.sources.create(owner.editor, owner.case_id, NOTES, names=["Edda Marrow"])
    _upload(owner, b"programme " * 800)
    create_backup(owner.vault.settings, archive)


@pytest.fixture
def backed_up(world: World, tmp_path: Path) -> tuple[World, Path]:
    """A backup of the ``world`` vault, on SQLite and on PostgreSQL."""
    archive = tmp_path / "vault.backup"
    _fill(world, archive)
    return world, archive


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    root = tmp_path_factory.mktemp("backup")
    settings = Settings(data_dir=root / "data", segment_size=4096, totp_required_roles="")
    init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    vault = Vault.open(settings)
    try:
        admin = vault.auth.login("admin", PASSPHRASE, None, address="127.0.0.1").actor
        vault.users.create_account(admin, username="erin", role=Role.EDITOR, passphrase=PASSPHRASE)
        case = vault.cases.create(admin, "harbour-contracts")
        vault.cases.add_member(admin, case.id, "erin")
        owner = Made(
            vault,
            vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").actor,
            case.id,
            root / "vault.backup",
        )
        _fill(owner, owner.archive)
        yield owner
    finally:
        vault.close()


@pytest.fixture
def shared(made: Made, tmp_path: Path) -> tuple[Made, Path]:
    """The module's backup, copied for one test to change."""
    copy = tmp_path / "vault.backup"
    shutil.copyfile(made.archive, copy)
    return made, copy


def _restore(owner: World | Made, archive: Path, target: Path, **kwargs: object) -> None:
    settings = Settings(data_dir=target, totp_required_roles="")
    options: dict[str, object] = {"log_key_file": owner.vault.settings.seal_key_path}
    options.update(kwargs)
    restore_backup(archive, settings, **options)  # type: ignore[arg-type]


def _refused(
    owner: World | Made, archive: Path, tmp_path: Path, reason: str, **kwargs: object
) -> str:
    target = tmp_path / "restored"
    with pytest.raises(IntegrityError) as refused:
        _restore(owner, archive, target, **kwargs)
    assert refused.value.reason == reason, refused.value
    _nothing_written(target)
    return str(refused.value)


def _rewrite(source: Path, target: Path, change: Callable[[str, bytes], bytes]) -> None:
    """Copy an archive member by member, each through ``change``."""
    with tarfile.open(source) as old, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as new:
        for info in old.getmembers():
            extracted = old.extractfile(info)
            assert extracted is not None
            data = change(info.name, extracted.read())
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))


def _member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read()


def test_the_archive_holds_no_title_or_note_in_clear(shared: tuple[Made, Path]) -> None:
    _, archive = shared
    data = archive.read_bytes()
    assert b"harbour board" not in data  # content is ciphertext
    for marker in (TITLE, NOTES, "Edda Marrow"):
        assert marker.encode() not in data
    assert mf.LOG_KEY.encode() not in data


def test_a_damaged_member_is_refused(backed_up: tuple[World, Path], tmp_path: Path) -> None:
    world, archive = backed_up
    with tarfile.open(archive) as tar:
        blob = next(m for m in tar.getmembers() if mf.blob_of(m.name))
    with archive.open("r+b") as fh:
        fh.seek(blob.offset_data + 100)
        byte = fh.read(1)
        fh.seek(blob.offset_data + 100)
        fh.write(bytes([byte[0] ^ 1]))
    assert "damaged" in _refused(world, archive, tmp_path, "member-digest")


@pytest.mark.parametrize("keep", [0.5, "manifest"])
def test_a_truncated_archive_is_refused(
    shared: tuple[Made, Path], tmp_path: Path, keep: float | str
) -> None:
    world, archive = shared
    data = archive.read_bytes()
    if keep == "manifest":  # cut exactly before the last member: a tar that ends cleanly
        with tarfile.open(archive) as tar:
            cut = tar.getmember(mf.MANIFEST).offset
    else:
        cut = int(len(data) * float(keep))
    archive.write_bytes(data[:cut])
    _refused(world, archive, tmp_path, "truncated")


def _edit_log(archive: Path, tmp_path: Path) -> Callable[[str, bytes], bytes]:
    def change(name: str, data: bytes) -> bytes:
        if name != mf.DATABASE:
            return data
        path = tmp_path / "edited.sqlite"
        path.write_bytes(data)
        conn = sqlite3.connect(path)
        (leaf,) = conn.execute("SELECT leaf FROM audit_entries WHERE idx = 1").fetchone()
        edited = bytes(leaf).replace(b'"ok"', b'"denied"')
        assert edited != bytes(leaf)
        conn.execute("UPDATE audit_entries SET leaf = ? WHERE idx = 1", (edited,))
        conn.commit()
        conn.close()
        return path.read_bytes()

    return change


def test_an_edited_log_entry_is_refused(shared: tuple[Made, Path], tmp_path: Path) -> None:
    world, archive = shared
    edited = tmp_path / "edited.backup"
    _rewrite(archive, edited, _edit_log(archive, tmp_path))
    _refused(world, edited, tmp_path, "member-digest")


def test_an_edited_log_entry_is_refused_even_with_every_digest_recomputed_and_signed(
    backed_up: tuple[World, Path], tmp_path: Path
) -> None:
    """Someone holding the log key can re-sign the manifest: the log's root still gives the
    edit away, since the checkpoint in the manifest is the log's as it was."""
    world, archive = backed_up
    edited = tmp_path / "edited.backup"
    _rewrite(archive, edited, _edit_log(archive, tmp_path))
    with world.vault.session() as db:
        key = signer.load_signer(db, world.vault.settings)
    assert key is not None
    with tarfile.open(edited) as tar:
        digests = {}
        for info in tar.getmembers():
            extracted = tar.extractfile(info)
            assert extracted is not None
            digests[info.name] = extracted.read()
    index = b"".join(
        mf.index_line(mf.MemberDigest(name, len(data), hashlib.sha256(data).hexdigest()))
        for name, data in digests.items()
        if name not in (mf.INDEX, mf.MANIFEST)
    )
    note = _member(archive, mf.MANIFEST)
    manifest, _ = mf.open_manifest(note, [(key.name, key.public)])
    forged = replace(
        manifest, index_sha256=hashlib.sha256(index).hexdigest(), index_size=len(index)
    )
    signed = mf.sign_manifest(forged, key.name, key.key).encode()
    resigned = tmp_path / "resigned.backup"
    _rewrite(
        edited,
        resigned,
        lambda name, data: index if name == mf.INDEX else signed if name == mf.MANIFEST else data,
    )
    message = _refused(world, resigned, tmp_path, "log-root")
    assert "access log does not verify" in message


def test_a_manifest_from_another_backup_is_refused(
    shared: tuple[Made, Path], tmp_path: Path
) -> None:
    world, archive = shared
    _upload(world, b"later " * 100)
    later = tmp_path / "later.backup"
    create_backup(world.vault.settings, later)
    note = _member(later, mf.MANIFEST)
    swapped = tmp_path / "swapped.backup"
    _rewrite(archive, swapped, lambda name, data: note if name == mf.MANIFEST else data)
    assert "index" in _refused(world, swapped, tmp_path, "member-digest")


@pytest.fixture(scope="module")
def other_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A second vault's backup and verifier key."""
    tmp_path = tmp_path_factory.mktemp("other")
    settings = Settings(data_dir=tmp_path / "other", totp_required_roles="")
    init_vault(settings, admin="mallory", passphrase=PASSPHRASE)
    archive = tmp_path / "other.backup"
    create_backup(settings, archive)
    vault = Vault.open(settings)
    try:
        yield archive, _vkey(vault)
    finally:
        vault.close()


def test_a_manifest_signed_by_another_vault_is_refused(
    shared: tuple[Made, Path], tmp_path: Path, other_vault: tuple[Path, str]
) -> None:
    world, archive = shared
    note = _member(other_vault[0], mf.MANIFEST)
    swapped = tmp_path / "swapped.backup"
    _rewrite(archive, swapped, lambda name, data: note if name == mf.MANIFEST else data)
    _refused(world, swapped, tmp_path, "manifest-signature")


def test_a_whole_archive_of_another_vault_is_refused_against_the_pinned_key(
    shared: tuple[Made, Path], tmp_path: Path, other_vault: tuple[Path, str]
) -> None:
    world, _ = shared
    archive, other_key = other_vault
    # Unpinned, it is consistent (its own key signed it): that is all the check can say.
    work = tmp_path / "work"
    work.mkdir()
    assert not check_archive(archive, work).pinned
    _refused(world, archive, tmp_path, "manifest-signature", pinned_vkey=_vkey(world.vault))
    assert other_key != _vkey(world.vault)


def test_a_non_empty_target_is_refused_and_left_alone(
    shared: tuple[Made, Path], tmp_path: Path
) -> None:
    world, archive = shared
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(Conflict):
        _restore(world, archive, target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me"
    _nothing_written(tmp_path / "restored")


def test_a_restore_without_the_log_key_or_with_the_wrong_one_writes_nothing(
    shared: tuple[Made, Path], tmp_path: Path
) -> None:
    world, archive = shared
    target = tmp_path / "restored"
    with pytest.raises(InvalidInput, match="--log-key-file"):
        _restore(world, archive, target, log_key_file=None)
    _nothing_written(target)
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(os.urandom(32))
    _refused(world, archive, tmp_path, "seal-key", log_key_file=wrong)
    # An empty directory is a fine target, and the right key makes a vault that signs.
    target.mkdir()
    _restore(world, archive, target)
    restored = Vault.open(Settings(data_dir=target, totp_required_roles=""))
    try:
        assert _vkey(restored) == _vkey(world.vault)
        _assert_sound(restored)
        assert restored.audit.checkpoint(
            restored.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").actor
        )
    finally:
        restored.close()


def test_verify_checks_without_restoring_and_says_whether_the_key_was_pinned(
    shared: tuple[Made, Path], tmp_path: Path
) -> None:
    world, archive = shared
    work = tmp_path / "work"
    work.mkdir()
    checked = check_archive(archive, work, pinned_vkey=_vkey(world.vault))
    assert checked.pinned
    assert checked.manifest.documents == 2
    assert checked.vkey == _vkey(world.vault)
    with world.vault.session() as db:
        leaves = [orjson.loads(row.leaf) for row in db.exec(select(AuditEntry))]
    (entry,) = [e for e in leaves if e.get("manifest_sha256") == checked.manifest_sha256]
    assert entry["action"] == "backup.create"
    assert entry["index"] >= checked.log_size


def test_restoring_a_backup_into_the_other_database_kind(
    shared: tuple[Made, Path], tmp_path: Path
) -> None:
    """A backup holds its database as SQLite whatever the vault ran on, so a vault moves
    between SQLite and PostgreSQL by a backup and a restore; here into SQLite."""
    world, archive = shared
    target = tmp_path / "moved"
    _restore(world, archive, target)
    restored = Vault.open(Settings(data_dir=target, totp_required_roles=""))
    try:
        assert len(_contents(restored, world.case_id)) == 2
        _assert_sound(restored)
    finally:
        restored.close()
