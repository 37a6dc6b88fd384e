"""The database layer and blob store on their own."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import col

from vault.errors import NotFound, StorageError
from vault.settings import Settings
from vault.storage import blobstore
from vault.storage.blobstore import BlobStore, LocalBlobStore
from vault.storage.database import connect, current_revision, describe_url, head_revision, migrate
from vault.storage.models import AuditEntry, metadata


def test_migrations_match_the_models(settings: Settings) -> None:
    settings.data_dir.mkdir()
    engine = connect(settings.resolved_database_url)
    try:
        migrate(engine)
        migrate(engine)  # idempotent
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_migration_0012_stores_audit_document_ids_like_every_other_id(settings: Settings) -> None:
    # Before 0012 the access log's index column was the one id kept as dashed text.
    from alembic import command

    from vault.storage.database import _alembic_config

    settings.data_dir.mkdir()
    engine = connect(settings.resolved_database_url)
    doc = uuid.UUID("6b1d1f57-0d53-4a0e-9a55-58a4c1c7a0b4")
    try:
        command.upgrade(_alembic_config(engine), "0011")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO audit_entries (idx, leaf, created_at, document_id) "
                    "VALUES (0, :leaf, :at, :doc), (1, :leaf, :at, NULL)"
                ),
                {"leaf": b"{}", "at": datetime.now(UTC), "doc": str(doc)},
            )
        migrate(engine)
        with engine.connect() as conn:
            raw = (
                conn.execute(sa.text("SELECT document_id FROM audit_entries ORDER BY idx"))
                .scalars()
                .all()
            )
            typed = (
                conn.execute(sa.select(col(AuditEntry.document_id)).order_by(col(AuditEntry.idx)))
                .scalars()
                .all()
            )
        native = engine.dialect.name == "postgresql"
        assert raw == [doc if native else doc.hex, None]
        assert typed == [doc, None]
    finally:
        engine.dispose()


def test_sqlite_connection_policy(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("foreign_keys", "journal_mode", "secure_delete")
            }
    finally:
        engine.dispose()
    assert pragma == {"foreign_keys": 1, "journal_mode": "wal", "secure_delete": 1}


def test_unreachable_database_is_one_clear_error_without_credentials() -> None:
    url = "postgresql+psycopg://vaultuser:s3cret-pw@127.0.0.1:1/vault"
    with pytest.raises(StorageError) as exc_info:
        connect(url)
    message = str(exc_info.value)
    assert message == "cannot reach the database at postgresql://127.0.0.1:1/vault"
    assert "s3cret" not in message
    assert "vaultuser" not in describe_url(url)


def test_invalid_database_url() -> None:
    with pytest.raises(StorageError, match="not valid"):
        connect("not a url")


# The blob-store tests run on every backend: the local directory and the S3-protocol server.


def test_blob_store_round_trip_and_delete(any_store: BlobStore) -> None:
    store = any_store
    store.check()
    blob = store.put([b"abc", b"", b"def"])
    assert blob.size == 6
    assert b"".join(store.open(blob.blob_id)) == b"abcdef"
    assert list(store.blob_ids()) == [blob.blob_id]
    assert store.exists(blob.blob_id)
    assert 0 <= store.age_seconds(blob.blob_id) < 600
    if isinstance(store, LocalBlobStore):
        path = store.root / blob.blob_id[:2] / blob.blob_id
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    store.delete(blob.blob_id)
    store.delete(blob.blob_id)  # absent is fine
    assert not store.exists(blob.blob_id)
    with pytest.raises(NotFound):
        store.open(blob.blob_id)
    assert store.age_seconds(blob.blob_id) == 0.0
    assert store.partial_writes() == []


def test_blob_ids_are_random_and_never_paths(any_store: BlobStore) -> None:
    store = any_store
    ids = {store.put([b"same content"]).blob_id for _ in range(5)}
    assert len(ids) == 5
    assert sorted(store.blob_ids()) == sorted(ids)
    for bad in ("../../etc/passwd", "ABC", "", "0" * 31 + "/"):
        with pytest.raises(NotFound):
            store.open(bad)
        with pytest.raises(NotFound):
            store.delete(bad)


def test_reading_a_blob_streams_it_in_chunks(any_store: BlobStore) -> None:
    content = bytes(range(256)) * (3 << 12)  # 3 MiB: several read chunks
    blob = any_store.put([content[i : i + 100_000] for i in range(0, len(content), 100_000)])
    chunks = list(any_store.open(blob.blob_id))
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= 1 << 20
    assert b"".join(chunks) == content


def test_unwritable_blob_store_is_a_storage_error(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    store.create()
    os.rmdir(root / ".tmp")
    (root / ".tmp").write_text("not a directory")
    with pytest.raises(StorageError, match="cannot write to the blob store"):
        store.put([b"x"])
    with pytest.raises(StorageError):
        store.check()


def test_blob_store_starts_writeback_as_a_large_blob_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writeback is started every WRITEBACK_EVERY bytes so that the final fsync waits for the
    # tail only; the ranges must cover what was written, in order, without gaps.
    monkeypatch.setattr(blobstore, "WRITEBACK_EVERY", 10)
    started: list[tuple[int, int]] = []
    real = blobstore._start_writeback

    def record(fd: int, offset: int, length: int) -> None:
        started.append((offset, length))
        real(fd, offset, length)

    monkeypatch.setattr(blobstore, "_start_writeback", record)
    store = LocalBlobStore(tmp_path / "blobs")
    store.create()
    pieces = [bytes([i]) * 7 for i in range(10)]
    blob = store.put(pieces)
    assert b"".join(store.open(blob.blob_id)) == b"".join(pieces)
    assert started == [(0, 14), (14, 14), (28, 14), (42, 14), (56, 14)]
