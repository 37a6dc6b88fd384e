"""Every error the vault raises on purpose.

The tree, drawn once so that the web layer and the CLI can each map it in one table::

    VaultError
    ├── IntegrityError        ciphertext, wrapped key or stored record failed authentication
    │   ├── DigestMismatch    downloaded bytes do not match the server's SHA-256 digest
    │   └── RedactionLeak     a redacted export failed its independent check; nothing released
    ├── AuthenticationFailed  wrong passphrase or unknown user (never says which)
    │   ├── OtpRequired       the passphrase was right and a one-time code is needed
    │   └── EndToEndOnly      the account logs in end to end only
    ├── NotFound              no such object, or one outside the caller's reach
    ├── Conflict              the operation clashes with existing state (vault already exists, ...)
    │   ├── LegalHold         a deletion of something under legal hold
    │   └── KeyNotHeld        the private key it needs is on the client (end-to-end session)
    ├── InvalidInput          the caller's input is malformed or breaks a policy
    │   ├── UnsupportedType   the operation does not handle this media type
    │   └── RangeNotSatisfiable  no byte of the content is in the range asked for
    ├── LimitExceeded         a size limit was hit
    │   └── RateLimited       too many attempts; try again after ``retry_after`` seconds
    ├── Unavailable           the server is too busy right now (``retry_after`` seconds)
    ├── NotText               content asked for as text is not text
    └── StorageError          the database or blob store cannot be reached or written

Messages never contain secrets, content, titles, filenames, notes or identities: they name the
problem and, at most, an id. Plain ``ValueError``/``TypeError`` are reserved for programmer
mistakes.
"""

from __future__ import annotations

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
    "StorageError",
    "Unavailable",
    "UnsupportedType",
    "VaultError",
]


class VaultError(Exception):
    """Root of the vault's own errors; ``str(error)`` is safe to show to the user.

    ``details`` carries machine-readable facts for the caller (ids, supported types), as safe
    to show as the message; the web layer adds them to the problem document.
    """

    details: dict[str, object] = {}  # noqa: RUF012 - replaced per instance, never mutated

    def with_details(self, **details: object) -> VaultError:
        self.details = {**self.details, **details}
        return self


class IntegrityError(VaultError):
    """Raised when authenticated data does not verify: a tampered, truncated, reordered or
    misplaced ciphertext segment, a wrapped key for another document or recipient, a sealed
    record that does not open.

    ``reason`` is a short stable code (``truncated``, ``segment-auth``, ``wrong-document``, ...)
    for tests and diagnostics; it never carries key material or plaintext.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class AuthenticationFailed(VaultError):
    """Raised when credentials do not unlock an account. Unknown user and wrong passphrase
    raise the same message so that the error does not reveal which accounts exist."""

    def __init__(self, message: str = "invalid username or passphrase") -> None:
        super().__init__(message)


class NotFound(VaultError):
    """Raised for an unknown id and, identically, for an object the caller may not reach."""


class Conflict(VaultError):
    """Raised when the request contradicts existing state (a second ``init``, a duplicate name)."""


class LegalHold(Conflict):
    """Raised when a deletion reaches a document that is under legal hold, itself or through
    its case: nothing is deleted until the hold is released."""


class KeyNotHeld(Conflict):
    """Raised when an action needs the user's private key on the server and the credential holds
    none because the client keeps it: a session opened end to end (``vault.services.e2e_login``)
    or a token made from one. The client does such work itself, or logs in server-side."""

    def __init__(self) -> None:
        super().__init__(
            "this needs your private key on the server, and your end-to-end session keeps it "
            "on your machine"
        )


class InvalidInput(VaultError):
    """Raised when input is malformed or breaks a policy (a passphrase too long, bad settings)."""


class RangeNotSatisfiable(InvalidInput):
    """Raised when a byte range asked for holds no byte of content ``size`` bytes long."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the content is {size} bytes: no byte is in the range asked for")
        self.size = size


class LimitExceeded(VaultError):
    """Raised when a size or rate limit is exceeded."""


class StorageError(VaultError):
    """Raised when the database or the blob store cannot be reached, read or written."""


class NotText(VaultError):
    """Raised when content is asked for as text and is not: not ``text/*`` and not UTF-8, or
    holding NUL bytes (``vault docs read`` without ``--force``)."""


class OtpRequired(AuthenticationFailed):
    """Raised when the passphrase was right but the account needs a one-time code too."""

    def __init__(self) -> None:
        super().__init__("a one-time code is required for this account")


class EndToEndOnly(AuthenticationFailed):
    """Raised when an account that may log in end to end only (by an administrator's choice, or
    its role's) tries a passphrase login, or a credential holding its key on the server."""

    def __init__(self) -> None:
        super().__init__(
            "this account logs in end to end only: use `vault login --end-to-end`, which keeps "
            "the passphrase and the key on your machine"
        )


class RateLimited(LimitExceeded):
    """Raised when repeated failures block further attempts for ``retry_after`` seconds, or
    when an account already has as many uploads in progress as it may (``message`` says which).
    """

    def __init__(self, retry_after: int, *, message: str | None = None) -> None:
        unit = "second" if retry_after == 1 else "seconds"
        super().__init__(message or f"too many failed attempts; try again in {retry_after} {unit}")
        self.retry_after = retry_after


class Unavailable(VaultError):
    """Raised when the server cannot take the request now (every key-derivation slot busy)."""

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnsupportedType(InvalidInput):
    """Raised when an operation does not handle a media type: a document's, or that of the
    request that carries it. ``supported`` lists the ones it does, when the message should."""

    def __init__(self, message: str, *, supported: tuple[str, ...] = ()) -> None:
        super().__init__(f"{message} (supported: {', '.join(supported)})" if supported else message)
        self.supported = supported
        if supported:
            self.details = {"supported": list(supported)}


class DigestMismatch(IntegrityError):
    """Raised when downloaded bytes, read to the end, do not match the SHA-256 digest the
    server sent with them (``Repr-Digest``): whatever was received is not to be trusted."""

    def __init__(self) -> None:
        super().__init__(
            "the downloaded content does not match the server's SHA-256 digest", reason="digest"
        )


class RedactionLeak(IntegrityError):
    """Raised when a redacted export, read back by an independent extractor, still contains
    something it should not (a redacted string, metadata, a second revision). Nothing is
    released; ``redactions`` are the ids whose text was found, ``problems`` the structural
    findings, ``findings`` which reader found what class of thing on which page (never the
    text)."""

    def __init__(
        self,
        *,
        redactions: list[str],
        problems: list[str],
        findings: list[dict[str, object]] | None = None,
    ) -> None:
        found = []
        if redactions:
            found.append(f"the text of redaction(s) {', '.join(redactions)} is still in it")
        places = sorted({_place(f) for f in findings or []})
        self.places = places
        if places:
            found.append("found by " + ", ".join(places))
        if problems:
            found.append("left in the file: " + ", ".join(problems))
        super().__init__(
            "the redacted export failed verification and was not released: " + "; ".join(found),
            reason="redaction-leak",
        )
        self.details = {
            "redactions": redactions,
            "problems": problems,
            "findings": list(findings or []),
        }


def _place(finding: dict[str, object]) -> str:
    """ "ocr (ocr) on page 2": which reader, which class of find, where; never what."""
    page = finding.get("page")
    where = f" on page {page}" if page is not None else ""
    return f"{finding.get('reader')} ({finding.get('class')}){where}"
