"""The passphrase policy: long enough, not a common password, not trivially guessable.

Common passwords come from zxcvbn's frequency list (30,000 leaked passwords); guessability from
zxcvbn's estimator, which also catches keyboard walks, repeats and dates. Only the first 100
characters are scored: zxcvbn's matching cost grows steeply with length, and a longer input
passes on length alone.
"""

from __future__ import annotations

from functools import lru_cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from vault.crypto import _passphrase
from vault.errors import InvalidInput

__all__ = ["MIN_LENGTH", "MIN_SCORE", "check_passphrase"]

MIN_LENGTH = 12
MIN_SCORE = 3  # zxcvbn: "safely unguessable: moderate protection from offline attacks" is 3
_SCORED_PREFIX = 100


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_passphrase(passphrase: str) -> None:
    """Raise ``InvalidInput`` saying what is wrong (never echoing the passphrase)."""
    if len(passphrase) < MIN_LENGTH:
        raise InvalidInput(f"passphrase must be at least {MIN_LENGTH} characters")
    _passphrase.encode_passphrase(passphrase)  # the upper bound
    if passphrase.strip().lower() in _common():
        raise InvalidInput("passphrase is a commonly used password; choose another")
    if zxcvbn(passphrase[:_SCORED_PREFIX])["score"] < MIN_SCORE:
        raise InvalidInput(
            "passphrase is too easy to guess; use several unrelated words or more characters"
        )
