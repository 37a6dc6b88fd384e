"""Table models. They hold what the database stores and nothing else: no serialisation, no
commits (the services own transactions).

What is in the clear here is deliberate and listed in ``docs/security-model.md``: random ids,
usernames and roles, case names, source pseudonyms, the case and uploader of a document, sizes,
timestamps and status. Everything a document or a source says about itself is in ``sealed_*``
columns; keys are stored only wrapped or sealed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from vault.roles import Role

__all__ = [
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "AuditNode",
    "Case",
    "CaseMember",
    "Credential",
    "CredentialKind",
    "Device",
    "Document",
    "DocumentStatus",
    "LogKey",
    "RecoveryKey",
    "Redaction",
    "RetentionStart",
    "Role",
    "SchemaCompat",
    "Source",
    "Throttle",
    "User",
    "WrappedKey",
    "metadata",
]

metadata = SQLModel.metadata


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on SQLite (which drops the zone) and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CredentialKind(StrEnum):
    SESSION = "session"
    TOKEN = "token"  # noqa: S105 - a kind name, not a secret


class DocumentStatus(StrEnum):
    ACTIVE = "active"


class RetentionStart(StrEnum):
    """What a case's retention period counts from (docs/operations.md, "Retention")."""

    UPLOAD = "upload"  # each document is due that many days after its upload
    CLOSE = "close"  # every document is due that many days after the case is closed


class User(SQLModel, table=True):
    """An account. Key columns are empty until the person has set a passphrase (enrolment)."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    role: Role = Field(sa_type=sa.String(16))
    enabled: bool = True
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    key_id: str | None = Field(default=None, max_length=64, unique=True)
    public_key: bytes | None = None
    sealed_private_key: bytes | None = None
    kdf_salt: bytes | None = None
    kdf_memory_kib: int | None = None
    kdf_time_cost: int | None = None
    kdf_lanes: int | None = None
    login_verifier: bytes | None = None
    # Enrolment: only a hash of the one-time code is kept, with its expiry.
    enrolment_code_hash: str | None = Field(default=None, max_length=64)
    enrolment_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # TOTP secret sealed under the passphrase key-encryption key: a database copy cannot mint
    # codes. ``totp_last_step`` stops replay of a code within its window.
    sealed_totp: bytes | None = None
    totp_confirmed: bool = False
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    # Account recovery: the new key pair (already given the account's keys with the recovery
    # key) sealed under the enrolment code, opened and re-sealed under the passphrase at
    # enrolment. Empty otherwise.
    sealed_recovered_key: bytes | None = None
    # An administrator asked for a new key pair: the next login makes it.
    key_rotation_required: bool = False
    # Logins only end to end: the server refuses the passphrase and any credential holding the
    # key (``vault.services.users.end_to_end_only``; a role can require it too).
    end_to_end_only: bool = False
    # The server's seal over the columns a database writer could misuse (role, key), so that an
    # edit is refused instead of acted on (vault.services.row_seals).
    seal: bytes | None = None


class Case(SQLModel, table=True):
    """A compartment of documents; its members are its only readers (with the recovery key)."""

    __tablename__ = "cases"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    # Retention: nothing is due while ``retain_days`` is empty. In the clear, like the name:
    # the server deletes on its own, with no member's key (vault.services.retention).
    retain_days: int | None = None
    retain_from: RetentionStart | None = Field(default=None, sa_type=sa.String(8))
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Legal hold: while set, nothing of the case is deleted, by retention or by anyone.
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The server's seal over this record's clear columns (vault.services.row_seals).
    seal: bytes | None = None


class CaseMember(SQLModel, table=True):
    __tablename__ = "case_members"

    case_id: uuid.UUID = Field(foreign_key="cases.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, index=True)
    added_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    # Set when the member may lack copies of the case's document keys (they joined, or their
    # key pair changed) and cleared once every key they can be given is wrapped for them: so
    # an authenticated request checks one indexed flag instead of every document of the case.
    keys_pending: bool = Field(default=True, index=True)
    added_by: uuid.UUID | None = None
    # The decision of a member who can read that this member may read the case too: nobody is
    # given the case's keys, or wrapped for its new documents, before it (an administrator who
    # adds themselves stays unable to read). Empty while the decision is pending.
    approved_by: uuid.UUID | None = None
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The server's seal over the membership and its approval (vault.services.row_seals).
    seal: bytes | None = None


class RecoveryKey(SQLModel, table=True):
    """The organisation recovery key's public half; its secret exists only as SLIP-39 shares."""

    __tablename__ = "recovery_keys"

    key_id: str = Field(max_length=64, primary_key=True)
    public_key: bytes
    threshold: int
    shares: int
    active: bool = True
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    # The server's seal over this record's clear columns (vault.services.row_seals).
    seal: bytes | None = None


