"""Key transparency: the access log as the record of every user's public key.

Every entry that gives a user a key pair (``KEY_ACTIONS``) names the key's id in its ``key_id``
field. A client about to trust a colleague's public key asks the server for it together with
the entry that logs it, a signed checkpoint and the entry's inclusion proof in that checkpoint's
tree; ``check_key_record`` accepts the key only if

- the checkpoint is signed by the log key the client trusts,
- the entry is in that tree (RFC 9162 inclusion proof),
- the entry is a successful key entry about that user, and names exactly the served key.

A server that shows someone a substituted key must therefore log the substitute, where it stays
for every auditor and for the key's owner to see; one that shows different people different
logs is caught when a client's next checkpoint does not extend the last one it saw
(``vault.audit.witness``). What inclusion cannot prove is that the entry is the user's
*newest*: ``docs/audit-log.md`` ("User keys in the log") says what covers that.

Core module: nothing here talks HTTP or opens a database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from vault.audit import checkpoint, merkle
from vault.audit.actions import Action
from vault.crypto import PublicKey
from vault.errors import IntegrityError

__all__ = [
    "KEY_ACTIONS",
    "KeyEntry",
    "KeyRecord",
    "check_key_record",
    "fingerprint",
    "gives",
    "logged_key",
]

KEY_ACTIONS = frozenset(
    {
        Action.AUTH_ENROLL,
        Action.USER_KEY_ROTATE,
        Action.USER_RESET,
        Action.USER_KEY_LOGGED,
        Action.USER_CREATE,
    }
)
"""The actions whose successful entries give the user in their ``user`` target a key: the one
in ``key_id`` (``"none"`` when the account has none yet, as at creation)."""

NO_KEY = "none"


def logged_key(action: str, outcome: str, extra: Mapping[str, str]) -> str | None:
    """The key an entry with these fields gives a user, or ``None`` if it gives none: what the
    log's storage indexes, so that the entry of a key is found without reading the log."""
    key_id = extra.get("key_id")
    if action not in KEY_ACTIONS or outcome != "ok" or key_id is None or key_id == NO_KEY:
        return None
    return key_id


def fingerprint(key_id: str) -> str:
    """A key id as people compare it aloud or on paper: its 64 hex digits in groups of four."""
    return " ".join(key_id[i : i + 4] for i in range(0, len(key_id), 4))


@dataclass(frozen=True)
class KeyRecord:
    """What a server answers for "the public key of this user", as the client received it."""

    username: str
    user_id: UUID
    public_key: bytes
    index: int
    leaf: bytes
    checkpoint: str
    inclusion: tuple[bytes, ...]


@dataclass(frozen=True)
class KeyEntry:
    """A key record that passed ``check_key_record``."""

    username: str
    user_id: UUID
    public_key: PublicKey
    index: int
    action: str
    time: str
    checkpoint: checkpoint.Checkpoint

    @property
    def key_id(self) -> str:
        return self.public_key.key_id


def _refuse(detail: str) -> IntegrityError:
    return IntegrityError(f"the server's key record is not trustworthy: {detail}", reason="key")


def check_key_record(record: KeyRecord, *, log_key: str) -> KeyEntry:
    """The record's key, checked as the module docstring says against the log's verifier key
    ``log_key`` (``name+keyid+base64``); ``IntegrityError`` (reason ``key``) otherwise."""
    name, public = checkpoint.decode_vkey(log_key)
    try:
        head = checkpoint.open_checkpoint(record.checkpoint, name=name, public=public)
    except IntegrityError:
        raise _refuse("the checkpoint is not signed by the log's key") from None
    if head.origin != name:
        raise _refuse("the checkpoint is of another log")
    if not 0 <= record.index < head.size:
        raise _refuse("the entry is not in the checkpoint's tree")
    if not merkle.verify_inclusion(
        merkle.leaf_hash(record.leaf), record.index, head.size, record.inclusion, head.root
    ):
        raise _refuse("the entry's inclusion proof does not lead to the checkpoint's root")
    entry = _entry(record.leaf)
    if entry.get("index") != record.index:
        raise _refuse("the entry names another index")
    try:
        key = PublicKey(record.public_key)
    except IntegrityError:
        raise _refuse("the public key is malformed") from None
    problem = _problem(entry, record.user_id, key.key_id)
    if problem is not None:
        raise _refuse(problem)
    return KeyEntry(
        username=record.username,
        user_id=record.user_id,
        public_key=key,
        index=record.index,
        action=str(entry["action"]),
        time=str(entry.get("time", "")),
        checkpoint=head,
    )


def gives(leaf: bytes, *, user_id: UUID, key_id: str) -> bool:
    """Whether the entry ``leaf`` gives ``user_id`` the key ``key_id``."""
    try:
        return _problem(_entry(leaf), user_id, key_id) is None
    except IntegrityError:
        return False


def _problem(entry: dict[str, Any], user_id: UUID, key_id: str) -> str | None:
    """What keeps ``entry`` from giving ``user_id`` the key ``key_id``, if anything."""
    action = entry.get("action")
    # A malicious log can hold any JSON: an unhashable action must be a refusal, not a crash.
    if not isinstance(action, str) or action not in KEY_ACTIONS or entry.get("outcome") != "ok":
        return "the entry does not give a key"
    targets = entry.get("targets")
    if not isinstance(targets, dict) or targets.get("user") != str(user_id):
        return "the entry is about another user"
    if entry.get("key_id") != key_id:
        return "the log holds another key for this user"
    return None


def _entry(leaf: bytes) -> dict[str, Any]:
    try:
        entry = json.loads(leaf)
    except ValueError:
        raise _refuse("the entry is not JSON") from None
    if not isinstance(entry, dict):
        raise _refuse("the entry is not a JSON object")
    return entry
