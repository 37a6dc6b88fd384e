"""Who holds a subject's data key: wrapping it for recipients, finding and opening a reader's
copy, and removing copies (which is what crypto-shredding and membership removal do)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from sqlalchemy import ColumnElement, delete, or_
from sqlmodel import Session, col, select

from vault import crypto
from vault.clock import Clock
from vault.crypto import PrivateKey, PublicKey
from vault.errors import Conflict, NotFound
from vault.storage.models import CaseMember, Document, RecoveryKey, Source, User, WrappedKey

__all__ = [
    "DOCUMENT",
    "SOURCE",
    "active_recovery_key",
    "case_readers",
    "case_recipients",
    "commitment_of",
    "delete_wrapped",
    "delete_wrapped_for_recipient",
    "open_data_key",
    "require_recipients",
    "rewrap",
    "store_client_wrapped",
    "store_wrapped",
    "store_wrapped_new",
    "transfer_all",
]

DOCUMENT = "document"
SOURCE = "source"


def commitment_of(db: Session, *, kind: str, subject_id: UUID) -> bytes | None:
    """What the subject's key commits to, as its record says (``None``: stored before key
    commitments). Every copy is wrapped and opened against it (docs/format.md §3.3)."""
    subject: Document | Source | None = (
        db.get(Document, subject_id) if kind == DOCUMENT else db.get(Source, subject_id)
    )
    if subject is None:
        raise NotFound(f"no such {kind}")
    return subject.key_commitment


def active_recovery_key(db: Session) -> PublicKey:
    # Every recovery key is loaded (there are a handful), not only the active one: loading
    # checks each record's seal, so a key switched off in the database is named, not missed.
    row = next((k for k in db.exec(select(RecoveryKey)).all() if k.active), None)
    if row is None:
        # Every vault has one from ``vault init``; storing a key nobody can recover would be
        # a silent loss, so refuse instead.
        raise Conflict("this vault has no recovery key")
    return PublicKey(row.public_key)


def case_recipients(db: Session, case_id: UUID, *, also: UUID | None = None) -> list[PublicKey]:
    """Every enrolled, enabled and approved member of the case (``also``, the uploader, even
    while awaiting approval: they hold the plaintext anyway), and the organisation recovery key.
    A member awaiting approval is not a recipient: see ``vault.services.grants``."""
    recipients = [PublicKey(user.public_key or b"") for user in case_readers(db, case_id, also)]
    recipients.append(active_recovery_key(db))
    return recipients


def case_readers(db: Session, case_id: UUID, also: UUID | None = None) -> list[User]:
    """The members of ``case_recipients`` (the recovery key aside), as whole records."""
    approved: ColumnElement[bool] = col(CaseMember.approved_at).is_not(None)
    if also is not None:
        approved = or_(approved, col(CaseMember.user_id) == also)
    # Whole records, not just the key column: loading checks each one's seal in the same
    # query, where a column select would be checked by a second one per table (row_seal_guard).
    rows = db.exec(
        select(User, CaseMember)
        .join(CaseMember, col(CaseMember.user_id) == col(User.id))
        .where(CaseMember.case_id == case_id)
        .where(approved)
        .where(col(User.public_key).is_not(None))
        .where(col(User.enabled).is_(True))
    ).all()
    return [user for user, _ in rows]


def store_wrapped(
    db: Session,
    *,
    kind: str,
    subject_id: UUID,
    data_key: bytes,
    recipients: Iterable[PublicKey],
    clock: Clock,
) -> int:
    """Wrap ``data_key`` for each recipient that does not hold it yet (not committed)."""
    held = set(
        db.exec(
            select(WrappedKey.recipient_key_id).where(
                WrappedKey.kind == kind, WrappedKey.subject_id == subject_id
            )
        ).all()
    )
    commitment = commitment_of(db, kind=kind, subject_id=subject_id)
    fresh: list[PublicKey] = []
    for recipient in recipients:
        if recipient.key_id not in held:
            held.add(recipient.key_id)
            fresh.append(recipient)
    _add_wrapped(db, kind, subject_id, data_key, commitment, fresh, clock)
    return len(fresh)


def store_wrapped_new(
    db: Session,
    *,
    kind: str,
    subject_id: UUID,
    data_key: bytes,
    commitment: bytes,
    recipients: Iterable[PublicKey],
    clock: Clock,
) -> None:
    """``store_wrapped`` for a subject added in this transaction, which nobody holds yet and
    whose commitment the caller has: without the two reads that would look them up."""
    unique = {r.key_id: r for r in recipients}
    _add_wrapped(db, kind, subject_id, data_key, commitment, unique.values(), clock)


def store_client_wrapped(
    db: Session,
    *,
    kind: str,
    subject_id: UUID,
    wrapped: Mapping[str, bytes],
    recipients: Iterable[PublicKey],
    clock: Clock,
) -> None:
    """Store copies of a new subject's key that an end-to-end client wrapped (by recipient key
    id), which must be exactly one for each of ``recipients``: ``Conflict`` if the client
    wrapped for a set that is no longer the case's (a member came or went meanwhile; listing
    the recipients again and retrying settles it). The server cannot open the copies; every
    recipient checks theirs against the subject's commitment when they unwrap it."""
    require_recipients(wrapped, recipients)
    for key_id, copy in sorted(wrapped.items()):
        db.add(
            WrappedKey(
                kind=kind,
                subject_id=subject_id,
                recipient_key_id=key_id,
                wrapped=copy,
                created_at=clock(),
            )
        )


