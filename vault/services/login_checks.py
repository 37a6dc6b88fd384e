"""What every kind of login checks the same way: the throttle around an attempt, and a one-time
code (``vault.services.auth`` for logins with the passphrase, ``vault.services.e2e_login`` for
logins where the client derived its keys)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, or_, update
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit.actions import Action
from vault.errors import AuthenticationFailed, OtpRequired
from vault.services import throttle
from vault.services.uow import Work
from vault.storage.models import User

__all__ = ["counted", "use_code"]


@contextmanager
def counted(
    work: Work,
    keys: list[str],
    now: datetime,
    username: str,
    failed: Action,
    free: dict[str, int],
) -> Iterator[None]:
    """Refuse a blocked attempt before any work; turn a failed one into the one generic
    failure, logged as ``failed`` and counted (committed at once, whatever else the request
    did)."""
    throttle.check(work.db, keys, now)
    try:
        yield
    except OtpRequired:
        raise  # the passphrase was right: not a failure
    except AuthenticationFailed:
        user_id = work.db.exec(select(User.id).where(User.username == username)).first()
        work.fail(failed, actor=None, user=user_id or "unknown")
        throttle.record_failure(work.db, keys, now, free=free)
        raise AuthenticationFailed() from None


def use_code(db: Session, user: User, secret: bytes, otp: str, now: datetime) -> None:
    """Accept ``otp`` for ``user`` once: ``AuthenticationFailed`` for a wrong code and for a
    code (or an earlier one) already used."""
    step = crypto.totp_step(secret, otp.strip(), now.timestamp())
    if step is None:
        raise AuthenticationFailed()
    # Compare-and-set in the database, not in this process: of two logins racing with the
    # same code (on any replicas), exactly one moves the step forward.
    used: CursorResult[Any] = db.execute(  # type: ignore[assignment]  # an UPDATE gives a CursorResult; Session.execute is typed as Result
        update(User)
        .where(col(User.id) == user.id)
        .where(or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise AuthenticationFailed()  # replayed within its window
    user.totp_last_step = step
