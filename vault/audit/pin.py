"""The pinned checkpoint: the newest checkpoint this server signed, kept in a file outside the
database, so that a database rolled back to an older state (a copy restored, or the newest
entries deleted and the head, nodes and checkpoints edited back to match) is noticed.

Every older state of the log is internally consistent and signed, so nothing in the database
can tell it from the current one. The file can: it holds the signed note of the largest tree
the server signed (``log-checkpoint`` beside the seal key, or ``VAULT_LOG_CHECKPOINT_FILE``),
and the log in the database must be an extension of it (RFC 9162 consistency proof from the
pinned tree to the database's head) before anything is signed again.

The file's bytes are exactly the signed note as ``audit_checkpoints.note`` stores it for that
size (UTF-8, C2SP checkpoint in a C2SP signed note, ending in a newline): self-authenticating
with the log's public key, so the file needs no secrecy, only that whoever writes the database
cannot write it. It is written atomically (a temporary file in the same directory, fsync,
rename, fsync of the directory), mode 0600, and only ever replaced by a larger tree, under an
exclusive ``flock`` on ``<file>.lock`` that the signers of every process on the host share.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from vault.audit import checkpoint, log, merkle
from vault.errors import IntegrityError, StorageError
from vault.storage.models import AuditHead, LogKey

__all__ = [
    "REASON",
    "check",
    "current_head",
    "locked",
    "log_keys",
    "open_pinned",
    "read",
    "write",
]

REASON = "log-rollback"
"""``IntegrityError.reason`` of every refusal here."""

_ACCEPT = "if a backup was restored on purpose, accept it with `vault audit accept-rollback --yes`"


def _refuse(detail: str) -> IntegrityError:
    return IntegrityError(f"{detail}; {_ACCEPT}", reason=REASON)


@contextlib.contextmanager
def locked(path: Path | None) -> Iterator[None]:
    """Hold the exclusive lock of the pinned file ``path`` (nothing if ``path`` is None).

    Signers take it before any database lock (the order that cannot deadlock): under it the
    pinned file is the newest, and stays so until it is released."""
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot open the pinned checkpoint's lock: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read(path: Path) -> bytes | None:
    """The pinned file's bytes; ``None`` if there is none yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read the pinned checkpoint: {exc.strerror}") from None


def write(path: Path, note: str) -> None:
    """Replace the pinned file with ``note`` atomically. The caller holds ``locked(path)`` and
    has checked that ``note`` is a larger tree that extends the pinned one."""
    data = note.encode("utf-8")
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise StorageError(f"cannot write the pinned checkpoint: {exc.strerror}") from None


def log_keys(db: Session) -> list[tuple[str, bytes]]:
    """Every key of the log as ``log_keys`` holds it (name, public key), oldest first."""
    rows = db.execute(
        select(col(LogKey.name), col(LogKey.public_key)).order_by(col(LogKey.created_at))
    )
    return [(name, bytes(public)) for name, public in rows]


def current_head(db: Session) -> tuple[int, bytes]:
    """The head as the database has it now (not as the session cached it)."""
    row = db.execute(
        select(col(AuditHead.size), col(AuditHead.root)).where(col(AuditHead.id) == 1)
    ).one_or_none()
    if row is None:
        raise StorageError("the access log is not initialised")
    return int(row[0]), bytes(row[1])


def open_pinned(data: bytes, keys: Sequence[tuple[str, bytes]]) -> checkpoint.Checkpoint:
    """The checkpoint in the pinned file, signed by one of ``keys`` (the log's keys). A file no
    key of this database opens was signed for another log, or the key was swapped."""
    for name, public in keys:
        try:
            return checkpoint.open_checkpoint(data, name=name, public=public)
        except IntegrityError:
            continue
    raise _refuse(
        "the pinned checkpoint is not signed by any key of this database's access log: the "
        "database is not the log this server last signed"
    )


def check(
    db: Session, path: Path, size: int, root: bytes, keys: Sequence[tuple[str, bytes]]
) -> checkpoint.Checkpoint | None:
    """The pinned checkpoint, once the database's log (``size``, ``root``, and its stored
    nodes) is seen to extend it; ``None`` if nothing is pinned yet. ``IntegrityError``
    (reason ``log-rollback``) if the database is older than, or a fork of, the pinned log."""
    data = read(path)
    if data is None:
        return None
    pinned = open_pinned(data, keys)
    if size < pinned.size:
        raise _refuse(
            "the database is older than the access log this server last signed (pinned size "
            f"{pinned.size}, database size {size})"
        )
    try:
        proof = log.consistency_proof(db, pinned.size, size) if pinned.size else []
    except IntegrityError:  # a stored node is missing: the nodes were cut back too
        proof = None
    if proof is None or not merkle.verify_consistency(pinned.size, size, pinned.root, root, proof):
        raise _refuse(
            "the database's access log does not extend the one this server last signed (pinned "
            f"size {pinned.size}, database size {size}): it was rolled back and rewritten"
        )
    return pinned