class Source(SQLModel, table=True):
    """A pseudonymous source. Identity notes are sealed under a key wrapped only for the
    handler and the recovery key (``WrappedKey.kind == "source"``)."""

    __tablename__ = "sources"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", index=True)
    pseudonym: str = Field(max_length=64, unique=True)
    # Empty once the handler was removed from the case and the source left to the recovery key.
    handler_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    # The handler was named when the previous one was removed: their copy of the key waits for
    # the recovery key holders (nobody else holds the key to wrap it with).
    handover_pending: bool = False
    sealed_notes: bytes | None = None
    # The source's names and aliases (a JSON list), sealed under the same key as the notes: what
    # redaction suggestions look for, readable only where the notes are.
    sealed_names: bytes | None = None
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    # What the source key commits to (docs/format.md §3.4); empty for sources sealed before it.
    key_commitment: bytes | None = None
    # The server's seal over the case and handler (vault.services.row_seals).
    seal: bytes | None = None


class Document(SQLModel, table=True):
    """A stored document: where its ciphertext is and who may hold its key, nothing it says."""

    __tablename__ = "documents"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", index=True)
    uploader_id: uuid.UUID = Field(foreign_key="users.id")
    blob_id: str = Field(max_length=64, unique=True)
    ciphertext_size: int = Field(sa_type=sa.BigInteger)
    status: DocumentStatus = Field(default=DocumentStatus.ACTIVE, sa_type=sa.String(16))
    sealed_metadata: bytes
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    # Legal hold on this document alone: while set, it is not deleted, by retention or by anyone.
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What the data key commits to (docs/format.md §2.6): bound into every wrapped copy of the
    # key, so that every reader opens the same plaintext. Empty for documents stored in format 1.
    key_commitment: bytes | None = None
    # The server's seal over this record's clear columns (vault.services.row_seals).
    seal: bytes | None = None


class Redaction(SQLModel, table=True):
    """A proposed, approved or rejected redaction of one document. Who proposed and reviewed it
    and when are in the clear (the four-eyes rule is checked on them); what it hides, its
    category and notes are sealed under a key derived from the document's data key."""

    __tablename__ = "redactions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    document_id: uuid.UUID = Field(foreign_key="documents.id", index=True, ondelete="CASCADE")
    status: str = Field(max_length=16)
    proposer_id: uuid.UUID = Field(foreign_key="users.id")
    reviewer_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    sealed: bytes
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The server's seal over this record's clear columns (vault.services.row_seals).
    seal: bytes | None = None


