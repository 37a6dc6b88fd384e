"""The access log's signing key and its signed checkpoints.

The Ed25519 seed is stored in the database sealed (AES-256-GCM) under a 32-byte key kept in a
file outside it (``log-seal.key`` in the data directory, mode 0600, or ``VAULT_LOG_SEAL_KEY_FILE``
for replicas that share a database): a database copy can neither read the key nor forge a
checkpoint with it. Every replica that signs needs the file; its public key is published at
``GET /v1/audit/key``.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit import checkpoint, log
from vault.clock import Clock
from vault.errors import IntegrityError, StorageError
from vault.settings import Settings
from vault.storage.models import AuditCheckpoint, LogKey

__all__ = ["Signer", "create_log_key", "latest_checkpoint", "load_signer"]

_LABEL = "log-signing-key"


class Signer:
    """The active log key, unsealed."""

    def __init__(self, name: str, key: crypto.SigningKey) -> None:
        self.name = name
        self.key = key
        self.public = key.public_bytes()

    @property
    def vkey(self) -> str:
        return checkpoint.encode_vkey(self.name, self.public)


def _subject(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, name)


def _seal_key(path: Path, *, create: bool) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise StorageError(f"the log seal key {path} is missing") from None
        data = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot create the log seal key {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StorageError(f"cannot read the log seal key {path}: {exc.strerror}") from None
    if len(data) != 32:
        raise IntegrityError(f"the log seal key {path} is not 32 bytes", reason="seal-key")
    return data


def create_log_key(db: Session, settings: Settings, clock: Clock) -> Signer:
    """Make a new active log key (not committed); the seal key file is created if missing."""
    name = settings.log_origin or f"source-vault.local/{secrets.token_hex(8)}"
    key = crypto.generate_signing_key()
    sealed = crypto.seal_record(
        _seal_key(settings.seal_key_path, create=True),
        key.seed,
        label=_LABEL,
        subject_id=_subject(name),
    )
    for row in db.exec(select(LogKey).where(col(LogKey.active).is_(True))):
        row.active = False
        db.add(row)
    public = key.public_bytes()
    db.add(
        LogKey(
            key_id=checkpoint.key_id(name, public).hex(),
            name=name,
            public_key=public,
            sealed_seed=sealed,
            active=True,
            created_at=clock(),
        )
    )
    return Signer(name, key)


def load_signer(db: Session, settings: Settings) -> Signer | None:
    """The active key, unsealed; ``None`` if the vault has none yet."""
    row = db.exec(select(LogKey).where(col(LogKey.active).is_(True))).first()
    if row is None:
        return None
    seed = crypto.open_record(
        _seal_key(settings.seal_key_path, create=False),
        row.sealed_seed,
        label=_LABEL,
        subject_id=_subject(row.name),
    )
    signer = Signer(row.name, crypto.SigningKey(seed))
    if signer.public != row.public_key:
        raise IntegrityError("the log key does not match its public key", reason="log-key")
    return signer


def latest_checkpoint(db: Session, signer: Signer, clock: Clock) -> str:
    """A signed checkpoint of the log as it is now, stored once per size."""
    size, root = log.head(db)
    stored = db.get(AuditCheckpoint, size)
    if stored is not None:
        return stored.note
    note = checkpoint.sign(checkpoint.Checkpoint(signer.name, size, root), signer.name, signer.key)
    db.add(AuditCheckpoint(size=size, note=note, created_at=clock()))
    try:
        db.commit()
    except DBIntegrityError:
        db.rollback()  # another replica stored this size first; serve theirs
        again = db.get(AuditCheckpoint, size)
        if again is None:
            raise
        return again.note
    return note
