"""``vault init``: a new data directory, database, first administrator and recovery key.

All or nothing: every check runs before anything is written, and if a later step fails, what
earlier steps wrote (the data directory, share files, the schema) is removed again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command

from vault.audit import signer
from vault.audit.actions import Action
from vault.audit.seal_key import read_seal_key
from vault.clock import Clock, system_clock
from vault.errors import Conflict, StorageError
from vault.services import recovery, row_seal_guard, users
from vault.services.throttle import KdfLimiter
from vault.services.uow import SYSTEM, UnitOfWork
from vault.services.user_admin import UserAdminService
from vault.settings import Settings
from vault.storage.database import _alembic_config, connect, current_revision, migrate
from vault.storage.models import RecoveryKey, Role
from vault.storage.stores import blob_store

__all__ = ["InitResult", "init_vault"]


@dataclass(frozen=True)
class InitResult:
    admin: str
    recovery_key_id: str
    threshold: int
    mnemonics: list[str] = field(repr=False)
    share_files: list[Path] = field(default_factory=list)
    totp_uri: str | None = field(default=None, repr=False)


def _write_secret_file(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 from the start (never world-readable, not even briefly);
    refuse to overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def init_vault(
    settings: Settings,
    *,
    admin: str,
    passphrase: str,
    recovery_out: Path | None = None,
    clock: Clock = system_clock,
) -> InitResult:
    """Create a vault as ``settings`` describe it. ``Conflict`` if one is already there."""
    settings.validate()
    users.check_username(admin)
    users.check_passphrase(passphrase)
    data_dir = settings.data_dir
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise Conflict(f"{data_dir} is not empty; refusing to initialise a vault over it")
    # The first missing directory on the way down is what we create (and remove on failure).
    first_missing = data_dir.absolute()
    while not first_missing.parent.exists():
        first_missing = first_missing.parent
    parent = first_missing.parent
    if not data_dir.exists() and not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
        raise StorageError(f"cannot create {data_dir}: {parent} is not a writable directory")
    if data_dir.exists() and not os.access(data_dir, os.W_OK | os.X_OK):
        raise StorageError(f"{data_dir} is not writable")
    if recovery_out is not None and recovery_out.exists() and not recovery_out.is_dir():
        raise StorageError(f"{recovery_out} is not a directory")

    external_db = settings.database_url is not None
    engine = connect(settings.resolved_database_url) if external_db else None
    if engine is not None and current_revision(engine) is not None:
        engine.dispose()
        raise Conflict("the database already holds a vault; refusing to initialise it again")

    shares = recovery.split_new_recovery_key(
        threshold=settings.recovery_threshold, shares=settings.recovery_shares
    )
    undo: list[Callable[[], None]] = []
    try:
        created_dir = not data_dir.exists()
        try:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(data_dir, 0o700)
        except OSError as exc:
            raise StorageError(f"cannot create {data_dir}: {exc.strerror}") from None
        if created_dir:
            undo.append(lambda: shutil.rmtree(first_missing, ignore_errors=True))
        share_files = write_shares(shares, recovery_out, undo)
        blob_store(settings).create()
        if engine is None:
            engine = connect(settings.resolved_database_url)
        migrate(engine)
        if not external_db:
            # SQLite gives its -wal and -shm files the database file's mode.
            os.chmod(data_dir / "vault.db", 0o600)
        if external_db:
            migrated = engine
            undo.append(lambda: command.downgrade(_alembic_config(migrated), "base"))
        # Every record is sealed from the first: the seal key file is made now, before any.
        row_seal_guard.register(engine, read_seal_key(settings.seal_key_path, create=True))
        public = shares.key.public_key()
        with UnitOfWork(engine, clock).audited(
            SYSTEM, Action.VAULT_INIT, recovery_key=public.key_id
        ) as work:
            work.db.add(
                RecoveryKey(
                    key_id=public.key_id,
                    public_key=public.to_bytes(),
                    threshold=shares.threshold,
                    shares=len(shares.mnemonics),
                    created_at=clock(),
                )
            )
            signer.create_log_key(work.db, settings, clock)
        admins = UserAdminService(engine=engine, settings=settings, clock=clock, kdf=KdfLimiter(1))
        _, _, totp_uri = admins.create_account(
            None, username=admin, role=Role.ADMIN, passphrase=passphrase
        )
    except BaseException:
        if engine is not None:
            engine.dispose()
        for step in reversed(undo):
            with contextlib.suppress(Exception):
                step()
        raise
    engine.dispose()
    return InitResult(
        admin=admin,
        recovery_key_id=shares.key.public_key().key_id,
        threshold=shares.threshold,
        mnemonics=shares.mnemonics,
        share_files=share_files,
        totp_uri=totp_uri,
    )


def write_shares(
    shares: recovery.RecoveryShares, out: Path | None, undo: list[Callable[[], None]]
) -> list[Path]:
    if out is None:
        return []
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StorageError(f"cannot create {out}: {exc.strerror}") from None
    total = len(shares.mnemonics)
    written = []
    for number, mnemonic in enumerate(shares.mnemonics, start=1):
        path = out / f"recovery-share-{number}-of-{total}.txt"
        _write_secret_file(
            path,
            f"Source Vault recovery share {number} of {total} "
            f"(any {shares.threshold} rebuild the recovery key).\n"
            "Give this share to one person. Keep it offline.\n\n"
            f"{mnemonic}\n",
        )
        undo.append(functools.partial(path.unlink, missing_ok=True))
        written.append(path)
    return written
