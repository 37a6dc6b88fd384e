"""Source Vault core library: encrypted document storage, keys, cases and sources.

The web layer (``api``) and the command line (``vault.cli``) are built on what this package
exports; nothing here imports a web framework.
"""

from vault._version import __version__
from vault.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    StorageError,
    VaultError,
)
from vault.instance import Vault
from vault.settings import Settings

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "LimitExceeded",
    "NotFound",
    "Settings",
    "StorageError",
    "Vault",
    "VaultError",
    "__version__",
]
