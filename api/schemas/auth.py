"""Accounts and sessions: enrolment, login, who a credential belongs to, passphrase changes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.body import Body


class UserPublic(BaseModel):
    id: UUID
    username: str
    role: Literal["admin", "editor", "journalist"]


class Me(UserPublic):
    redaction_self_approval: bool = Field(
        description="true: this server lets an editor approve their own redactions (the "
        "setting `redaction_self_approval`), and each such approval is marked `self_approved` "
        "in the access log"
    )


class EnrollRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)
    passphrase: str = Field(min_length=1, max_length=1024)


class EnrollResponse(BaseModel):
    active: bool
    totp_uri: str | None = Field(
        default=None, description="otpauth:// URI to add to an authenticator app"
    )


class ConfirmRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    passphrase: str = Field(min_length=1, max_length=1024)
    otp: str = Field(min_length=1, max_length=16)


class LoginRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    passphrase: str = Field(min_length=1, max_length=1024)
    otp: str | None = Field(default=None, max_length=16)
    device_token: str | None = Field(
        default=None,
        max_length=100,
        description="the device_token of this account's last login from this device: the "
        "attempt is then throttled per device instead of per client address",
    )
    rotate_key: bool = Field(
        default=False,
        description="make a new key pair first: every key the old one held is re-wrapped for "
        "it, the old one is destroyed, and every other session and token ends",
    )


class PassphraseChange(Body):
    current_passphrase: str = Field(min_length=1, max_length=1024)
    new_passphrase: str = Field(min_length=1, max_length=1024)


class ClientPassphraseChange(Body):
    """A passphrase change done on the client (end to end); binary fields in base64."""

    current_verifier: str = Field(
        max_length=128, description="the login verifier of the current passphrase (format §4.2)"
    )
    salt: str = Field(max_length=128, description="the new passphrase's fresh salt")
    memory_kib: int = Field(description="Argon2id parameters of the new sealing")
    time_cost: int
    lanes: int
    verifier: str = Field(max_length=128, description="the new passphrase's login verifier")
    sealed_private_key: str = Field(
        max_length=1024, description="your same private key sealed under the new one (§4.3)"
    )


class PassphraseChanged(BaseModel):
    sessions_ended: int = Field(description="your other sessions, ended (API tokens stay)")


class LoginResponse(BaseModel):
    token: str
    expires_at: datetime
    user: UserPublic
    device_token: str = Field(
        description="show it at the next login from this device (it replaces the one shown)"
    )
