"""WARNING: low-level TOTP (RFC 6238). Use ``vault.crypto`` instead.

SHA-1, 6 digits, 30-second steps: what every authenticator app understands. A code is accepted
for the current step and one step either side (clock drift); the caller stores the last step
used so that a code cannot be replayed.
"""

from __future__ import annotations

import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.twofactor.totp import TOTP

SECRET_SIZE = 20
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> bytes:
    return os.urandom(SECRET_SIZE)


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, DIGITS, hashes.SHA1(), STEP_SECONDS)  # noqa: S303 - RFC 6238 default, what apps expect


def provisioning_uri(secret: bytes, *, account: str, issuer: str) -> str:
    return _totp(secret).get_provisioning_uri(account, issuer)


def generate(secret: bytes, at: float) -> str:
    return _totp(secret).generate(int(at)).decode()


def matching_step(secret: bytes, code: str, at: float) -> int | None:
    """The time step whose code equals ``code`` (within the drift window), else ``None``."""
    # ASCII digits only: str.isdigit() also accepts Arabic-Indic and full-width digits, which
    # hmac.compare_digest refuses with a TypeError (a server error where a wrong code belongs).
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    totp = _totp(secret)
    now_step = int(at) // STEP_SECONDS
    found = None
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        # Compare every candidate, constant time, so timing does not tell which step matched.
        if hmac.compare_digest(totp.generate(step * STEP_SECONDS).decode(), code):
            found = step
    return found
