"""Restoring a backup into a new data directory: ``restore_backup``.

Nothing is written to the target before the whole archive has verified
(``vault.backup.verify``). Everything is built in a private sibling directory
``NEW.partial-XXXX`` (mode 0700): the first pass leaves the database there and checks it, the
second pass writes the blobs (hashing them again: the file could have changed between the
passes), the restored vault records the restore in its own log, and the directory is renamed
to ``NEW`` at the end. Any failure removes the sibling, so a refused restore leaves the target
as it found it (absent, or an empty directory).

With PostgreSQL as the target (``VAULT_DATABASE_URL``), the database must be empty; the
verified rows are loaded into it in one transaction after every check passed, just before the
rename (see ``vault.backup.snapshot.copy_rows_into``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, text
from sqlmodel import col

from vault.audit import log as audit
from vault.audit import signer
from vault.audit.actions import Action
from vault.backup import manifest as mf
from vault.backup.archive import ArchiveReader, MemberDigest
from vault.backup.snapshot import copy_rows_into, is_empty
from vault.backup.verify import check_archive, open_archive
from vault.clock import Clock, system_clock
from vault.errors import Conflict, IntegrityError, InvalidInput, NotFound, StorageError
from vault.instance import DATABASE_FILE
from vault.services import keyring, row_seal_guard
from vault.services.uow import SYSTEM, UnitOfWork
from vault.settings import Settings
from vault.storage.blobstore import LocalBlobStore
from vault.storage.database import connect, describe_url
from vault.storage.models import Document, Redaction

__all__ = ["RestoreResult", "restore_backup"]

Progress = Callable[[int, int], None]
_SEAL_KEY_SIZE = 32


@dataclass(frozen=True)
class RestoreResult:
    data_dir: Path
    documents: int
    log_size: int
    pinned: bool
    vkey: str
    shredded: tuple[str, ...]


def _check_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise Conflict("the restore target exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise Conflict("the restore target is not empty: restore into a new directory")
    if not target.parent.is_dir():
        raise NotFound("the restore target's parent directory does not exist")


def _read_seal_key(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the log key file: {exc.strerror}") from None
    if len(data) != _SEAL_KEY_SIZE:
        raise InvalidInput("the log key file is not a log-seal.key (32 bytes)")
    return data


def _write_private(path: Path, data: bytes) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restore_backup(
    archive: Path,
    settings: Settings,
    *,
    log_key_file: Path | None = None,
    pinned_vkey: str | None = None,
    clock: Clock = system_clock,
    progress: Progress | None = None,
) -> RestoreResult:
    """Verify ``archive`` whole, then make the vault it holds in ``settings.data_dir`` (which
    must not exist or be empty; with PostgreSQL, its database must be empty too).

    ``log_key_file`` is the vault's ``log-seal.key``, needed unless the backup includes it;
    ``pinned_vkey`` the verifier key the manifest must be signed with.
    """
    if settings.s3_location is not None:
        # The archive's blobs are restored into the data directory; a vault configured to keep
        # them in a bucket would not find them there (docs/operations.md, "Object storage").
        raise InvalidInput(
            "vault restore writes blobs into the data directory: unset VAULT_BLOB_URL to "
            "restore, or restore the bucket with the object store's own tools"
        )
    target = settings.data_dir.absolute()
    _check_target(target)
    seal_key = _read_seal_key(log_key_file) if log_key_file is not None else None
    target_engine = None
    if settings.database_url:
        target_engine = connect(settings.database_url)
        if not is_empty(target_engine):
            target_engine.dispose()
            raise Conflict(f"the database at {describe_url(settings.database_url)} is not empty")
    total = 2 * archive.stat().st_size if archive.is_file() else 0
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=target.parent))
    try:
        checked = check_archive(
            archive, staging, pinned_vkey=pinned_vkey, keep_log_key=True, progress=step
        )
        if seal_key is not None:
            _write_private(staging / mf.LOG_KEY, seal_key)
        elif checked.log_key is None:
            raise InvalidInput(
                "this backup does not include the log key (made without --include-log-key): "
                "give the vault's log-seal.key with --log-key-file"
            )
        _extract_blobs(archive, staging, checked.digests, step)
        database = staging / DATABASE_FILE
        os.replace(checked.database, database)
        (staging / mf.INDEX).unlink(missing_ok=True)
        log_size = _record_restore(staging, checked.manifest, checked.manifest_sha256, clock)
        if target_engine is not None:
            copy_rows_into(database, target_engine)
            database.unlink()
        _fsync_dir(staging)
        os.replace(staging, target)  # replaces an empty directory too
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if target_engine is not None:
            target_engine.dispose()
    return RestoreResult(
        data_dir=target,
        documents=checked.manifest.documents,
        log_size=log_size,
        pinned=checked.pinned,
        vkey=checked.vkey,
        shredded=checked.manifest.shredded,
    )


def _extract_blobs(
    archive: Path, staging: Path, digests: dict[str, MemberDigest], step: Callable[[int], None]
) -> None:
    """The second pass: every blob into ``staging/blobs``, each compared again with the digest
    the first pass verified."""
    store = LocalBlobStore(staging / "blobs")
    store.create()
    made: set[Path] = set()
    with open_archive(archive) as fh:
        for member in ArchiveReader(fh):
            blob_id = mf.blob_of(member.name)
            if blob_id is None:
                digest = member.read()
            else:
                directory = store.root / blob_id[:2]
                if directory not in made:
                    directory.mkdir(mode=0o700, exist_ok=True)
                    made.add(directory)
                fd = os.open(directory / blob_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    digest = member.read(out.write, step)
                    out.flush()
                    os.fsync(out.fileno())
            if digests.get(member.name) != digest and member.name not in (mf.INDEX, mf.MANIFEST):
                raise IntegrityError(
                    "the backup file changed while it was being restored", reason="member-digest"
                )
    for directory in (*made, store.root):
        _fsync_dir(directory)


def _record_restore(staging: Path, manifest: mf.Manifest, digest: str, clock: Clock) -> int:
    """Open the staged vault's log key with the seal key (proving it is the right one), delete
    the documents shredded while the backup ran, and record the restore in the log."""
    staged = Settings(data_dir=staging)
    engine = connect(staged.resolved_database_url)
    try:
        # The restored records are checked against their seals before any is acted on.
        row_seal_guard.load_key(engine, staged.seal_key_path, required=True)
        uow = UnitOfWork(engine, clock)
        with uow.audited(SYSTEM, Action.BACKUP_RESTORE, extra={"manifest_sha256": digest}) as work:
            db = work.db
            try:
                found = signer.load_signer(db, staged)
            except IntegrityError:
                raise IntegrityError(
                    "the log key file does not open this vault's log signing key",
                    reason="seal-key",
                ) from None
            if found is None:
                raise StorageError("the backed-up vault has no log signing key")
            for text_id in manifest.shredded:
                row = db.get(Document, uuid.UUID(text_id))
                if row is None:
                    continue
                keyring.delete_wrapped(db, kind=keyring.DOCUMENT, subject_ids=[row.id])
                db.execute(delete(Redaction).where(col(Redaction.document_id) == row.id))
                work.record(
                    Action.DOCUMENT_DELETE,
                    extra={"cause": "shredded-during-backup"},
                    document=row.id,
                    case=row.case_id,
                )
                db.delete(row)
        # The restored log's first checkpoint, signed now (stored once for its size).
        with uow.unaudited("a tree size's signed checkpoint is stored once") as db:
            signer.latest_checkpoint(db, found, clock)
            size = audit.head(db)[0]
        with engine.connect() as conn:
            # Shredded rows' old page images leave the write-ahead log (secure_delete).
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        engine.dispose()
    return size
