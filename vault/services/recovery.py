"""The organisation recovery key: made at ``vault init``, kept only as SLIP-39 shares.

Every document key is also wrapped for this key, so that losing every member's passphrase does
not lose the material. Its secret is the 32-byte key seed, split k-of-n with ``shamir-mnemonic``
(SLIP-0039); the vault stores only the public half. Any k shares rebuild it; k-1 reveal nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import shamir_mnemonic
from shamir_mnemonic.share import Share
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit import log as audit
from vault.clock import Clock
from vault.crypto import PrivateKey
from vault.errors import Conflict, InvalidInput
from vault.services import sources
from vault.storage.models import RecoveryKey, Source

__all__ = ["RecoveryService", "RecoveryShares", "combine_shares", "split_new_recovery_key"]


@dataclass(frozen=True)
class RecoveryShares:
    key: PrivateKey
    threshold: int
    mnemonics: list[str]

    def __repr__(self) -> str:
        return f"RecoveryShares(threshold={self.threshold}, shares={len(self.mnemonics)})"


def split_new_recovery_key(*, threshold: int, shares: int) -> RecoveryShares:
    """A fresh recovery key and its ``shares`` mnemonics, any ``threshold`` of which rebuild it."""
    if not 1 <= threshold <= shares <= 16 or (threshold == 1 and shares != 1):
        raise InvalidInput("recovery shares: need 1 <= threshold <= shares <= 16 (and 1-of-1)")
    seed = os.urandom(32)
    groups = shamir_mnemonic.generate_mnemonics(
        group_threshold=1, groups=[(threshold, shares)], master_secret=seed
    )
    return RecoveryShares(key=PrivateKey(seed), threshold=threshold, mnemonics=list(groups[0]))


def _enough(mnemonics: list[str]) -> list[str]:
    """SLIP-39 combines exactly ``threshold`` shares; a person holding more should not have to
    pick. Keep the first ``threshold`` distinct shares (of one key); leave anything odd to the
    library's checks."""
    try:
        shares = [Share.from_mnemonic(m) for m in mnemonics]
    except shamir_mnemonic.MnemonicError:
        return mnemonics
    if not shares or len({(s.identifier, s.member_threshold) for s in shares}) != 1:
        return mnemonics
    threshold = shares[0].member_threshold
    return mnemonics[:threshold] if len(mnemonics) > threshold else mnemonics


def combine_shares(mnemonics: Sequence[str]) -> PrivateKey:
    """Rebuild the recovery key from at least ``threshold`` shares.

    The library's own messages quote the first words of a share, so they are replaced by ours.
    """
    cleaned = _enough(
        list(dict.fromkeys(" ".join(m.split()).lower() for m in mnemonics if m.strip()))
    )
    try:
        seed = shamir_mnemonic.combine_mnemonics(cleaned)
    except shamir_mnemonic.MnemonicError as exc:
        reason = str(exc)
        if "Wrong number of mnemonics" in reason or "Insufficient number" in reason:
            raise InvalidInput("not enough recovery shares to rebuild the key") from None
        raise InvalidInput("the recovery shares are invalid or do not belong together") from None
    except ValueError:
        raise InvalidInput("the recovery shares are invalid or do not belong together") from None
    return PrivateKey(seed)


class RecoveryService:
    """What the holders of the recovery shares do with the rebuilt key, each in one
    transaction with its access-log entries. The key lives only for the call."""

    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def _active(self, db: Session) -> RecoveryKey:
        row = db.exec(select(RecoveryKey).where(col(RecoveryKey.active).is_(True))).first()
        if row is None:
            raise Conflict("this vault has no recovery key")
        return row

    def threshold(self) -> int:
        """How many shares rebuild the active recovery key."""
        with Session(self._engine) as db:
            return self._active(db).threshold

    def _rebuild(self, db: Session, mnemonics: list[str]) -> PrivateKey:
        key = combine_shares(mnemonics)
        if key.public_key().key_id != self._active(db).key_id:
            raise InvalidInput("the shares rebuild a key that is not this vault's recovery key")
        return key

    def complete_handovers(self, mnemonics: list[str]) -> tuple[list[str], int]:
        """Wrap each waiting source's key for its new handler. Returns the pseudonyms done and
        how many still wait (their handler cannot hold a key yet)."""
        with Session(self._engine, expire_on_commit=False) as db:
            key = self._rebuild(db, mnemonics)
            done = sources.complete_handovers(db, key, clock=self._clock)
            for source in done:
                audit.record(
                    db,
                    "source.handover.complete",
                    "recovery",
                    clock=self._clock,
                    source=source.id,
                    case=source.case_id,
                    user=str(source.handler_id),
                )
            waiting = db.exec(select(Source.id).where(col(Source.handover_pending).is_(True))).all()
            audit.commit(db)
            return [s.pseudonym for s in done], len(waiting)
