"""Checking a colleague's public key against the server's access log, from this machine.

``checked_key`` asks ``GET /v1/users/{name}/key`` with the size of the last checkpoint this
machine saw, and accepts the answer only if (``vault.audit.witness``,
``vault.audit.transparency``):

- the checkpoint is signed by the log key pinned here, or one its rotations lead to;
- its tree extends the last one seen here (so the server cannot show this machine a fork);
- the entry is in that tree, gives that account a key, and names exactly the served key;
- the account is the one this machine knew under that name, and its key entry is not older
  than the one it saw before (a server replaying a replaced key).

It then moves the saved state forward (``vault.cli.remote.trust``). What it cannot know on the
first contact, it says: the fingerprint is for comparing with the colleague out of band.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

from vault.audit import checkpoint, rotation, transparency, witness
from vault.cli.client import Client
from vault.cli.output import say
from vault.cli.remote import trust
from vault.errors import IntegrityError

__all__ = ["CheckedKey", "checked_key", "checked_recovery_key", "tell"]


@dataclass(frozen=True)
class CheckedKey:
    """A key that passed ``checked_key``, and what this machine knew of it before."""

    entry: transparency.KeyEntry
    previous: trust.SeenKey | None  # as last seen here; None the first time
    first_contact: bool  # the log key itself was trusted on this use
    rotations: list[rotation.Transition]

    @property
    def changed(self) -> bool:
        return self.previous is not None and self.previous.key_id != self.entry.key_id


class _ServerLog:
    """``witness.LogSource`` over the review commands' client, with the consistency proof the
    key answer carried already."""

    def __init__(self, client: Client, known: dict[tuple[int, int], list[bytes]]) -> None:
        self._client = client
        self._known = known

    def verifier_key(self) -> str:
        return self._client.request("GET", "/v1/audit/key").text.strip()

    def rotations(self) -> list[rotation.Transition]:
        return rotation.parse_transitions(self._client.get("/v1/audit/key/rotations"))

    def consistency(self, first: int, second: int) -> list[bytes]:
        if (first, second) in self._known:
            return self._known[(first, second)]
        body = self._client.get("/v1/audit/proof/consistency", first=first, second=second)
        return _proof(body.get("proof"))


def _malformed() -> IntegrityError:
    return IntegrityError("the server's key record is malformed", reason="key")


def _proof(items: Any) -> list[bytes]:
    if not isinstance(items, list):
        raise _malformed()
    try:
        return [base64.b64decode(p, validate=True) for p in items]
    except (TypeError, ValueError):
        raise _malformed() from None


def _record(body: Any) -> transparency.KeyRecord:
    try:
        return transparency.KeyRecord(
            username=str(body["username"]),
            user_id=UUID(str(body["user_id"])),
            public_key=base64.b64decode(body["public_key"], validate=True),
            index=int(body["index"]),
            leaf=base64.b64decode(body["entry"], validate=True),
            checkpoint=str(body["checkpoint"]),
            inclusion=tuple(_proof(body["inclusion"])),
        )
    except (KeyError, TypeError, ValueError):
        raise _malformed() from None


def checked_key(client: Client, username: str) -> CheckedKey:
    """``username``'s key on ``client``'s server, checked as the module docstring says;
    ``IntegrityError`` (exit status 5) names the first check that failed, and nothing is
    saved then."""
    with trust.held(client.server) as state:
        body, moved = _advanced(client, state, f"/v1/users/{quote(username, safe='')}/key")
        record = _record(body)
        if record.username != username:
            raise IntegrityError(
                f"asked for {username!r}, the server answered with another account", reason="key"
            )
        entry = transparency.check_key_record(record, log_key=moved.key)
        previous = _previous(state, username, entry)
        first_contact = state.log_key is None
        _move(state, moved, body)
        state.keys[str(entry.user_id)] = _seen(username, entry.key_id, entry.index, previous)
        return CheckedKey(entry, previous, first_contact, moved.rotations)


def checked_recovery_key(client: Client) -> transparency.KeyEntry:
    """The vault's recovery key, checked like a colleague's: signed, consistent with what this
    machine saw, included, and made the recovery key by its entry; never older than the one
    seen here before (a server replaying a replaced key). ``IntegrityError`` otherwise."""
    with trust.held(client.server) as state:
        body, moved = _advanced(client, state, "/v1/recovery-key")
        entry = transparency.check_recovery_record(_record(body), log_key=moved.key)
        previous = state.recovery
        if previous is not None and entry.index < previous.index:
            if previous.key_id != entry.key_id:
                raise IntegrityError(
                    f"the server shows an older recovery key (entry {entry.index}) than it "
                    f"showed before (entry {previous.index}): it may be replaying a replaced key",
                    reason="key",
                )
        if previous is not None and previous.key_id != entry.key_id:
            say(
                f"[yellow]The vault's recovery key changed since this machine last saw it (now "
                f"entry {entry.index}, {entry.action}).[/]"
            )
        _move(state, moved, body)
        state.recovery = _seen("", entry.key_id, entry.index, previous)
        return entry


def _advanced(client: Client, state: trust.ServerTrust, path: str) -> tuple[Any, witness.Advance]:
    """The server's answer at ``path`` (a key with its proofs), and the checkpoint it carries
    checked to extend the one saved in ``state``."""
    saved = None
    if state.checkpoint is not None and state.log_key is not None:
        name, public = checkpoint.decode_vkey(state.log_key)
        saved = checkpoint.open_checkpoint(state.checkpoint, name=name, public=public)
    params = {"since": saved.size} if saved is not None and saved.size else {}
    body = client.get(path, **params)
    if not isinstance(body, dict):
        raise _malformed()
    note = str(body.get("checkpoint", ""))
    known = {(saved.size, _size(note)): _proof(body.get("consistency"))} if saved else {}
    moved = witness.advance(
        _ServerLog(client, known), note, pinned_key=state.log_key, saved=state.checkpoint
    )
    return body, moved


def _move(state: trust.ServerTrust, moved: witness.Advance, body: Any) -> None:
    state.log_key = moved.key
    state.checkpoint = str(body["checkpoint"])


def _seen(username: str, key_id: str, index: int, previous: trust.SeenKey | None) -> trust.SeenKey:
    if previous is not None and previous.key_id == key_id:
        index = max(index, previous.index)  # the same key, logged again
    return trust.SeenKey(username, key_id, index)


def _size(note: str) -> int:
    """The tree size a checkpoint claims (checked with its signature by ``witness.advance``)."""
    lines = note.split("\n")
    if len(lines) < 2 or not lines[1].isdigit():
        raise _malformed()
    return int(lines[1])


def _previous(
    state: trust.ServerTrust, username: str, entry: transparency.KeyEntry
) -> trust.SeenKey | None:
    """What this machine saw of ``entry``'s account before; ``IntegrityError`` if the server
    now gives the name to another account, or an older key than it showed before."""
    for user_id, seen in state.keys.items():
        if seen.username == username and user_id != str(entry.user_id):
            raise IntegrityError(
                f"the server now says {username!r} is another account than before: "
                "compare fingerprints with them before trusting either",
                reason="key",
            )
    previous = state.keys.get(str(entry.user_id))
    if previous is not None and entry.index < previous.index and previous.key_id != entry.key_id:
        raise IntegrityError(
            f"the server shows an older key of {username!r} (entry {entry.index}) than it "
            f"showed before (entry {previous.index}): it may be replaying a replaced key",
            reason="key",
        )
    return previous


def tell(checked: CheckedKey, *, own: bool, rotated: bool = False) -> None:
    """Say on stderr what a check learned that a person should act on: a first contact, a
    rotation of the log's key, a key seen for the first time or changed since. ``own``: the
    key is the user's own (at a login; ``rotated`` when they asked for a new one)."""
    entry = checked.entry
    if checked.first_contact:
        say(
            "[yellow]First contact with this server's access log: its key is now pinned on "
            "this machine.[/]"
        )
    for transition in checked.rotations:
        say(f"Followed a rotation of the log's key at entry {transition.index}.")
    fingerprint = transparency.fingerprint(entry.key_id)
    if own:
        if checked.previous is None or (checked.changed and rotated):
            say(f"Your key's fingerprint: {fingerprint}")
        elif checked.changed:
            say(
                f"[yellow]Your key changed since your last login here (entry {entry.index}, "
                f"{entry.action}). If you did not expect it, tell your administrator.[/]"
            )
    elif checked.previous is None:
        say(
            f"[yellow]First time this machine sees {entry.username}'s key: compare the "
            "fingerprint with them before trusting it.[/]"
        )
    elif checked.changed:
        say(
            f"[yellow]{entry.username}'s key changed since this machine last saw it (now entry "
            f"{entry.index}, {entry.action}): compare the new fingerprint with them.[/]"
        )
