"""The vault's cryptography: a handful of safe operations, every choice made for the caller.

- ``new_data_key`` / ``encrypt_stream`` / ``decrypt_stream``: a document's content as a
  segmented AES-256-GCM stream under a fresh 256-bit data key (``docs/format.md`` §2).
- ``generate_private_key`` / ``wrap_key`` / ``unwrap_key``: a data key wrapped for each reader
  with HPKE (RFC 9180, ML-KEM-768 + X25519, HKDF-SHA256, AES-256-GCM), bound to the subject and
  the recipient (§3).
- ``derive_passphrase_keys`` / ``seal_private_key`` / ``open_private_key``: a user's private key
  sealed under Argon2id (§4).
- ``seal_record`` / ``open_record``: small sensitive records sealed under a key derived from a
  data key (§5).
- ``new_bearer_token`` / ``seal_with_token`` / ``open_with_token``: session and API tokens, and
  a private key sealed under a key derived from the token (§6).
- ``new_totp_secret`` / ``totp_uri`` / ``totp_step``: RFC 6238 one-time codes.
- ``generate_signing_key`` / ``SigningKey`` / ``verify_signature``: Ed25519 (RFC 8032), for the
  access log's signed checkpoints.

This package is the only place in Source Vault that imports ``cryptography.hazmat``. Every way a
ciphertext can be wrong raises ``vault.errors.IntegrityError``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator
from uuid import UUID

from vault.crypto import _commit, _keys, _passphrase, _sealed, _signing, _stream, _totp
from vault.crypto._keys import WRAPPED_KEY_SIZE, PrivateKey, PublicKey
from vault.crypto._passphrase import SALT_SIZE as PASSPHRASE_SALT_SIZE
from vault.crypto._passphrase import Argon2Params, PassphraseKeys
from vault.crypto._signing import SigningKey
from vault.crypto._stream import DEFAULT_SEGMENT_SIZE, HEADER_SIZE, ciphertext_size
from vault.errors import IntegrityError

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "HEADER_SIZE",
    "PASSPHRASE_SALT_SIZE",
    "WRAPPED_KEY_SIZE",
    "Argon2Params",
    "PassphraseKeys",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "check_ciphertext",
    "ciphertext_size",
    "decrypt_stream",
    "derive_passphrase_keys",
    "encrypt_stream",
    "generate_private_key",
    "generate_signing_key",
    "hash_bearer_token",
    "key_commitment",
    "new_bearer_token",
    "new_data_key",
    "new_passphrase_salt",
    "new_totp_secret",
    "open_private_key",
    "open_record",
    "open_totp_secret",
    "open_with_code",
    "open_with_kek",
    "open_with_token",
    "seal_private_key",
    "seal_record",
    "seal_totp_secret",
    "seal_with_code",
    "seal_with_kek",
    "seal_with_token",
    "totp_code",
    "totp_step",
    "totp_uri",
    "unwrap_key",
    "verify_signature",
    "wrap_key",
]


def new_data_key() -> bytes:
    """A fresh random 256-bit key for one document (or one source's identity notes)."""
    return os.urandom(32)


def encrypt_stream(
    data_key: bytes,
    document_id: UUID,
    chunks: Iterable[bytes],
    *,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> Iterator[bytes]:
    """Encrypt plaintext chunks of any size into the content format, lazily.

    Yields the header and then one sealed segment at a time; holds at most one segment of
    plaintext in memory.
    """
    # Check here, not at the first ``next()``: a bad argument is the caller's mistake and
    # should surface where it was made.
    _stream.check_segment_size(segment_size)
    if len(data_key) != _stream.KEY_SIZE:
        raise ValueError("a data key is 32 bytes")
    return _stream.encrypt_segments(
        data_key,
        document_id,
        chunks,
        segment_size=segment_size,
        salt=os.urandom(_stream.SALT_SIZE),
        nonce_prefix=os.urandom(_stream.NONCE_PREFIX_SIZE),
    )


def decrypt_stream(
    data_key: bytes, document_id: UUID, chunks: Iterable[bytes], *, commitment: bytes | None
) -> Iterator[bytes]:
    """Decrypt a content stream lazily, yielding each segment's plaintext once it authenticates.

    Raises ``IntegrityError`` (with a ``reason``) for a stream that was truncated, reordered,
    spliced, moved to another document, altered in any bit, or whose key is not the one its
    header and ``commitment`` (the document record's; ``None`` only for a document stored
    before key commitments) commit to; bytes of a segment that failed are never yielded. A
    consumer that must not act on a partial plaintext has to buffer or discard what it
    received before the error.
    """
    return _stream.decrypt_segments(data_key, document_id, chunks, commitment=commitment)


def check_ciphertext(
    chunks: Iterable[bytes],
    *,
    document_id: UUID,
    commitment: bytes,
    max_plaintext: int | None = None,
) -> Iterator[bytes]:
    """Pass a content stream that a client encrypted through, lazily, checking its shape
    without its key: a version 2 header for ``document_id`` committing to ``commitment``, a
    plaintext within ``max_plaintext`` bytes (``LimitExceeded``), a length that a whole stream
    has (``InvalidInput``). What a server can check of an end-to-end upload; readers check
    the rest (every segment's tag) when they decrypt it."""
    return _stream.checked_shape(
        chunks, document_id=document_id, commitment=commitment, max_plaintext=max_plaintext
    )


def key_commitment(key: bytes, *, kind: str, subject_id: UUID) -> bytes:
    """The 32 bytes that ``key`` commits to as the key of ``kind`` ("document", "source")
    ``subject_id``: stored with the subject and bound into every wrapped copy (§2.6)."""
    return _commit.commitment(key, kind=kind, subject_id=subject_id)


def generate_private_key() -> PrivateKey:
    """A new reader key pair from a fresh random seed."""
    return PrivateKey(os.urandom(_keys.SEED_SIZE))


def wrap_key(
    key: bytes, recipient: PublicKey, *, kind: str, subject_id: UUID, commitment: bytes | None
) -> bytes:
    """Wrap a data key for one recipient, bound to ``kind`` ("document", "source"), the
    subject's id and the key's commitment, so that the wrapped key cannot be moved to another
    subject or recipient, nor be another key than every other recipient's. ``commitment`` is
    ``key_commitment(key, ...)``, or ``None`` for a subject stored before commitments."""
    return _keys.wrap_key(key, recipient, kind=kind, subject_id=subject_id, commitment=commitment)


def unwrap_key(
    wrapped: bytes,
    private_key: PrivateKey,
    *,
    kind: str,
    subject_id: UUID,
    commitment: bytes | None,
) -> bytes:
    """Open a wrapped data key; ``IntegrityError`` if it was made for anyone or anything else,
    or is not the key ``commitment`` (the subject record's) names."""
    return _keys.unwrap_key(
        wrapped, private_key, kind=kind, subject_id=subject_id, commitment=commitment
    )


def new_passphrase_salt() -> bytes:
    return os.urandom(_passphrase.SALT_SIZE)


def derive_passphrase_keys(passphrase: str, salt: bytes, params: Argon2Params) -> PassphraseKeys:
    """One Argon2id derivation, split into a login verifier and a key-encryption key."""
    return _passphrase.derive(passphrase, salt, params)


def _private_key_aad(owner_id: UUID, key_id: str) -> bytes:
    return b"source-vault/v1 private-key\x00" + owner_id.bytes + bytes.fromhex(key_id)


def seal_private_key(kek: bytes, private_key: PrivateKey, *, owner_id: UUID) -> bytes:
    """Seal a private key's seed under a passphrase key-encryption key, bound to its owner."""
    aad = _private_key_aad(owner_id, private_key.public_key().key_id)
    return _sealed.seal(kek, private_key.seed, aad=aad)


def open_private_key(kek: bytes, sealed: bytes, *, owner_id: UUID, key_id: str) -> PrivateKey:
    """Open a sealed private key and check that it is the key with ``key_id``."""
    seed = _sealed.open_sealed(kek, sealed, aad=_private_key_aad(owner_id, key_id))
    key = PrivateKey(seed)
    if key.public_key().key_id != key_id:
        raise IntegrityError("sealed private key is not the expected key", reason="key-id")
    return key


def _record_key(data_key: bytes, label: str) -> bytes:
    return _sealed.derive_subkey(data_key, b"source-vault/v1 record\x00" + label.encode("ascii"))


def _record_aad(subject_id: UUID, bound: bytes | None) -> bytes:
    # Version 2 records also authenticate the clear columns of the row they belong to, so an
    # edit of those columns makes the record refuse to open (docs/format.md §5).
    return subject_id.bytes if bound is None else subject_id.bytes + bound


def seal_record(
    data_key: bytes,
    plaintext: bytes,
    *,
    label: str,
    subject_id: UUID,
    bound: bytes | None = None,
) -> bytes:
    """Seal a small record (a document's metadata, a source's notes) under a key derived from
    ``data_key`` and ``label``, bound to the subject's id and to ``bound``, the encoded clear
    columns the record vouches for."""
    aad = _record_aad(subject_id, bound)
    return _sealed.seal(_record_key(data_key, label), plaintext, aad=aad)


def open_record(
    data_key: bytes,
    sealed: bytes,
    *,
    label: str,
    subject_id: UUID,
    bound: bytes | None = None,
) -> bytes:
    """Open what ``seal_record`` sealed; ``IntegrityError`` if anything does not match."""
    aad = _record_aad(subject_id, bound)
    return _sealed.open_sealed(_record_key(data_key, label), sealed, aad=aad)


_TOKEN_PREFIX = "sv_"  # noqa: S105 - a public marker, not a secret
_TOKEN_BYTES = 32


def new_bearer_token() -> str:
    """256 random bits, as ``sv_`` + base64url (the prefix lets secret scanners spot leaks)."""
    raw = os.urandom(_TOKEN_BYTES)
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hash_bearer_token(token: str) -> str:
    """What the database stores instead of a token: SHA-256 over a domain label and the token.
    Tokens are 256-bit random, so an unsalted fast hash is enough."""
    return hashlib.sha256(b"source-vault/v1 bearer-token\x00" + token.encode()).hexdigest()


# A bearer token or an enrolment code seals the user's key seed so that any replica shown it
# can unlock the key and a database copy alone cannot. In format version 2 the key it derives
# is also salted with the server's ``pepper`` (derived from the seal key file, outside the
# database): a token together with a copy of the database opens nothing either, without the
# server's files as well (docs/security-model.md, "Sessions and tokens"). ``pepper=None`` is
# version 1: what credentials sealed before it hold, still opened.
_SECRET_LABELS = {
    ("token", 1): (b"source-vault/v1 token-key", b"source-vault/v1 token-sealed\x00"),
    ("token", 2): (b"source-vault/v2 token-key", b"source-vault/v2 token-sealed\x00"),
    ("code", 1): (b"source-vault/v1 enrolment-code-key", b"source-vault/v1 code-sealed\x00"),
    ("code", 2): (b"source-vault/v2 enrolment-code-key", b"source-vault/v2 code-sealed\x00"),
}


def _secret_key(kind: str, secret: str, version: int, pepper: bytes | None) -> bytes:
    info = _SECRET_LABELS[(kind, version)][0]
    return _sealed.derive_subkey(secret.encode(), info, salt=pepper if version == 2 else None)


def _token_key(token: str, pepper: bytes | None = None) -> bytes:
    """The key a bearer token seals under (for the test vectors)."""
    return _secret_key("token", token, 1 if pepper is None else 2, pepper)


def _code_key(code: str, pepper: bytes | None = None) -> bytes:
    """The key an enrolment code seals under (for the test vectors)."""
    return _secret_key("code", code, 1 if pepper is None else 2, pepper)


def _seal_under_secret(
    kind: str, secret: str, private_key: PrivateKey, subject: UUID, pepper: bytes | None
) -> bytes:
    version = 1 if pepper is None else 2
    key = _secret_key(kind, secret, version, pepper)
    return _sealed.seal(
        key, private_key.seed, aad=_SECRET_LABELS[(kind, version)][1] + subject.bytes
    )


def _open_under_secret(
    kind: str, secret: str, sealed: bytes, subject: UUID, key_id: str, pepper: bytes | None
) -> PrivateKey:
    versions = [1] if pepper is None else [2, 1]
    for version in versions:
        key = _secret_key(kind, secret, version, pepper)
        aad = _SECRET_LABELS[(kind, version)][1] + subject.bytes
        try:
            seed = _sealed.open_sealed(key, sealed, aad=aad)
        except IntegrityError:
            if version == versions[-1]:
                raise
            continue
        private = PrivateKey(seed)
        if private.public_key().key_id != key_id:
            raise IntegrityError(f"{kind}-sealed key is not the expected key", reason="key-id")
        return private
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def seal_with_token(
    token: str, private_key: PrivateKey, *, credential_id: UUID, pepper: bytes | None = None
) -> bytes:
    """Seal a private key's seed under a key derived from a bearer token (and, in format
    version 2, the server's ``pepper``), bound to the credential."""
    return _seal_under_secret("token", token, private_key, credential_id, pepper)


def open_with_token(
    token: str, sealed: bytes, *, credential_id: UUID, key_id: str, pepper: bytes | None = None
) -> PrivateKey:
    """Open what ``seal_with_token`` sealed (format version 2 with ``pepper``, else 1) and
    check that it is the key with ``key_id``."""
    return _open_under_secret("token", token, sealed, credential_id, key_id, pepper)


def seal_with_code(
    code: str, private_key: PrivateKey, *, owner_id: UUID, pepper: bytes | None = None
) -> bytes:
    """Seal a private key's seed under a key derived from an enrolment code (96 random bits),
    for the account that enrols with it: what account recovery hands over."""
    return _seal_under_secret("code", code, private_key, owner_id, pepper)


def open_with_code(
    code: str, sealed: bytes, *, owner_id: UUID, key_id: str, pepper: bytes | None = None
) -> PrivateKey:
    return _open_under_secret("code", code, sealed, owner_id, key_id, pepper)


def seal_with_kek(kek: bytes, secret: bytes, *, label: str, owner_id: UUID) -> bytes:
    """Seal a small per-user secret (the TOTP secret) under the passphrase key-encryption key."""
    aad = b"source-vault/v1 " + label.encode("ascii") + b"\x00" + owner_id.bytes
    return _sealed.seal(kek, secret, aad=aad)


def open_with_kek(kek: bytes, sealed: bytes, *, label: str, owner_id: UUID) -> bytes:
    aad = b"source-vault/v1 " + label.encode("ascii") + b"\x00" + owner_id.bytes
    return _sealed.open_sealed(kek, sealed, aad=aad)


_TOTP_KEY_LABEL = b"source-vault/v2 totp-key"
_TOTP_AAD = b"source-vault/v2 totp-secret\x00"


def _totp_key(pepper: bytes) -> bytes:
    if len(pepper) != 32:
        raise ValueError("the pepper is 32 bytes")
    return hmac.new(pepper, _TOTP_KEY_LABEL, hashlib.sha256).digest()


def seal_totp_secret(pepper: bytes, secret: bytes, *, owner_id: UUID) -> bytes:
    """Seal a user's TOTP secret under the server's key (derived from its pepper), not the
    passphrase's: the server checks one-time codes at logins where it never sees the
    passphrase (end-to-end logins, docs/format.md §4.4)."""
    return _sealed.seal(_totp_key(pepper), secret, aad=_TOTP_AAD + owner_id.bytes)


def open_totp_secret(pepper: bytes, sealed: bytes, *, owner_id: UUID) -> bytes:
    return _sealed.open_sealed(_totp_key(pepper), sealed, aad=_TOTP_AAD + owner_id.bytes)


def new_totp_secret() -> bytes:
    return _totp.new_secret()


def totp_uri(secret: bytes, *, account: str, issuer: str) -> str:
    """``otpauth://`` provisioning URI (RFC 6238; SHA-1, 6 digits, 30 s)."""
    return _totp.provisioning_uri(secret, account=account, issuer=issuer)


def totp_code(secret: bytes, at: float) -> str:
    """The code for time ``at`` (for tests and for the enrolment confirmation screen)."""
    return _totp.generate(secret, at)


def totp_step(secret: bytes, code: str, at: float) -> int | None:
    """The time step a code belongs to (current one, or one either side), or ``None``."""
    return _totp.matching_step(secret, code, at)


def generate_signing_key() -> SigningKey:
    """A new Ed25519 key from a fresh random seed."""
    return SigningKey(os.urandom(_signing.SEED_SIZE))


def verify_signature(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by ``public``; any
    malformed input is simply not valid."""
    return _signing.verify(public, message, signature)
