"""End-to-end logins: the client derives the passphrase's keys itself (docs/api.md,
"End-to-end login")."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.body import Body

_B64_32 = "base64 of 32 bytes"
_DEVICE = (
    "the device_token of this account's last login from this device: the attempt is then "
    "throttled per device instead of per client address"
)


class ParamsRequest(Body):
    username: str = Field(min_length=1, max_length=64)


class KdfParamsPublic(BaseModel):
    salt: str = Field(description="base64 of the Argon2id salt (16 bytes)")
    memory_kib: int
    time_cost: int
    lanes: int


class ChallengeRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    verifier: str = Field(
        min_length=44, max_length=44, description=f"the login verifier: {_B64_32}"
    )
    otp: str | None = Field(default=None, max_length=16)
    device_token: str | None = Field(default=None, max_length=100, description=_DEVICE)


class ChallengePublic(BaseModel):
    challenge_id: UUID
    user_id: UUID
    key_id: str
    sealed_private_key: str = Field(
        description="base64: the private key seed sealed under the key-encryption key "
        "(docs/format.md §4.3); open it with the derivation's second half"
    )
    wrapped_secret: str = Field(
        description="base64: a 32-byte secret wrapped for your public key (docs/format.md §3, "
        "kind `login-challenge`, subject the challenge id); answer with it"
    )
    expires_in: int = Field(description="seconds left to answer")


class AnswerRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    challenge_id: UUID
    answer: str = Field(min_length=44, max_length=44, description=f"the secret: {_B64_32}")
    device_token: str | None = Field(default=None, max_length=100, description=_DEVICE)


class EnrollStart(Body):
    username: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)


class EnrollStartPublic(BaseModel):
    user_id: UUID = Field(description="what the sealed private key is bound to (format §4.3)")
    memory_kib: int
    time_cost: int
    lanes: int


class EnrollEndToEnd(Body):
    """An enrolment whose keys the client made (binary fields in base64)."""

    username: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)
    public_key: str = Field(max_length=2048, description="ML-KEM-768 then X25519 (format §3.2)")
    salt: str = Field(max_length=128)
    memory_kib: int = Field(description="the Argon2id parameters used (at least RFC 9106's second)")
    time_cost: int
    lanes: int
    verifier: str = Field(max_length=128, description="the login verifier (format §4.2)")
    sealed_private_key: str = Field(max_length=1024, description="format §4.3")


class ConfirmEndToEnd(Body):
    username: str = Field(min_length=1, max_length=64)
    verifier: str = Field(max_length=128, description="the login verifier of your passphrase")
    otp: str = Field(min_length=6, max_length=8, pattern="^[0-9]+$")
