"""``put_pipelined``: a blob written on a second thread (or, under ``INLINE_BYTES``, on the
caller's), all or nothing, whichever side fails, on the local directory and on the S3-protocol
server (``any_store``). ``SMALL`` pieces make a blob written inline, ``LARGE`` a pipelined one."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator

import pytest

from vault.errors import LimitExceeded, StorageError
from vault.storage.blobstore import BlobStore, StoredBlob
from vault.storage.pipeline import INLINE_BYTES, put_pipelined

SMALL, LARGE = 100, 1000  # pieces of 3 KiB: 300 KiB and 3 MiB
assert SMALL * 3072 < INLINE_BYTES < LARGE * 3072


@pytest.fixture
def store(any_store: BlobStore) -> BlobStore:
    return any_store


class Producer:
    """Pieces ``0..count-1`` (each 3 KiB, so that hashing releases the GIL), failing after
    ``fail_after`` pieces if given; remembers whether it was closed."""

    def __init__(self, count: int, fail_after: int | None = None) -> None:
        self.count = count
        self.fail_after = fail_after
        self.closed = False
        self.thread: set[str] = set()

    def pieces(self) -> Iterator[bytes]:
        try:
            for i in range(self.count):
                self.thread.add(threading.current_thread().name)
                if i == self.fail_after:
                    raise LimitExceeded("too big")
                yield i.to_bytes(4, "big") * 768
        finally:
            self.closed = True


@pytest.mark.parametrize("count", [SMALL, LARGE])
@pytest.mark.parametrize("depth", [1, 2, 8])
def test_writes_every_piece_in_order_and_observes_each(
    store: BlobStore, depth: int, count: int
) -> None:
    producer = Producer(count)
    expected = b"".join(producer.pieces())
    seen = hashlib.sha256()
    blob = put_pipelined(store, producer.pieces(), observe=seen.update, depth=depth)
    assert blob.size == len(expected)
    assert b"".join(store.open(blob.blob_id)) == expected
    assert seen.hexdigest() == hashlib.sha256(expected).hexdigest()
    # The producer runs on the caller's thread (the API's upload body can only be read there).
    assert producer.thread == {threading.current_thread().name}


def test_empty_input_is_an_empty_blob(store: BlobStore) -> None:
    blob = put_pipelined(store, [])
    assert blob.size == 0
    assert b"".join(store.open(blob.blob_id)) == b""


@pytest.mark.parametrize(
    ("count", "fail_after"), [(SMALL, 0), (SMALL, 50), (LARGE, 1), (LARGE, 500)]
)
def test_producer_error_is_raised_unchanged_and_leaves_nothing(
    store: BlobStore, count: int, fail_after: int
) -> None:
    producer = Producer(count, fail_after=fail_after)
    with pytest.raises(LimitExceeded, match="too big"):
        put_pipelined(store, producer.pieces())
    assert producer.closed
    assert list(store.blob_ids()) == []
    assert store.partial_writes() == []


class FailingStore:
    """A blob store whose write fails after ``after`` chunks."""

    def __init__(self, after: int) -> None:
        self.after = after

    def put(self, chunks: Iterable[bytes]) -> StoredBlob:
        for i, _ in enumerate(chunks):
            if i == self.after:
                raise StorageError("disk full")
        return StoredBlob("0" * 32, 0)


@pytest.mark.parametrize("after", [0, 3])
def test_store_error_is_raised_and_closes_the_producer(after: int) -> None:
    producer = Producer(1000)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            put_pipelined(FailingStore(after), producer.pieces(), depth=1)  # type: ignore[arg-type]
        except BaseException as exc:
            raised.append(exc)

    # On a thread with a deadline: the regression to catch is a producer left waiting forever
    # for a writer that has gone.
    caller = threading.Thread(target=run, daemon=True)
    caller.start()
    caller.join(timeout=30)
    assert not caller.is_alive(), "put_pipelined hung after the store failed"
    assert [type(e) for e in raised] == [StorageError]
    assert "disk full" in str(raised[0])
    assert producer.closed


@pytest.mark.parametrize("count", [SMALL, LARGE])
def test_observer_error_is_raised_and_leaves_nothing(store: BlobStore, count: int) -> None:
    def observe(piece: bytes) -> None:
        raise StorageError("observer failed")

    producer = Producer(count)
    with pytest.raises(StorageError, match="observer failed"):
        put_pipelined(store, producer.pieces(), observe=observe)
    assert producer.closed
    assert store.partial_writes() == []


class RecordingStore:
    """Remembers the thread each blob was written on."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.threads: list[str] = []

    def put(self, chunks: Iterable[bytes]) -> StoredBlob:
        self.threads.append(threading.current_thread().name)
        return self.inner.put(chunks)


def test_a_small_blob_is_written_on_the_callers_thread_and_a_large_one_beside_it(
    store: BlobStore,
) -> None:
    recording = RecordingStore(store)
    put_pipelined(recording, Producer(SMALL).pieces())  # type: ignore[arg-type]  # a put() is all it needs
    put_pipelined(recording, Producer(LARGE).pieces())  # type: ignore[arg-type]  # a put() is all it needs
    here = threading.current_thread().name
    assert recording.threads[0] == here
    assert recording.threads[1] != here
