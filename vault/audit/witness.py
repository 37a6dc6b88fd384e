"""An outside view of a server's access log: from the verifier key and the checkpoint a client
saw last to the server's current ones, with every step proved.

A client pins the log's verifier key at first contact and keeps the last checkpoint it saw.
``advance`` accepts a new checkpoint only if

- it is signed by the pinned key, or by a key that a chain of verified rotations
  (``vault.audit.rotation.follow``) leads to from the pinned key;
- its tree extends the saved one (RFC 9162 consistency proofs, through each rotation's tree).

A server that shows one client a rewritten or forked log fails the second check at that
client's next look, whatever it signs. ``vault audit verify --server`` and the review
commands' key checks (``vault.cli.remote.keys``) are both this.

Core module: the server is reached through ``LogSource``, which the caller implements over
HTTP.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol

from vault.audit import checkpoint, merkle, rotation
from vault.errors import IntegrityError

__all__ = ["Advance", "LogSource", "advance"]


class LogSource(Protocol):
    """What a witness asks of the server."""

    def verifier_key(self) -> str:
        """The log's current verifier key, ``name+keyid+base64``."""
        ...

    def rotations(self) -> list[rotation.Transition]:
        """Every rotation of the log's key, as the server publishes them."""
        ...

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The RFC 9162 consistency proof between the trees of sizes ``first`` and ``second``."""
        ...


@dataclass(frozen=True)
class Advance:
    """What ``advance`` proved: the key to pin now, the rotations followed to reach it, and
    the new checkpoint."""

    key: str
    rotations: list[rotation.Transition]
    checkpoint: checkpoint.Checkpoint


def advance(source: LogSource, note: str, *, pinned_key: str | None, saved: str | None) -> Advance:
    """Check the signed checkpoint ``note`` as the module docstring says, from ``pinned_key``
    (``None``: trust the key the server serves now, on first contact) and the checkpoint
    ``saved`` (``None``: none seen yet). ``IntegrityError`` names the first problem: reason
    ``key`` for a key the pinned one does not lead to, ``shrunk`` and ``inconsistent`` for a
    tree that does not extend the saved one."""
    served_key = source.verifier_key()
    served = checkpoint.decode_vkey(served_key)
    trusted = checkpoint.decode_vkey(pinned_key) if pinned_key is not None else served
    # Each transition is a checkpoint signed by the key trusted so far that introduces the
    # next key; the chain must end at the key the server now serves.
    chain: list[tuple[rotation.Transition, checkpoint.Checkpoint]] = []
    if pinned_key is not None and trusted != served:
        chain = rotation.follow(pinned_key, source.rotations())
    if trusted != served and (not chain or checkpoint.decode_vkey(chain[-1][0].new_key) != served):
        raise IntegrityError(
            "the server's log key is not the pinned key, and no rotation from the pinned key "
            "leads to it",
            reason="key",
        )
    new = checkpoint.open_checkpoint(note, name=served[0], public=served[1])
    steps = [head for _, head in chain]
    if saved is not None:
        steps.insert(0, checkpoint.open_checkpoint(saved, name=trusted[0], public=trusted[1]))
    steps.append(new)
    for old, later in itertools.pairwise(steps):
        extends(source, old, later)
    return Advance(served_key, [transition for transition, _ in chain], new)


def extends(source: LogSource, old: checkpoint.Checkpoint, new: checkpoint.Checkpoint) -> None:
    """Check that ``new``'s tree extends ``old``'s with the server's consistency proof."""
    if old.size > new.size:
        raise IntegrityError("the log is smaller than the saved checkpoint", reason="shrunk")
    if not old.size:
        return
    proof = source.consistency(old.size, new.size) if old.size < new.size else []
    if not merkle.verify_consistency(old.size, new.size, old.root, new.root, proof):
        raise IntegrityError(
            f"the log at size {new.size} does not extend the saved checkpoint "
            f"at size {old.size}: it was rewritten",
            reason="inconsistent",
        )
