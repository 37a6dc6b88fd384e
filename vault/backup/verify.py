"""Checking a backup archive whole, in one streaming pass: ``check_archive``.

Every member is hashed as it streams by; only the database (and, for a restore, the log seal
key) is written, into the caller's private directory. Then, in this order:

1. the manifest's signature: with the pinned verifier key if the caller has one, else with the
   log keys in the backed-up database itself. Without a pin, an archive swapped *whole* by
   someone who made their own vault passes this step (they control that database too), so the
   result says whether a pinned key was used and callers say so;
2. the index's digest against the manifest, and every member's digest and size against the
   index: a member damaged, missing, added or out of order is refused;
3. the log's checkpoint in the manifest (signed by the same key), and the access log in the
   database recomputed from its entries: its root must be the checkpoint's, so an edited entry
   is refused even where every digest was recomputed;
4. the documents: each one in the database has its blob in the archive (with the size the
   database records and the ciphertext SHA-256 its ``document.upload`` entry records), except
   those the manifest lists as shredded during the backup, and no blob belongs to no document.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from vault.audit import checkpoint
from vault.audit.actions import Action
from vault.audit.verify import verify_log
from vault.backup import manifest as mf
from vault.backup.archive import ArchiveReader, MemberDigest
from vault.errors import IntegrityError, InvalidInput, StorageError
from vault.storage.database import connect, current_revision, head_revision
from vault.storage.models import AuditEntry, Document, LogKey

__all__ = ["Checked", "check_archive", "open_archive"]

_SEAL_KEY_SIZE = 32


@dataclass
class Checked:
    """A backup that passed every check."""

    manifest: mf.Manifest
    manifest_sha256: str
    key_name: str
    key_public: bytes
    pinned: bool
    log_size: int
    digests: dict[str, MemberDigest] = field(repr=False)
    database: Path
    log_key: Path | None

    @property
    def vkey(self) -> str:
        return checkpoint.encode_vkey(self.key_name, self.key_public)


def _refuse(message: str, reason: str) -> IntegrityError:
    return IntegrityError(message, reason=reason)


def open_archive(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InvalidInput("there is no such backup file") from None
    except OSError as exc:
        raise StorageError(f"cannot read the backup file: {exc.strerror}") from None


def _writer(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def check_archive(
    archive: Path,
    work: Path,
    *,
    pinned_vkey: str | None = None,
    keep_log_key: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Checked:
    """Check everything in ``archive``; the database is left in ``work`` (a private directory
    the caller made and removes), and the log seal key too with ``keep_log_key``.
    ``IntegrityError`` names the first thing that does not verify."""
    pinned = checkpoint.decode_vkey(pinned_vkey.strip()) if pinned_vkey else None
    database = work / mf.DATABASE
    index_path = work / mf.INDEX
    key_path = work / mf.LOG_KEY
    digests: dict[str, MemberDigest] = {}
    note: bytes | None = None
    index_digest: MemberDigest | None = None
    with open_archive(archive) as fh:
        for position, member in enumerate(ArchiveReader(fh)):
            name = member.name
            if note is not None:
                raise _refuse("the backup archive has members after its manifest", "bad-archive")
            if name in digests or (position == 0) != (name == mf.DATABASE):
                raise _refuse(f"unexpected member {name!r} in the backup", "bad-archive")
            if name == mf.DATABASE:
                with _writer(database) as out:
                    digests[name] = member.read(out.write, progress)
            elif name == mf.LOG_KEY:
                if member.size != _SEAL_KEY_SIZE or position != 1:
                    raise _refuse("the backup's log key member is malformed", "bad-archive")
                if keep_log_key:
                    with _writer(key_path) as out:
                        digests[name] = member.read(out.write)
                else:
                    digests[name] = member.read()
            elif mf.blob_of(name) is not None:
                if index_digest is not None:
                    raise _refuse("the backup archive has members after its index", "bad-archive")
                digests[name] = member.read(None, progress)
            elif name == mf.INDEX and index_digest is None:
                with _writer(index_path) as out:
                    index_digest = member.read(out.write)
            elif name == mf.MANIFEST and index_digest is not None:
                if member.size > checkpoint.MAX_NOTE_SIZE:
                    raise _refuse("the backup's manifest is too large", "bad-manifest")
                parts: list[bytes] = []
                member.read(parts.append)
                note = b"".join(parts)
            else:
                raise _refuse(f"unexpected member {name!r} in the backup", "bad-archive")
    if note is None or index_digest is None:
        raise _refuse("the backup archive is truncated", "truncated")
    keys = [pinned] if pinned is not None else _log_keys(database)
    manifest, (key_name, key_public) = mf.open_manifest(note, keys)
    if manifest.origin != key_name:
        raise _refuse("the manifest names another log than its key's", "manifest-signature")
    _check_index(manifest, index_digest, index_path, digests)
    head = checkpoint.open_checkpoint(manifest.checkpoint, name=key_name, public=key_public)
    if head.origin != key_name:
        raise _refuse("the backup's checkpoint is of another log", "log-root")
    _check_database(database, manifest, head, pinned)
    _check_documents(database, manifest, digests)
    return Checked(
        manifest=manifest,
        manifest_sha256=hashlib.sha256(note).hexdigest(),
        key_name=key_name,
        key_public=key_public,
        pinned=pinned is not None,
        log_size=head.size,
        digests=digests,
        database=database,
        log_key=key_path if keep_log_key and mf.LOG_KEY in digests else None,
    )


def _log_keys(database: Path) -> list[tuple[str, bytes]]:
    engine = connect(f"sqlite:///{database}", read_only=True, check=False)
    try:
        with Session(engine) as db:
            return [(k.name, bytes(k.public_key)) for k in db.exec(select(LogKey))]
    except (SQLAlchemyError, StorageError):  # not a vault's database
        raise _refuse("the backup's database cannot be read", "bad-archive") from None
    finally:
        engine.dispose()


def _index_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from fh


def _check_index(
    manifest: mf.Manifest,
    index_digest: MemberDigest,
    index_path: Path,
    digests: dict[str, MemberDigest],
) -> None:
    if (index_digest.sha256, index_digest.size) != (manifest.index_sha256, manifest.index_size):
        raise _refuse("the backup's index does not match its manifest", "member-digest")
    listed = 0
    for line in _index_lines(index_path):
        entry = mf.parse_index_line(line)
        found = digests.get(entry.name)
        if found is None:
            raise _refuse(f"the backup is missing member {entry.name!r}", "member-missing")
        if found != entry:
            raise _refuse(f"member {entry.name!r} of the backup is damaged", "member-digest")
        listed += 1
    if listed != len(digests) or listed != manifest.members:
        raise _refuse("the backup holds members its index does not list", "member-digest")


def _check_database(
    database: Path,
    manifest: mf.Manifest,
    head: checkpoint.Checkpoint,
    pinned: tuple[str, bytes] | None,
) -> None:
    engine = connect(f"sqlite:///{database}", read_only=True, check=False)
    try:
        schema = current_revision(engine)
        if schema != manifest.schema:
            raise _refuse("the backup's database is not the one its manifest names", "bad-manifest")
        if schema != head_revision():
            raise InvalidInput(
                f"the backup's schema is at revision {schema}, this version expects "
                f"{head_revision()}: restore it with the release that made it, then migrate"
            )
        if pinned is not None:
            with Session(engine) as db:
                active = db.exec(select(LogKey).where(col(LogKey.active).is_(True))).all()
            # Several keys are active while the log key is being rotated; the pin is one of them.
            if pinned not in [(key.name, bytes(key.public_key)) for key in active]:
                raise _refuse("the backup's vault signs with another key", "manifest-signature")
        report = verify_log(engine, checkpoint_roots={head.size: head.root}, workers=1)
    finally:
        engine.dispose()
    if not report.ok:
        raise _refuse(f"the backup's access log does not verify: {report.problem}", "log-root")
    if report.size != head.size:
        raise _refuse("the backup's access log is not the one its checkpoint signs", "log-root")


def _upload_digests(db: Session) -> dict[str, str]:
    """Document id -> the ciphertext SHA-256 its upload entry records (the log just verified)."""
    found: dict[str, str] = {}
    rows = db.execute(
        select(col(AuditEntry.document_id), col(AuditEntry.leaf)).where(
            col(AuditEntry.document_id).is_not(None)
        )
    )
    upload = Action.DOCUMENT_UPLOAD.value
    quoted = f'"{upload}"'.encode()
    for document_id, leaf in rows:
        if quoted not in bytes(leaf):
            continue
        entry = orjson.loads(bytes(leaf))
        if entry.get("action") == upload and "ciphertext_sha256" in entry:
            found[str(document_id)] = entry["ciphertext_sha256"]
    return found


def _check_documents(
    database: Path, manifest: mf.Manifest, digests: dict[str, MemberDigest]
) -> None:
    blobs = {mf.blob_of(name): d for name, d in digests.items() if mf.blob_of(name) is not None}
    shredded = set(manifest.shredded)
    engine = connect(f"sqlite:///{database}", read_only=True, check=False)
    try:
        with Session(engine) as db:
            logged = _upload_digests(db)
            count = 0
            for row in db.exec(select(Document)):
                blob = blobs.pop(row.blob_id, None)
                if str(row.id) in shredded:
                    if blob is not None:
                        raise _refuse("a document listed as shredded has its blob", "bad-manifest")
                    shredded.discard(str(row.id))
                    continue
                if blob is None:
                    raise _refuse(f"the backup lacks the blob of document {row.id}", "blob-missing")
                expected = logged.get(str(row.id))
                if blob.size != row.ciphertext_size or (expected and expected != blob.sha256):
                    raise _refuse(
                        f"the blob of document {row.id} is not the one uploaded", "member-digest"
                    )
                count += 1
    finally:
        engine.dispose()
    if blobs or shredded or count != manifest.documents:
        raise _refuse("the backup's blobs do not match its documents", "bad-manifest")
