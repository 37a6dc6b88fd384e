"""Concurrent uploads recorded together, on SQLite and PostgreSQL: one commit for the batch, and
still each upload's own entry, receipt, request id and readers; one upload's failure is its own."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from tests.conftest import World
from vault import crypto
from vault.audit import context
from vault.audit import log as audit_log
from vault.audit import verify as audit_verify
from vault.errors import StorageError, Unavailable
from vault.services.document_records import DocumentMetadata
from vault.services.documents import DocumentInfo, NewDocument
from vault.services.group_commit import GroupCommit
from vault.services.upload_batch import ServerSealed
from vault.storage.models import AuditEntry, Document

UPLOADS = 6


def _group(world: World) -> GroupCommit[object, object]:
    return world.vault.documents.recorder._group  # type: ignore[return-value]


@contextmanager
def _commit_in_progress(world: World, writers: int) -> Iterator[None]:
    """Hold the recorder as a leader would while committing, until ``writers`` wait behind it."""
    group = _group(world)
    with group._leader:
        yield
        deadline = time.monotonic() + 30
        while len(group._waiting) < writers:
            assert time.monotonic() < deadline, "the uploads never queued"
            time.sleep(0.005)


@contextmanager
def _counting_commits(world: World) -> Iterator[list[int]]:
    commits: list[int] = []

    def counted(_conn: object) -> None:
        commits.append(1)

    event.listen(world.vault.engine, "commit", counted)
    try:
        yield commits
    finally:
        event.remove(world.vault.engine, "commit", counted)


def _in_threads(calls: list[Callable[[], None]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    return threads


def test_uploads_arriving_during_a_commit_are_recorded_in_one(world: World) -> None:
    infos: dict[str, DocumentInfo] = {}

    def upload(number: int) -> Callable[[], None]:
        def run() -> None:
            request = f"req-{number}"
            context.request_id.set(request)
            infos[request] = world.vault.documents.add(
                world.journalist,
                case_id=world.case_id,
                content=[f"upload {number} ".encode() * 100],
                document=NewDocument(title=f"upload {number}"),
            )

        return run

    with _counting_commits(world) as commits:
        with _commit_in_progress(world, UPLOADS):
            threads = _in_threads([upload(n) for n in range(UPLOADS)])
        for thread in threads:
            thread.join(60)
    assert len(infos) == UPLOADS
    assert len(commits) == 1  # the six rows, their keys and their six entries: one transaction

    with world.db() as db:
        for request, info in infos.items():
            assert info.receipt is not None
            entry = db.get(AuditEntry, info.receipt.index)
            assert entry is not None
            assert bytes(entry.leaf) == info.receipt.leaf
            logged = json.loads(entry.leaf)
            # Each entry names its own upload, uploader and request, whichever thread wrote it.
            assert logged["action"] == "document.upload"
            assert logged["actor"] == str(world.journalist.user_id)
            assert logged["targets"] == {"document": str(info.id), "case": str(world.case_id)}
            assert logged["request_id"] == request
            row = db.get(Document, info.id)
            assert row is not None
            assert logged["key_commitment"] == bytes(row.key_commitment).hex()
    for number, (_request, info) in enumerate(sorted(infos.items())):
        _, stream = world.vault.documents.open(world.editor, info.id)
        assert b"".join(stream) == f"upload {number} ".encode() * 100
    assert audit_verify.verify_log(world.vault.engine, workers=1).ok


def test_an_upload_refused_by_the_database_fails_alone(world: World) -> None:
    recorder = world.vault.documents.recorder
    clash = uuid.uuid4()

    def stored(doc_id: uuid.UUID) -> object:
        meta = DocumentMetadata(
            title="t", filename=None, media_type="application/octet-stream", notes=None,
            source_id=None, kind=None, sha256="0" * 64, size=0,
        )  # fmt: skip
        return recorder.stored(
            world.journalist,
            case_id=world.case_id,
            doc_id=doc_id,
            sealing=ServerSealed(crypto.new_data_key(), meta),
            blob_id=uuid.uuid4().hex,
            ciphertext_size=0,
            ciphertext_sha256="0" * 64,
        )

    # The fourth upload reuses the third's id: the batch's transaction fails on it.
    ids = [uuid.uuid4(), uuid.uuid4(), clash, clash, uuid.uuid4()]
    items = [stored(doc_id) for doc_id in ids]
    outcomes: list[object] = [None] * len(items)

    def record(at: int) -> Callable[[], None]:
        def run() -> None:
            try:
                outcomes[at] = recorder.record(items[at])  # type: ignore[arg-type]
            except StorageError as exc:
                outcomes[at] = exc

        return run

    with _commit_in_progress(world, len(items)):
        threads = _in_threads([record(at) for at in range(len(items))])
    for thread in threads:
        thread.join(60)

    failed = [at for at, outcome in enumerate(outcomes) if isinstance(outcome, StorageError)]
    assert len(failed) == 1
    assert failed[0] in (2, 3)
    with world.db() as db:
        stored_ids = set(db.exec(select(col(Document.id)).where(col(Document.id).in_(ids))))
        assert stored_ids == set(ids)
        uploads = db.exec(select(AuditEntry).where(col(AuditEntry.document_id).in_(ids))).all()
    assert len(uploads) == len(ids) - 1  # one entry per recorded upload, none for the refused
    assert audit_verify.verify_log(world.vault.engine, workers=1).ok


@pytest.mark.parametrize("uploads", [1, 3])
def test_a_failed_commit_fails_every_upload_of_it_and_leaves_no_blob(
    world: World, uploads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record cannot be written at all: no upload is acknowledged, no blob stays."""

    def refuse(_db: object) -> None:
        raise Unavailable("the access log could not be written, so nothing was done")

    monkeypatch.setattr(audit_log, "commit", refuse)
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            world.vault.documents.add(
                world.journalist,
                case_id=world.case_id,
                content=[b"never acknowledged"],
                document=NewDocument(title="lost"),
            )
        except Exception as exc:
            errors.append(exc)

    blobs_before = set(world.vault.blobs.blob_ids())
    with _commit_in_progress(world, uploads):
        threads = _in_threads([upload] * uploads)
    for thread in threads:
        thread.join(60)
    assert len(errors) == uploads
    assert all(isinstance(error, Unavailable) for error in errors)
    assert set(world.vault.blobs.blob_ids()) == blobs_before
