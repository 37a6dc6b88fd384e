"""The organisation recovery key: made at ``vault init``, kept only as SLIP-39 shares.

Every document key is also wrapped for this key, so that losing every member's passphrase does
not lose the material. Its secret is the 32-byte key seed, split k-of-n with ``shamir-mnemonic``
(SLIP-0039); the vault stores only the public half. Any k shares rebuild it; k-1 reveal nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import shamir_mnemonic
from shamir_mnemonic.share import Share
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit.actions import Action
from vault.clock import Clock
from vault.crypto import PrivateKey, PublicKey
from vault.errors import Conflict, InvalidInput, NotFound
from vault.services import keyring, sources, users
from vault.services.uow import RECOVERY, UnitOfWork
from vault.services.user_admin import UserAdminService
from vault.storage.models import Case, CaseMember, Document, RecoveryKey, Source, User

__all__ = [
    "RecoveryService",
    "RecoveryShares",
    "Regrant",
    "combine_shares",
    "split_new_recovery_key",
    "split_recovery_key",
]


@dataclass(frozen=True)
class RecoveryShares:
    key: PrivateKey
    threshold: int
    mnemonics: list[str]

    def __repr__(self) -> str:
        return f"RecoveryShares(threshold={self.threshold}, shares={len(self.mnemonics)})"


def split_new_recovery_key(*, threshold: int, shares: int) -> RecoveryShares:
    """A fresh recovery key and its ``shares`` mnemonics, any ``threshold`` of which rebuild it."""
    return split_recovery_key(PrivateKey(os.urandom(32)), threshold=threshold, shares=shares)


def split_recovery_key(key: PrivateKey, *, threshold: int, shares: int) -> RecoveryShares:
    """A new set of ``shares`` mnemonics of ``key``, any ``threshold`` of which rebuild it (a
    new set has a new identifier: its shares do not combine with an older set's)."""
    if not 1 <= threshold <= shares <= 16 or (threshold == 1 and shares != 1):
        raise InvalidInput("recovery shares: need 1 <= threshold <= shares <= 16 (and 1-of-1)")
    groups = shamir_mnemonic.generate_mnemonics(
        group_threshold=1, groups=[(threshold, shares)], master_secret=key.seed
    )
    return RecoveryShares(key=key, threshold=threshold, mnemonics=list(groups[0]))


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


@dataclass(frozen=True)
class Regrant:
    """What a use of the recovery key gave whom."""

    users: list[str]
    documents: int  # document keys wrapped
    sources: int  # source keys wrapped


class RecoveryService:
    """What the holders of the recovery shares do with the rebuilt key, each in one
    transaction with its access-log entries (``recovery.used``). The key lives only for the
    call: it is never stored, and neither are the shares."""

    def __init__(self, *, engine: Engine, clock: Clock, users: UserAdminService) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._clock = clock
        self._users = users

    def _active(self, db: Session) -> RecoveryKey:
        row = db.exec(select(RecoveryKey).where(col(RecoveryKey.active).is_(True))).first()
        if row is None:
            raise Conflict("this vault has no recovery key")
        return row

    def threshold(self) -> int:
        """How many shares rebuild the active recovery key."""
        with self._uow.read() as db:
            return self._active(db).threshold

    def shares(self) -> int:
        """How many shares the active recovery key was split into (n)."""
        with self._uow.read() as db:
            return self._active(db).shares

    def rebuild(self, mnemonics: list[str]) -> PrivateKey:
        """The recovery key from ``mnemonics``; ``InvalidInput`` for too few, malformed or
        mismatched shares, or shares of another vault's key. Nothing changes either way."""
        key = combine_shares(mnemonics)
        with self._uow.read() as db:
            if key.public_key().key_id != self._active(db).key_id:
                raise InvalidInput("the shares rebuild a key that is not this vault's recovery key")
        return key

    def recover_user(self, username: str, mnemonics: list[str]) -> tuple[str, Regrant]:
        """Reset ``username`` to a new enrolment code with a new key pair that already holds
        every document key of the cases they are approved in and the keys of the sources they
        handle: once they enrol, they read it all at once. Returns the code and the counts."""
        recovery = self.rebuild(mnemonics)
        new = crypto.generate_private_key()
        # Two transactions: the reset, then the grants. Run again after a failure in between,
        # it resets again with another key and grants everything to that one.
        code = self._users.reset_enrolment(username, recovered=new)
        with self._uow.audited(RECOVERY, Action.RECOVERY_USED, extra={"for": "user"}) as work:
            db = work.db
            user = users.find_user(db, username)
            case_ids = db.exec(
                select(CaseMember.case_id)
                .where(CaseMember.user_id == user.id)
                .where(col(CaseMember.approved_at).is_not(None))
            ).all()
            documents = _grant_documents(
                db, recovery, list(case_ids), new.public_key(), self._clock
            )
            handled = db.exec(select(Source).where(Source.handler_id == user.id)).all()
            wrapped_sources = 0
            for source in handled:
                wrapped_sources += _grant_source(
                    db, recovery, source, new.public_key(), self._clock
                )
            work.add(
                extra={"documents": str(documents), "sources": str(wrapped_sources)}, user=user.id
            )
        return code, Regrant([username], documents, wrapped_sources)

    def case_members(self, case_id: UUID) -> list[str]:
        """Who ``recover_case`` would give the case's keys: its enrolled, enabled members."""
        with self._uow.read() as db:
            return [user.username for user in _recoverable_members(db, case_id)]

    def recover_case(self, case_id: UUID, mnemonics: list[str]) -> Regrant:
        """Give every enrolled, enabled member of the case every document key of it they lack,
        approving those who awaited approval (the share holders decide), and each source's
        handler its source key where it waits."""
        recovery = self.rebuild(mnemonics)
        with self._uow.audited(
            RECOVERY, Action.RECOVERY_USED, extra={"for": "case"}, case=case_id
        ) as work:
            db = work.db
            if db.get(Case, case_id) is None:
                raise NotFound("no such case")
            members = _recoverable_members(db, case_id)
            documents = 0
            now = self._clock()
            for user in members:
                member = db.get(CaseMember, (case_id, user.id))
                if member is not None and member.approved_at is None:
                    member.approved_at = now  # approved_by stays empty: the share holders
                    db.add(member)
                assert user.public_key is not None  # noqa: S101 - _recoverable_members checks
                documents += _grant_documents(
                    db, recovery, [case_id], PublicKey(user.public_key), self._clock
                )
            wrapped_sources = 0
            by_id = {user.id: user for user in members}
            for source in db.exec(select(Source).where(Source.case_id == case_id)):
                handler = by_id.get(source.handler_id) if source.handler_id else None
                if handler is not None and handler.public_key is not None:
                    wrapped_sources += _grant_source(
                        db, recovery, source, PublicKey(handler.public_key), self._clock
                    )
            work.add(
                extra={
                    "documents": str(documents),
                    "sources": str(wrapped_sources),
                    "users": ",".join(str(user.id) for user in members),
                }
            )
        return Regrant([user.username for user in members], documents, wrapped_sources)

    def reshare(
        self,
        mnemonics: list[str],
        *,
        threshold: int,
        shares: int,
        rotate_key: bool,
        deliver: Callable[[RecoveryShares], None],
    ) -> int:
        """A new set of shares: of the same key (the old shares keep working), or with
        ``rotate_key`` of a new key, for which every key the old one held is re-wrapped (the
        old shares stop working). ``deliver`` hands the new shares out (files, the screen)
        before anything is committed: if it fails, nothing changes. Returns how many keys were
        re-wrapped."""
        old = self.rebuild(mnemonics)
        new = (
            split_new_recovery_key(threshold=threshold, shares=shares)
            if rotate_key
            else split_recovery_key(old, threshold=threshold, shares=shares)
        )
        with self._uow.audited(RECOVERY) as work:
            db = work.db
            row = self._active(db)
            rewrapped = 0
            if rotate_key:
                recipient = new.key.public_key()
                rewrapped = keyring.transfer_all(db, old, recipient, clock=self._clock)
                row.active = False
                db.add(row)
                db.flush()
                db.add(
                    RecoveryKey(
                        key_id=recipient.key_id,
                        public_key=recipient.to_bytes(),
                        threshold=threshold,
                        shares=shares,
                        created_at=self._clock(),
                    )
                )
                work.record(
                    Action.RECOVERY_KEY_ROTATE,
                    extra={"rewrapped": str(rewrapped), "threshold": str(threshold)},
                    recovery_key=recipient.key_id,
                    previous_key=row.key_id,
                )
            else:
                row.threshold, row.shares = threshold, shares
                db.add(row)
                work.record(
                    Action.RECOVERY_RESHARE,
                    extra={"threshold": str(threshold), "shares": str(shares)},
                    recovery_key=row.key_id,
                )
            deliver(new)
        return rewrapped

    def complete_handovers(self, mnemonics: list[str]) -> tuple[list[str], int]:
        """Wrap each waiting source's key for its new handler. Returns the pseudonyms done and
        how many still wait (their handler cannot hold a key yet)."""
        key = self.rebuild(mnemonics)
        with self._uow.audited(RECOVERY) as work:
            db = work.db
            done = sources.complete_handovers(db, key, clock=self._clock)
            for source in done:
                work.record(
                    Action.SOURCE_HANDOVER_COMPLETE,
                    source=source.id,
                    case=source.case_id,
                    user=str(source.handler_id),
                )
            waiting = db.exec(select(Source.id).where(col(Source.handover_pending).is_(True))).all()
        return [s.pseudonym for s in done], len(waiting)


def _recoverable_members(db: Session, case_id: UUID) -> list[User]:
    return list(
        db.exec(
            select(User)
            .join(CaseMember, col(CaseMember.user_id) == col(User.id))
            .where(CaseMember.case_id == case_id)
            .where(col(User.public_key).is_not(None))
            .where(col(User.enabled).is_(True))
            .order_by(col(User.username))
        ).all()
    )


def _grant_documents(
    db: Session, recovery: PrivateKey, case_ids: list[UUID], to: PublicKey, clock: Clock
) -> int:
    """Wrap, with the recovery key, every document key of ``case_ids`` for ``to`` (not
    committed); a document not wrapped for this recovery key is skipped."""
    ids = db.exec(select(Document.id).where(col(Document.case_id).in_(case_ids))).all()
    done = (
        keyring.rewrap(
            db, kind=keyring.DOCUMENT, subject_id=doc_id, holder=recovery, to=to, clock=clock
        )
        for doc_id in ids
    )
    return sum(n or 0 for n in done)


def _grant_source(
    db: Session, recovery: PrivateKey, source: Source, to: PublicKey, clock: Clock
) -> int:
    """Wrap, with the recovery key, the source's key for ``to``, its handler (not committed);
    the handover no longer waits."""
    done = keyring.rewrap(
        db, kind=keyring.SOURCE, subject_id=source.id, holder=recovery, to=to, clock=clock
    )
    if done is None:
        return 0  # no sealed notes, or a recovery key made after the source
    source.handover_pending = False
    db.add(source)
    return done
