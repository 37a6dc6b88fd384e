"""Signed checkpoints of the access log: C2SP ``tlog-checkpoint`` bodies in C2SP ``signed-note``
envelopes, signed with Ed25519.

- Signed notes, https://c2sp.org/signed-note (``signed-note.md`` in github.com/C2SP/C2SP): the
  note text (lines ending in ``"\\n"``), a blank line, then one or more signature lines
  ``"— <key name> <base64(4-byte key id || signature)>\\n"`` (U+2014 EM DASH, a space). The note
  is UTF-8 with no ASCII control character but newline; the text is everything up to the *last*
  blank line and the signed message is the text including its final newline. For Ed25519 (type
  byte ``0x01``) the key id is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``. Signatures
  from unknown keys (matching the name or the id but not both) are ignored; one from the known
  key that does not verify rejects the note; a note with no verified signature is rejected.
- Checkpoints, https://c2sp.org/tlog-checkpoint (``tlog-checkpoint.md``): the text is the origin,
  the tree size in decimal without leading zeros, the base64 RFC 6962 root hash, then optional
  non-empty extension lines.
- Verifier keys ``<name>+<8 hex digits of the key id>+<base64(0x01 || public key)>`` are the
  encoding of Go's ``golang.org/x/mod/sumdb/note`` (``NewVerifier``), which the signed-note
  spec's ecosystem shares.

Everything that does not parse or verify raises ``IntegrityError`` with ``reason``:
``bad-note`` (not a well-formed signed note, or over ``MAX_NOTE_SIZE``), ``no-signature`` (no
signature line from the expected key), ``bad-signature`` (a line from the expected key that does
not verify), ``bad-checkpoint`` (a properly signed text that is not a checkpoint). The text is
only parsed as a checkpoint after its signature verified.

Ed25519 itself comes from ``vault.crypto``; this module only does the text formats.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vault.crypto import SigningKey, verify_signature
from vault.errors import IntegrityError, InvalidInput

__all__ = [
    "ED25519",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "decode_vkey",
    "encode_vkey",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign",
    "sign_all",
    "sign_note",
    "sign_note_all",
]

ED25519 = 0x01
"""The signed-note signature type byte of Ed25519."""
MAX_NOTE_SIZE = 1 << 20
"""Largest signed note (UTF-8 bytes) ``open_note`` reads."""
MAX_SIGNATURES = 100
"""Most signature lines ``open_note`` reads (the spec requires at least 16; Go stops at 100)."""

_PUBLIC_SIZE = 32
_SIGNATURE_SIZE = 64
_ROOT_SIZE = 32
_MAX_TREE_SIZE = (1 << 64) - 1
_DASH = "\N{EM DASH} "
_SIZE = re.compile(r"0|[1-9][0-9]*")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def _valid_name(name: str) -> bool:
    """Non-empty, no Unicode space and no ``+`` (signed-note "Format")."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def _check_key(name: str, public: bytes) -> None:
    if not _valid_name(name) or _has_control(name):
        raise ValueError("a key name is non-empty, without spaces, '+' or control characters")
    if len(public) != _PUBLIC_SIZE:
        raise ValueError("an Ed25519 public key is 32 bytes")


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public)[:4]."""
    _check_key(name, public)
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


def encode_vkey(name: str, public: bytes) -> str:
    """The verifier key text ``<name>+<key id hex>+<base64(0x01 || public)>``."""
    encoded = base64.b64encode(bytes([ED25519]) + public).decode("ascii")
    return f"{name}+{key_id(name, public).hex()}+{encoded}"


def decode_vkey(text: str) -> tuple[str, bytes]:
    """``(name, public key)`` from a verifier key; ``InvalidInput`` unless it is a well-formed
    Ed25519 verifier key whose key id matches its name and key."""
    name, _, rest = text.partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not _valid_name(name) or _has_control(name) or not _HEX8.fullmatch(hex_id):
        raise InvalidInput("malformed verifier key")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("malformed verifier key") from None
    if len(raw) != 1 + _PUBLIC_SIZE or raw[0] != ED25519:
        raise InvalidInput("not an Ed25519 verifier key")
    public = raw[1:]
    if bytes.fromhex(hex_id) != key_id(name, public):
        raise InvalidInput("verifier key id does not match its key")
    return name, public


# -- signed notes ----------------------------------------------------------------------------------


def sign_note(text: str, name: str, key: SigningKey) -> str:
    """A signed note of ``text`` (which must end in a newline) with one Ed25519 signature."""
    return sign_note_all(text, [(name, key)])


def sign_note_all(text: str, signers: Sequence[tuple[str, SigningKey]]) -> str:
    """A signed note of ``text`` with one signature line per ``(name, key)``, in that order: a
    verifier that knows any one of the keys accepts it (the access log's key rotation)."""
    if not text.endswith("\n") or _has_control(text):
        raise ValueError("note text ends in a newline and has no control characters")
    if not 0 < len(signers) <= MAX_SIGNATURES:
        raise ValueError(f"a signed note has 1 to {MAX_SIGNATURES} signatures")
    message = text.encode()
    lines = []
    for name, key in signers:
        signature = key_id(name, key.public_bytes()) + key.sign(message)
        lines.append(f"{_DASH}{name} {base64.b64encode(signature).decode('ascii')}\n")
    note = f"{text}\n{''.join(lines)}"
    if len(note.encode()) > MAX_NOTE_SIZE:
        raise ValueError("signed note too large")
    return note


def _bad_note(detail: str) -> IntegrityError:
    return IntegrityError(f"malformed signed note: {detail}", reason="bad-note")


def open_note(note: str | bytes, *, name: str, public: bytes) -> str:
    """The text of a signed note that ``name``'s Ed25519 key ``public`` signed.

    Signature lines of other keys are parsed but not checked; any line with ``name`` and this
    key's id must verify, and at least one must be there.
    """
    expected_id = key_id(name, public)
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_SIZE:
            raise _bad_note("too large")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_note("not UTF-8") from None
    elif len(note) > MAX_NOTE_SIZE:  # cheap bound before encoding: each character >= 1 byte
        raise _bad_note("too large")
    try:
        message = note.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raise _bad_note("not UTF-8") from None
    if len(message) > MAX_NOTE_SIZE:
        raise _bad_note("too large")
    if _has_control(note):
        raise _bad_note("control character")

    split = note.rfind("\n\n")
    if split < 0:
        raise _bad_note("no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise _bad_note("no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _bad_note("too many signatures")

    signed = text.encode("utf-8")
    verified = False
    for line in lines:
        if not line.startswith(_DASH):
            raise _bad_note("signature line without the em dash")
        signer, space, encoded = line[len(_DASH) :].partition(" ")
        if not space or not _valid_name(signer) or not encoded:
            raise _bad_note("malformed signature line")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_note("signature is not base64") from None
        if len(raw) < 5:
            raise _bad_note("signature too short")
        if signer != name or raw[:4] != expected_id:
            continue  # another key: the spec says to ignore it
        if not verify_signature(public, signed, raw[4:]):
            raise IntegrityError("signed note: signature does not verify", reason="bad-signature")
        verified = True
    if not verified:
        raise IntegrityError("signed note: no signature by the expected key", reason="no-signature")
    return text


# -- checkpoints -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's ``origin``, the tree ``size`` and its RFC 6962 ``root``, with
    optional opaque ``extensions`` lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for line in (self.origin, *self.extensions):
            if not line or "\n" in line or _has_control(line):
                raise ValueError("checkpoint lines are non-empty, without control characters")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise ValueError("tree size out of range")
        if len(self.root) != _ROOT_SIZE:
            raise ValueError("a root hash is 32 bytes")

    def body(self) -> bytes:
        """The note text: origin, size, base64 root, extensions, each ending in a newline."""
        root = base64.b64encode(self.root).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")


def sign(checkpoint: Checkpoint, name: str, key: SigningKey) -> str:
    """The checkpoint as a signed note with one Ed25519 signature by ``name``'s ``key``."""
    return sign_note(checkpoint.body().decode("utf-8"), name, key)


def sign_all(checkpoint: Checkpoint, signers: Sequence[tuple[str, SigningKey]]) -> str:
    """The checkpoint as a signed note with one Ed25519 signature per ``(name, key)``."""
    return sign_note_all(checkpoint.body().decode("utf-8"), signers)


def _bad_checkpoint(detail: str) -> IntegrityError:
    return IntegrityError(f"signed note is not a checkpoint: {detail}", reason="bad-checkpoint")


def _parse(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")  # open_note's text always ends in a newline
    if len(lines) < 3:
        raise _bad_checkpoint("fewer than three lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise _bad_checkpoint("empty origin")
    if any(not line for line in extensions):
        raise _bad_checkpoint("empty extension line")
    if not _SIZE.fullmatch(size_text):
        raise _bad_checkpoint("tree size is not canonical decimal")
    size = int(size_text)
    if size > _MAX_TREE_SIZE:
        raise _bad_checkpoint("tree size out of range")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_checkpoint("root hash is not base64") from None
    if len(root) != _ROOT_SIZE or base64.b64encode(root).decode("ascii") != root_text:
        raise _bad_checkpoint("root hash is not 32 bytes in canonical base64")
    return Checkpoint(origin, size, root, tuple(extensions))


def open_checkpoint(note_text: str | bytes, *, name: str, public: bytes) -> Checkpoint:
    """The checkpoint in a signed note, once ``name``'s key ``public`` is seen to have signed it.

    ``IntegrityError`` with reason ``bad-note``, ``no-signature``, ``bad-signature`` or
    ``bad-checkpoint`` otherwise.
    """
    return _parse(open_note(note_text, name=name, public=public))
