"""``vault fsck`` on a vault in use: a document deleted, or an upload committed, between its
reading of the rows and its listing of the blobs is not damage (issue 13, item 11).

The races are made deterministic by a blob store whose listing first runs a hook: the hook does
what another request would do in that instant. One threaded run checks the same under
continuous deletes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

from tests.conftest import World
from vault.services import fsck
from vault.services.documents import NewDocument
from vault.storage.blobstore import LocalBlobStore
from vault.storage.models import Document


class ListingHook(LocalBlobStore):
    """The vault's blob directory, running ``hook`` once just before it is listed."""

    def __init__(self, root: Path, hook: Callable[[], None]) -> None:
        super().__init__(root)
        self._hook: Callable[[], None] | None = hook

    def blob_ids(self) -> Iterator[str]:
        if self._hook is not None:
            hook, self._hook = self._hook, None
            hook()
        yield from super().blob_ids()


def _add(world: World, content: bytes = b"testimony") -> UUID:
    info = world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[content],
        document=NewDocument(title="testimony"),
    )
    return info.id


def test_document_deleted_between_the_reads_is_not_reported_missing(world: World) -> None:
    doc_id = _add(world)
    store = ListingHook(
        world.vault.blobs.root, lambda: world.vault.documents.delete(world.editor, doc_id)
    )
    report = fsck.check(world.vault.engine, store)
    assert report.missing_blobs == []
    assert report.clean


def test_upload_committed_between_the_reads_is_not_an_orphan(world: World) -> None:
    added: list[UUID] = []
    store = ListingHook(world.vault.blobs.root, lambda: added.append(_add(world, b"in flight")))
    # Without a grace period an orphan is repaired at once: a misread would destroy the
    # content of a document that was just stored.
    report = fsck.check(world.vault.engine, store, repair=True, grace_seconds=0)
    assert report.orphan_blobs == []
    assert report.recent_orphans == []
    _, stream = world.vault.documents.open(world.journalist, added[0])
    assert b"".join(stream) == b"in flight"


def test_a_real_missing_blob_and_a_real_orphan_are_still_found(world: World) -> None:
    kept = _add(world)
    gone = _add(world)
    with world.db() as db:
        row = db.get(Document, gone)
        assert row is not None
        blob_id = row.blob_id
    world.vault.blobs.delete(blob_id)
    orphan = world.vault.blobs.put([b"left behind"]).blob_id
    report = fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0)
    assert report.missing_blobs == [gone]
    assert report.orphan_blobs == [orphan]
    assert kept not in report.missing_blobs


def test_fsck_under_continuous_deletes_reports_nothing(world: World) -> None:
    doc_ids = [_add(world, bytes([i]) * 100) for i in range(30)]
    done = threading.Event()
    errors: list[BaseException] = []

    def delete_all() -> None:
        try:
            for doc_id in doc_ids:
                world.vault.documents.delete(world.editor, doc_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    deleter = threading.Thread(target=delete_all)
    deleter.start()
    reports = []
    try:
        while not done.is_set():
            reports.append(fsck.check(world.vault.engine, world.vault.blobs))
    finally:
        deleter.join()
    assert not errors
    assert reports
    assert [r.missing_blobs for r in reports if r.missing_blobs] == []
    assert [r.orphan_blobs for r in reports if r.orphan_blobs] == []
