"""The server's seals over clear columns: whoever can write the database but does not hold the
data directory's seal key cannot change who reads, who acts, what is deleted or what an export
releases without the vault noticing (docs/security-model.md, "An operator with database access";
the encoding is docs/format.md, "Row seals").

A seal is HMAC-SHA256, under a key derived from the seal key file (``vault.audit.seal_key``),
over a canonical encoding of the record's *bound* columns (``BOUND``), kept in its ``seal``
column. ``vault.services.row_seal_guard`` applies and checks them on every session by
construction; this module is the seal itself, and the two operations on every record at once:
sealing the records of a vault upgraded to seals (``seal_existing``, trust on first use) and
listing the records that fail (``unchecked``, for ``vault fsck``).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from vault.audit.actions import Action
from vault.audit.seal_key import read_seal_key
from vault.clock import Clock
from vault.errors import IntegrityError
from vault.services.uow import SYSTEM, UnitOfWork
from vault.storage.models import (
    Case,
    CaseMember,
    Credential,
    Document,
    RecoveryKey,
    Redaction,
    Source,
    User,
)

__all__ = [
    "BOUND",
    "KEY_LABEL",
    "LABEL",
    "Binding",
    "Kind",
    "bound_fields",
    "check_values",
    "encode",
    "row_key",
    "seal",
    "seal_all",
    "seal_existing",
    "seal_record",
    "unchecked",
    "upgrade_key",
    "verify_record",
]

LABEL = b"source-vault/v2 row-seal"
KEY_LABEL = b"source-vault/v2 row-seal key"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Kind(IntEnum):
    """A bound column's type, and the tag byte of its value in the encoding (0 is null)."""

    TEXT = 1  # UTF-8
    UUID = 2  # the 16 bytes
    INTEGER = 3  # signed 64-bit big-endian
    TIME = 4  # UTC microseconds since 1970-01-01, signed 64-bit big-endian
    BOOL = 5  # one byte, 0 or 1
    BYTES = 6  # as they are


_NULL = 0

# Short names for the table of bound columns below.
T, U, N, D, B, X = Kind.TEXT, Kind.UUID, Kind.INTEGER, Kind.TIME, Kind.BOOL, Kind.BYTES


@dataclass(frozen=True)
class Binding:
    """Which columns of one table a seal covers, in the encoding's order."""

    table: str
    model: type[SQLModel]
    columns: tuple[tuple[str, Kind], ...]
    ids: tuple[str, ...]  # the primary key, to name a record (random ids, never names)
    # Columns added after records were sealed: encoded only when set (true, non-null), so
    # that the seals of records that never set them still verify, and setting or clearing one
    # without the seal key is caught like any other edit.
    when_set: frozenset[str] = frozenset()

    def name(self, values: Mapping[Any, Any]) -> str:
        return "/".join(str(values[c]) for c in self.ids)


