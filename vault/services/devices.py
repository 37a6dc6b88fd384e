"""Known devices: a device token is handed to a client at each successful login and shown at the
next one, so that the throttle can tell a person who logged in from this device before from an
attacker who shares their address (``vault.services.throttle``).

A token grants nothing else: it is not a credential, opens no key, and a login that shows one
still needs the passphrase (and the one-time code). Only a hash is stored, bound to one account;
each login replaces the token it showed, and an account keeps at most ``MAX_PER_USER`` devices.
Resetting or disabling an account forgets its devices.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete
from sqlmodel import Session, col, select

from vault.storage.models import Device

__all__ = ["MAX_PER_USER", "forget_user", "hash_token", "issue", "recognise"]

MAX_PER_USER = 20
_PREFIX = "svd_"
_MAX_TOKEN = 100


def hash_token(token: str) -> str:
    return hashlib.sha256(b"source-vault/v1 device-token\x00" + token.encode()).hexdigest()


def recognise(db: Session, token: str | None, user_id: UUID | None, now: datetime) -> str | None:
    """The hash of ``token`` if it is a live device token of ``user_id``, else ``None`` (an
    unknown, expired or malformed token, or one of another account, is simply not a device)."""
    if not token or user_id is None or len(token) > _MAX_TOKEN or not token.startswith(_PREFIX):
        return None
    digest = hash_token(token)
    row = db.get(Device, digest)
    if row is None or row.user_id != user_id or row.expires_at <= now:
        return None
    return digest


def issue(
    db: Session, user_id: UUID, now: datetime, *, lifetime: timedelta, replaces: str | None
) -> str:
    """A new device token for ``user_id`` (not committed), replacing the one that was shown."""
    if replaces is not None:
        db.execute(delete(Device).where(col(Device.token_hash) == replaces))
    db.execute(
        delete(Device).where(col(Device.user_id) == user_id).where(col(Device.expires_at) <= now)
    )
    kept = db.exec(
        select(Device.token_hash)
        .where(Device.user_id == user_id)
        .order_by(col(Device.created_at).desc())
    ).all()
    if len(kept) >= MAX_PER_USER:
        stale = list(kept[MAX_PER_USER - 1 :])
        db.execute(delete(Device).where(col(Device.token_hash).in_(stale)))
    token = _PREFIX + secrets.token_urlsafe(32)
    db.add(
        Device(
            token_hash=hash_token(token), user_id=user_id, created_at=now, expires_at=now + lifetime
        )
    )
    return token


def forget_user(db: Session, user_id: UUID) -> None:
    """Every device of ``user_id`` is unknown again (not committed)."""
    db.execute(delete(Device).where(col(Device.user_id) == user_id))
