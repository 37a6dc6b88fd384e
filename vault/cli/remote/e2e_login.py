"""The client's half of an end-to-end login (``vault.services.e2e_login``): the passphrase's
keys are derived here, only the login verifier and the answer to the server's challenge leave
this machine, and the private key is opened here.

``log_in`` talks to the server through a ``post`` callable (the review commands' client, or a
test's), so that this is the only place that knows the three steps.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from vault import crypto
from vault.crypto import Argon2Params, PrivateKey
from vault.errors import IntegrityError, InvalidInput

__all__ = ["CHALLENGE_KIND", "Opened", "log_in"]

CHALLENGE_KIND = "login-challenge"  # as vault.services.e2e_login, which the client must not import

Post = Callable[[str, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Opened:
    """A session opened end to end: the server's answer, and the private key, opened here."""

    answer: dict[str, Any]
    key: PrivateKey

    def __repr__(self) -> str:
        return f"Opened(user={self.answer.get('user', {}).get('username')!r}, key=<redacted>)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _bytes(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError(f"the server's {what} is malformed", reason="e2e-login") from None


def kdf_params(found: Any) -> tuple[bytes, Argon2Params]:
    """The salt and Argon2id parameters of an answer of ``/v1/auth/e2e/params``, refused if
    malformed or weak."""
    try:
        params = Argon2Params(
            memory_kib=int(found["memory_kib"]),
            time_cost=int(found["time_cost"]),
            lanes=int(found["lanes"]),
        )
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(
            "the server's key parameters are malformed", reason="e2e-login"
        ) from None
    except InvalidInput as exc:
        # Parameters below the floor would make the passphrase cheap to guess from the verifier.
        raise IntegrityError(
            f"the server asked for weak key derivation: {exc}", reason="kdf"
        ) from None
    return _bytes(found.get("salt"), "salt"), params


def log_in(
    post: Post,
    username: str,
    passphrase: str,
    otp: str | None,
    *,
    device_token: str | None = None,
) -> Opened:
    """The three steps. The server's errors come through ``post`` as it raises them
    (``OtpRequired`` at step 2 when a code is needed and none was given)."""
    salt, params = kdf_params(post("/v1/auth/e2e/params", {"username": username}))
    keys = crypto.derive_passphrase_keys(passphrase, salt, params)
    challenge = post(
        "/v1/auth/e2e/challenge",
        {
            "username": username,
            "verifier": _b64(keys.verifier),
            "otp": otp,
            "device_token": device_token,
        },
    )
    try:
        challenge_id = UUID(str(challenge["challenge_id"]))
        user_id = UUID(str(challenge["user_id"]))
        key_id = str(challenge["key_id"])
    except (KeyError, ValueError):
        raise IntegrityError("the server's challenge is malformed", reason="e2e-login") from None
    key = crypto.open_private_key(
        keys.kek,
        _bytes(challenge.get("sealed_private_key"), "sealed key"),
        owner_id=user_id,
        key_id=key_id,
    )
    secret = crypto.unwrap_key(
        _bytes(challenge.get("wrapped_secret"), "challenge"),
        key,
        kind=CHALLENGE_KIND,
        subject_id=challenge_id,
        commitment=None,
    )
    answer = post(
        "/v1/auth/e2e/login",
        {
            "username": username,
            "challenge_id": str(challenge_id),
            "answer": _b64(secret),
            "device_token": device_token,
        },
    )
    return Opened(dict(answer), key)
