"""Taking a backup of a vault in use: ``create_backup``.

The order, and why:

1. The database is copied at one instant (``vault.backup.snapshot``) into a private directory
   (0700) beside the output, removed on every way out.
2. The copy's access log is recomputed from its entries and must verify; a checkpoint of the
   copy's log (its size and root) is signed with the log key. So the checkpoint describes
   exactly the log inside the backup, not the live log, which has moved on.
3. The blobs of the documents *in the copy* are streamed into the archive. Blobs written after
   the copy belong to documents the copy does not know: they are not taken (they would be
   orphans). A blob that vanished between the copy and its turn was shredded meanwhile (a delete
   commits its row before it removes its blob): if the live database no longer has the document,
   it is listed in the manifest as shredded during the backup, and a restore deletes it too;
   if the live database still has it, the vault is damaged and the backup stops (``vault fsck``).
4. The index and the manifest are written last and the manifest signed.
5. ``backup.create`` is appended to the live log with the manifest's SHA-256, after the
   snapshot: the backup's own log cannot contain its own entry (it is written once the manifest
   exists), and the live log records which backup was taken. If that entry cannot be written,
   the backup did not happen: the partial file is removed. Only then is the archive renamed to
   its name.

Memory stays flat: every member is streamed through one copy buffer and hashed on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Session, col, select

from vault.audit import checkpoint, signer
from vault.audit.actions import Action
from vault.audit.verify import verify_log
from vault.backup import manifest as mf
from vault.backup.archive import ArchiveWriter, MemberDigest
from vault.backup.snapshot import snapshot_database
from vault.clock import Clock, system_clock
from vault.errors import Conflict, IntegrityError, InvalidInput, NotFound, StorageError
from vault.instance import Vault
from vault.services.uow import SYSTEM, UnitOfWork
from vault.settings import Settings
from vault.storage.database import connect, current_revision, head_revision
from vault.storage.models import Document

__all__ = ["BackupResult", "Progress", "create_backup"]

_log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) as the archive grows."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    documents: int
    log_size: int
    manifest_sha256: str
    shredded: tuple[str, ...]
    log_key_included: bool


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_backup(
    settings: Settings,
    output: Path,
    *,
    include_log_key: bool = False,
    clock: Clock = system_clock,
    progress: Progress | None = None,
    after_snapshot: Callable[[], None] | None = None,
) -> BackupResult:
    """Write a verified, signed backup of the vault of ``settings`` to the new file ``output``.

    ``after_snapshot`` runs once the database copy is taken (tests race a deletion with it).
    ``Conflict`` if ``output`` exists; ``InvalidInput`` if the vault keeps its blobs in an
    object store; ``StorageError`` or ``IntegrityError`` if the vault
    cannot be read whole or its log does not verify. Nothing is left behind on failure.
    """
    if settings.s3_location is not None:
        # A backup holds the blobs it read from the data directory, and a restore writes them
        # back there; a vault whose blobs live in a bucket is backed up by the object store's
        # tools and the database's (docs/operations.md, "Object storage").
        raise InvalidInput(
            "vault backup does not cover blobs in an object store: back up the bucket with "
            "the object store's own tools, and the database with its own"
        )
    output = output.absolute()
    if output.exists() or output.is_symlink():
        raise Conflict("the backup file already exists: choose a new name")
    if not output.parent.is_dir():
        raise NotFound("the backup file's directory does not exist")
    vault = Vault.open(settings, clock=clock)
    work = Path(tempfile.mkdtemp(prefix=".vault-backup-", dir=output.parent))  # mode 0700
    partial = output.with_name(f".{output.name}.partial-{secrets.token_hex(4)}")
    try:
        return _create(
            vault, output, partial, work, include_log_key, clock, progress, after_snapshot
        )
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        vault.close()


def _create(
    vault: Vault,
    output: Path,
    partial: Path,
    work: Path,
    include_log_key: bool,
    clock: Clock,
    progress: Progress | None,
    after_snapshot: Callable[[], None] | None,
) -> BackupResult:
    database = work / mf.DATABASE
    snapshot_database(vault.engine, database)
    if after_snapshot is not None:
        after_snapshot()
    snap = connect(f"sqlite:///{database}", read_only=True)
    try:
        schema = current_revision(snap)
        if schema != head_revision():
            raise StorageError("the database changed schema while the backup was taken")
        report = verify_log(snap, workers=1)
        if not report.ok:
            raise IntegrityError(
                f"the access log does not verify, so it cannot be backed up: {report.problem}",
                reason="log-root",
            )
        with Session(snap) as db:
            documents = [
                (row.id, row.blob_id, row.ciphertext_size)
                for row in db.exec(select(Document).order_by(col(Document.blob_id)))
            ]
    finally:
        snap.dispose()
    with vault.session() as db:
        found = signer.load_signer(db, vault.settings)
    if found is None:
        raise StorageError("the access log has no signing key")
    head = checkpoint.Checkpoint(found.name, report.size, report.root)
    signed_head = checkpoint.sign(head, found.name, found.key)

    key_path = vault.settings.seal_key_path
    total = database.stat().st_size + sum(size for _, _, size in documents)
    total += key_path.stat().st_size if include_log_key else 0
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    index_path = work / mf.INDEX
    shredded: list[str] = []
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, index_path.open("wb") as index:
        archive = ArchiveWriter(out, mtime=int(clock().timestamp()))
        members = 0

        def listed(digest: MemberDigest) -> None:
            nonlocal members
            index.write(mf.index_line(digest))
            members += 1

        listed(archive.add_file(mf.DATABASE, database, step))
        database.unlink()  # the copy is in the archive; no second copy on disk
        if include_log_key:
            listed(archive.add_file(mf.LOG_KEY, key_path, step))
        for document_id, blob_id, size in documents:
            try:
                chunks = vault.blobs.open(blob_id)
            except NotFound:
                _vanished(vault, document_id)
                shredded.append(str(document_id))
                step(size)
                continue
            listed(archive.add(mf.blob_member(blob_id), size, chunks, step))
        index.close()
        index_digest = hashlib.sha256(index_path.read_bytes()).hexdigest()
        listed_members = members
        archive.add_file(mf.INDEX, index_path)
        manifest = mf.Manifest(
            origin=found.name,
            created=clock().isoformat().replace("+00:00", "Z"),
            schema=schema,
            checkpoint=signed_head,
            index_sha256=index_digest,
            index_size=index_path.stat().st_size,
            members=listed_members,
            documents=len(documents) - len(shredded),
            log_key_included=include_log_key,
            shredded=tuple(shredded),
        )
        note = mf.sign_manifest(manifest, found.name, found.key).encode("utf-8")
        archive.add_bytes(mf.MANIFEST, note)
        archive.close()
        out.flush()
        os.fsync(out.fileno())
    manifest_sha256 = hashlib.sha256(note).hexdigest()
    UnitOfWork(vault.engine, clock).record(
        SYSTEM, Action.BACKUP_CREATE, extra={"manifest_sha256": manifest_sha256}
    )
    os.replace(partial, output)
    _fsync_dir(output.parent)
    return BackupResult(
        path=output,
        size=output.stat().st_size,
        documents=manifest.documents,
        log_size=report.size,
        manifest_sha256=manifest_sha256,
        shredded=manifest.shredded,
        log_key_included=include_log_key,
    )


def _vanished(vault: Vault, document_id: UUID) -> None:
    """A blob the snapshot lists is gone: fine if its document was shredded since (a delete
    commits before it removes the blob), damage otherwise."""
    with vault.session() as db:
        still = db.execute(
            sa.select(col(Document.id)).where(col(Document.id) == document_id)
        ).first()
    if still is not None:
        raise StorageError(
            f"document {document_id} has no blob in the store; run `vault fsck` first"
        )
    _log.info("a document was shredded while the backup ran; the manifest lists it")
