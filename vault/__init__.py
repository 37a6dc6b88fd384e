"""Source Vault core library: encrypted document storage, keys, cases and sources.

The web layer (``api``) and the command line (``vault.cli``) are built on what this package
exports; nothing here imports a web framework.
"""

from typing import TYPE_CHECKING, Any

from vault._version import __version__
from vault.errors import (
    AuthenticationFailed,
    Conflict,
    DigestMismatch,
    EndToEndOnly,
    IntegrityError,
    InvalidInput,
    KeyNotHeld,
    LegalHold,
    LimitExceeded,
    NotFound,
    NotText,
    OtpRequired,
    RangeNotSatisfiable,
    RateLimited,
    RedactionLeak,
    StorageError,
    Unavailable,
    UnsupportedType,
    VaultError,
)

if TYPE_CHECKING:
    from vault.instance import Vault
    from vault.settings import Settings

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "DigestMismatch",
    "EndToEndOnly",
    "IntegrityError",
    "InvalidInput",
    "KeyNotHeld",
    "LegalHold",
    "LimitExceeded",
    "NotFound",
    "NotText",
    "OtpRequired",
    "RangeNotSatisfiable",
    "RateLimited",
    "RedactionLeak",
    "Settings",
    "StorageError",
    "Unavailable",
    "UnsupportedType",
    "Vault",
    "VaultError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Vault and Settings pull in the database layer; importing them on first use keeps
    # ``import vault.something`` (the CLI, verification workers) from paying for it.
    if name == "Vault":
        from vault.instance import Vault

        return Vault
    if name == "Settings":
        from vault.settings import Settings

        return Settings
    raise AttributeError(f"module 'vault' has no attribute {name!r}")