class WrappedKey(SQLModel, table=True):
    """A subject's data key wrapped (HPKE) for one recipient key."""

    __tablename__ = "wrapped_keys"
    __table_args__ = (sa.UniqueConstraint("kind", "subject_id", "recipient_key_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=16)
    subject_id: uuid.UUID = Field(index=True)
    recipient_key_id: str = Field(max_length=64, index=True)
    wrapped: bytes
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)


class Credential(SQLModel, table=True):
    """A login session or an API token. Only a hash of the bearer token is stored; where the
    credential may read, the user's key seed is sealed under a key derived from the token."""

    __tablename__ = "credentials"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    kind: CredentialKind = Field(sa_type=sa.String(16))
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    name: str | None = Field(default=None, max_length=100)
    scopes: str = Field(max_length=100)
    sealed_key: bytes | None = None
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    last_used_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    idle_seconds: int | None = None
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Opened with a one-time code (or made from a session that was): a session from before a
    # TOTP requirement applied to its user is refused instead of outliving the requirement.
    with_otp: bool = False
    # Opened by a client that derived the keys itself (vault.services.e2e_login): the server
    # holds no key of the user for it, whatever the scopes. Not sealed: setting or clearing it
    # leaves the credential without a key all the same, and only causes refusals.
    end_to_end: bool = False
    # The server's seal over this record's clear columns (vault.services.row_seals).
    seal: bytes | None = None


class LoginChallenge(SQLModel, table=True):
    """One end-to-end login in progress: a secret encapsulated to the user's public key, which
    only the holder of the private key can answer with (``vault.services.e2e_login``). Only a
    hash of the secret is kept, and the row goes at the first answer."""

    __tablename__ = "login_challenges"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    key_id: str = Field(max_length=64)
    answer_hash: bytes
    with_otp: bool = False  # the challenge was given after a one-time code
    expires_at: datetime = Field(sa_type=UTCDateTime)


class Device(SQLModel, table=True):
    """A device that logged in to an account before, by the hash of its device token: a correct
    login from it is not held back by the per-address throttle (OWASP's device cookies)."""

    __tablename__ = "devices"

    token_hash: str = Field(max_length=64, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class Throttle(SQLModel, table=True):
    """Recent login failures for one account or one client address (stored as a keyed hash),
    shared by every replica."""

    __tablename__ = "throttles"

    key: str = Field(max_length=64, primary_key=True)
    failures: int = 0
    last_failure_at: datetime = Field(sa_type=UTCDateTime)
    blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """One access-log entry: its canonical bytes (the Merkle leaf), by index."""

    __tablename__ = "audit_entries"

    idx: int = Field(
        sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    leaf: bytes
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
    # Copied from the entry's targets so that a document's history is one indexed lookup.
    document_id: uuid.UUID | None = Field(default=None, index=True)
    # Copied from a key entry's ``key_id`` (``vault.audit.transparency``): the entry that logs a
    # user's key is one indexed lookup. Only a pointer: clients check the entry itself.
    key_id: str | None = Field(default=None, max_length=64, index=True)


class AuditNode(SQLModel, table=True):
    """The hash of a complete subtree of the access log: 2**level leaves from idx * 2**level."""

    __tablename__ = "audit_nodes"

    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    idx: int = Field(
        sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    hash: bytes


class AuditHead(SQLModel, table=True):
    """The log's current size and root: one row, updated by every append, whose row lock is what
    serialises appenders across processes and replicas."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    size: int = Field(sa_type=sa.BigInteger)
    root: bytes
    # The roots of the complete subtrees that make up the tree (one per set bit of ``size``,
    # largest first), concatenated: all an append needs, so appends read no stored node.
    frontier: bytes = b""
    updated_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)


class SchemaCompat(SQLModel, table=True):
    """One row: the oldest release (by its schema revision) that may still serve this
    database, kept by the migrations (``vault.storage.schema_compat``)."""

    __tablename__ = "schema_compat"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    oldest_release: str = Field(max_length=32)


class LogKey(SQLModel, table=True):
    """The access log's Ed25519 signing key. The seed is stored sealed under a key kept in a
    file outside the database (``log-seal.key``), so a database copy can neither read nor use
    it to forge checkpoints."""

    __tablename__ = "log_keys"

    key_id: str = Field(max_length=8, primary_key=True)
    name: str = Field(max_length=200)
    public_key: bytes
    sealed_seed: bytes
    active: bool = True
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint (C2SP signed note) of the log at one size."""

    __tablename__ = "audit_checkpoints"

    size: int = Field(
        sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    note: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=_utcnow, sa_type=UTCDateTime)
