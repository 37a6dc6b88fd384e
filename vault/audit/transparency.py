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
    "RECOVERY_KEY_ACTIONS",
    "KeyEntry",
    "KeyRecord",
    "check_key_record",
    "check_recovery_record",
    "fingerprint",
    "gives",
    "gives_recovery",
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

RECOVERY_KEY_ACTIONS = frozenset(
    {Action.VAULT_INIT, Action.RECOVERY_KEY_ROTATE, Action.RECOVERY_KEY_LOGGED}
)
"""The actions whose successful entries make the key in their ``recovery_key`` target the
vault's recovery key, which every document is wrapped for too."""

NO_KEY = "none"


def logged_key(
    action: str, outcome: str, extra: Mapping[str, str], targets: Mapping[str, str]
) -> str | None:
    """The key an entry with these fields gives a user or makes the recovery key, or ``None``:
    what the log's storage indexes, so that the entry of a key is found without reading the
    log. (Key ids are hashes of the keys: a user's and the recovery key's never collide.)"""
    if outcome != "ok":
        return None
    if action in RECOVERY_KEY_ACTIONS:
        return targets.get("recovery_key")
    key_id = extra.get("key_id")
    if action not in KEY_ACTIONS or key_id is None or key_id == NO_KEY:
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


def _included(
    note: str, index: int, leaf: bytes, inclusion: tuple[bytes, ...], log_key: str
) -> tuple[checkpoint.Checkpoint, dict[str, Any]]:
    """The checkpoint ``note``, signed by ``log_key``, and the entry ``leaf``, proven to be
    entry ``index`` of its tree."""
    name, public = checkpoint.decode_vkey(log_key)
    try:
        head = checkpoint.open_checkpoint(note, name=name, public=public)
    except IntegrityError:
        raise _refuse("the checkpoint is not signed by the log's key") from None
    if head.origin != name:
        raise _refuse("the checkpoint is of another log")
    if not 0 <= index < head.size:
        raise _refuse("the entry is not in the checkpoint's tree")
    if not merkle.verify_inclusion(merkle.leaf_hash(leaf), index, head.size, inclusion, head.root):
        raise _refuse("the entry's inclusion proof does not lead to the checkpoint's root")
    entry = _entry(leaf)
    if entry.get("index") != index:
        raise _refuse("the entry names another index")
    return head, entry


def _public(raw: bytes) -> PublicKey:
    try:
        return PublicKey(raw)
    except IntegrityError:
        raise _refuse("the public key is malformed") from None


def check_recovery_record(record: KeyRecord, *, log_key: str) -> KeyEntry:
    """The vault's recovery key (a record with no user: ``username`` empty, ``user_id`` the
    nil UUID), accepted only if the checkpoint is signed by ``log_key`` and its tree holds an
    entry that makes exactly that key the recovery key (``RECOVERY_KEY_ACTIONS``);
    ``IntegrityError`` (reason ``key``) otherwise."""
    head, entry = _included(record.checkpoint, record.index, record.leaf, record.inclusion, log_key)
    key = _public(record.public_key)
    problem = _recovery_problem(entry, key.key_id)
    if problem is not None:
        raise _refuse(problem)
    return _accepted(record, key, entry, head)


def gives_recovery(leaf: bytes, *, key_id: str) -> bool:
    """Whether the entry ``leaf`` makes ``key_id`` the recovery key."""
    try:
        return _recovery_problem(_entry(leaf), key_id) is None
    except IntegrityError:
        return False


def _recovery_problem(entry: dict[str, Any], key_id: str) -> str | None:
    action = entry.get("action")
    if not isinstance(action, str) or action not in RECOVERY_KEY_ACTIONS:
        return "the entry does not set the recovery key"
    if entry.get("outcome") != "ok":
        return "the entry does not set the recovery key"
    targets = entry.get("targets")
    if not isinstance(targets, dict) or targets.get("recovery_key") != key_id:
        return "the log holds another recovery key"
    return None


def check_key_record(record: KeyRecord, *, log_key: str) -> KeyEntry:
    """The record's key, checked as the module docstring says against the log's verifier key
    ``log_key`` (``name+keyid+base64``); ``IntegrityError`` (reason ``key``) otherwise."""
    head, entry = _included(record.checkpoint, record.index, record.leaf, record.inclusion, log_key)
    key = _public(record.public_key)
    problem = _problem(entry, record.user_id, key.key_id)
    if problem is not None:
        raise _refuse(problem)
    return _accepted(record, key, entry, head)


def _accepted(
    record: KeyRecord, key: PublicKey, entry: dict[str, Any], head: checkpoint.Checkpoint
) -> KeyEntry:
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
