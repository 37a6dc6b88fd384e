"""The CLI's one table from error to exit status (documented in ``docs/cli.md``)."""

from __future__ import annotations

from vault.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    NotText,
    StorageError,
    Unavailable,
    VaultError,
)

__all__ = ["EXIT_CODES", "exit_code_for"]

OK = 0
FAILED = 1
USAGE = 2
AUTH = 3
NOT_FOUND = 4
INTEGRITY = 5

EXIT_CODES: dict[type[VaultError], int] = {
    IntegrityError: INTEGRITY,
    AuthenticationFailed: AUTH,
    NotFound: NOT_FOUND,
    InvalidInput: USAGE,
    Conflict: FAILED,
    LimitExceeded: FAILED,
    StorageError: FAILED,
    Unavailable: FAILED,
    NotText: FAILED,  # the request was fine; this content is not for reading as text
}


def exit_code_for(error: VaultError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return FAILED
