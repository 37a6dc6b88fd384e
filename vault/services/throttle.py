"""Login throttling shared by every replica (the counters live in the database), and a bound on
concurrent Argon2id derivations in this process.

Failures are counted per *key*: an account, a client address, or a known device (a device token
that logged in to that account before). After a key's free failures — ``FREE_FAILURES`` for an
account or a device, the ``address_free_failures`` setting for an address, which many people
may share behind a NAT or a proxy — each further failure blocks that key for twice as long as
the last (1 s, 2 s, 4 s … at most 15 minutes); an attempt while blocked is refused at once with
the seconds to wait, before any key derivation runs. Failures older than an hour are forgotten.

A login that presents a valid device token for its account is counted against that device and
the account instead of the address: one attacker behind a shared address cannot lock out the
people who logged in from their devices before (OWASP, "Slow down online guessing attacks with
device cookies"). The per-account limit holds for every attempt. A success clears the account's
and the device's failures, not the address's (another account's success must not wipe out an
attacker's count). Keys are stored as hashes: the table never holds a client address or a
token.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlmodel import Session

from vault.errors import RateLimited, Unavailable
from vault.storage.models import Throttle

__all__ = [
    "FREE_FAILURES",
    "KdfLimiter",
    "account_key",
    "address_key",
    "check",
    "clear",
    "device_key",
    "record_failure",
]

FREE_FAILURES = 5
MAX_BLOCK = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"source-vault/v1 throttle\0{kind}\0{value}".encode()).hexdigest()


def account_key(username: str) -> str:
    return _key("account", username.lower())


def address_key(address: str) -> str:
    return _key("address", address)


def device_key(token_hash: str) -> str:
    return _key("device", token_hash)


def check(db: Session, keys: Sequence[str], now: datetime) -> None:
    """``RateLimited`` if any of ``keys`` is blocked at ``now``."""
    wait = 0
    for key in keys:
        row = db.get(Throttle, key)
        if row is not None and row.blocked_until is not None and row.blocked_until > now:
            wait = max(wait, int((row.blocked_until - now).total_seconds()) + 1)
    if wait:
        raise RateLimited(wait)


def record_failure(
    db: Session, keys: Sequence[str], now: datetime, *, free: Mapping[str, int] | None = None
) -> None:
    """Count a failure against each key (not committed: the failed attempt's denied entry
    commits it, ``vault.services.uow``, while the request itself fails). ``free`` gives a key
    more free failures than ``FREE_FAILURES`` (an address).

    Call it after that entry is appended: the append takes the lock that every appender waits
    for, so no other replica inserts the same key between the read below and the insert."""
    for key in keys:
        allowed = (free or {}).get(key, FREE_FAILURES)
        row = db.get(Throttle, key)
        if row is None:
            row = Throttle(key=key, failures=0, last_failure_at=now)
        elif now - row.last_failure_at > FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= allowed:
            seconds = 2 ** min(row.failures - allowed, 20)
            row.blocked_until = now + min(timedelta(seconds=seconds), MAX_BLOCK)
        db.add(row)


def clear(db: Session, key: str) -> None:
    """Forget an account's failures after a success (not committed)."""
    row = db.get(Throttle, key)
    if row is not None:
        db.delete(row)


class KdfLimiter:
    """At most ``slots`` Argon2id derivations at once in this process (each takes 64 MiB or
    more), so that a flood of logins queues instead of exhausting memory."""

    def __init__(self, slots: int, *, wait_seconds: float = 30.0) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._wait = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._wait):
            raise Unavailable("the server is busy checking other logins; try again shortly")
        try:
            yield
        finally:
            self._slots.release()