# The rule for a bound column: its edit would change who can read, who can act, what is deleted
# or what an export releases. Not bound: counters, last-used times and flags whose edit only
# causes extra work or a refusal (``users.totp_last_step``, ``credentials.last_used_at``,
# ``case_members.keys_pending``), descriptive labels (``credentials.name``), and creation times
# that decide nothing (``users.created_at``, ``cases.created_at``...). Ciphertexts are
# authenticated by their own keys; they are bound where swapping a valid one for another valid
# one would change what a holder opens or who does (a user's sealed keys, a source's notes).
BOUND: dict[type[SQLModel], Binding] = {
    b.model: b
    for b in (
        Binding(
            "users",
            User,
            (
                ("id", U),
                ("username", T),  # logins find the account by it
                ("role", T),  # who may administer
                ("enabled", B),  # a disabled account must stay out
                ("key_id", T),  # which wrapped copies are this user's
                ("public_key", X),  # what new keys are wrapped for
                ("sealed_private_key", X),  # with the next three: who can log in as the user
                ("kdf_salt", X),
                ("login_verifier", X),
                ("sealed_totp", X),
                ("totp_confirmed", B),  # clearing it would drop the second factor
                ("enrolment_code_hash", T),  # a known hash would let anyone enrol as the user
                ("enrolment_expires_at", D),
                ("sealed_recovered_key", X),
                ("key_rotation_required", B),  # keeps a reset or rotation from being skipped
                ("end_to_end_only", B),  # clearing it would open passphrase logins
            ),
            ("id",),
            when_set=frozenset({"end_to_end_only"}),
        ),
        Binding(
            "credentials",
            Credential,
            (
                ("id", U),
                ("token_hash", T),  # a known hash would be a working token
                ("kind", T),
                ("user_id", U),  # whose token it is
                ("scopes", T),  # what it may do
                ("expires_at", D),
                ("idle_seconds", N),
                ("revoked_at", D),  # un-revoking a token
                ("with_otp", B),  # a session from before a TOTP requirement is refused by it
            ),
            ("id",),
        ),
        Binding(
            "recovery_keys",
            RecoveryKey,
            (
                ("key_id", T),
                ("public_key", X),  # every new key is wrapped for it
                ("threshold", N),
                ("shares", N),
                ("active", B),  # which one new keys are wrapped for
            ),
            ("key_id",),
        ),
        Binding(
            "cases",
            Case,
            (
                ("id", U),
                ("name", T),  # what members and administrators take the case to be
                ("retain_days", N),  # when the server deletes
                ("retain_from", T),
                ("closed_at", D),
                ("held_at", D),  # the legal hold
            ),
            ("id",),
        ),
        Binding(
            "case_members",
            CaseMember,
            (
                ("case_id", U),  # membership decides who is given a case's keys
                ("user_id", U),
                ("added_by", U),  # shown to whoever approves
                ("added_at", D),
                ("approved_by", U),  # the approval, which grants the keys
                ("approved_at", D),
            ),
            ("case_id", "user_id"),
        ),
        Binding(
            "sources",
            Source,
            (
                ("id", U),
                ("case_id", U),  # whose members see the source
                ("pseudonym", T),
                ("handler_id", U),  # who is given the source key
                ("handover_pending", B),  # whom the recovery key holders hand it over to
                ("sealed_notes", X),
                ("sealed_names", X),  # what redaction suggestions look for
                ("key_commitment", X),
            ),
            ("id",),
        ),
        Binding(
            "documents",
            Document,
            (
                ("id", U),
                ("case_id", U),  # whose members are given the key
                ("uploader_id", U),  # the attribution
                ("blob_id", T),  # which ciphertext is served
                ("ciphertext_size", N),
                ("status", T),
                ("created_at", D),  # retention counts from it
                ("held_at", D),  # the legal hold
                ("key_commitment", X),
            ),
            ("id",),
        ),
        Binding(
            "redactions",
            Redaction,
            (
                ("id", U),
                ("document_id", U),
                ("status", T),  # only approved redactions are applied to an export
                ("proposer_id", U),  # the four-eyes rule is checked on these two
                ("reviewer_id", U),
                ("created_at", D),
                ("reviewed_at", D),
                ("sealed", X),
            ),
            ("id",),
        ),
    )
}


# -- the seal --------------------------------------------------------------------------------


def row_key(seal_key: bytes) -> bytes:
    """The row-seal key: HMAC-SHA256(seal key, KEY_LABEL)."""
    if len(seal_key) != 32:
        raise ValueError("the seal key is 32 bytes")
    return hmac.new(seal_key, KEY_LABEL, hashlib.sha256).digest()


def _framed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _value(kind: Kind, value: object) -> bytes:
    if kind is Kind.TEXT and isinstance(value, str):
        return str.encode(value, "utf-8")  # a StrEnum's value, not its name
    if kind is Kind.UUID and isinstance(value, uuid.UUID | str):
        return (value if isinstance(value, uuid.UUID) else uuid.UUID(value)).bytes
    if kind is Kind.INTEGER and isinstance(value, int) and not isinstance(value, bool):
        return struct.pack(">q", value)
    if kind is Kind.TIME and isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be sealed")
        return struct.pack(">q", (value - _EPOCH) // _MICROSECOND)
    if kind is Kind.BOOL and isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if kind is Kind.BYTES and isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"a {type(value).__name__} is not a {kind.name.lower()} column value")


def encode(table: str, fields: Sequence[tuple[str, Kind, object]]) -> bytes:
    """The canonical bytes a seal covers: the label, the table, the number of fields, then per
    field its name, its tag (0 for null, else its kind) and its value, each length-prefixed."""
    out = [_framed(LABEL), _framed(table.encode()), struct.pack(">I", len(fields))]
    for name, kind, value in fields:
        out.append(_framed(name.encode()))
        if value is None:
            out.append(struct.pack(">B", _NULL))
        else:
            out.append(struct.pack(">B", kind) + _framed(_value(kind, value)))
    return b"".join(out)


def seal(key: bytes, table: str, fields: Sequence[tuple[str, Kind, object]]) -> bytes:
    """HMAC-SHA256 under the row key ``key`` of the encoding of ``fields``."""
    return hmac.new(key, encode(table, fields), hashlib.sha256).digest()


def bound_fields(binding: Binding, values: Mapping[Any, Any]) -> list[tuple[str, Kind, object]]:
    """The fields a record's seal covers, in order: its bound columns, less the ``when_set``
    ones it does not set."""
    return [
        (name, kind, values[name])
        for name, kind in binding.columns
        if name not in binding.when_set or values[name]
    ]


