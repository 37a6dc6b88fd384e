"""Bearer credentials: issuing a session or an API token, and ending them.

A credential is 256 random bits; the database keeps only its hash. One that may read (a
session, a token with the ``read`` scope) also keeps the user's key seed sealed under a key
derived from the token, so that any replica shown the token can unlock the key and a copy of
the database cannot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlmodel import Session, col, select

from vault import crypto
from vault.clock import Clock
from vault.services import row_seal_guard
from vault.services.users import READ, Actor
from vault.storage.models import Credential, CredentialKind

__all__ = ["CredentialInfo", "IssuedCredential", "credential_info", "end_credentials", "issue"]


@dataclass(frozen=True)
class CredentialInfo:
    """A session or an API token as its owner sees it: never the token or what it seals.
    ``kind`` is ``"session"`` or ``"token"``; ``scopes`` are sorted."""

    id: UUID
    kind: str
    name: str | None
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime


def credential_info(row: Credential) -> CredentialInfo:
    """The boundary object of a credential row (its scopes are stored comma-separated)."""
    return CredentialInfo(
        id=row.id,
        kind=str(row.kind),
        name=row.name,
        scopes=tuple(sorted(s for s in row.scopes.split(",") if s)),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


@dataclass(frozen=True)
class IssuedCredential:
    """A new session or token. ``token`` is shown once and stored nowhere."""

    token: str
    credential: CredentialInfo
    actor: Actor
    device_token: str | None = None  # a login's: show it at the next login from this device

    def __repr__(self) -> str:
        return f"IssuedCredential(id={self.credential.id}, kind={self.credential.kind})"


def issue(
    db: Session,
    actor: Actor,
    *,
    kind: CredentialKind,
    name: str | None,
    scopes: Iterable[str],
    lifetime: timedelta,
    idle: timedelta | None,
    with_otp: bool,
    clock: Clock,
    end_to_end: bool = False,
) -> IssuedCredential:
    """A new credential of ``actor`` (not committed), and the actor it stands for. An
    ``end_to_end`` one holds no key whatever its scopes: its client keeps the key."""
    now = clock()
    token = crypto.new_bearer_token()
    scope_set = frozenset(scopes)
    row = Credential(
        token_hash=crypto.hash_bearer_token(token),
        kind=kind,
        user_id=actor.user_id,
        name=name,
        scopes=",".join(sorted(scope_set)),
        created_at=now,
        last_used_at=now,
        expires_at=now + lifetime,
        idle_seconds=int(idle.total_seconds()) if idle is not None else None,
        with_otp=with_otp,
        end_to_end=end_to_end,
    )
    if READ in scope_set and not end_to_end:
        row.sealed_key = crypto.seal_with_token(
            token, actor.require_key(), credential_id=row.id, pepper=row_seal_guard.pepper_of(db)
        )
    db.add(row)
    holder = Actor(
        user_id=actor.user_id,
        username=actor.username,
        role=actor.role,
        key=actor.key if READ in scope_set and not end_to_end else None,
        scopes=scope_set,
        credential_id=row.id,
        via_token=kind == CredentialKind.TOKEN,
        end_to_end=end_to_end,
    )
    return IssuedCredential(token=token, credential=credential_info(row), actor=holder)


def end_credentials(
    db: Session,
    user_id: UUID,
    clock: Clock,
    *,
    keep: UUID | None,
    sessions_only: bool,
    holding_key: bool = False,
) -> int:
    """Revoke the live credentials of ``user_id`` (only its sessions with ``sessions_only``;
    only those the server sealed the key under with ``holding_key``), except ``keep``, and
    forget the keys they sealed (not committed). Returns how many ended."""
    stmt = (
        select(Credential)
        .where(Credential.user_id == user_id)
        .where(col(Credential.revoked_at).is_(None))
    )
    if sessions_only:
        stmt = stmt.where(Credential.kind == CredentialKind.SESSION)
    if holding_key:
        stmt = stmt.where(col(Credential.sealed_key).is_not(None))
    ended = 0
    for row in db.exec(stmt):
        if row.id == keep:
            continue
        row.revoked_at = clock()
        row.sealed_key = None
        db.add(row)
        ended += 1
    return ended
