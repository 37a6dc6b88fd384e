"""The seal key: 32 random bytes in a file outside the database (``log-seal.key`` in the data
directory, mode 0600, or ``VAULT_LOG_SEAL_KEY_FILE`` for replicas that share a database).

What it seals or authenticates cannot be read or forged from a database copy or by whoever can
only write the database: the access log's signing key (``vault.audit.signer``) and the seals over
clear columns (``vault.services.row_seals``). Every replica needs the same file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from vault.errors import IntegrityError, StorageError

__all__ = ["read_seal_key"]


def read_seal_key(path: Path, *, create: bool) -> bytes:
    """The key in ``path``; with ``create``, a new one is made if the file is missing."""
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