def _seal_of(key: bytes, binding: Binding, values: Mapping[Any, Any]) -> bytes:
    return seal(key, binding.table, bound_fields(binding, values))


def _fault(binding: Binding, values: Mapping[Any, Any], key: bytes) -> str | None:
    """What is wrong with a record's seal: "missing", "mismatch", or ``None``."""
    stored = values.get("seal")
    if stored is None:
        return "missing"
    if not hmac.compare_digest(bytes(stored), _seal_of(key, binding, values)):
        return "mismatch"
    return None


def check_values(key: bytes, binding: Binding, values: Mapping[Any, Any]) -> None:
    """``IntegrityError`` (reason ``row-seal``, naming the table and the record by id, never by
    name) unless ``values`` (a record's bound columns and its ``seal``) verify."""
    fault = _fault(binding, values, key)
    if fault is None:
        return
    record = binding.name(values)
    what = "has no seal" if fault == "missing" else "does not match its seal"
    raise IntegrityError(
        f"the {binding.table} record {record} {what}: it was changed outside the vault, and "
        "nothing was done with it",
        reason="row-seal",
    ).with_details(table=binding.table, record=record)


def _attributes(row: SQLModel, binding: Binding) -> dict[str, Any]:
    values = {name: getattr(row, name) for name, _ in binding.columns}
    values["seal"] = getattr(row, "seal")  # noqa: B009 - every bound model has one
    return values


def seal_record(key: bytes, row: SQLModel) -> None:
    """Set the seal of ``row`` (a record of a bound table) under the row key ``key``."""
    binding = BOUND[type(row)]
    setattr(row, "seal", _seal_of(key, binding, _attributes(row, binding)))  # noqa: B010


def verify_record(key: bytes, row: SQLModel) -> None:
    """``IntegrityError`` unless the seal of ``row`` verifies under the row key ``key``."""
    binding = BOUND[type(row)]
    check_values(key, binding, _attributes(row, binding))


# -- every record at once: sealing legacy rows, and fsck ---------------------------------------


def _rows(db: Session, binding: Binding) -> Iterator[sa.RowMapping]:
    # Core, not ORM: a broken record must be listed, not raised on.
    table = SQLModel.metadata.tables[binding.table]
    for row in db.connection().execute(sa.select(table)):
        yield row._mapping


def unchecked(db: Session, key: bytes) -> list[tuple[str, str, str]]:
    """Every record of a bound table whose seal is missing or does not verify under the row
    key ``key``, as (table, record, "missing" or "mismatch"), in table order."""
    found = []
    for binding in BOUND.values():
        for values in _rows(db, binding):
            fault = _fault(binding, values, key)
            if fault is not None:
                found.append((binding.table, binding.name(values), fault))
    return found


def seal_all(db: Session, seal_key: bytes) -> dict[str, int]:
    """Seal every unsealed record as it is (not committed): the one-time sealing of the rows
    a vault held when it was upgraded to seals (trust on first use). A record that has a seal
    already is left alone, whether or not it verifies. Returns how many were sealed per table."""
    key = row_key(seal_key)
    counts = {}
    for binding in BOUND.values():
        table = SQLModel.metadata.tables[binding.table]
        pending = [dict(v) for v in _rows(db, binding) if v["seal"] is None]
        for values in pending:
            where = [table.c[c] == values[c] for c in binding.ids]
            db.connection().execute(
                sa.update(table).where(*where).values(seal=_seal_of(key, binding, values))
            )
        counts[binding.table] = len(pending)
    return counts


def upgrade_key(engine: Engine, seal_key_path: Path) -> bytes:
    """The seal key an upgrade to row seals seals with, read before the schema changes so that
    a missing file stops the upgrade before it starts. The file is made only for a vault with
    no log key (one from before the signed log, which had no file)."""
    if not seal_key_path.exists():
        with engine.connect() as conn:
            signed = sa.inspect(conn).has_table("log_keys") and (
                conn.execute(
                    sa.select(sa.column("key_id")).select_from(sa.table("log_keys"))
                ).first()
                is not None
            )
        if not signed:
            return read_seal_key(seal_key_path, create=True)
    return read_seal_key(seal_key_path, create=False)


def seal_existing(engine: Engine, seal_key: bytes, clock: Clock) -> dict[str, int]:
    """The one-time sealing of every record a vault held when it was upgraded to row seals, as
    they are (trust on first use), in one transaction with its access-log entry."""
    with UnitOfWork(engine, clock).audited(SYSTEM, Action.INTEGRITY_ROWS_SEALED) as work:
        counts = seal_all(work.db, seal_key)
        work.add(extra={table: str(n) for table, n in counts.items()})
    return counts
