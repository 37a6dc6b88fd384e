"""docs/format.md §8, the storage layout, checked against what a vault really writes: how every
id column stores its UUID (32 lowercase hex digits on SQLite, ``uuid`` on PostgreSQL), where a
document's blob lives, and which files a new data directory holds."""

from __future__ import annotations

import re
import stat

import sqlalchemy as sa

from tests.conftest import World
from vault.services.documents import NewDocument
from vault.storage.models import metadata

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _id_columns() -> list[tuple[str, str]]:
    """Every (table, column) the models declare as a UUID."""
    return sorted(
        (table.name, column.name)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.Uuid)
    )


def test_every_id_column_is_a_uuid_column() -> None:
    # §8 lists these; a new id column stored another way would need the document to say so.
    columns = _id_columns()
    assert ("audit_entries", "document_id") in columns
    assert ("users", "id") in columns
    assert ("wrapped_keys", "subject_id") in columns
    assert len(columns) >= 20


def test_ids_are_stored_as_the_document_says(world: World) -> None:
    source = world.vault.sources.create(world.journalist, world.case_id, "notes")
    document = world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[b"stored bytes"],
        document=NewDocument(title="a title", source_id=source.id),
    )
    engine = world.vault.engine
    postgres = engine.dialect.name == "postgresql"
    seen = 0
    with engine.connect() as conn:
        for table, column in _id_columns():
            if postgres:
                rows = conn.execute(
                    sa.text(
                        f'SELECT pg_typeof("{column}")::text, "{column}"::text FROM "{table}" '  # noqa: S608 - names from the models
                        f'WHERE "{column}" IS NOT NULL'
                    )
                ).all()
                for kind, value in rows:
                    assert kind == "uuid", f"{table}.{column} is {kind}"
                    assert len(value) == 36
            else:
                rows = conn.execute(
                    sa.text(
                        f'SELECT typeof("{column}"), "{column}" FROM "{table}" '  # noqa: S608 - names from the models
                        f'WHERE "{column}" IS NOT NULL'
                    )
                ).all()
                for kind, value in rows:
                    assert kind == "text", f"{table}.{column} is stored as {kind}"
                    assert _HEX32.match(value), f"{table}.{column} holds {value!r}"
            seen += len(rows)
        # The upload's access-log entry names the document in the indexed column.
        raw = conn.execute(
            sa.text(
                "SELECT document_id::text FROM audit_entries WHERE document_id IS NOT NULL"
                if postgres
                else "SELECT document_id FROM audit_entries WHERE document_id IS NOT NULL"
            )
        ).all()
        if not postgres:
            # Times: UTC as text without a zone (docs/format.md §8.1).
            kind, value = conn.execute(
                sa.text("SELECT typeof(created_at), created_at FROM users")
            ).first()
            assert kind == "text"
            assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$", value), value
    expected = str(document.id) if postgres else document.id.hex
    assert (expected,) in raw
    assert seen > 10


def test_a_blob_lives_where_the_document_says(world: World) -> None:
    document = world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[b"x" * 100],
        document=NewDocument(title="t"),
    )
    with world.vault.engine.connect() as conn:
        blob_id, size = conn.execute(
            sa.text("SELECT blob_id, ciphertext_size FROM documents WHERE id = :id"),
            {"id": document.id.hex if world.vault.engine.dialect.name == "sqlite" else document.id},
        ).one()
    assert _HEX32.match(blob_id)
    path = world.vault.settings.blob_dir / blob_id[:2] / blob_id
    data = path.read_bytes()
    assert len(data) == size
    assert data[:4] == b"SVLT"
    assert data[48 : 48 + 16] == document.id.bytes


def test_a_new_data_directory_holds_what_the_document_lists(world: World) -> None:
    data_dir = world.vault.settings.data_dir
    names = {p.name for p in data_dir.iterdir()}
    expected = {"blobs", "log-seal.key"}
    if world.vault.settings.database_url is None:
        expected |= {"vault.db"}
    # SQLite's -wal and -shm while open; the pinned checkpoint and its lock file (audit-log.md).
    optional = {"vault.db-wal", "vault.db-shm", "log-checkpoint", "log-checkpoint.lock"}
    assert expected <= names <= expected | optional
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    seal_key = data_dir / "log-seal.key"
    assert stat.S_IMODE(seal_key.stat().st_mode) == 0o600
    assert len(seal_key.read_bytes()) == 32
    assert (data_dir / "blobs" / ".tmp").is_dir()
