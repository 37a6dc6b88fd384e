"""What this machine has seen of each server's access log, kept between commands: the log's
verifier key (pinned at first contact), the last checkpoint seen, and each colleague's key (and
the vault's recovery key) as last seen.

One JSON file beside the profiles (``trust.json``, mode 0600 in the 0700 configuration
directory), replaced atomically under a lock so that two commands at once do not lose each
other's progress. It holds only public facts (keys, checkpoints, key ids, entry indices) and
usernames; removing it makes the next command trust the server afresh, as at first contact,
and says so.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vault.cli.remote.profiles import config_dir, write_private
from vault.errors import InvalidInput

__all__ = ["SeenKey", "ServerTrust", "held", "known"]

_FILE = "trust.json"


@dataclass(frozen=True)
class SeenKey:
    """A colleague's key as this machine last accepted it."""

    username: str
    key_id: str
    index: int


@dataclass
class ServerTrust:
    """One server's entry in the file. ``log_key`` and ``checkpoint`` are ``None`` until the
    first contact."""

    server: str
    log_key: str | None = None
    checkpoint: str | None = None
    keys: dict[str, SeenKey] = field(default_factory=dict)  # by user id
    recovery: SeenKey | None = None  # the vault's recovery key (username "")


def _load(raw: Mapping[str, Any], server: str) -> ServerTrust:
    entry = raw.get("servers", {}).get(server)
    if not isinstance(entry, dict):
        return ServerTrust(server)
    try:
        keys = {
            str(user_id): SeenKey(str(k["username"]), str(k["key_id"]), int(k["index"]))
            for user_id, k in entry.get("keys", {}).items()
        }
        saved = entry.get("recovery")
        recovery = SeenKey("", str(saved["key_id"]), int(saved["index"])) if saved else None
        return ServerTrust(server, entry.get("log_key"), entry.get("checkpoint"), keys, recovery)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InvalidInput(f"the saved log state in {config_dir() / _FILE} is damaged") from None


def _dump(trust: ServerTrust) -> dict[str, Any]:
    return {
        "log_key": trust.log_key,
        "checkpoint": trust.checkpoint,
        "keys": {
            user_id: {"username": k.username, "key_id": k.key_id, "index": k.index}
            for user_id, k in sorted(trust.keys.items())
        },
        "recovery": (
            {"key_id": trust.recovery.key_id, "index": trust.recovery.index}
            if trust.recovery
            else None
        ),
    }


@contextmanager
def held(server: str, environ: Mapping[str, str] = os.environ) -> Iterator[ServerTrust]:
    """``server``'s saved state, locked against other commands until the block ends, and saved
    if the block ends normally (an integrity failure leaves the file as it was)."""
    directory = config_dir(environ)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / _FILE
    with open(directory / ".trust.lock", "a", encoding="utf-8") as lock:
        os.chmod(lock.name, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raw = {}
        except (OSError, ValueError):
            raise InvalidInput(f"the saved log state in {path} is damaged") from None
        if not isinstance(raw, dict):
            raise InvalidInput(f"the saved log state in {path} is damaged")
        trust = _load(raw, server)
        yield trust
        servers = dict(raw.get("servers", {}))
        servers[server] = _dump(trust)
        write_private(path, {"servers": dict(sorted(servers.items()))})


def known(server: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this machine pinned ``server``'s log key before."""
    path = config_dir(environ) / _FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    entry = raw.get("servers", {}).get(server) if isinstance(raw, dict) else None
    return isinstance(entry, dict) and bool(entry.get("log_key"))
