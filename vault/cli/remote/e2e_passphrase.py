"""Changing the passphrase on this machine, in an end-to-end session: the current passphrase is
proven with its login verifier and the same private key is sealed here under the new one
(docs/format.md §4), so that neither passphrase reaches the server."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from vault import crypto
from vault.cli.client import Client
from vault.cli.remote.e2e_login import kdf_params
from vault.errors import IntegrityError, InvalidInput
from vault.passphrase_policy import check_passphrase

__all__ = ["change_passphrase"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def change_passphrase(client: Client, current: str, new: str) -> int:
    """Re-seal this session's key under ``new``; how many other sessions the server ended."""
    key = client.key
    if key is None:
        raise InvalidInput("this needs an end-to-end session")
    if new == current:
        raise InvalidInput("the new passphrase is the same as the current one")
    check_passphrase(new)
    me = client.get("/v1/auth/me")
    try:
        username, user_id = str(me["username"]), UUID(str(me["id"]))
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(
            "the server's account record is malformed", reason="e2e-login"
        ) from None
    salt, params = kdf_params(client.post("/v1/auth/e2e/params", {"username": username}))
    old = crypto.derive_passphrase_keys(current, salt, params)
    fresh_salt = crypto.new_passphrase_salt()
    fresh = crypto.derive_passphrase_keys(new, fresh_salt, params)
    sealed = crypto.seal_private_key(fresh.kek, key, owner_id=user_id)
    # Opened again before it leaves: a sealing that does not open would lock the account out.
    opened = crypto.open_private_key(
        fresh.kek, sealed, owner_id=user_id, key_id=key.public_key().key_id
    )
    if opened.public_key().key_id != key.public_key().key_id:
        raise IntegrityError("the new sealing does not open to this key", reason="e2e-login")
    answer: dict[str, Any] = client.post(
        "/v1/me/passphrase/end-to-end",
        {
            "current_verifier": _b64(old.verifier),
            "salt": _b64(fresh_salt),
            "memory_kib": params.memory_kib,
            "time_cost": params.time_cost,
            "lanes": params.lanes,
            "verifier": _b64(fresh.verifier),
            "sealed_private_key": _b64(sealed),
        },
    )
    return int(answer["sessions_ended"])
