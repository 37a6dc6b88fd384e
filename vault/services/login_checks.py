"""What every kind of login does the same way: the throttle around an attempt, the one-time
code, and the session it opens (``vault.services.auth`` for logins with the passphrase,
``vault.services.e2e_login`` for logins where the client derived its keys)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import CursorResult, or_, update
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import AuthenticationFailed, OtpRequired
from vault.services import credentials, devices, throttle, users
from vault.services.credentials import IssuedCredential
from vault.services.uow import Work
from vault.services.users import ALL_SCOPES, Actor
from vault.settings import Settings
from vault.storage.models import CredentialKind, User

__all__ = ["Attempt", "attempt", "check_code", "counted", "open_session", "use_code"]


@dataclass(frozen=True)
class Attempt:
    """Who an attempt counts against: the account's key and the address's, or the device's
    for a login that shows this account's device token (``vault.services.throttle``)."""

    device: str | None
    keys: list[str]
    free: dict[str, int]


def attempt(
    db: Session,
    settings: Settings,
    username: str,
    user_id: UUID | None,
    *,
    address: str,
    device_token: str | None,
    now: datetime,
) -> Attempt:
    device = devices.recognise(db, device_token, user_id, now)
    if device:
        return Attempt(device, [throttle.account_key(username), throttle.device_key(device)], {})
    # An address may be shared by a whole newsroom: it gets more free failures.
    free = {throttle.address_key(address): settings.address_free_failures}
    return Attempt(None, [throttle.account_key(username), throttle.address_key(address)], free)


def check_code(
    db: Session,
    settings: Settings,
    user: User,
    secret: bytes | None,
    otp: str | None,
    now: datetime,
) -> bool:
    """Check the one-time code where the account has a TOTP secret or its role needs one;
    whether it did. ``OtpRequired`` without a code, ``AuthenticationFailed`` for a wrong or
    used one, and for an account whose role needs a code it never set up."""
    needed = secret is not None or users.totp_required(settings, user.role)
    if needed:
        if secret is None or not user.totp_confirmed:
            raise AuthenticationFailed()
        if not otp:
            raise OtpRequired()
        use_code(db, user, secret, otp, now)
    return needed


def open_session(
    work: Work,
    actor: Actor,
    tried: Attempt,
    *,
    settings: Settings,
    clock: Clock,
    with_otp: bool,
    end_to_end: bool = False,
) -> IssuedCredential:
    """The session a successful attempt opens, with the next device token (not committed);
    the account's and the device's failures are forgotten (not the address's: another
    account's success must not wipe out an attacker's count)."""
    db = work.db
    throttle.clear(db, tried.keys[0])
    if tried.device:
        throttle.clear(db, tried.keys[1])
    issued = credentials.issue(
        db,
        actor,
        kind=CredentialKind.SESSION,
        name=None,
        scopes=ALL_SCOPES,
        lifetime=timedelta(hours=settings.session_max_hours),
        idle=timedelta(minutes=settings.session_idle_minutes),
        with_otp=with_otp,
        clock=clock,
        end_to_end=end_to_end,
    )
    next_device = devices.issue(
        db,
        actor.user_id,
        clock(),
        lifetime=timedelta(days=settings.device_days),
        replaces=tried.device,
    )
    work.add(credential=issued.credential.id)
    return replace(issued, device_token=next_device)


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


def enrolling(
    work: Work,
    username: str,
    code: str,
    keys: list[str],
    now: datetime,
    free: dict[str, int],
) -> User:
    """The account ``username`` whose live enrolment code is ``code``, or ``AuthenticationFailed``
    (unknown user, wrong and expired code alike), recorded as a failed enrolment and counted
    by the throttle under ``keys``."""
    db = work.db
    throttle.check(db, keys, now)
    user = db.exec(select(User).where(User.username == username)).first()
    if user is None or not users.enrolment_code_matches(user, code, now):
        work.fail(Action.AUTH_ENROLL_FAILED, user=user.id if user else "unknown")
        throttle.record_failure(db, keys, now, free=free)
        raise AuthenticationFailed("invalid username or enrolment code")
    return user