def require_recipients(wrapped: Iterable[str], recipients: Iterable[PublicKey]) -> None:
    """``Conflict`` unless the key ids ``wrapped`` are exactly those of ``recipients``."""
    if set(wrapped) != {r.key_id for r in recipients}:
        raise Conflict(
            "the key was not wrapped for exactly the case's current recipients: list them "
            "again and retry"
        ).with_details(reason="recipients-changed")


def _add_wrapped(
    db: Session,
    kind: str,
    subject_id: UUID,
    data_key: bytes,
    commitment: bytes | None,
    recipients: Iterable[PublicKey],
    clock: Clock,
) -> None:
    for recipient in recipients:
        wrapped = crypto.wrap_key(
            data_key, recipient, kind=kind, subject_id=subject_id, commitment=commitment
        )
        db.add(
            WrappedKey(
                kind=kind,
                subject_id=subject_id,
                recipient_key_id=recipient.key_id,
                wrapped=wrapped,
                created_at=clock(),
            )
        )


def find_wrapped(db: Session, *, kind: str, subject_id: UUID, key_id: str) -> WrappedKey | None:
    return db.exec(
        select(WrappedKey).where(
            WrappedKey.kind == kind,
            WrappedKey.subject_id == subject_id,
            WrappedKey.recipient_key_id == key_id,
        )
    ).first()


def open_data_key(db: Session, *, kind: str, subject_id: UUID, key: PrivateKey) -> bytes | None:
    """The subject's data key as ``key`` holds it, or ``None`` if it holds no copy (a pending
    grant). ``IntegrityError`` if the stored copy does not open."""
    row = find_wrapped(db, kind=kind, subject_id=subject_id, key_id=key.public_key().key_id)
    if row is None:
        return None
    commitment = commitment_of(db, kind=kind, subject_id=subject_id)
    return crypto.unwrap_key(
        row.wrapped, key, kind=kind, subject_id=subject_id, commitment=commitment
    )


def rewrap(
    db: Session,
    *,
    kind: str,
    subject_id: UUID,
    holder: PrivateKey,
    to: PublicKey,
    clock: Clock,
) -> int | None:
    """Wrap for ``to`` the subject's data key as ``holder`` holds it (not committed): 1 if a
    copy was added, 0 if ``to`` had one already, ``None`` if ``holder`` holds none."""
    data_key = open_data_key(db, kind=kind, subject_id=subject_id, key=holder)
    if data_key is None:
        return None
    return store_wrapped(
        db, kind=kind, subject_id=subject_id, data_key=data_key, recipients=[to], clock=clock
    )


def transfer_all(db: Session, old: PrivateKey, new: PublicKey, *, clock: Clock) -> int:
    """Every copy ``old`` holds, of any subject, re-wrapped for ``new`` in its place (not
    committed): what a key rotation does. Returns how many."""
    old_id = old.public_key().key_id
    moved = 0
    for row in db.exec(select(WrappedKey).where(WrappedKey.recipient_key_id == old_id)).all():
        kind, subject_id = row.kind, row.subject_id
        commitment = commitment_of(db, kind=kind, subject_id=subject_id)
        data_key = crypto.unwrap_key(
            row.wrapped, old, kind=kind, subject_id=subject_id, commitment=commitment
        )
        row.wrapped = crypto.wrap_key(
            data_key, new, kind=kind, subject_id=subject_id, commitment=commitment
        )
        row.recipient_key_id = new.key_id
        row.created_at = clock()
        db.add(row)
        moved += 1
    return moved


def delete_wrapped(
    db: Session, *, kind: str, subject_ids: Iterable[UUID], key_id: str | None = None
) -> None:
    """Delete the wrapped copies of the subjects' keys (for one recipient, or all)."""
    ids = list(subject_ids)
    if not ids:
        return
    stmt = delete(WrappedKey).where(
        col(WrappedKey.kind) == kind, col(WrappedKey.subject_id).in_(ids)
    )
    if key_id is not None:
        stmt = stmt.where(col(WrappedKey.recipient_key_id) == key_id)
    db.execute(stmt)


def delete_wrapped_for_recipient(db: Session, key_id: str) -> None:
    """Delete every wrapped key held by one recipient key (its owner lost it)."""
    db.execute(delete(WrappedKey).where(col(WrappedKey.recipient_key_id) == key_id))
