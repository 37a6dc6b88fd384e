"""The row seal itself (vault.services.row_seals): its encoding, its test vector, and the events
that apply it (vault.services.row_seal_guard) on a bare engine."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from tests.vectors import generate_row_seal
from vault.errors import IntegrityError, StorageError
from vault.services import row_seal_guard, row_seals
from vault.services.row_seals import Kind
from vault.storage.models import Case, User

KEY = row_seals.row_key(bytes(32))


def _seal(fields: list[tuple[str, Kind, object]]) -> bytes:
    return row_seals.seal(KEY, "t", fields)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # Null, the empty string and empty bytes are three values.
        ([("a", Kind.TEXT, None)], [("a", Kind.TEXT, "")]),
        ([("a", Kind.BYTES, None)], [("a", Kind.BYTES, b"")]),
        ([("a", Kind.TEXT, "")], [("a", Kind.BYTES, b"")]),
        # Field boundaries cannot move: names and values are length-prefixed.
        (
            [("a", Kind.TEXT, "bc"), ("d", Kind.TEXT, "")],
            [("a", Kind.TEXT, "b"), ("cd", Kind.TEXT, "")],
        ),
        ([("a", Kind.TEXT, "b"), ("c", Kind.TEXT, "d")], [("a", Kind.TEXT, "b\x00\x00\x00\x01cd")]),
        ([("ab", Kind.TEXT, "c")], [("a", Kind.TEXT, "bc")]),
        # A missing trailing field is not a null one.
        ([("a", Kind.TEXT, "x")], [("a", Kind.TEXT, "x"), ("b", Kind.TEXT, None)]),
        # Types are tagged: false is not zero, a UUID is not its bytes.
        ([("a", Kind.BOOL, False)], [("a", Kind.INTEGER, 0)]),
        ([("a", Kind.UUID, uuid.UUID(int=1))], [("a", Kind.BYTES, uuid.UUID(int=1).bytes)]),
        # Datetimes to the microsecond.
        (
            [("a", Kind.TIME, datetime(2026, 1, 1, tzinfo=UTC))],
            [("a", Kind.TIME, datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC))],
        ),
    ],
)
def test_encoding_is_injective(one: list[Any], other: list[Any]) -> None:
    assert row_seals.encode("t", one) != row_seals.encode("t", other)
    assert _seal(one) != _seal(other)


def test_the_table_and_the_key_are_bound() -> None:
    fields = [("a", Kind.TEXT, "x")]
    assert row_seals.seal(KEY, "users", fields) != row_seals.seal(KEY, "cases", fields)
    other = row_seals.row_key(bytes([1]) * 32)
    assert row_seals.seal(KEY, "users", fields) != row_seals.seal(other, "users", fields)


def test_values_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(TypeError):
        row_seals.encode("t", [("a", Kind.INTEGER, True)])
    with pytest.raises(ValueError, match="naive"):
        row_seals.encode("t", [("a", Kind.TIME, datetime(2026, 1, 1))])


def test_a_uuid_given_as_text_encodes_as_the_uuid() -> None:
    value = uuid.uuid4()
    assert row_seals.encode("t", [("a", Kind.UUID, value)]) == row_seals.encode(
        "t", [("a", Kind.UUID, str(value))]
    )


def test_every_bound_column_exists_and_the_seal_is_not_bound() -> None:
    for model, binding in row_seals.BOUND.items():
        table = SQLModel.metadata.tables[binding.table]
        assert model.__tablename__ == binding.table  # type: ignore[attr-defined]
        names = [name for name, _ in binding.columns]
        assert len(names) == len(set(names))
        assert set(names) <= set(table.c.keys())
        assert "seal" in table.c
        assert "seal" not in names
        assert set(binding.ids) == {c.name for c in table.primary_key.columns}


# -- the vector ----------------------------------------------------------------------------


def test_the_vector_file_is_what_the_writer_makes() -> None:
    assert generate_row_seal.TARGET.read_text(encoding="utf-8") == generate_row_seal.generate()


def _reference_encoding(table: str, fields: list[dict[str, Any]]) -> bytes:
    """docs/format.md, "Row seals", written from the text alone."""

    def framed(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    tags = {"text": 1, "uuid": 2, "integer": 3, "time": 4, "bool": 5, "bytes": 6}
    out = (
        framed(b"source-vault/v2 row-seal")
        + framed(table.encode())
        + struct.pack(">I", len(fields))
    )
    for f in fields:
        out += framed(f["name"].encode())
        value = f["value"]
        if value is None:
            out += b"\x00"
            continue
        kind = f["kind"]
        if kind == "text":
            raw = value.encode()
        elif kind == "uuid":
            raw = uuid.UUID(value).bytes
        elif kind == "integer":
            raw = struct.pack(">q", value)
        elif kind == "time":
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            delta = when - datetime(1970, 1, 1, tzinfo=UTC)
            micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
            raw = struct.pack(">q", micros)
        elif kind == "bool":
            raw = b"\x01" if value else b"\x00"
        else:
            raw = bytes.fromhex(value)
        out += bytes([tags[kind]]) + framed(raw)
    return out


def test_the_vector_matches_the_specification() -> None:
    data = json.loads(generate_row_seal.TARGET.read_text(encoding="utf-8"))
    seal_key = bytes.fromhex(data["seal_key"])
    row_key = hmac.new(seal_key, b"source-vault/v2 row-seal key", hashlib.sha256).digest()
    assert row_key.hex() == data["row_key"]
    assert data["valid"]
    for vector in data["valid"]:
        encoding = _reference_encoding(vector["table"], vector["fields"])
        assert encoding.hex() == vector["encoding"], vector["id"]
        mac = hmac.new(row_key, encoding, hashlib.sha256).hexdigest()
        assert mac == vector["seal"], vector["id"]


# -- the events on a bare engine -----------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    SQLModel.metadata.create_all(engine)
    return engine


def _user() -> User:
    return User(username="ada", role="admin", created_at=datetime.now(UTC))


def test_a_flush_without_a_key_writes_nothing(engine: sa.Engine) -> None:
    with Session(engine) as db:
        db.add(_user())
        with pytest.raises(StorageError, match="no seal key"):
            db.commit()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 0


def test_records_are_sealed_on_flush_and_checked_on_load(engine: sa.Engine) -> None:
    row_seal_guard.register(engine, bytes(32))
    user = _user()
    user_id = user.id
    with Session(engine) as db:
        db.add(user)
        db.commit()
    with Session(engine) as db:
        assert db.get(User, user_id) is not None
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET role = 'editor'"))
    with Session(engine) as db, pytest.raises(IntegrityError) as caught:
        db.get(User, user_id)
    assert caught.value.reason == "row-seal"
    assert f"users record {user_id}" in str(caught.value)
    assert "ada" not in str(caught.value)


def test_a_raw_column_select_checks_the_rows_it_reads(engine: sa.Engine) -> None:
    row_seal_guard.register(engine, bytes(32))
    with Session(engine) as db:
        db.add(Case(name="c"))
        db.commit()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET retain_days = 1"))
    with Session(engine) as db, pytest.raises(IntegrityError, match="cases record"):
        db.exec(select(Case.id).where(Case.retain_days == 1)).all()
    with Session(engine) as db:
        unchecked = select(Case.id).execution_options(row_seals=row_seal_guard.UNCHECKED)
        assert len(db.exec(unchecked).all()) == 1


def test_bulk_writes_of_sealed_columns_are_refused(engine: sa.Engine) -> None:
    row_seal_guard.register(engine, bytes(32))
    with Session(engine) as db:
        with pytest.raises(TypeError, match="bulk write"):
            db.execute(sa.update(User).values(role="admin"))
        with pytest.raises(TypeError, match="bulk write"):
            db.execute(sa.insert(User).values(username="x", role="admin"))
        db.execute(sa.update(User).values(totp_last_step=3))  # not bound: allowed


def test_an_engine_without_a_key_loads_unchecked(engine: sa.Engine) -> None:
    # An offline check of a copy without the seal key file reads, and cannot write.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, username, role, enabled, created_at, totp_confirmed, "
                "key_rotation_required, end_to_end_only) VALUES "
                "('00000000000040008000000000000001', 'x', 'admin', 1, '2026-01-01 00:00:00', "
                "0, 0, 0)"
            )
        )
    with Session(engine) as db:
        assert len(db.exec(select(User)).all()) == 1


def test_unchecked_lists_and_seal_all_seals_only_the_unsealed(engine: sa.Engine) -> None:
    row_seal_guard.register(engine, bytes(32))
    sealed = _user()
    with Session(engine) as db:
        db.add(sealed)
        db.add(Case(name="c"))
        db.commit()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET seal = NULL"))
        conn.execute(sa.text("UPDATE users SET enabled = 0"))
    with Session(engine) as db:
        found = row_seals.unchecked(db, row_seals.row_key(bytes(32)))
        kinds = {(t, w) for t, _, w in found}
        assert kinds == {("cases", "missing"), ("users", "mismatch")}
        counts = row_seals.seal_all(db, bytes(32))
        db.commit()
    assert counts["cases"] == 1
    assert counts["users"] == 0
    with Session(engine) as db:
        assert [t for t, _, _ in row_seals.unchecked(db, row_seals.row_key(bytes(32)))] == ["users"]
