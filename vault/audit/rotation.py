"""Following the access log's key from one signing key to the next.

A rotation appends a ``log.key.rotate`` entry naming the old and the new verifier key, and
the checkpoint of the tree that ends with that entry (the *transition*) is signed by both keys.
From then on only the new key signs. A client that pinned the old key therefore sees, signed by
the key it trusts, a tree whose last entry introduces the new key; an inclusion proof shows the
entry is that tree's last leaf, so the new key is as trustworthy as the old one was, and the
client pins it. A chain of rotations is followed one transition at a time.

The checks, for one transition ``t`` from the pinned key ``K`` (``verify_transition``):

1. ``t.checkpoint`` opens with ``K`` and with ``t.new_key`` (both signed it), and is a tree of
   ``t.index + 1`` entries whose origin is the keys' name;
2. ``t.entry`` is a ``log.key.rotate`` entry at ``t.index`` whose ``old_key`` is ``K`` and whose
   ``new_key`` is ``t.new_key``;
3. ``t.proof`` proves ``t.entry`` is leaf ``t.index`` of that tree (RFC 9162 §2.1.3.2).

Anything else raises ``IntegrityError`` with reason ``rotation``. This module needs no database,
so a witness's ``vault audit verify --server`` imports it as it is.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vault.audit import checkpoint, merkle
from vault.audit.actions import Action
from vault.errors import IntegrityError, InvalidInput

__all__ = ["ACTION", "Transition", "follow", "parse_transitions", "verify_transition"]

ACTION: str = Action.LOG_KEY_ROTATE.value
"""The action of the entry that records a rotation of the log's signing key."""


@dataclass(frozen=True)
class Transition:
    """One rotation as the server publishes it: the rotation entry (its ``index`` and canonical
    bytes), the two verifier keys, the checkpoint of the tree ending with the entry, signed by
    both keys, and the entry's inclusion proof in that tree."""

    index: int
    old_key: str
    new_key: str
    entry: bytes
    checkpoint: str
    proof: tuple[bytes, ...]


def _refuse(detail: str) -> IntegrityError:
    return IntegrityError(f"the log key rotation does not verify: {detail}", reason="rotation")


def _decode(vkey: str, which: str) -> tuple[str, bytes]:
    try:
        return checkpoint.decode_vkey(vkey)
    except InvalidInput:
        raise _refuse(f"its {which} key is not a verifier key") from None


def _open(note: str, vkey: tuple[str, bytes], which: str) -> checkpoint.Checkpoint:
    name, public = vkey
    try:
        return checkpoint.open_checkpoint(note, name=name, public=public)
    except IntegrityError:
        raise _refuse(f"its checkpoint is not signed by the {which} key") from None


def verify_transition(pinned: str, transition: Transition) -> checkpoint.Checkpoint:
    """The transition checkpoint, once ``transition`` is seen to hand the log over from the
    verifier key ``pinned`` to ``transition.new_key`` (the module docstring lists the checks);
    ``IntegrityError`` (reason ``rotation``) if it does not."""
    old = _decode(pinned, "old")
    pinned = checkpoint.encode_vkey(*old)  # as the entry spells it
    new = _decode(transition.new_key, "new")
    if _decode(transition.old_key, "old") != old:
        raise _refuse("it starts from another key")
    if new[0] != old[0]:
        raise _refuse("the new key has another name than the log")
    if new == old:
        raise _refuse("the new key is the old key")
    # The old key's signature is the one that carries trust; the new key's proves that whoever
    # rotated holds it, and lets a client that pinned the new key check the same tree.
    head = _open(transition.checkpoint, old, "old")
    if _open(transition.checkpoint, new, "new") != head:
        raise _refuse("its checkpoint differs by key")  # cannot happen: one text, two lines
    if head.origin != old[0] or head.size != transition.index + 1:
        raise _refuse("its checkpoint is not the tree that ends with the rotation entry")
    try:
        entry = json.loads(transition.entry)
    except ValueError:
        raise _refuse("its entry is not JSON") from None
    if not isinstance(entry, dict) or (
        entry.get("action"),
        entry.get("index"),
        entry.get("old_key"),
        entry.get("new_key"),
    ) != (ACTION, transition.index, pinned, transition.new_key):
        raise _refuse("its entry does not record this rotation")
    leaf = merkle.leaf_hash(transition.entry)
    if not merkle.verify_inclusion(leaf, transition.index, head.size, transition.proof, head.root):
        raise _refuse("its entry is not in the checkpoint's tree")
    return head


def follow(
    pinned: str, transitions: Sequence[Transition]
) -> list[tuple[Transition, checkpoint.Checkpoint]]:
    """The rotations that lead from the verifier key ``pinned`` to the log's current key, each
    verified, in order (empty if ``pinned`` was never rotated). Rotations before ``pinned``'s
    time are skipped; one that starts from ``pinned`` or from a key it led to must verify, and a
    key rotated twice (a fork) is refused."""
    chain: list[tuple[Transition, checkpoint.Checkpoint]] = []
    current = _decode(pinned, "pinned")
    retired: set[tuple[str, bytes]] = set()
    for transition in sorted(transitions, key=lambda t: t.index):
        old = _decode(transition.old_key, "old")
        if old in retired:
            raise _refuse(f"a key was rotated twice (entry {transition.index})")
        if old != current:
            continue
        if chain and transition.index <= chain[-1][0].index:
            raise _refuse(f"two rotations at entry {transition.index}")
        head = verify_transition(checkpoint.encode_vkey(*current), transition)
        chain.append((transition, head))
        retired.add(current)
        current = _decode(transition.new_key, "new")
    return chain


def parse_transitions(body: Any) -> list[Transition]:
    """The rotations in a server's answer to ``GET /v1/audit/key/rotations``; a malformed
    answer is the server's integrity failure (reason ``rotation``)."""
    try:
        return [
            Transition(
                index=int(item["index"]),
                old_key=str(item["old_key"]),
                new_key=str(item["new_key"]),
                entry=base64.b64decode(item["entry"], validate=True),
                checkpoint=str(item["checkpoint"]),
                proof=tuple(base64.b64decode(p, validate=True) for p in item["proof"]),
            )
            for item in body["rotations"]
        ]
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(
            "the server's list of key rotations is malformed", reason="rotation"
        ) from None
